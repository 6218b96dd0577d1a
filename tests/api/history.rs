//! The whole history for aggregators: RFC 5005 archive pages walked with
//! feed-rs, author feeds and pages, `/feeds.opml`, `/subscribe`, the WebSub
//! `Link` headers, and the per-feed settings.

use std::collections::HashMap;

use crate::common::{header, spawn_with, Setup, TestApp};

/// Articles in the sample publication.
const SAMPLE: usize = 4;

/// Writes `n` articles dated an hour apart from 2020-01-01, by two authors
/// in turn, and publishes them with the real CLI.
pub async fn publish_generated(app: &TestApp, n: usize) {
    for i in 0..n {
        let author = if i % 2 == 0 { "Anne Dupont" } else { "Jean Martin" };
        let published = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z").unwrap()
            + chrono::TimeDelta::hours(i64::try_from(i).unwrap());
        app.write_content(
            &format!("gen-{i:04}.md"),
            &format!(
                "+++\nid = \"urn:uuid:00000000-0000-4000-8000-{i:012}\"\nslug = \"gen-{i}\"\ntitle = \"Article {i}\"\n\
                 summary = \"Summary {i}.\"\nauthors = [\"{author}\"]\ntags = [\"histoire\"]\n\
                 published = \"{}\"\n+++\n\nBody of article {i}.\n",
                published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
    }
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Publishes the content directory with the CLI and waits until the server
/// serves the new revision.
async fn republish(app: &TestApp) {
    let revision = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["revision"].as_i64().unwrap();
    let before = revision(&app.text("/healthz").await);
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    app.await_body("/healthz", |b| revision(b) > before).await;
}

async fn spawn_with_env(env: &[(&str, &str)]) -> TestApp {
    spawn_with(Setup { env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), ..Setup::default() })
        .await
}

/// A document of the chain: its entry ids and the next older document.
struct Document {
    ids: Vec<String>,
    older: Option<String>,
    archive: bool,
}

async fn fetch_document(app: &TestApp, url: &str, ext: &str) -> Document {
    let path = url.strip_prefix("https://news.example.org").unwrap_or(url);
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{url}");
    let body = response.bytes().await.unwrap();
    let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{url}: {e}"));
    let ids = feed.entries.iter().map(|e| e.id.clone()).collect();
    let text = String::from_utf8_lossy(&body);
    let (older, archive) = if ext == "json" {
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (json["next_url"].as_str().map(str::to_owned), path.starts_with("/archive/"))
    } else {
        let older = feed.links.iter().find(|l| l.rel.as_deref() == Some("prev-archive")).map(|l| l.href.clone());
        (older, text.contains("<fh:archive"))
    };
    Document { ids, older, archive }
}

#[tokio::test]
async fn walking_the_archive_chain_of_500_articles_finds_each_exactly_once() {
    let app = spawn_with_env(&[]).await;
    publish_generated(&app, 500).await;
    let total = 500 + SAMPLE;
    app.await_body("/feed.atom", |b| b.contains("prev-archive")).await;
    for ext in ["atom", "rss", "json"] {
        let mut seen_in_archives: HashMap<String, usize> = HashMap::new();
        let current = fetch_document(&app, &format!("/feed.{ext}"), ext).await;
        assert!(!current.archive, "the subscription document is not an archive");
        assert_eq!(current.ids.len(), 50);
        let mut next = current.older.clone();
        let mut pages = 0;
        while let Some(url) = next {
            pages += 1;
            assert!(pages <= 20, "the chain does not end");
            let page = fetch_document(&app, &url, ext).await;
            assert!(page.archive || ext == "json", "{url} is not marked fh:archive");
            assert_eq!(page.ids.len(), 50, "{url}: archive pages are complete");
            for id in page.ids {
                *seen_in_archives.entry(id).or_default() += 1;
            }
            next = page.older;
        }
        // 504 articles: ten complete pages of 50, the 4 newest in the
        // subscription document only.
        assert_eq!(pages, 10, "{ext}");
        assert!(seen_in_archives.values().all(|n| *n == 1), "{ext}: an article is on two archive pages");
        let mut all: std::collections::HashSet<String> = seen_in_archives.into_keys().collect();
        all.extend(current.ids);
        assert_eq!(all.len(), total, "{ext}: every article is reachable");
    }
}

/// The ETags of archive pages 1 to 4 (Atom), checking their Cache-Control.
async fn etags(app: &TestApp) -> Vec<String> {
    let mut tags = Vec::new();
    for n in 1..=4 {
        let response = app.get(&format!("/archive/{n}.atom")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(response.headers(), "cache-control"), "public, max-age=86400");
        tags.push(header(response.headers(), "etag").to_owned());
    }
    tags
}

#[tokio::test]
async fn archive_pages_are_cached_long_and_change_only_when_one_of_their_articles_does() {
    let app = spawn_with_env(&[("HERALD_FEEDS__ITEMS", "10")]).await;
    publish_generated(&app, 40).await;
    // 44 articles, pages of 10: four archive pages.
    app.await_body("/feed.atom", |b| b.contains("archive/4.atom")).await;
    let before = etags(&app).await;
    assert_eq!(app.get("/archive/5.atom").await.status(), 404, "page 5 is not complete");
    assert_eq!(app.get("/archive/0.atom").await.status(), 404);
    assert_eq!(app.get("/archive/01.atom").await.status(), 404, "one URL per page");
    let not_modified = app.get_with("/archive/2.rss", &[]).await;
    let etag = header(not_modified.headers(), "etag").to_owned();
    assert_eq!(app.get_with("/archive/2.rss", &[("if-none-match", &etag)]).await.status(), 304);

    // Article 12 is on page 2 (articles 1-4 of the sample are from 2019-2024,
    // so by date the generated ones come first).
    let edited = app.read_content("gen-0012.md").replace("Body of article 12.", "Body of article 12, corrected.");
    app.write_content("gen-0012.md", &edited);
    republish(&app).await;
    let after = etags(&app).await;
    assert_eq!(before[0], after[0]);
    assert_ne!(before[1], after[1], "the edited article's page changed");
    assert_eq!(before[2..], after[2..]);

    // A retraction empties its slot: the other pages keep their articles.
    let retracted = app.read_content("gen-0031.md").replace("+++\n\nBody", "state = \"retracted\"\n+++\n\nBody");
    app.write_content("gen-0031.md", &retracted);
    republish(&app).await;
    let page4 = app.text("/archive/4.atom").await;
    assert!(!page4.contains("Article 31<"), "{page4}");
    assert_eq!(page4.matches("<entry>").count(), 9);
    let last = etags(&app).await;
    assert_eq!(after[..3], last[..3]);
    assert!(app.text("/archive/3.atom").await.contains("Article 28<"));
}

#[tokio::test]
async fn every_feed_names_the_hub_and_itself_in_a_link_header() {
    let app = spawn_with_env(&[("HERALD_FEEDS__ITEMS", "2")]).await;
    for path in ["/feed.atom", "/tags/mali/feed.rss", "/authors/la-r%C3%A9daction/feed.json", "/archive/1.atom"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let expected =
            format!("<https://news.example.org/websub>; rel=\"hub\", <https://news.example.org{path}>; rel=\"self\"");
        assert_eq!(header(response.headers(), "link"), expected, "{path}");
        let etag = header(response.headers(), "etag").to_owned();
        let revalidated = app.get_with(path, &[("if-none-match", &etag)]).await;
        assert_eq!(revalidated.status(), 304);
        assert_eq!(header(revalidated.headers(), "link"), expected, "{path}: a 304 names them too");
    }
    let atom = app.text("/feed.atom").await;
    assert!(atom.contains(r#"<link href="https://news.example.org/websub" rel="hub"/>"#), "{atom}");
}

#[tokio::test]
async fn author_feeds_and_pages_hold_the_authors_articles() {
    let app = spawn_with_env(&[]).await;
    publish_generated(&app, 6).await;
    app.await_body("/feed.json", |b| b.contains("Article 5")).await;
    let anne = app.text("/authors/anne-dupont/feed.json").await;
    let json: serde_json::Value = serde_json::from_str(&anne).unwrap();
    let titles: Vec<&str> = json["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Article 4", "Article 2", "Article 0"]);
    assert!(json["title"].as_str().unwrap().ends_with("— Anne Dupont"), "{anne}");
    assert_eq!(json["feed_url"], "https://news.example.org/authors/anne-dupont/feed.json");

    // The sample articles name "La rédaction", the channel's byline.
    let desk = app.text("/authors/la-r%C3%A9daction/feed.atom").await;
    assert_eq!(desk.matches("<entry>").count(), SAMPLE, "{desk}");

    let page = app.text("/authors/jean-martin").await;
    assert_eq!(page.matches("<article class=\"item\"").count(), 3);
    assert!(page.contains(
        r#"<link rel="alternate" type="application/atom+xml" title="herald — publication d’exemple — Jean Martin (Atom)" href="https://news.example.org/authors/jean-martin/feed.atom">"#
    ), "{page}");
    let article = app.text("/articles/gen-1").await;
    assert!(article.contains(r#"<a href="https://news.example.org/authors/jean-martin" rel="author">Jean Martin</a>"#));

    for missing in ["/authors/nobody/feed.atom", "/authors/Anne-Dupont", "/authors/anne-dupont/feed.xml"] {
        assert_eq!(app.get(missing).await.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn the_opml_file_lists_every_feed_and_the_subscribe_page_every_way_to_follow() {
    let app = spawn_with_env(&[]).await;
    let response = app.get("/feeds.opml").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(response.headers(), "content-type"), "text/x-opml; charset=utf-8");
    let opml = response.text().await.unwrap();
    // Main, five tags (chili, europe, mali, sahel, ukraine, wagner) and one author, three formats each.
    for url in [
        "https://news.example.org/feed.rss",
        "https://news.example.org/tags/sahel/feed.atom",
        "https://news.example.org/authors/la-r%C3%A9daction/feed.json",
    ] {
        assert!(opml.contains(&format!("xmlUrl=\"{url}\"")), "{url}: {opml}");
    }
    assert_eq!(opml.matches("xmlUrl=").count(), 3 * (1 + 6 + 1), "{opml}");
    for line in opml.lines().filter(|l| l.contains("xmlUrl=")) {
        let url = line.split("xmlUrl=\"").nth(1).unwrap().split('"').next().unwrap();
        let path = url.strip_prefix("https://news.example.org").unwrap();
        assert_eq!(app.get(path).await.status(), 200, "{path} listed in the OPML file");
    }

    let page = app.text("/subscribe").await;
    for needle in ["value=\"https://news.example.org/feed.atom\"", "feeds.opml", "@news@news.example.org", "blogtrottr"]
    {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    assert!(app.text("/").await.contains("https://news.example.org/subscribe"));
}

#[tokio::test]
async fn feeds_can_carry_summaries_and_their_own_item_counts() {
    let app = spawn_with_env(&[
        ("HERALD_FEEDS__TAG_CONTENT", "summary"),
        ("HERALD_FEEDS__AUTHOR_ITEMS", "2"),
        ("HERALD_CHANNEL__ICON", "https://news.example.org/icon.png"),
        ("HERALD_CHANNEL__LOGO", "https://news.example.org/logo.png"),
        ("HERALD_CHANNEL__FAVICON", "https://news.example.org/favicon.ico"),
    ])
    .await;
    let tag = app.text("/tags/mali/feed.json").await;
    let json: serde_json::Value = serde_json::from_str(&tag).unwrap();
    assert!(json["items"][0].get("content_html").is_none(), "{tag}");
    let main: serde_json::Value = serde_json::from_str(&app.text("/feed.json").await).unwrap();
    assert!(main["items"][0]["content_html"].is_string());
    assert_eq!(main["icon"], "https://news.example.org/icon.png");
    assert_eq!(main["favicon"], "https://news.example.org/favicon.ico");
    let author: serde_json::Value =
        serde_json::from_str(&app.text("/authors/la-r%C3%A9daction/feed.json").await).unwrap();
    assert_eq!(author["items"].as_array().unwrap().len(), 2);
    let atom = app.text("/feed.atom").await;
    assert!(atom.contains("<icon>https://news.example.org/favicon.ico</icon>"), "{atom}");
    assert!(atom.contains("<logo>https://news.example.org/logo.png</logo>"), "{atom}");
    let rss = app.text("/feed.rss").await;
    assert!(rss.contains("<url>https://news.example.org/logo.png</url>"), "{rss}");
}
