//! Atom 1.0 (RFC 4287), built with `atom_syndication`.

use std::collections::BTreeMap;

use atom_syndication::{Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig};

use super::{authors, content_html, last_updated, visible, FeedView, Format, FEED_HISTORY_NS};
use crate::article::Article;
use crate::config::Channel;

/// Renders an Atom feed of `articles` (newest first).
pub fn feed(channel: &Channel, view: &FeedView, articles: &[Article]) -> Vec<u8> {
    let scope = &view.scope;
    let format = Format::Atom;
    let mut links: Vec<Link> = view
        .links(channel, format)
        .into_iter()
        .map(|(rel, url, media_type)| link(rel, url.as_str(), media_type))
        .collect();
    links.push(link("alternate", scope.page_url(channel).as_str(), Some("text/html")));
    links.push(link("license", channel.license_url.as_str(), None));
    let namespaces = if view.is_archive() {
        BTreeMap::from([("fh".to_owned(), FEED_HISTORY_NS.to_owned())])
    } else {
        BTreeMap::new()
    };
    let feed = Feed {
        // RFC 4287 §4.2.6: the feed id is the page it mirrors, which never
        // changes; the archive pages are documents of the same feed (RFC 5005).
        id: scope.page_url(channel).into(),
        title: Text::plain(scope.title(channel)),
        subtitle: Some(Text::plain(channel.description.clone())),
        updated: last_updated(articles).fixed_offset(),
        authors: vec![person(&channel.author)],
        links,
        rights: Some(Text::plain(channel.rights.clone())).filter(|r| !r.value.is_empty()),
        // RFC 4287: the icon is small and square, the logo twice as wide as high.
        icon: channel.favicon.as_ref().or(channel.icon.as_ref()).map(ToString::to_string),
        logo: channel.logo.as_ref().map(ToString::to_string),
        namespaces,
        generator: Some(Generator {
            value: "herald".to_owned(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        lang: Some(channel.language.as_str().to_owned()),
        entries: visible(articles).map(|article| entry(channel, view, article)).collect(),
        ..Default::default()
    };
    let config = WriteConfig { write_document_declaration: true, indent_size: Some(2) };
    let xml = feed.write_with_config(Vec::new(), config).expect("writing XML to memory cannot fail");
    if view.is_archive() {
        mark_archive(xml)
    } else {
        xml
    }
}

/// Inserts `<fh:archive/>` (RFC 5005 §4) before the first entry: RFC 4287
/// allows extension elements of a feed only before its entries, and
/// `atom_syndication` writes them after. A `<` in text is always escaped,
/// so the first `<entry>` (or `</feed>`) is the element.
fn mark_archive(xml: Vec<u8>) -> Vec<u8> {
    const MARK: &[u8] = b"<fh:archive/>\n  ";
    let find = |needle: &[u8]| xml.windows(needle.len()).position(|w| w == needle);
    let Some(at) = find(b"<entry>").or_else(|| find(b"</feed>")) else { return xml };
    let mut out = Vec::with_capacity(xml.len() + MARK.len());
    out.extend_from_slice(&xml[..at]);
    out.extend_from_slice(MARK);
    out.extend_from_slice(&xml[at..]);
    out
}

fn entry(channel: &Channel, view: &FeedView, article: &Article) -> Entry {
    // xml:lang is inherited from the feed; say it only where the article differs.
    let lang = (article.language != channel.language).then(|| article.language.as_str().to_owned());
    let mut links = vec![link("alternate", article.url.as_str(), Some("text/html"))];
    links.push(link("license", article.license.as_ref().unwrap_or(&channel.license_url).as_str(), None));
    if let Some(image) = &article.image {
        let mut enclosure = link("enclosure", image.url.as_str(), Some(&image.media_type));
        enclosure.title = Some(image.alt.clone());
        enclosure.length = image.length.map(|l| l.to_string());
        links.push(enclosure);
    }
    Entry {
        // RFC 4287 §4.2.6: atom:id never changes, so it is the stable article id.
        id: article.id.to_string(),
        title: Text { lang: lang.clone(), ..Text::plain(article.title.clone()) },
        updated: article.updated.fixed_offset(),
        published: Some(article.published.fixed_offset()),
        authors: authors(channel, article).into_iter().map(person).collect(),
        summary: Some(Text { lang: lang.clone(), ..Text::plain(article.summary.clone()) }),
        content: content_html(article, view.content).map(|html| Content {
            value: Some(html),
            content_type: Some("html".to_owned()),
            lang,
            ..Default::default()
        }),
        categories: article
            .tags
            .iter()
            .map(|tag| Category { term: tag.to_string(), scheme: None, label: None })
            .collect(),
        links,
        rights: Some(Text::plain(channel.rights.clone())).filter(|r| !r.value.is_empty()),
        ..Default::default()
    }
}

fn person(name: &str) -> Person {
    Person { name: name.to_owned(), ..Default::default() }
}

fn link(rel: &str, href: &str, media_type: Option<&str>) -> Link {
    Link { href: href.to_owned(), rel: rel.to_owned(), mime_type: media_type.map(str::to_owned), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{channel, full, retracted, teaser};
    use super::super::{Content, Page, Scope};
    use super::*;

    fn render(articles: &[Article]) -> (String, Feed) {
        let bytes = feed(&channel(), &FeedView::current(Scope::All, Content::Full), articles);
        let text = String::from_utf8(bytes).unwrap();
        let parsed = text.parse::<Feed>().unwrap();
        (text, parsed)
    }

    #[test]
    fn the_feed_has_a_language_id_self_link_and_update_time() {
        let (text, parsed) = render(&[full(), teaser()]);
        assert!(text.contains(r#"xml:lang="fr""#), "{text}");
        assert_eq!(parsed.id(), "https://news.example.org/");
        assert_eq!(parsed.updated().to_rfc3339(), "2024-08-06T09:30:00+00:00");
        assert!(parsed.links().iter().any(|l| l.rel() == "self" && l.href() == "https://news.example.org/feed.atom"));
        assert!(parsed.links().iter().any(|l| l.rel() == "hub" && l.href() == "https://news.example.org/websub"));
        assert!(!text.contains("prev-archive") && !text.contains("fh:archive"), "{text}");
    }

    #[test]
    fn an_archive_page_is_marked_and_linked_both_ways() {
        let view = FeedView { scope: Scope::All, page: Page::Archive { number: 2, last: 3 }, content: Content::Full };
        let text = String::from_utf8(feed(&channel(), &view, &[full()])).unwrap();
        let parsed = text.parse::<Feed>().unwrap();
        assert!(text.contains(r#"xmlns:fh="http://purl.org/syndication/history/1.0""#), "{text}");
        assert!(text.contains("<fh:archive"), "{text}");
        let href = |rel: &str| parsed.links().iter().find(|l| l.rel() == rel).map(|l| l.href().to_owned());
        assert_eq!(href("self").unwrap(), "https://news.example.org/archive/2.atom");
        assert_eq!(href("prev-archive").unwrap(), "https://news.example.org/archive/1.atom");
        assert_eq!(href("next-archive").unwrap(), "https://news.example.org/archive/3.atom");
        assert_eq!(href("current").unwrap(), "https://news.example.org/feed.atom");
        assert_eq!(parsed.id(), "https://news.example.org/");
    }

    #[test]
    fn a_summary_feed_carries_no_body() {
        let view = FeedView::current(Scope::All, Content::Summary);
        let parsed = String::from_utf8(feed(&channel(), &view, &[full()])).unwrap().parse::<Feed>().unwrap();
        assert!(parsed.entries()[0].content().is_none());
        assert!(parsed.entries()[0].summary().is_some());
    }

    #[test]
    fn entries_keep_ids_dates_and_content() {
        let (_, parsed) = render(&[full(), teaser(), retracted()]);
        assert_eq!(parsed.entries().len(), 2);
        let entry = &parsed.entries()[0];
        assert_eq!(entry.id(), "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8");
        assert_eq!(entry.published().unwrap().to_rfc3339(), "2024-08-05T08:00:00+00:00");
        assert_eq!(entry.updated().to_rfc3339(), "2024-08-06T09:30:00+00:00");
        assert_eq!(entry.content().unwrap().content_type(), Some("html"));
        assert!(entry
            .content()
            .unwrap()
            .value()
            .unwrap()
            .contains("<img src=\"https://news.example.org/img/carte.jpg\""));
        assert_eq!(entry.summary().unwrap().value, "Le 27 juillet, un convoi <tombe> dans une embuscade.");
        let rels: Vec<&str> = entry.links().iter().map(|l| l.rel()).collect();
        assert_eq!(rels, ["alternate", "license", "enclosure"]);
        assert_eq!(entry.categories()[1].term(), "wagner");
        let teaser = &parsed.entries()[1];
        assert!(teaser.content().is_none());
        assert_eq!(teaser.authors()[0].name(), "La rédaction");
    }
}
