//! ActivityStreams 2.0 Notes of articles, and the activities and outbox pages
//! that carry them. <https://www.w3.org/ns/activitystreams#Note>
//!
//! A Note's id derives from the article's stable id, never from its slug, so
//! it survives a slug change. There is deliberately no `summary`: Mastodon
//! shows a Note's `summary` as a content warning.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Value};
use url::Url;

use crate::activitystreams::{context, PUBLIC};
use crate::article::{Article, ArticleId};
use crate::config::{Account, Channel};
use crate::render::escape;

/// The path segment of an article's Note: the UUID for `urn:uuid:` ids, the
/// percent-encoded id otherwise.
pub fn note_key(id: &ArticleId) -> String {
    match id.as_str().strip_prefix("urn:uuid:") {
        Some(uuid) => uuid.to_owned(),
        None => utf8_percent_encode(id.as_str(), NON_ALPHANUMERIC).to_string(),
    }
}

/// The article id a Note path segment stands for, if any.
///
/// `key` may arrive decoded already (axum's `Path` decodes it): a key with a
/// `:` cannot be an encoded one, since [`note_key`] encodes every colon, so
/// it is taken as is; decoding it again would break ids that contain `%`.
pub fn article_id_of(key: &str) -> Option<ArticleId> {
    if uuid::Uuid::parse_str(key).is_ok() || key.contains(':') {
        return ArticleId::parse(key).ok();
    }
    ArticleId::parse(&percent_decode_str(key).decode_utf8().ok()?).ok()
}

/// The Note's id: `{base}notes/{key}`.
pub fn note_id(channel: &Channel, id: &ArticleId) -> Url {
    channel.url(&format!("notes/{}", note_key(id)))
}

/// What remote servers did with a Note: shown as the `totalItems` of its
/// `likes`, `shares` and `replies` collections (Mastodon shows those
/// counts on remote posts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Likes.
    pub likes: i64,
    /// Announces (boosts).
    pub shares: i64,
    /// Replies.
    pub replies: i64,
}

/// The collections a Note carries, by their path segment.
pub const COLLECTIONS: [&str; 3] = ["likes", "shares", "replies"];

impl Counts {
    /// The count of collection `name` (one of [`COLLECTIONS`]).
    pub fn get(&self, name: &str) -> Option<i64> {
        match name {
            "likes" => Some(self.likes),
            "shares" => Some(self.shares),
            "replies" => Some(self.replies),
            _ => None,
        }
    }
}

/// An ActivityStreams `Note`: an article as the fediverse sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// The JSON-LD context, only when served on its own.
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `{base}notes/{key}`.
    pub id: Url,
    /// `Note`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The account.
    pub attributed_to: Url,
    /// Public.
    pub to: [&'static str; 1],
    /// The followers collection.
    pub cc: [Url; 1],
    /// RFC 3339.
    pub published: String,
    /// RFC 3339, only once edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// The article's page.
    pub url: Url,
    /// The HTML of the note template.
    pub content: String,
    /// The same, by language.
    pub content_map: BTreeMap<String, String>,
    /// Never a content warning.
    pub sensitive: bool,
    /// Hashtags.
    pub tag: Vec<Hashtag>,
    /// The lead image.
    pub attachment: Vec<ImageAttachment>,
    /// Likes received (served Notes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likes: Option<Value>,
    /// Boosts received (served Notes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<Value>,
    /// Replies received (served Notes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<Value>,
}

/// A `Hashtag` of a Note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hashtag {
    /// `Hashtag`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The tag's page.
    pub href: Url,
    /// `#tag`.
    pub name: String,
}

/// The `Image` attachment of a Note, with its alt text as `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageAttachment {
    /// `Image`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `image/…`.
    pub media_type: String,
    /// Where it is.
    pub url: Url,
    /// Alt text.
    pub name: String,
    /// Pixels, when known with the height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, when known with the width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// What a retracted article's Note becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    /// The JSON-LD context, only when served on its own.
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The Note's id.
    pub id: Url,
    /// `Tombstone`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `Note`.
    pub former_type: &'static str,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339.
    pub updated: String,
}

/// A `Create`, `Update` or `Delete` of an article's Note, sent to followers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteActivity<T> {
    /// The JSON-LD context, left out inside the outbox.
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Unique per activity.
    pub id: String,
    /// `Create`, `Update` or `Delete`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The account.
    pub actor: Url,
    /// RFC 3339 (not on a Delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Public.
    pub to: [&'static str; 1],
    /// The followers collection.
    pub cc: [Url; 1],
    /// The Note, or its Tombstone.
    pub object: T,
}

/// The Note of a published article, with its interaction collections.
pub fn note_with_counts(channel: &Channel, account: &Account, article: &Article, counts: &Counts) -> Note {
    let mut note = note(channel, account, article);
    note.context = Some(context());
    let collection = |name| Some(interactions(&note.id, name, counts.get(name).unwrap_or(0), false));
    (note.likes, note.shares, note.replies) = (collection("likes"), collection("shares"), collection("replies"));
    note
}

