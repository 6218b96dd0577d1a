//! `herald import`: herald's own feeds round-trip, a second import changes
//! nothing, foreign feeds are adapted with every change reported, archive
//! chains are followed over HTTP, and private addresses stay refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;

use chrono::{DateTime, Utc};
use pretty_assertions::assert_eq;

use crate::common::{herald_awaited, herald_in, repo, spawn_app_with, spawn_with, Setup, BASE_URL};

/// A publication with no server: a configuration, a database file and a
/// content directory in a temporary directory.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Site {
    fn new(allow_private: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("herald.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbase_url = \"{BASE_URL}\"\n[database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{}\"\n\
                 [federation]\nallow_private_addresses = {allow_private}\n",
                dir.path().join("herald.db").display(),
                dir.path().join("feeds").display()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn content(&self) -> PathBuf {
        self.dir.path().join("feeds")
    }

    async fn herald(&self, args: &[&str]) -> Output {
        herald_awaited(self.dir.path(), &self.config, args).await
    }

    /// Runs herald and returns its stdout, failing the test on a non-zero exit.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.herald(args).await;
        assert!(output.status.success(), "herald {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Every file of the content directory and its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.content())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect()
    }

    /// The front matter line `key = …` of the file `name`.
    fn key(&self, name: &str, key: &str) -> String {
        let text = std::fs::read_to_string(self.content().join(name)).unwrap();
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} in {text}"))
            .to_owned()
    }
}

