//! Routes, content types, conditional GET, compression, HEAD, round trips.

use std::io::Read;

use crate::common::{header, spawn_app, spawn_app_with};

const SAMPLE_SLUG: &str = "mali-embuscade-tin-zaouatine-wagner-ukraine";

#[tokio::test]
async fn every_route_answers_with_its_content_type_and_charset() {
    let app = spawn_app().await;
    let routes = [
        ("/", "text/html; charset=utf-8"),
        ("/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/articles/mali-embuscade-tin-zaouatine-wagner-ukraine", "text/html; charset=utf-8"),
        ("/tags/mali", "text/html; charset=utf-8"),
        ("/tags/ukraine/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/tags/ukraine/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/tags/ukraine/feed.json", "application/feed+json; charset=utf-8"),
        ("/license", "text/html; charset=utf-8"),
        ("/healthz", "application/json"),
    ];
    for (path, content_type) in routes {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(response.headers(), "content-type"), content_type, "{path}");
    }
}

#[tokio::test]
async fn the_front_page_shows_the_article_and_teasers_and_advertises_the_feeds() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let page = app.text("/").await;
    // Assert
    assert!(page.contains("<html lang=\"fr\">"));
    assert_eq!(page.matches("<article class=\"item\"").count(), 4);
    assert_eq!(page.matches("· brève").count(), 3);
    let alternates: Vec<&str> = page.lines().filter(|l| l.starts_with("<link rel=\"alternate\"")).collect();
    assert_eq!(alternates.len(), 3, "{alternates:#?}");
    for (line, path) in alternates.iter().zip(["/feed.rss", "/feed.atom", "/feed.json"]) {
        assert!(line.contains(&format!("href=\"https://news.example.org{path}\"")), "{line}");
        assert_eq!(app.get(path).await.status(), 200);
    }
}

#[tokio::test]
async fn an_article_page_shows_the_body_without_site_chrome() {
    let app = spawn_app().await;
    let page = app.text(&format!("/articles/{SAMPLE_SLUG}")).await;
    let article = &page[page.find("<article").unwrap()..page.find("</article>").unwrap()];
    assert_eq!(article.matches("<p>").count(), 9, "summary + eight paragraphs");
    assert!(page.contains("plus de 2 000 hommes au Mali.</p>"));
    assert!(!page.contains("Contribuer."));
    assert!(!page.contains("Réexploitez ce matériel</p>"));
    assert!(page.contains("<meta property=\"og:title\""));
}

#[tokio::test]
async fn unknown_paths_get_a_real_404_page() {
    let app = spawn_app().await;
    for path in
        ["/nope", "/articles/nope", "/articles/Not_A_Slug", "/tags/nope", "/tags/mali/feed.xml", "/tags/nope/feed.rss"]
    {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(header(response.headers(), "content-type"), "text/html; charset=utf-8");
        let body = response.text().await.unwrap();
        assert!(body.contains("Page introuvable"), "{path}: {body}");
    }
}