/// The `likes`, `shares` or `replies` collection of Note `note_id`: its size
/// only (`standalone` adds the `@context`, for serving it on its own).
pub fn interactions(note_id: &Url, name: &str, total: i64, standalone: bool) -> Value {
    let mut doc = json!({
        "id": format!("{note_id}/{name}"),
        "type": "Collection",
        "totalItems": total,
    });
    if standalone {
        doc["@context"] = context();
    }
    doc
}

/// The Note of a published article, as sent in activities and listed in
/// the outbox (without `@context` and without counts, which change after
/// it is sent).
pub fn note(channel: &Channel, account: &Account, article: &Article) -> Note {
    let content = content(channel, account, article);
    Note {
        context: None,
        id: note_id(channel, &article.id),
        kind: "Note",
        attributed_to: account.actor.clone(),
        to: [PUBLIC],
        cc: [account.followers.clone()],
        published: time(article.published),
        updated: (article.updated != article.published).then(|| time(article.updated)),
        url: article.url.clone(),
        content_map: BTreeMap::from([(article.language.as_str().to_owned(), content.clone())]),
        content,
        sensitive: false,
        tag: article
            .tags
            .iter()
            .map(|tag| Hashtag { kind: "Hashtag", href: channel.url(&format!("tags/{tag}")), name: format!("#{tag}") })
            .collect(),
        attachment: article
            .image
            .iter()
            .map(|image| {
                let (width, height) = match (image.width, image.height) {
                    (Some(w), Some(h)) => (Some(w), Some(h)),
                    _ => (None, None),
                };
                ImageAttachment {
                    kind: "Image",
                    media_type: image.media_type.clone(),
                    url: image.url.clone(),
                    name: image.alt.clone(),
                    width,
                    height,
                }
            })
            .collect(),
        likes: None,
        shares: None,
        replies: None,
    }
}

/// What a retracted article's Note becomes (answered with 410 Gone).
pub fn tombstone(channel: &Channel, article: &Article) -> Tombstone {
    Tombstone {
        context: Some(context()),
        id: note_id(channel, &article.id),
        kind: "Tombstone",
        former_type: "Note",
        published: time(article.published),
        updated: time(article.updated),
    }
}

fn activity<T>(
    account: &Account,
    kind: &'static str,
    id: String,
    published: Option<String>,
    object: T,
) -> NoteActivity<T> {
    NoteActivity {
        context: Some(context()),
        id,
        kind,
        actor: account.actor.clone(),
        published,
        to: [PUBLIC],
        cc: [account.followers.clone()],
        object,
    }
}

/// The `Create` activity of an article's Note, as listed in the outbox.
pub fn create(channel: &Channel, account: &Account, article: &Article) -> NoteActivity<Note> {
    let id = format!("{}/activity", note_id(channel, &article.id));
    activity(account, "Create", id, Some(time(article.published)), note(channel, account, article))
}

/// The `Update` of an edited article's Note; `revision` makes its id unique.
pub fn update(channel: &Channel, account: &Account, article: &Article, revision: i64) -> NoteActivity<Note> {
    let id = format!("{}/activity/update/{revision}", note_id(channel, &article.id));
    activity(account, "Update", id, Some(time(article.updated)), note(channel, account, article))
}

/// The `Delete` of a retracted article's Note, carrying its Tombstone.
pub fn delete(channel: &Channel, account: &Account, article: &Article, revision: i64) -> NoteActivity<Tombstone> {
    let id = format!("{}/activity/delete/{revision}", note_id(channel, &article.id));
    let tombstone = Tombstone { context: None, ..tombstone(channel, article) };
    activity(account, "Delete", id, None, tombstone)
}

/// The outbox collection: its size and a link to the first page.
pub fn outbox(account: &Account, total: i64) -> Value {
    json!({
        "@context": context(),
        "id": account.outbox,
        "type": "OrderedCollection",
        "totalItems": total,
        "first": format!("{}?page=1", account.outbox),
        "last": format!("{}?page={}", account.outbox, last_page(total, account.outbox_page_size)),
    })
}

/// One page (1-based) of the outbox, newest first: `articles` are that page's items.
pub fn outbox_page(channel: &Channel, account: &Account, page: usize, total: i64, articles: &[Article]) -> Value {
    let mut doc = json!({
        "@context": context(),
        "id": format!("{}?page={page}", account.outbox),
        "type": "OrderedCollectionPage",
        "partOf": account.outbox,
        "totalItems": total,
        "orderedItems": articles.iter().filter(|a| a.is_published()).map(|a| {
            NoteActivity { context: None, ..create(channel, account, a) }
        }).collect::<Vec<_>>(),
    });
    if page > 1 {
        doc["prev"] = json!(format!("{}?page={}", account.outbox, page - 1));
    }
    if page < last_page(total, account.outbox_page_size) {
        doc["next"] = json!(format!("{}?page={}", account.outbox, page + 1));
    }
    doc
}

