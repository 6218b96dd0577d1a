//! Renderers: pure functions from articles plus channel metadata to bytes.
//!
//! A renderer never reads a file, the database or the clock; the same input
//! always gives the same bytes, which is what the golden tests rely on. The
//! articles are passed newest first, as `store` returns them; retracted ones
//! are skipped here too so that no caller can leak one into a feed.

pub mod atom;
mod escape;
pub mod html;
pub mod json;
pub mod note;
pub mod opml;
pub mod rss;

use chrono::{DateTime, Utc};
use url::Url;

pub use self::escape::escape;
use crate::article::{Article, AuthorKey, Tag};
use crate::config::Channel;

/// Which articles a feed holds: all of them, those with one tag, or those
/// by one author.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The main feeds.
    All,
    /// `/tags/{tag}/feed.*`.
    Tag(Tag),
    /// `/authors/{key}/feed.*`, with the byline as written.
    Author(AuthorKey, String),
}

/// Which document of a feed's history (RFC 5005): the subscription
/// document, or one archive page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// The subscription document: the newest articles, and a
    /// `prev-archive` link to the newest archive page when there is one.
    Current {
        /// Complete archive pages behind it.
        archives: usize,
    },
    /// `/archive/{number}.*`: one complete, fixed page of older articles
    /// (1 is the oldest), marked `fh:archive`.
    Archive {
        /// This page.
        number: usize,
        /// The newest complete page.
        last: usize,
    },
}

/// What each item carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Content {
    /// The whole body (teasers have none).
    Full,
    /// Title, summary and link only: readers open the page for the rest.
    Summary,
}

/// One feed document: whose articles, which page of its history, and
/// whether items carry full text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedView {
    /// Whose articles.
    pub scope: Scope,
    /// Which page.
    pub page: Page,
    /// Full text or summaries.
    pub content: Content,
}

impl FeedView {
    /// The subscription document of `scope` (with no archive behind it).
    pub fn current(scope: Scope, content: Content) -> Self {
        Self { scope, page: Page::Current { archives: 0 }, content }
    }

    /// The URL of this document in `format` (`rel="self"`).
    pub fn self_url(&self, channel: &Channel, format: Format) -> Url {
        match self.page {
            Page::Current { .. } => self.scope.feed_url(channel, format),
            Page::Archive { number, .. } => archive_url(channel, number, format),
        }
    }

    /// The next older document of the history (`prev-archive`; JSON Feed's `next_url`).
    pub fn prev_archive(&self, channel: &Channel, format: Format) -> Option<Url> {
        match self.page {
            Page::Current { archives } => (archives > 0).then(|| archive_url(channel, archives, format)),
            Page::Archive { number, .. } => (number > 1).then(|| archive_url(channel, number - 1, format)),
        }
    }

    /// The next newer archive page (`next-archive`), for an archive page.
    pub fn next_archive(&self, channel: &Channel, format: Format) -> Option<Url> {
        match self.page {
            Page::Archive { number, last } if number < last => Some(archive_url(channel, number + 1, format)),
            _ => None,
        }
    }

    /// The subscription document an archive page belongs to (`current`).
    pub fn current_url(&self, channel: &Channel, format: Format) -> Option<Url> {
        matches!(self.page, Page::Archive { .. }).then(|| self.scope.feed_url(channel, format))
    }

    /// The links of the document in `format` as (rel, URL, media type):
    /// `self`, `hub`, then those of its history (`current`,
    /// `prev-archive`, `next-archive`) that exist.
    pub fn links(&self, channel: &Channel, format: Format) -> Vec<(&'static str, Url, Option<&'static str>)> {
        let mut links = vec![("self", self.self_url(channel, format), Some(format.link_type()))];
        links.push(("hub", hub_url(channel), None));
        for (rel, url) in [
            ("current", self.current_url(channel, format)),
            ("prev-archive", self.prev_archive(channel, format)),
            ("next-archive", self.next_archive(channel, format)),
        ] {
            if let Some(url) = url {
                links.push((rel, url, Some(format.link_type())));
            }
        }
        links
    }

    /// Whether this is an archive page (`fh:archive`).
    pub fn is_archive(&self) -> bool {
        matches!(self.page, Page::Archive { .. })
    }
}

/// `{base}archive/{number}.{ext}`: a page of the main feed's archive.
pub fn archive_url(channel: &Channel, number: usize, format: Format) -> Url {
    channel.url(&format!("archive/{number}.{}", format.extension()))
}

/// The WebSub hub every feed names: herald itself, `{base}websub`.
pub fn hub_url(channel: &Channel) -> Url {
    channel.url("websub")
}

/// The RFC 5005 feed-history namespace, whose `fh:archive` marks archive pages.
pub const FEED_HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

