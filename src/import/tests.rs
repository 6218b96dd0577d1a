//! The mapping from feed entries to article files, on small documents.

use std::collections::HashSet;
use std::path::Path;

use pretty_assertions::assert_eq;

use super::*;
use crate::config::Settings;

fn page(text: &str) -> Page {
    Page::parse(text.as_bytes(), &Url::parse("https://blog.example.com/feed.xml").unwrap()).unwrap()
}

fn rss(items: &str) -> Page {
    page(&format!(
        r#"<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
        xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Blog</title><link>https://blog.example.com/</link>
        <description>d</description><language>en</language>{items}</channel></rss>"#
    ))
}

fn mapped(page: &Page, index: usize) -> Result<Mapped, String> {
    map_entry(&page.entries[index], page)
}

#[test]
fn a_foreign_rss_item_becomes_this_file() {
    let page = rss(r#"<item><title>Sci-Fi &amp; “Fantasy” week</title>
        <link>https://blog.example.com/2024/08/sci-fi-week.html</link>
        <guid>https://blog.example.com/?p=42</guid>
        <description>&lt;p&gt;Seven &lt;b&gt;books&lt;/b&gt; &amp;amp; more.&lt;/p&gt;</description>
        <content:encoded><![CDATA[<p>First *paragraph*.</p>
<p>Second.</p>]]></content:encoded>
        <dc:creator>Ann Author</dc:creator>
        <category>Sci-Fi</category><category>Books</category><category>!!!</category>
        <enclosure url="https://blog.example.com/cover.jpg" length="0" type="image/jpeg"/>
        <pubDate>Mon, 05 Aug 2024 08:00:00 +0200</pubDate></item>"#);
    let mapped = mapped(&page, 0).unwrap();
    let expected = r#"+++
id = "https://blog.example.com/?p=42"
slug = "sci-fi-week"
kind = "full"
title = "Sci-Fi & “Fantasy” week"
summary = "Seven books & more."
authors = ["Ann Author"]
language = "en"
tags = ["sci_fi", "books"]
image = { url = "https://blog.example.com/cover.jpg", alt = "Sci-Fi & “Fantasy” week", type = "image/jpeg" }
published = "2024-08-05T06:00:00Z"
updated = "2024-08-05T06:00:00Z"
url = "https://blog.example.com/2024/08/sci-fi-week.html"
state = "published"
+++

<p>First *paragraph*.</p>
<p>Second.</p>
"#;
    assert_eq!(mapped.to_file(), expected);
    assert_eq!(
        mapped.notes,
        [
            "category \"Sci-Fi\" became the tag sci_fi".to_owned(),
            "category \"!!!\" has no letters or digits; left out".to_owned()
        ]
    );
    // The file is one herald accepts, and the body keeps the HTML.
    let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
    let channel = Settings::load_with_env(None, env).unwrap().channel;
    let article = crate::content::parse_article(Path::new("a.md"), &mapped.to_file(), &channel).unwrap();
    assert_eq!(article.body_html.as_deref(), Some("<p>First *paragraph*.</p>\n<p>Second.</p>"));
}

#[test]
fn guids_that_are_not_uris_become_tag_uris_and_missing_ones_take_the_link() {
    let page = rss(
        r#"<item><title>A</title><guid isPermaLink="false">12345</guid><link>https://blog.example.com/a</link>
          <pubDate>Mon, 05 Aug 2024 08:00:00 GMT</pubDate></item>
        <item><title>B</title><link>https://blog.example.com/b</link><pubDate>Mon, 05 Aug 2024 08:00:00 GMT</pubDate></item>
        <item><title>C</title><description>no link</description><pubDate>Mon, 05 Aug 2024 08:00:00 GMT</pubDate></item>
        <item><title>D</title><guid>urn:x:d</guid></item>"#,
    );
    let a = mapped(&page, 0).unwrap();
    assert_eq!(a.front.id.as_str(), "tag:blog.example.com,2024:12345");
    assert_eq!(a.front.kind, Kind::Teaser);
    assert_eq!(
        a.notes,
        [
            "guid \"12345\" is not a URI: its id is tag:blog.example.com,2024:12345",
            "no summary: the title stands for it"
        ]
    );
    let b = mapped(&page, 1).unwrap();
    assert_eq!(b.front.id.as_str(), "https://blog.example.com/b");
    assert_eq!(mapped(&page, 2).unwrap_err(), "no guid and no link: nothing identifies it");
    assert_eq!(mapped(&page, 3).unwrap_err(), "no date: neither published nor updated is given");
}

#[test]
fn herald_json_teasers_stay_teasers_and_lead_figures_become_the_image() {
    let page = page(
        r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","language":"fr","items":[
        {"id":"urn:uuid:0a74d1e1-fa7b-4fca-9ebb-dfcd61b3bd52","url":"https://news.example.org/articles/chili",
         "title":"Chili","summary":"Les protestations.","content_text":"Les protestations.",
         "date_published":"2019-11-04T09:00:00Z","date_modified":"2019-11-04T09:00:00Z","tags":["chili"]},
        {"id":"urn:uuid:5b0b6a3e-3f0f-4c55-9a55-6d2f1c1f0c11","url":"https://news.example.org/articles/carte",
         "title":"Carte","summary":"S","image":"https://news.example.org/img/c.jpg","language":"en-GB",
         "content_html":"<figure><img src=\"https://news.example.org/img/c.jpg\" alt=\"Map &amp; N\" width=\"12\" height=\"8\"></figure>\n<p>Body</p>",
         "date_published":"2024-08-06T10:00:00Z","date_modified":"2024-08-07T10:30:00Z"}]}"#,
    );
    let teaser = mapped(&page, 0).unwrap();
    assert_eq!(teaser.front.kind, Kind::Teaser);
    assert_eq!(teaser.front.slug.as_str(), "chili");
    assert!(teaser.to_file().ends_with("+++\n"));
    let full = mapped(&page, 1).unwrap();
    assert_eq!(full.body, "<p>Body</p>");
    let image = full.front.image.unwrap();
    assert_eq!((image.alt.as_str(), image.media_type.as_str()), ("Map & N", "image/jpeg"));
    assert_eq!((image.width, image.height), (Some(12), Some(8)));
    assert_eq!(full.front.language.unwrap().as_str(), "en-GB");
}

