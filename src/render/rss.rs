//! RSS 2.0 (<https://www.rssboard.org/rss-specification>) with the `content`,
//! `dc`, `atom` and Media RSS namespaces, built with the `rss` crate.

use std::collections::BTreeMap;

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::Extension;
use rss::{Category, Channel as RssChannel, Enclosure, Guid, Item};

use super::{authors, content_html, last_updated, visible, FeedView, Format, FEED_HISTORY_NS};
use crate::article::{Article, Image};
use crate::config::Channel;
use crate::render::escape;

const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";

/// Renders an RSS 2.0 feed of `articles` (newest first).
pub fn feed(channel: &Channel, view: &FeedView, articles: &[Article]) -> Vec<u8> {
    let scope = &view.scope;
    let format = Format::Rss;
    let mut namespaces = BTreeMap::new();
    namespaces.insert("media".to_owned(), MEDIA_NS.to_owned());
    let links = view
        .links(channel, format)
        .into_iter()
        .map(|(rel, url, media_type)| Link {
            href: url.into(),
            rel: rel.to_owned(),
            mime_type: media_type.map(str::to_owned),
            ..Default::default()
        })
        .collect();
    let mut extensions = BTreeMap::new();
    if view.is_archive() {
        namespaces.insert("fh".to_owned(), FEED_HISTORY_NS.to_owned());
        let archive = Extension { name: "fh:archive".to_owned(), ..Default::default() };
        extensions.insert("fh".to_owned(), BTreeMap::from([("archive".to_owned(), vec![archive])]));
    }
    let rss = RssChannel {
        title: scope.title(channel),
        link: scope.page_url(channel).into(),
        description: channel.description.clone(),
        language: Some(channel.language.as_str().to_owned()),
        copyright: Some(channel.rights.clone()).filter(|r| !r.is_empty()),
        last_build_date: Some(last_updated(articles).to_rfc2822()),
        generator: Some(concat!("herald ", env!("CARGO_PKG_VERSION")).to_owned()),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        // RSS images are at most 144 pixels wide: the wide logo, else the icon.
        image: channel.logo.as_ref().or(channel.icon.as_ref()).map(|icon| rss::Image {
            url: icon.to_string(),
            title: scope.title(channel),
            link: scope.page_url(channel).into(),
            ..Default::default()
        }),
        atom_ext: Some(AtomExtension { links }),
        items: visible(articles).map(|article| item(channel, view, article)).collect(),
        namespaces,
        extensions,
        ..Default::default()
    };
    rss.pretty_write_to(Vec::new(), b' ', 2).expect("writing XML to memory cannot fail")
}

fn item(channel: &Channel, view: &FeedView, article: &Article) -> Item {
    let mut extensions = BTreeMap::new();
    if let Some(image) = &article.image {
        let mut media = BTreeMap::new();
        media.insert("content".to_owned(), vec![media_content(image)]);
        extensions.insert("media".to_owned(), media);
    }
    Item {
        title: Some(article.title.clone()),
        link: Some(article.url.to_string()),
        // <description> is read as HTML; the summary is plain text.
        description: Some(escape(&article.summary).into_owned()),
        guid: Some(Guid { value: article.id.to_string(), permalink: false }),
        pub_date: Some(article.published.to_rfc2822()),
        categories: article.tags.iter().map(|tag| Category { name: tag.to_string(), domain: None }).collect(),
        content: content_html(article, view.content),
        enclosure: article.image.as_ref().map(|image| Enclosure {
            url: image.url.to_string(),
            // RSS requires a length; 0 is the conventional "unknown".
            length: image.length.unwrap_or(0).to_string(),
            mime_type: image.media_type.clone(),
        }),
        dublin_core_ext: Some(DublinCoreExtension {
            creators: authors(channel, article).into_iter().map(str::to_owned).collect(),
            ..Default::default()
        }),
        extensions,
        ..Default::default()
    }
}