/// A collection that shows only its size (`followers`) or is empty (`following`).
pub fn counted_collection(id: &Url, total: i64) -> Value {
    json!({
        "@context": context(),
        "id": id,
        "type": "OrderedCollection",
        "totalItems": total,
    })
}

fn last_page(total: i64, page_size: usize) -> usize {
    let total = usize::try_from(total).unwrap_or(0);
    total.div_ceil(page_size.max(1)).max(1)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Note's HTML: the configured template with escaped values.
fn content(channel: &Channel, account: &Account, article: &Article) -> String {
    let hashtags = article
        .tags
        .iter()
        .map(|tag| {
            format!(
                "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                escape(channel.url(&format!("tags/{tag}")).as_str()),
                escape(tag.as_str())
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let html = account
        .note_template
        .replace("{title}", &escape(&article.title))
        .replace("{summary}", &escape(&article.summary))
        .replace("{url}", &escape(article.url.as_str()))
        .replace("{hashtags}", &hashtags);
    // A template may leave an element empty (a teaser without tags).
    html.replace("<p></p>", "")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{channel, full, teaser};
    use super::*;
    use crate::config::Settings;

    fn account() -> Account {
        Settings::load_with_env(None, [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())])
            .unwrap()
            .account
    }

    #[test]
    fn a_note_carries_the_article_without_a_summary_field() {
        let note = serde_json::to_value(note(&channel(), &account(), &full())).unwrap();
        assert_eq!(note["id"], "https://news.example.org/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8");
        assert_eq!(note["type"], "Note");
        assert!(note.get("summary").is_none(), "Mastodon shows summary as a content warning");
        assert_eq!(note["attributedTo"], "https://news.example.org/users/news");
        assert_eq!(note["to"][0], PUBLIC);
        assert_eq!(note["cc"][0], "https://news.example.org/users/news/followers");
        assert_eq!(note["published"], "2024-08-05T08:00:00Z");
        assert_eq!(note["updated"], "2024-08-06T09:30:00Z");
        assert_eq!(note["url"], "https://news.example.org/articles/mali-tin-zaouatine");
        let content = note["content"].as_str().unwrap();
        assert!(content.contains("<strong>Mali : l’embuscade de Tin Zaouatine &amp; ses suites</strong>"), "{content}");
        assert!(content.contains("un convoi &lt;tombe&gt;"), "{content}");
        assert!(content.contains("href=\"https://news.example.org/tags/mali\""), "{content}");
        assert_eq!(note["contentMap"]["fr"], note["content"]);
        assert_eq!(
            note["tag"][0],
            json!({"type": "Hashtag", "href": "https://news.example.org/tags/mali", "name": "#mali"})
        );
        assert_eq!(note["attachment"][0]["name"], "Carte du nord du Mali");
        assert_eq!(note["attachment"][0]["width"], 1200);
    }

    #[test]
    fn a_served_note_counts_its_likes_shares_and_replies() {
        let counts = Counts { likes: 3, shares: 2, replies: 1 };
        let note = serde_json::to_value(note_with_counts(&channel(), &account(), &full(), &counts)).unwrap();
        let id = "https://news.example.org/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8";
        assert_eq!(note["likes"], json!({"id": format!("{id}/likes"), "type": "Collection", "totalItems": 3}));
        assert_eq!(note["shares"]["totalItems"], 2);
        assert_eq!(note["replies"]["totalItems"], 1);
    }

    #[test]
    fn a_teaser_is_a_note_too_and_unchanged_articles_have_no_updated() {
        let note = serde_json::to_value(note(&channel(), &account(), &teaser())).unwrap();
        assert_eq!(note["type"], "Note");
        assert!(note.get("updated").is_none());
        assert_eq!(note["tag"], json!([]));
        assert!(!note["content"].as_str().unwrap().contains("<p></p>"));
    }

    #[test]
    fn note_keys_round_trip_for_uuids_and_tag_uris() {
        for raw in ["urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8", "tag:example.org,2024:mali/1"] {
            let id = ArticleId::parse(raw).unwrap();
            assert_eq!(article_id_of(&note_key(&id)), Some(id));
        }
        assert_eq!(article_id_of("nope"), None);
    }

    #[test]
    fn outbox_pages_link_to_each_other() {
        let account = Account { outbox_page_size: 1, ..account() };
        let first = outbox_page(&channel(), &account, 1, 2, &[full()]);
        assert_eq!(first["orderedItems"][0]["type"], "Create");
        assert_eq!(first["orderedItems"][0]["object"]["type"], "Note");
        assert_eq!(first["next"], "https://news.example.org/users/news/outbox?page=2");
        assert!(first.get("prev").is_none());
        let second = outbox_page(&channel(), &account, 2, 2, &[teaser()]);
        assert!(second.get("next").is_none());
        assert_eq!(outbox(&account, 2)["totalItems"], 2);
    }
}