/// What a reader keys an item on: id, link, published, updated.
type ItemKey = (String, Vec<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn items(feed: &str) -> Vec<ItemKey> {
    let feed = feed_rs::parser::parse(feed.as_bytes()).unwrap();
    feed.entries
        .into_iter()
        .map(|e| {
            let links = e.links.into_iter().filter(|l| l.rel.as_deref() != Some("enclosure")).map(|l| l.href).collect();
            (e.id, links, e.published, e.updated)
        })
        .collect()
}

fn fixture(name: &str) -> String {
    repo().join("tests/fixtures/import").join(name).display().to_string()
}

#[tokio::test]
async fn herald_feeds_imported_and_republished_keep_their_ids_links_and_dates() {
    // Arrange: herald's own feeds of the sample publication and the image fixture.
    let app = spawn_app_with(true, false).await;
    for ext in ["rss", "atom", "json"] {
        let original = app.get_feed(ext).await;
        let site = Site::new(false);
        let file = site.dir.path().join(format!("feed.{ext}"));
        std::fs::write(&file, &original).unwrap();

        // Act: import into an empty directory, publish it into a fresh herald.
        let report = site.ok(&["import", file.to_str().unwrap()]).await;
        let published = site.ok(&["publish"]).await;
        let republished = site.ok(&["render", "--format", ext]).await;

        // Assert
        assert!(
            report.ends_with(&format!("imported 5 into {}, skipped 0, already imported 0\n", site.content().display())),
            "{report}"
        );
        assert!(published.contains("5 new"), "{published}");
        assert_eq!(items(&republished), items(&original), "{ext}");
        if ext == "atom" {
            // Atom carries every field herald writes: the republished feeds are the same bytes.
            for other in ["rss", "atom", "json"] {
                assert_eq!(site.ok(&["render", "--format", other]).await, app.get_feed(other).await, "atom → {other}");
            }
        }
    }
}

#[tokio::test]
async fn a_second_import_changes_nothing_and_says_so() {
    // Arrange
    let app = spawn_app_with(true, false).await;
    let site = Site::new(false);
    let file = site.dir.path().join("feed.json");
    std::fs::write(&file, app.get_feed("json").await).unwrap();
    site.ok(&["import", file.to_str().unwrap()]).await;
    let before = site.files();
    // A file renamed by hand is still recognised by the id in its front matter.
    std::fs::rename(
        site.content().join("chili-mort-daniela-carrasco-ni-una-menos.md"),
        site.content().join("chili.md"),
    )
    .unwrap();

    // Act
    let report = site.ok(&["import", file.to_str().unwrap()]).await;

    // Assert
    assert!(report.contains("already imported:\n  entry 1 (\"urn:uuid:"), "{report}");
    assert!(report.contains(&format!("already imported as {}", site.content().join("chili.md").display())), "{report}");
    assert!(report.ends_with("skipped 0, already imported 5\n"), "{report}");
    assert!(report.contains("imported 0 into"), "{report}");
    let mut after = site.files();
    let renamed = after.remove("chili.md").unwrap();
    assert_eq!(Some(&renamed), before.get("chili-mort-daniela-carrasco-ni-una-menos.md"));
    after.insert("chili-mort-daniela-carrasco-ni-una-menos.md".into(), renamed);
    assert_eq!(after, before);
}

#[tokio::test]
async fn foreign_feeds_are_adapted_and_every_change_is_reported() {
    let site = Site::new(false);

    // RSS: http guids, categories that are not tags, items without guid, link or date.
    let report = site.ok(&["import", &fixture("foreign.rss")]).await;
    for line in [
        "page 1: file://",
        "  entry 1 (\"https://blog.example.com/?p=42\"): category \"Sci-Fi\" became the tag sci_fi",
        "  entry 1 (\"https://blog.example.com/?p=42\"): category \"!!!\" has no letters or digits; left out",
        "  entry 2 (\"12345\"): guid \"12345\" is not a URI: its id is tag:blog.example.com,2024:12345",
        "  entry 3: no guid: its link https://blog.example.com/2024/07/no-guid is its id",
        "  entry 6 (\"https://blog.example.com/episodes/1\"): enclosure https://blog.example.com/episodes/1.mp3 (audio/mpeg) is not an image; left out",
        "skipped:\n  entry 4: no guid and no link: nothing identifies it\n  entry 5 (\"https://blog.example.com/?p=7\"): no date: neither published nor updated is given\n",
        "imported 4 into",
        ", skipped 2, already imported 0\n",
    ] {
        assert!(report.contains(line), "{line:?} not in\n{report}");
    }
    assert_eq!(site.key("sci-fi-week.md", "id"), "id = \"https://blog.example.com/?p=42\"");
    assert_eq!(site.key("sci-fi-week.md", "tags"), "tags = [\"sci_fi\", \"books\"]");
    assert_eq!(site.key("sci-fi-week.md", "language"), "language = \"en-US\"");
    assert_eq!(site.key("numbered.md", "id"), "id = \"tag:blog.example.com,2024:12345\"");
    assert_eq!(site.key("no-guid.md", "id"), "id = \"https://blog.example.com/2024/07/no-guid\"");
    assert_eq!(site.key("no-guid.md", "kind"), "kind = \"teaser\"");
    assert!(!std::fs::read_to_string(site.content().join("1.md")).unwrap().contains("image"));

    // Atom and JSON Feed: HTML titles, xhtml content, non-URI ids, text-only items.
    let report = site.ok(&["import", &fixture("foreign.atom")]).await;
    assert!(report.contains("imported 2 into"), "{report}");
    assert_eq!(site.key("climate.md", "title"), "title = \"Climate <b>change</b>\"");
    assert_eq!(site.key("climate.md", "tags"), "tags = [\"climate_change\"]");
    assert_eq!(site.key("climate.md", "url"), "url = \"https://atom.example.net/posts/climate\"");
    assert_eq!(site.key("climate.md", "published"), "published = \"2024-06-01T10:00:00Z\"");
    assert_eq!(site.key("isbn.md", "id"), "id = \"urn:isbn:0451450523\"");
    let report = site.ok(&["import", &fixture("foreign.json")]).await;
    assert!(report.contains("guid \"42\" is not a URI: its id is tag:json.example.org,2024:42"), "{report}");
    assert!(report.contains("category \"#\" has no letters or digits; left out"), "{report}");
    assert!(report.contains("no title: made from the summary"), "{report}");
    assert_eq!(site.key("42.md", "tags"), "tags = [\"new_york\"]");
    assert_eq!(site.key("kein-id.md", "id"), "id = \"https://json.example.org/posts/kein-id\"");
    assert_eq!(
        site.key("kein-id.md", "image"),
        "image = { url = \"https://json.example.org/img/k.png\", alt = \"Ohne ID\", type = \"image/png\" }"
    );

    // Every file is one herald accepts, and publishes.
    let check = site.ok(&["check"]).await;
    assert!(check.contains("checked 8 files"), "{check}");
    assert!(check.contains("8 valid, 0 problems"), "{check}");
    let published = site.ok(&["publish"]).await;
    assert!(published.contains("8 new"), "{published}");
    let json: serde_json::Value = serde_json::from_str(&site.ok(&["render", "--format", "json"]).await).unwrap();
    let kein_id =
        json["items"].as_array().unwrap().iter().find(|i| i["url"].as_str().unwrap().ends_with("kein-id")).unwrap();
    assert_eq!(kein_id["content_html"], "<figure><img src=\"https://json.example.org/img/k.png\" alt=\"Ohne ID\"></figure>\n<div>\nText that is <em>not</em> wrapped in a block.\n</div>");
}

/// Serves the files under `root` on a free loopback port; `/moved.atom`
/// redirects to `/feed.atom`.
async fn serve_files(root: PathBuf) -> String {
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Redirect};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/moved.atom", axum::routing::get(|| async { Redirect::permanent("/feed.atom") }))
        .route(
            "/{*path}",
            axum::routing::get(move |UrlPath(path): UrlPath<String>| {
                let file = root.join(&path);
                async move {
                    match std::fs::read(file) {
                        Ok(body) => ([("content-type", "application/atom+xml")], body).into_response(),
                        Err(_) => StatusCode::NOT_FOUND.into_response(),
                    }
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

fn site_fixture() -> PathBuf {
    repo().join("tests/fixtures/import/site")
}

#[tokio::test]
async fn an_archive_chain_is_followed_and_every_entry_imported_once() {
    // Arrange: the current feed and two archive pages, the oldest pointing back at the current one.
    let address = serve_files(site_fixture()).await;
    let site = Site::new(true);

    // Act
    let report = site.ok(&["import", &format!("{address}/feed.atom")]).await;

    // Assert
    for line in [
        format!("page 1: {address}/feed.atom: Atom, 3 entries\n"),
        format!("page 2: {address}/archive/2.atom: Atom, 2 entries\n"),
        format!("page 3: {address}/archive/1.atom: Atom, 2 entries\n"),
        format!("{address}/feed.atom was read before: the archive chain loops, stopped there\n"),
        "  page 2 entry 1 (\"https://archive.example.org/posts/4\"): the same id as page 1 entry 3 (\"https://archive.example.org/posts/4\"), which was kept\n".to_owned(),
        "imported 6 into".to_owned(),
    ] {
        assert!(report.contains(&line), "{line:?} not in\n{report}");
    }
    let files = site.files();
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), ["1.md", "2.md", "3.md", "4.md", "5.md", "6.md"]);
    // Through a redirect: the pages are the same, so nothing is new.
    let again = site.ok(&["import", &format!("{address}/moved.atom")]).await;
    assert!(again.starts_with(&format!("page 1: {address}/feed.atom: Atom, 3 entries\n")), "{again}");
    assert!(again.contains("imported 0 into") && again.ends_with("skipped 1, already imported 6\n"), "{again}");
    assert_eq!(site.files(), files);
}

#[tokio::test]
async fn a_private_address_is_refused_without_the_allowance() {
    // Arrange
    let address = serve_files(site_fixture()).await;
    let site = Site::new(false);

    // Act
    let output = site.herald(&["import", &format!("{address}/feed.atom")]).await;

    // Assert
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "reading {address}/feed.atom: {address}/feed.atom is a private, loopback or link-local address; \
             refused (federation.allow_private_addresses)"
        )),
        "{stderr}"
    );
    assert!(!site.content().exists(), "a refused import leaves nothing behind");
}

