//! What the API sends: serde types with the front matter's field names.
//!
//! An [`ArticleDocument`] is exactly what PUT accepts back, so a CMS can GET
//! an article, change it and PUT it. Fields that hold their default (`url`
//! built from the slug) are left out, so a PATCH of the slug moves the URL
//! with it.

use serde::Serialize;

use crate::article::{Article, Tag};
use crate::config::Channel;
use crate::store::{MediaRow, Revision, StoredArticle, API_SOURCE};

/// An article as the API reads and writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleDocument<'a> {
    /// Stable id.
    pub id: &'a str,
    /// URL segment.
    pub slug: &'a str,
    /// `full` or `teaser`.
    pub kind: &'static str,
    /// Headline.
    pub title: &'a str,
    /// Standfirst.
    pub summary: &'a str,
    /// Bylines.
    pub authors: &'a [String],
    /// BCP 47 tag.
    pub language: &'a str,
    /// Tags, lower case.
    pub tags: Vec<&'a str>,
    /// Lead image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageDocument<'a>>,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339.
    pub updated: String,
    /// Licence URL, when the article has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<&'a str>,
    /// Canonical URL, when not the default one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    /// `published` or `retracted`.
    pub state: &'static str,
    /// Markdown; absent for teasers and for articles from files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
}

/// The lead image, with the front matter's field names.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDocument<'a> {
    /// Absolute URL.
    pub url: &'a str,
    /// Alternative text.
    pub alt: &'a str,
    /// Media type.
    #[serde(rename = "type")]
    pub media_type: &'a str,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// RFC 3339 in UTC with a `Z`, as front matter writes it.
pub use crate::content::writer::date as time;

impl<'a> ArticleDocument<'a> {
    /// The document of `article`, with `markdown` as its body.
    pub fn new(article: &'a Article, markdown: Option<&'a str>, channel: &Channel) -> Self {
        let default_url = channel.article_url(&article.slug);
        ArticleDocument {
            id: article.id.as_str(),
            slug: article.slug.as_str(),
            kind: article.kind.as_str(),
            title: &article.title,
            summary: &article.summary,
            authors: &article.authors,
            language: article.language.as_str(),
            tags: article.tags.iter().map(Tag::as_str).collect(),
            image: article.image.as_ref().map(|image| ImageDocument {
                url: image.url.as_str(),
                alt: &image.alt,
                media_type: &image.media_type,
                length: image.length,
                width: image.width,
                height: image.height,
            }),
            published: time(article.published),
            updated: time(article.updated),
            license: article.license.as_ref().map(url::Url::as_str),
            url: (article.url != default_url).then_some(article.url.as_str()),
            state: article.state.as_str(),
            body: markdown,
        }
    }
}

/// A media file as `POST /api/media` answers it.
#[derive(Debug, Serialize)]
pub struct MediaDocument {
    /// The path under `/media/`, which an article names as its `image.url`
    /// (`img/carte.jpg` or `/media/img/carte.jpg`).
    pub path: String,
    /// The URL it is served at, with its content version.
    pub url: String,
    /// Media type.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Bytes.
    pub length: u64,
    /// Pixels (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// RFC 3339: when the path was first stored.
    pub created: String,
}

impl MediaDocument {
    /// The document of a stored file.
    pub fn new(row: &MediaRow, channel: &Channel) -> Self {
        MediaDocument {
            path: row.path.to_string(),
            url: row.path.url(&channel.base_url, &row.sha256).to_string(),
            media_type: row.content_type.clone(),
            length: row.size,
            width: row.width,
            height: row.height,
            sha256: row.sha256.clone(),
            created: time(row.created_at),
        }
    }
}

/// Where an article comes from: `api`, or `file` (then read-only here).
fn origin(stored: &StoredArticle) -> &'static str {
    if stored.from_api() {
        API_SOURCE
    } else {
        "file"
    }
}

/// One article of a listing (no body).
#[derive(Debug, Serialize)]
pub struct Listed<'a> {
    /// The article, without its body.
    pub article: ArticleDocument<'a>,
    /// `api` or `file`.
    pub source: &'static str,
    /// Current revision.
    pub revision: i64,
    /// When a scheduled article goes out (held until then); absent once shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
}

/// When `stored` goes out, if it is held.
fn scheduled_for(stored: &StoredArticle) -> Option<String> {
    stored.held.then(|| time(stored.article.published))
}

impl<'a> Listed<'a> {
    /// The listing entry of `stored`.
    pub fn new(stored: &'a StoredArticle, channel: &Channel) -> Self {
        Listed {
            article: ArticleDocument::new(&stored.article, None, channel),
            source: origin(stored),
            revision: stored.revision,
            scheduled_for: scheduled_for(stored),
        }
    }
}

/// A page of articles.
#[derive(Debug, Serialize)]
pub struct Page<'a> {
    /// Newest first.
    pub items: Vec<Listed<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// One revision, summarised.
#[derive(Debug, Serialize)]
pub struct RevisionEntry<'a> {
    /// 1 for the first.
    pub revision: i64,
    /// State at that revision.
    pub state: &'static str,
    /// Title at that revision.
    pub title: &'a str,
    /// `updated` at that revision.
    pub updated: String,
    /// `api`, or the file it came from.
    pub source: Option<&'a str>,
    /// When it was stored.
    pub recorded_at: String,
}

/// Deliveries of the article's activities to followers' inboxes, by state.
#[derive(Debug, Default, Serialize)]
pub struct DeliveryCounts {
    /// Waiting or being retried.
    pub pending: i64,
    /// Accepted by the inbox.
    pub delivered: i64,
    /// Given up.
    pub failed: i64,
}

/// Likes, boosts and replies received from the fediverse.
#[derive(Debug, Default, Serialize)]
pub struct InteractionCounts {
    /// Likes.
    pub likes: i64,
    /// Boosts (Announce).
    pub shares: i64,
    /// Replies.
    pub replies: i64,
}

/// An article with its history and reach: `GET /api/articles/{id}`, and
/// the answer to every write.
#[derive(Debug, Serialize)]
pub struct Detail<'a> {
    /// The article (with its Markdown when made through the API).
    pub article: ArticleDocument<'a>,
    /// `api` or `file`.
    pub source: &'static str,
    /// Current revision.
    pub revision: i64,
    /// When a scheduled article goes out (held until then); absent once shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// Every revision, oldest first.
    pub revisions: Vec<RevisionEntry<'a>>,
    /// Deliveries of its Create, Update and Delete activities.
    pub deliveries: DeliveryCounts,
    /// Interactions received.
    pub interactions: InteractionCounts,
}

impl<'a> Detail<'a> {
    /// The detail of `stored`.
    pub fn new(
        stored: &'a StoredArticle,
        revisions: &'a [Revision],
        deliveries: DeliveryCounts,
        interactions: InteractionCounts,
        channel: &Channel,
    ) -> Self {
        Detail {
            article: ArticleDocument::new(&stored.article, stored.markdown.as_deref(), channel),
            source: origin(stored),
            revision: stored.revision,
            scheduled_for: scheduled_for(stored),
            revisions: revisions
                .iter()
                .map(|r| RevisionEntry {
                    revision: r.revision,
                    state: r.article.state.as_str(),
                    title: &r.article.title,
                    updated: time(r.article.updated),
                    source: r.source.as_deref(),
                    recorded_at: time(r.recorded_at),
                })
                .collect(),
            deliveries,
            interactions,
        }
    }
}
