//! ActivityStreams 2.0 Notes of articles, and the activities and outbox pages
//! that carry them. <https://www.w3.org/ns/activitystreams#Note>
//!
//! A Note's id derives from the article's stable id, never from its slug, so
//! it survives a slug change. There is deliberately no `summary`: Mastodon
//! shows a Note's `summary` as a content warning.

use chrono::SecondsFormat;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
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
pub fn article_id_of(key: &str) -> Option<ArticleId> {
    if uuid::Uuid::parse_str(key).is_ok() {
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

/// The Note of a published article, with its interaction collections.
pub fn note_with_counts(channel: &Channel, account: &Account, article: &Article, counts: &Counts) -> Value {
    let mut note = note(channel, account, article);
    let id = note_id(channel, &article.id);
    for name in COLLECTIONS {
        note[name] = interactions(&id, name, counts.get(name).unwrap_or(0), false);
    }
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
/// the outbox (without counts, which change after it is sent).
pub fn note(channel: &Channel, account: &Account, article: &Article) -> Value {
    let content = content(channel, account, article);
    let mut note = json!({
        "@context": context(),
        "id": note_id(channel, &article.id),
        "type": "Note",
        "attributedTo": account.actor,
        "to": [PUBLIC],
        "cc": [account.followers],
        "published": time(article.published),
        "url": article.url,
        "content": content,
        "contentMap": { article.language.as_str(): content },
        "sensitive": false,
        "tag": article.tags.iter().map(|tag| json!({
            "type": "Hashtag",
            "href": channel.url(&format!("tags/{tag}")),
            "name": format!("#{tag}"),
        })).collect::<Vec<_>>(),
        "attachment": article.image.iter().map(|image| {
            let mut attachment = json!({
                "type": "Image",
                "mediaType": image.media_type,
                "url": image.url,
                "name": image.alt,
            });
            if let (Some(width), Some(height)) = (image.width, image.height) {
                attachment["width"] = json!(width);
                attachment["height"] = json!(height);
            }
            attachment
        }).collect::<Vec<_>>(),
    });
    if article.updated != article.published {
        note["updated"] = json!(time(article.updated));
    }
    note
}

/// What a retracted article's Note becomes (answered with 410 Gone).
pub fn tombstone(channel: &Channel, article: &Article) -> Value {
    json!({
        "@context": context(),
        "id": note_id(channel, &article.id),
        "type": "Tombstone",
        "formerType": "Note",
        "published": time(article.published),
        "updated": time(article.updated),
    })
}

/// The `Create` activity of an article's Note, as listed in the outbox.
pub fn create(channel: &Channel, account: &Account, article: &Article) -> Value {
    let mut note = note(channel, account, article);
    if let Some(object) = note.as_object_mut() {
        object.remove("@context");
    }
    json!({
        "@context": context(),
        "id": format!("{}/activity", note_id(channel, &article.id)),
        "type": "Create",
        "actor": account.actor,
        "published": time(article.published),
        "to": [PUBLIC],
        "cc": [account.followers],
        "object": note,
    })
}

/// The `Update` of an edited article's Note; `revision` makes its id unique.
pub fn update(channel: &Channel, account: &Account, article: &Article, revision: i64) -> Value {
    let mut note = note(channel, account, article);
    if let Some(object) = note.as_object_mut() {
        object.remove("@context");
    }
    json!({
        "@context": context(),
        "id": format!("{}/activity/update/{revision}", note_id(channel, &article.id)),
        "type": "Update",
        "actor": account.actor,
        "published": time(article.updated),
        "to": [PUBLIC],
        "cc": [account.followers],
        "object": note,
    })
}

/// The `Delete` of a retracted article's Note, carrying its Tombstone.
pub fn delete(channel: &Channel, account: &Account, article: &Article, revision: i64) -> Value {
    let mut tombstone = tombstone(channel, article);
    if let Some(object) = tombstone.as_object_mut() {
        object.remove("@context");
    }
    json!({
        "@context": context(),
        "id": format!("{}/activity/delete/{revision}", note_id(channel, &article.id)),
        "type": "Delete",
        "actor": account.actor,
        "to": [PUBLIC],
        "cc": [account.followers],
        "object": tombstone,
    })
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
            let mut create = create(channel, account, a);
            if let Some(object) = create.as_object_mut() {
                object.remove("@context");
            }
            create
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
        let note = note(&channel(), &account(), &full());
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
        let note = note_with_counts(&channel(), &account(), &full(), &counts);
        let id = "https://news.example.org/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8";
        assert_eq!(note["likes"], json!({"id": format!("{id}/likes"), "type": "Collection", "totalItems": 3}));
        assert_eq!(note["shares"]["totalItems"], 2);
        assert_eq!(note["replies"]["totalItems"], 1);
    }

    #[test]
    fn a_teaser_is_a_note_too_and_unchanged_articles_have_no_updated() {
        let note = note(&channel(), &account(), &teaser());
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