#[test]
fn a_missing_file_is_an_error_that_names_it() {
    let site = Site::new(false);
    let output = herald_in(site.dir.path(), &site.config, &["import", "nowhere.xml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nowhere.xml: no such file, and not an http(s) URL"), "{stderr}");
}

#[tokio::test]
async fn herald_archives_are_imported_whole_from_a_running_herald() {
    // Arrange: a herald reachable at its base URL, 10 items per page, 45 + 4 articles: 4 archive pages.
    let app = spawn_with(Setup {
        reachable: Some("127.0.0.1".to_owned()),
        env: vec![("HERALD_FEEDS__ITEMS".to_owned(), "10".to_owned())],
        ..Setup::default()
    })
    .await;
    crate::history::publish_generated(&app, 45).await;
    app.await_body("/feed.atom", |b| b.contains("prev-archive")).await;
    let published: BTreeSet<String> = (0..45)
        .map(|i| format!("urn:uuid:00000000-0000-4000-8000-{i:012}"))
        .chain(items(&std::fs::read_to_string(repo().join("tests/golden/feed.atom")).unwrap()).into_iter().map(|i| i.0))
        .collect();
    assert_eq!(published.len(), 49);
    for ext in ["atom", "rss", "json"] {
        let site = Site::new(true);

        // Act
        let report = site.ok(&["import", &format!("{}/feed.{ext}", app.address)]).await;

        // Assert: every article once, from every page of the chain.
        assert!(report.contains(&format!("page 5: {}/archive/1.{ext}", app.address)), "{report}");
        assert!(report.contains("imported 49 into"), "{report}");
        let ids: BTreeSet<String> = site
            .files()
            .values()
            .map(|text| {
                let text = String::from_utf8_lossy(text);
                herald::content::peek_id_and_slug(&text).0.unwrap()
            })
            .collect();
        assert_eq!(ids, published, "{ext}");
    }
}
