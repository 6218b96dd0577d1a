//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>) with serde.

use serde::Serialize;

use super::{authors, content_html, hub_url, visible, FeedView, Format};
use crate::article::Article;
use crate::config::Channel;

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: String,
    home_page_url: String,
    feed_url: String,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    favicon: Option<&'a str>,
    language: &'a str,
    authors: Vec<Author<'a>>,
    hubs: Vec<Hub>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct Hub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    summary: &'a str,
    // The spec requires content_html or content_text: a teaser has only its summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: Vec<&'a str>,
    language: &'a str,
}

/// Renders a JSON Feed of `articles` (newest first). JSON Feed has no
/// archive marker: an archive page is a page of the feed, and `next_url`
/// leads to the next older one (and from the subscription document to the
/// newest archive page).
pub fn feed(channel: &Channel, view: &FeedView, articles: &[Article]) -> Vec<u8> {
    let scope = &view.scope;
    let feed = JsonFeed {
        version: VERSION,
        title: scope.title(channel),
        home_page_url: scope.page_url(channel).into(),
        // The feed's identity: the subscription document, also on archive pages.
        feed_url: scope.feed_url(channel, Format::Json).into(),
        description: &channel.description,
        next_url: view.prev_archive(channel, Format::Json).map(Into::into),
        icon: channel.icon.as_ref().map(url::Url::as_str),
        favicon: channel.favicon.as_ref().map(url::Url::as_str),
        language: channel.language.as_str(),
        authors: vec![Author { name: &channel.author }],
        hubs: vec![Hub { kind: "WebSub", url: hub_url(channel).into() }],
        items: visible(articles).map(|article| item(channel, view, article)).collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&feed).expect("serializing to memory cannot fail");
    bytes.push(b'\n');
    bytes
}

fn item<'a>(channel: &'a Channel, view: &FeedView, article: &'a Article) -> JsonItem<'a> {
    let content_html = content_html(article, view.content);
    JsonItem {
        id: article.id.as_str(),
        url: article.url.as_str(),
        title: &article.title,
        summary: &article.summary,
        content_text: content_html.is_none().then_some(article.summary.as_str()),
        content_html,
        image: article.image.as_ref().map(|i| i.url.as_str()),
        date_published: article.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        date_modified: article.updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        authors: authors(channel, article).into_iter().map(|name| Author { name }).collect(),
        tags: article.tags.iter().map(|t| t.as_str()).collect(),
        language: article.language.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::fixtures::{channel, full, retracted, teaser};
    use super::super::{Content, Page, Scope};
    use super::*;

    #[test]
    fn items_follow_json_feed_1_1() {
        let bytes = feed(&channel(), &FeedView::current(Scope::All, Content::Full), &[full(), teaser(), retracted()]);
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["version"], VERSION);
        assert_eq!(json["feed_url"], "https://news.example.org/feed.json");
        assert_eq!(json["language"], "fr");
        assert_eq!(json["hubs"], serde_json::json!([{ "type": "WebSub", "url": "https://news.example.org/websub" }]));
        assert!(json.get("next_url").is_none());
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8");
        assert_eq!(items[0]["date_published"], "2024-08-05T08:00:00Z");
        assert_eq!(items[0]["date_modified"], "2024-08-06T09:30:00Z");
        assert_eq!(items[0]["image"], "https://news.example.org/img/carte.jpg");
        assert_eq!(items[0]["tags"], serde_json::json!(["mali", "wagner"]));
        assert!(items[0]["content_html"].as_str().unwrap().starts_with("<figure><img"));
        assert!(items[1].get("content_html").is_none());
        assert_eq!(items[1]["content_text"], "Les protestations se poursuivent.");
        assert_eq!(items[1]["authors"][0]["name"], "La rédaction");
    }

    #[test]
    fn a_tag_feed_has_its_own_title_and_urls() {
        let scope = Scope::Tag(crate::article::Tag::parse("mali").unwrap());
        let json: Value =
            serde_json::from_slice(&feed(&channel(), &FeedView::current(scope, Content::Full), &[full()])).unwrap();
        assert_eq!(json["feed_url"], "https://news.example.org/tags/mali/feed.json");
        assert_eq!(json["home_page_url"], "https://news.example.org/tags/mali");
        assert!(json["title"].as_str().unwrap().ends_with("#mali"));
    }

    #[test]
    fn pages_chain_to_older_pages_through_next_url() {
        let current = FeedView { scope: Scope::All, page: Page::Current { archives: 4 }, content: Content::Full };
        let json: Value = serde_json::from_slice(&feed(&channel(), &current, &[full()])).unwrap();
        assert_eq!(json["next_url"], "https://news.example.org/archive/4.json");
        let oldest = FeedView { page: Page::Archive { number: 1, last: 4 }, ..current };
        let json: Value = serde_json::from_slice(&feed(&channel(), &oldest, &[full()])).unwrap();
        assert!(json.get("next_url").is_none());
        assert_eq!(json["feed_url"], "https://news.example.org/feed.json");
    }
}