fn media_content(image: &Image) -> Extension {
    let mut attrs = BTreeMap::new();
    attrs.insert("url".to_owned(), image.url.to_string());
    attrs.insert("type".to_owned(), image.media_type.clone());
    attrs.insert("medium".to_owned(), "image".to_owned());
    if let Some(length) = image.length {
        attrs.insert("fileSize".to_owned(), length.to_string());
    }
    if let Some(width) = image.width {
        attrs.insert("width".to_owned(), width.to_string());
    }
    if let Some(height) = image.height {
        attrs.insert("height".to_owned(), height.to_string());
    }
    let mut description_attrs = BTreeMap::new();
    description_attrs.insert("type".to_owned(), "plain".to_owned());
    let description = Extension {
        name: "media:description".to_owned(),
        value: Some(image.alt.clone()),
        attrs: description_attrs,
        children: BTreeMap::new(),
    };
    let mut children = BTreeMap::new();
    children.insert("media:description".to_owned(), vec![description]);
    Extension { name: "media:content".to_owned(), value: None, attrs, children }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{channel, full, retracted, teaser};
    use super::super::{Content, Page, Scope};
    use super::*;

    fn render(articles: &[Article]) -> rss::Channel {
        let bytes = feed(&channel(), &FeedView::current(Scope::All, Content::Full), articles);
        rss::Channel::read_from(bytes.as_slice()).unwrap()
    }

    #[test]
    fn items_carry_the_stable_id_dates_authors_and_tags() {
        let parsed = render(&[full(), teaser()]);
        assert_eq!(parsed.language(), Some("fr"));
        let item = &parsed.items()[0];
        let guid = item.guid().unwrap();
        assert_eq!(guid.value(), "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8");
        assert!(!guid.is_permalink());
        assert_eq!(item.pub_date(), Some("Mon, 5 Aug 2024 08:00:00 +0000"));
        assert_eq!(item.dublin_core_ext().unwrap().creators(), ["La rédaction"]);
        assert_eq!(item.categories().iter().map(|c| c.name()).collect::<Vec<_>>(), ["mali", "wagner"]);
        assert_eq!(parsed.last_build_date(), Some("Tue, 6 Aug 2024 09:30:00 +0000"));
        let self_link = &parsed.atom_ext().unwrap().links()[0];
        assert_eq!(self_link.href(), "https://news.example.org/feed.rss");
    }

    #[test]
    fn the_lead_image_is_an_enclosure_media_content_and_an_img() {
        let parsed = render(&[full()]);
        let item = &parsed.items()[0];
        let enclosure = item.enclosure().unwrap();
        assert_eq!(enclosure.url(), "https://news.example.org/img/carte.jpg");
        assert_eq!(enclosure.length(), "48213");
        let media = &item.extensions()["media"]["content"][0];
        assert_eq!(media.attrs()["url"], "https://news.example.org/img/carte.jpg");
        let content = item.content().unwrap();
        assert!(content.starts_with("<figure><img src=\"https://news.example.org/img/carte.jpg\""), "{content}");
        assert!(content.contains("<p>Premier paragraphe.</p>"));
    }

    #[test]
    fn summaries_are_escaped_and_teasers_have_no_content() {
        let parsed = render(&[teaser(), full()]);
        assert_eq!(parsed.items()[0].content(), None);
        assert_eq!(parsed.items()[1].description(), Some("Le 27 juillet, un convoi &lt;tombe&gt; dans une embuscade."));
        assert_eq!(parsed.items()[0].dublin_core_ext().unwrap().creators(), ["La rédaction"]);
    }

    #[test]
    fn an_archive_page_links_its_neighbours_and_the_hub() {
        let view = FeedView { scope: Scope::All, page: Page::Archive { number: 1, last: 2 }, content: Content::Full };
        let text = String::from_utf8(feed(&channel(), &view, &[full()])).unwrap();
        let parsed = rss::Channel::read_from(text.as_bytes()).unwrap();
        let rels: Vec<(&str, &str)> = parsed.atom_ext().unwrap().links().iter().map(|l| (l.rel(), l.href())).collect();
        assert_eq!(
            rels,
            [
                ("self", "https://news.example.org/archive/1.rss"),
                ("hub", "https://news.example.org/websub"),
                ("current", "https://news.example.org/feed.rss"),
                ("next-archive", "https://news.example.org/archive/2.rss"),
            ]
        );
        assert!(text.contains("<fh:archive"), "{text}");
    }

    #[test]
    fn retracted_articles_are_left_out() {
        let parsed = render(&[full(), retracted()]);
        assert_eq!(parsed.items().len(), 1);
    }
}