/// A feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RSS 2.0.
    Rss,
    /// Atom 1.0.
    Atom,
    /// JSON Feed 1.1.
    Json,
}

impl Format {
    /// All formats, in the order they are advertised.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// The file extension used in feed URLs.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// Parses `rss`, `atom` or `json`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == raw)
    }

    /// The media type, with charset, served for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// The media type for `<link rel="alternate" type=…>`.
    pub fn link_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }

    /// A human name for the format.
    pub fn label(self) -> &'static str {
        match self {
            Format::Rss => "RSS",
            Format::Atom => "Atom",
            Format::Json => "JSON Feed",
        }
    }
}

/// Renders `articles` in `format`.
pub fn feed(format: Format, channel: &Channel, view: &FeedView, articles: &[Article]) -> Vec<u8> {
    match format {
        Format::Rss => rss::feed(channel, view, articles),
        Format::Atom => atom::feed(channel, view, articles),
        Format::Json => json::feed(channel, view, articles),
    }
}

impl Scope {
    /// The feed's title.
    pub fn title(&self, channel: &Channel) -> String {
        match self {
            Scope::All => channel.title.clone(),
            Scope::Tag(tag) => format!("{} — #{tag}", channel.title),
            Scope::Author(_, name) => format!("{} — {name}", channel.title),
        }
    }

    /// The URL of this feed in `format`.
    pub fn feed_url(&self, channel: &Channel, format: Format) -> Url {
        match self {
            Scope::All => channel.url(&format!("feed.{}", format.extension())),
            Scope::Tag(tag) => channel.url(&format!("tags/{tag}/feed.{}", format.extension())),
            Scope::Author(key, _) => channel.url(&format!("authors/{key}/feed.{}", format.extension())),
        }
    }

    /// The HTML page this feed mirrors.
    pub fn page_url(&self, channel: &Channel) -> Url {
        match self {
            Scope::All => channel.base_url.clone(),
            Scope::Tag(tag) => channel.url(&format!("tags/{tag}")),
            Scope::Author(key, _) => channel.url(&format!("authors/{key}")),
        }
    }
}

/// The published articles among `articles`, in the given order.
fn visible(articles: &[Article]) -> impl Iterator<Item = &Article> {
    articles.iter().filter(|a| a.is_published())
}