#[tokio::test]
async fn conditional_requests_answer_304_with_the_same_validators() {
    let app = spawn_app().await;
    for path in ["/feed.rss", "/feed.atom", "/feed.json", "/", &format!("/articles/{SAMPLE_SLUG}")] {
        let first = app.get(path).await;
        assert_eq!(first.status(), 200);
        let etag = header(first.headers(), "etag").to_owned();
        let last_modified = header(first.headers(), "last-modified").to_owned();
        let cache_control = header(first.headers(), "cache-control").to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");
        assert!(cache_control.contains("max-age="), "{cache_control}");

        let by_etag = app.get_with(path, &[("if-none-match", &etag)]).await;
        assert_eq!(by_etag.status(), 304, "{path}");
        assert_eq!(header(by_etag.headers(), "etag"), etag);
        assert_eq!(header(by_etag.headers(), "cache-control"), cache_control);
        assert!(by_etag.bytes().await.unwrap().is_empty());

        let by_date = app.get_with(path, &[("if-modified-since", &last_modified)]).await;
        assert_eq!(by_date.status(), 304, "{path}");

        let stale = app.get_with(path, &[("if-none-match", "\"something-else\"")]).await;
        assert_eq!(stale.status(), 200, "{path}");
        let old = app.get_with(path, &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]).await;
        assert_eq!(old.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn each_feed_has_its_own_etag() {
    let app = spawn_app().await;
    let mut etags = Vec::new();
    for ext in ["rss", "atom", "json"] {
        etags.push(header(app.get(&format!("/feed.{ext}")).await.headers(), "etag").to_owned());
    }
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 3);
}

#[tokio::test]
async fn gzip_and_brotli_bodies_decompress_to_the_plain_feed() {
    let app = spawn_app().await;
    for ext in ["rss", "atom", "json"] {
        let path = format!("/feed.{ext}");
        let plain = app.get(&path).await;
        assert!(plain.headers().get("content-encoding").is_none());
        assert_eq!(header(plain.headers(), "vary"), "Accept-Encoding");
        let plain = plain.bytes().await.unwrap();

        let gz = app.get_with(&path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(header(gz.headers(), "content-encoding"), "gzip");
        let gz_etag = header(gz.headers(), "etag").to_owned();
        let gz = gz.bytes().await.unwrap();
        assert!(gz.len() < plain.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
        let revalidated = app.get_with(&path, &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)]).await;
        assert_eq!(revalidated.status(), 304);
        assert_eq!(header(revalidated.headers(), "etag"), gz_etag);

        let br = app.get_with(&path, &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(header(br.headers(), "content-encoding"), "br");
        let br = br.bytes().await.unwrap();
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, plain);
    }
}

#[tokio::test]
async fn head_requests_get_the_headers_and_no_body() {
    let app = spawn_app().await;
    let get = app.get("/feed.atom").await;
    let length = header(get.headers(), "content-length").to_owned();
    let etag = header(get.headers(), "etag").to_owned();
    let head = app.client.head(format!("{}/feed.atom", app.address)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(head.headers(), "content-length"), length);
    assert_eq!(header(head.headers(), "etag"), etag);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_three_feeds_parse_back_with_the_same_items() {
    // Arrange: the sample plus an article with an image, relative links and markup.
    let app = spawn_app_with(true, false).await;
    let mut articles = app.store.latest_published(50).await.unwrap();
    articles.sort_by(|a, b| b.published.cmp(&a.published).then(b.id.cmp(&a.id)));
    assert_eq!(articles.len(), 5);

    for ext in ["rss", "atom", "json"] {
        // Act
        let body = app.get_feed(ext).await;
        let feed = feed_rs::parser::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{ext}: {e}"));

        // Assert: same ids, order, titles, links and dates as the articles.
        assert_eq!(feed.entries.len(), articles.len(), "{ext}");
        assert_eq!(feed.language.as_deref(), Some("fr"), "{ext}");
        for (entry, article) in feed.entries.iter().zip(&articles) {
            assert_eq!(entry.id, article.id.as_str(), "{ext}");
            assert_eq!(entry.title.as_ref().unwrap().content, article.title, "{ext}");
            assert_eq!(entry.links[0].href, article.url.as_str(), "{ext}");
            assert_eq!(entry.published, Some(article.published), "{ext} {}", article.slug);
            if ext != "rss" {
                assert_eq!(entry.updated, Some(article.updated), "{ext} {}", article.slug);
            }
            let tags: Vec<&str> = entry.categories.iter().map(|c| c.term.as_str()).collect();
            let expected: Vec<&str> = article.tags.iter().map(|t| t.as_str()).collect();
            assert_eq!(tags, expected, "{ext}");
            let content = entry.content.as_ref().and_then(|c| c.body.clone());
            if let Some(body) = &article.body_html {
                let content = content.unwrap_or_else(|| panic!("{ext}: no content for {}", article.slug));
                assert!(content.contains(body.as_str()), "{ext}");
            }
        }
        let with_image = feed.entries.iter().find(|e| e.id.contains("5b0b6a3e")).unwrap();
        let content = with_image.content.as_ref().unwrap().body.clone().unwrap();
        assert!(content.starts_with("<figure><img src=\"https://news.example.org/img/carte-nord-mali.jpg\""), "{ext}");
        assert!(
            content.contains("href=\"https://news.example.org/articles/mali-embuscade"),
            "{ext}: relative link made absolute"
        );
        assert!(!content.contains("<script"), "{ext}");
        if ext == "rss" {
            assert_eq!(
                with_image.media[0].content[0].url.as_ref().unwrap().as_str(),
                "https://news.example.org/img/carte-nord-mali.jpg"
            );
        }
    }
}

#[tokio::test]
async fn unchanged_feeds_are_served_from_memory_without_the_database() {
    // Arrange: warm the cache, then take the database away.
    let app = spawn_app().await;
    let before: Vec<String> = served_etags(&app).await;
    app.store.close().await;

    // Act + Assert: the feeds still answer, identically; health says the truth.
    assert_eq!(served_etags(&app).await, before);
    assert_eq!(app.get("/healthz").await.status(), 503);
}

async fn served_etags(app: &crate::common::TestApp) -> Vec<String> {
    let mut etags = Vec::new();
    for path in ["/", "/feed.rss", "/feed.atom", "/feed.json"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        etags.push(header(response.headers(), "etag").to_owned());
    }
    etags
}
