//! One feed document: its entries, and the next page of its archive.

use feed_rs::model::{Entry, FeedType};
use url::Url;

use crate::article::Language;

/// A parsed feed document.
#[derive(Debug)]
pub struct Page {
    /// Where it was read from.
    pub url: Url,
    /// What relative links resolve against: `url` when it is http(s), else
    /// (a file) the feed's web page.
    pub base: Url,
    /// `RSS`, `Atom` or `JSON Feed`.
    pub format: &'static str,
    /// The feed's language, when it declares a valid one.
    pub language: Option<Language>,
    /// The host of the feed's web page (or of `url`): the authority of the
    /// `tag:` ids made for guids that are not URIs.
    pub host: Option<String>,
    /// The entries, in document order, with what feed-rs leaves out.
    pub entries: Vec<PageEntry>,
    /// The older page: RFC 5005 `prev-archive`, or JSON Feed `next_url`.
    pub next: Option<Url>,
}

/// An entry and the JSON Feed item fields feed-rs does not map.
#[derive(Debug)]
pub struct PageEntry {
    /// The entry as feed-rs reads it; `id` is empty when the document gives none.
    pub entry: Entry,
    /// JSON Feed `image`.
    pub image: Option<String>,
    /// JSON Feed item `language`.
    pub language: Option<String>,
}

impl Page {
    /// Parses an RSS 2.0, Atom 1.0 or JSON Feed document read from `url`.
    pub fn parse(body: &[u8], url: &Url) -> Result<Self, String> {
        // Relative links resolve against the page when it was fetched; in a
        // file they resolve against the feed's web page, found below.
        let fetched = matches!(url.scheme(), "http" | "https");
        let feed = feed_rs::parser::Builder::new()
            .base_uri(fetched.then_some(url.as_str()))
            // An empty id marks an entry without one: feed-rs would hash its
            // link and title, an id no reader ever saw.
            .id_generator(|_, _, _| String::new())
            // herald sanitizes bodies when it publishes them.
            .sanitize_content(false)
            .build()
            .parse(body)
            .map_err(|e| format!("not an RSS, Atom or JSON feed: {e}"))?;
        let format = match feed.feed_type {
            FeedType::Atom => "Atom",
            FeedType::JSON => "JSON Feed",
            FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2 => "RSS",
        };
        let json: Option<serde_json::Value> =
            (feed.feed_type == FeedType::JSON).then(|| serde_json::from_slice(body).ok()).flatten();
        let next = match &json {
            Some(json) => json["next_url"].as_str().and_then(|href| url.join(href).ok()),
            None => feed
                .links
                .iter()
                .find(|link| link.rel.as_deref() == Some("prev-archive"))
                .and_then(|link| url.join(&link.href).ok()),
        };
        let home = feed
            .links
            .iter()
            .filter(|link| link.rel.as_deref().is_none_or(|rel| rel == "alternate"))
            .filter_map(|link| url.join(&link.href).ok())
            .find(|link| matches!(link.scheme(), "http" | "https"));
        let host = home.as_ref().unwrap_or(url).host_str().map(str::to_owned);
        let base = match home {
            Some(home) if !fetched => home,
            _ => url.clone(),
        };
        let language = feed.language.as_deref().and_then(|raw| Language::parse(raw).ok());
        let items = json.as_ref().and_then(|json| json["items"].as_array());
        let entries = feed
            .entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                let item = items.and_then(|items| items.get(index));
                let field = |name: &str| item.and_then(|item| item[name].as_str()).map(str::to_owned);
                PageEntry { image: field("image"), language: field("language"), entry }
            })
            .collect();
        Ok(Self { url: url.clone(), base, format, language, host, entries, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_and_rss_pages_link_to_their_previous_archive() {
        let url = Url::parse("https://example.org/archive/3.atom").unwrap();
        let atom = r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>t</title>
            <updated>2024-01-01T00:00:00Z</updated><link rel="prev-archive" href="2.atom"/><link href="https://example.org/"/>
            <entry><title>e</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>"#;
        let page = Page::parse(atom.as_bytes(), &url).unwrap();
        assert_eq!(page.format, "Atom");
        assert_eq!(page.next.unwrap().as_str(), "https://example.org/archive/2.atom");
        assert_eq!(page.entries[0].entry.id, "");
        assert_eq!(page.host.as_deref(), Some("example.org"));
        let rss = r#"<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title><link>https://example.org/</link>
            <description>d</description><atom:link rel="prev-archive" href="https://example.org/archive/1.rss"/></channel></rss>"#;
        let page = Page::parse(rss.as_bytes(), &url).unwrap();
        assert_eq!(page.format, "RSS");
        assert_eq!(page.next.unwrap().as_str(), "https://example.org/archive/1.rss");
    }

    #[test]
    fn json_pages_chain_through_next_url_and_keep_item_images() {
        let url = Url::parse("https://example.org/feed.json").unwrap();
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","next_url":"/feed-2.json","language":"fr",
            "items":[{"id":"1","content_text":"x","image":"https://example.org/a.png","language":"en"}]}"#;
        let page = Page::parse(json.as_bytes(), &url).unwrap();
        assert_eq!(page.next.unwrap().as_str(), "https://example.org/feed-2.json");
        assert_eq!(page.entries[0].image.as_deref(), Some("https://example.org/a.png"));
        assert_eq!(page.entries[0].language.as_deref(), Some("en"));
        assert_eq!(page.language.unwrap().as_str(), "fr");
        assert!(Page::parse(b"<html></html>", &url).unwrap_err().contains("not an RSS, Atom or JSON feed"));
    }
}