/// The newest `updated` among the visible articles: the feed's own update time.
/// An empty feed uses the Unix epoch, a fixed value, since renderers read no clock.
fn last_updated(articles: &[Article]) -> DateTime<Utc> {
    visible(articles).map(|a| a.updated).max().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The authors of an article, or the channel's byline when it names none.
fn authors<'a>(channel: &'a Channel, article: &'a Article) -> Vec<&'a str> {
    if article.authors.is_empty() {
        vec![channel.author.as_str()]
    } else {
        article.authors.iter().map(String::as_str).collect()
    }
}

/// The full HTML content of an article for feeds: the lead image first (not
/// every reader shows `media:content` or enclosures), then the body. `None`
/// for a teaser, and in a summary-only feed.
fn content_html(article: &Article, content: Content) -> Option<String> {
    if content == Content::Summary {
        return None;
    }
    let body = article.body_html.as_deref()?;
    let mut html = String::with_capacity(body.len() + 256);
    if let Some(image) = &article.image {
        html.push_str("<figure><img src=\"");
        html.push_str(&escape(image.url.as_str()));
        html.push_str("\" alt=\"");
        html.push_str(&escape(&image.alt));
        html.push('"');
        if let (Some(w), Some(h)) = (image.width, image.height) {
            html.push_str(&format!(" width=\"{w}\" height=\"{h}\""));
        }
        html.push_str("></figure>\n");
    }
    html.push_str(body);
    Some(html)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Articles for renderer unit tests.
    use chrono::TimeZone;

    use super::*;
    use crate::article::{ArticleId, Image, Kind, Language, Slug, State};
    use crate::config::Settings;

    pub fn channel() -> Channel {
        let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
        Settings::load_with_env(None, env).unwrap().channel
    }

    pub fn full() -> Article {
        let channel = channel();
        let slug = Slug::parse("mali-tin-zaouatine").unwrap();
        Article {
            id: ArticleId::parse("urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8").unwrap(),
            url: channel.article_url(&slug),
            slug,
            kind: Kind::Full,
            title: "Mali : l’embuscade de Tin Zaouatine & ses suites".into(),
            summary: "Le 27 juillet, un convoi <tombe> dans une embuscade.".into(),
            body_html: Some("<p>Premier paragraphe.</p>\n<p>Second.</p>".into()),
            authors: vec!["La rédaction".into()],
            language: Language::parse("fr").unwrap(),
            tags: vec![Tag::parse("mali").unwrap(), Tag::parse("wagner").unwrap()],
            image: Some(Image {
                url: Url::parse("https://news.example.org/img/carte.jpg").unwrap(),
                alt: "Carte du nord du Mali".into(),
                media_type: "image/jpeg".into(),
                length: Some(48213),
                width: Some(1200),
                height: Some(800),
            }),
            license: None,
            published: Utc.with_ymd_and_hms(2024, 8, 5, 8, 0, 0).unwrap(),
            updated: Utc.with_ymd_and_hms(2024, 8, 6, 9, 30, 0).unwrap(),
            state: State::Published,
        }
    }

    pub fn teaser() -> Article {
        let channel = channel();
        let slug = Slug::parse("chili").unwrap();
        Article {
            id: ArticleId::parse("urn:uuid:0a74d1e1-fa7b-4fca-9ebb-dfcd61b3bd52").unwrap(),
            url: channel.article_url(&slug),
            slug,
            kind: Kind::Teaser,
            title: "Chili".into(),
            summary: "Les protestations se poursuivent.".into(),
            body_html: None,
            authors: vec![],
            language: Language::parse("fr").unwrap(),
            tags: vec![],
            image: None,
            license: None,
            published: Utc.with_ymd_and_hms(2019, 11, 4, 9, 0, 0).unwrap(),
            updated: Utc.with_ymd_and_hms(2019, 11, 4, 9, 0, 0).unwrap(),
            state: State::Published,
        }
    }

    pub fn retracted() -> Article {
        let mut article = teaser();
        article.id = ArticleId::parse("urn:uuid:d3da699c-3a45-4fab-8085-91bd8807df37").unwrap();
        article.slug = Slug::parse("retire").unwrap();
        article.state = State::Retracted;
        article
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::fixtures::{channel, full, teaser};
    use super::*;
    use crate::article::ArticleId;

    fn text() -> impl Strategy<Value = String> {
        "[<>&\"' a-zA-Zéèà€💡\\PC]{1,40}".prop_map(|s| s.trim().to_owned()).prop_filter("non-empty", |s| !s.is_empty())
    }

    fn article() -> impl Strategy<Value = Article> {
        (any::<bool>(), text(), text(), proptest::collection::vec("[a-zé0-9_]{1,12}", 0..4), any::<u128>()).prop_map(
            |(is_full, title, summary, tags, id)| {
                let mut article = if is_full { full() } else { teaser() };
                article.id = ArticleId::parse(&uuid::Uuid::from_u128(id).hyphenated().to_string()).unwrap();
                article.title = title;
                article.summary = summary;
                article.tags = tags.iter().map(|t| Tag::parse(t).unwrap()).collect();
                article.tags.dedup();
                article
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any articles render to feeds that parse back with the same ids,
        /// titles and summaries, in order, in all three formats.
        #[test]
        fn feeds_parse_back_with_the_same_items(articles in proptest::collection::vec(article(), 1..5)) {
            let channel = channel();
            let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
            let titles: Vec<&str> = articles.iter().map(|a| a.title.as_str()).collect();
            let summaries: Vec<&str> = articles.iter().map(|a| a.summary.as_str()).collect();

            let view = FeedView::current(Scope::All, Content::Full);
            let rss = ::rss::Channel::read_from(&feed(Format::Rss, &channel, &view, &articles)[..]).unwrap();
            prop_assert_eq!(rss.items().iter().map(|i| i.guid().unwrap().value()).collect::<Vec<_>>(), ids.clone());
            prop_assert_eq!(rss.items().iter().map(|i| i.title().unwrap()).collect::<Vec<_>>(), titles.clone());

            let atom_bytes = feed(Format::Atom, &channel, &view, &articles);
            let atom = ::atom_syndication::Feed::read_from(&atom_bytes[..]).unwrap();
            prop_assert_eq!(atom.entries().iter().map(|e| e.id()).collect::<Vec<_>>(), ids.clone());
            prop_assert_eq!(atom.entries().iter().map(|e| e.title().value.as_str()).collect::<Vec<_>>(), titles.clone());
            prop_assert_eq!(
                atom.entries().iter().map(|e| e.summary().unwrap().value.as_str()).collect::<Vec<_>>(),
                summaries.clone()
            );

            let json: serde_json::Value = serde_json::from_slice(&feed(Format::Json, &channel, &view, &articles)).unwrap();
            let items = json["items"].as_array().unwrap();
            prop_assert_eq!(items.iter().map(|i| i["id"].as_str().unwrap()).collect::<Vec<_>>(), ids);
            prop_assert_eq!(items.iter().map(|i| i["title"].as_str().unwrap()).collect::<Vec<_>>(), titles);
            prop_assert_eq!(items.iter().map(|i| i["summary"].as_str().unwrap()).collect::<Vec<_>>(), summaries);
        }
    }
}