#[test]
fn categories_become_tags_or_are_refused() {
    assert_eq!(tag_of("Climate Change").unwrap().as_str(), "climate_change");
    assert_eq!(tag_of("  Économie ").unwrap().as_str(), "économie");
    assert_eq!(tag_of("C++").unwrap().as_str(), "c");
    assert!(tag_of("—").is_err());
    assert!(tag_of(&"x".repeat(65)).is_err());
}

#[test]
fn slugs_come_from_the_link_then_the_title_and_are_made_unique() {
    let id = ArticleId::parse("urn:x:1").unwrap();
    let link = Url::parse("https://e.com/2024/08/%C3%89t%C3%A9-br%C3%BBlant.html").unwrap();
    assert_eq!(slug_for(Some(&link), "T", &id).as_str(), "ete-brulant");
    let index = Url::parse("https://e.com/index.php?p=1").unwrap();
    assert_eq!(slug_for(Some(&index), "Le « titre » ici", &id).as_str(), "le-titre-ici");
    assert!(slug_for(None, "Мир", &id).as_str().starts_with("item-"));
    let long = "word-".repeat(40);
    assert!(slugify(&long).unwrap().as_str().len() <= Slug::MAX_LEN);
    let taken: HashSet<String> = ["a".to_owned(), "a-2".to_owned()].into();
    assert_eq!(unique_slug(&Slug::parse("a").unwrap(), &taken).as_str(), "a-3");
    assert_eq!(unique_slug(&Slug::parse("b").unwrap(), &taken).as_str(), "b");
}

#[test]
fn json_attachments_are_enclosures_not_links() {
    let page = page(
        r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[
        {"id":"https://pod.example.org/1","title":"Episode","date_published":"2024-01-01T00:00:00Z",
         "attachments":[{"url":"https://pod.example.org/1.mp3","mime_type":"audio/mpeg"},
                        {"url":"https://pod.example.org/1.webp","mime_type":"image/webp","title":"Cover art"}]}]}"#,
    );
    let mapped = mapped(&page, 0).unwrap();
    assert_eq!(mapped.front.url, None);
    let image = mapped.front.image.unwrap();
    assert_eq!((image.url.as_str(), image.alt.as_str()), ("https://pod.example.org/1.webp", "Cover art"));
    assert_eq!(mapped.notes[0], "enclosure https://pod.example.org/1.mp3 (audio/mpeg) is not an image; left out");
}
