//! Media files beside the articles: published with them, served under
//! `/media/…` (validators, ranges, caching), and an article image given as
//! a path filled from its file in every output.
// See: issue #10 (part 3, media).

use sha2::{Digest, Sha256};

use crate::common::{header, repo, spawn_app, spawn_instance, TestApp, BASE_URL};

const ARTICLE: &str = r#"+++
id = "urn:uuid:6c1e0f0a-8d0b-4c77-9a51-0b8f5f0d2a10"
slug = "carte-du-sahel"
title = "Une carte du Sahel"
summary = "Un article dont l'image est un fichier du répertoire de contenu."
published = "2024-08-08T09:00:00Z"
tags = ["sahel"]

[image]
url = "img/carte.png"
alt = "Carte du Sahel, Tin Zaouatine marqué"
+++

Texte de l'article, et [la carte en grand](img/carte.png).
"#;

fn fixture() -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/media/img/carte.png")).unwrap()
}

/// The URL herald gives the fixture: its path and the start of its hash.
fn versioned_url(bytes: &[u8]) -> String {
    let version = &hex::encode(Sha256::digest(bytes))[..12];
    format!("{BASE_URL}media/img/carte.png?v={version}")
}

/// An app whose content has the fixture image and an article naming it by
/// path, published with the real `herald publish`.
async fn app_with_image() -> TestApp {
    let app = spawn_app().await;
    add_image(&app).await;
    app
}

/// Adds the fixture image and the article to `app`'s content and publishes.
async fn add_image(app: &TestApp) {
    std::fs::create_dir_all(app.content_dir.join("img")).unwrap();
    std::fs::write(app.content_dir.join("img/carte.png"), fixture()).unwrap();
    app.write_content("carte-du-sahel.md", ARTICLE);
    let output = app.herald(&["publish"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("media: 1 stored (img/carte.png)"), "{stdout}");
    app.await_body("/feed.json", |body| body.contains("carte-du-sahel")).await;
}

#[tokio::test]
async fn media_files_are_served_with_strong_validators_and_cache_headers() {
    // Arrange
    let app = app_with_image().await;
    let bytes = fixture();

    // Act
    let response = app.get("/media/img/carte.png").await;

    // Assert
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(!header(&headers, "last-modified").is_empty());
    let etag = header(&headers, "etag").to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    assert_eq!(etag, format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..32]));
    // Without the version, the path may get new bytes at the next publish.
    assert_eq!(header(&headers, "cache-control"), "public, max-age=300");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The URL the feeds carry names these bytes for good.
    let versioned = versioned_url(&bytes).replace(BASE_URL, "/");
    let response = app.get(&versioned).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(response.headers(), "cache-control"), "public, max-age=31536000, immutable");

    let response = app.get_with("/media/img/carte.png", &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 304);
    assert_eq!(header(response.headers(), "etag"), etag);
    assert!(response.bytes().await.unwrap().is_empty());

    let response = app.client.head(format!("{}/media/img/carte.png", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(response.headers(), "content-length"), bytes.len().to_string());
    assert!(response.bytes().await.unwrap().is_empty());

    assert_eq!(app.get("/media/img/absente.png").await.status(), 404);
    assert_eq!(app.get("/media/../herald.db").await.status(), 404);
}

#[tokio::test]
async fn media_files_answer_single_byte_ranges() {
    // Arrange
    let app = app_with_image().await;
    let bytes = fixture();
    let len = bytes.len();
    let etag = header(app.get("/media/img/carte.png").await.headers(), "etag").to_owned();

    // Act & Assert: the first ten bytes.
    let response = app.get_with("/media/img/carte.png", &[("range", "bytes=0-9")]).await;
    assert_eq!(response.status(), 206);
    assert_eq!(header(response.headers(), "content-range"), format!("bytes 0-9/{len}"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[..10]);

    // The last five (a suffix range).
    let response = app.get_with("/media/img/carte.png", &[("range", "bytes=-5")]).await;
    assert_eq!(response.status(), 206);
    assert_eq!(header(response.headers(), "content-range"), format!("bytes {}-{}/{len}", len - 5, len - 1));
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[len - 5..]);

    // Past the end: 416, with the length.
    let response = app.get_with("/media/img/carte.png", &[("range", &format!("bytes={len}-"))]).await;
    assert_eq!(response.status(), 416);
    assert_eq!(header(response.headers(), "content-range"), format!("bytes */{len}"));

    // If-Range: the range only while the validator is current.
    let response = app.get_with("/media/img/carte.png", &[("range", "bytes=0-9"), ("if-range", &etag)]).await;
    assert_eq!(response.status(), 206);
    let response = app.get_with("/media/img/carte.png", &[("range", "bytes=0-9"), ("if-range", "\"old\"")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), len);
}

#[tokio::test]
async fn an_image_given_as_a_path_is_filled_from_its_file_in_every_output() {
    // Arrange
    let app = app_with_image().await;
    let bytes = fixture();
    let url = versioned_url(&bytes);
    let length = bytes.len().to_string();

    // RSS: the enclosure and media:content.
    let rss = app.get_feed("rss").await;
    let channel = rss::Channel::read_from(rss.as_bytes()).unwrap();
    let item = channel.items().iter().find(|i| i.title() == Some("Une carte du Sahel")).unwrap();
    let enclosure = item.enclosure().unwrap();
    assert_eq!(
        (enclosure.url(), enclosure.length(), enclosure.mime_type()),
        (url.as_str(), length.as_str(), "image/png")
    );
    let media = &item.extensions()["media"]["content"][0];
    assert_eq!(media.attrs()["url"], url);
    assert_eq!((media.attrs()["width"].as_str(), media.attrs()["height"].as_str()), ("64", "40"));
    assert_eq!(media.attrs()["fileSize"], length);

    // Atom: the enclosure link.
    let atom = app.get_feed("atom").await;
    let feed = atom_syndication::Feed::read_from(atom.as_bytes()).unwrap();
    let entry = feed.entries().iter().find(|e| e.title().as_str() == "Une carte du Sahel").unwrap();
    let link = entry.links().iter().find(|l| l.rel() == "enclosure").unwrap();
    assert_eq!(
        (link.href(), link.mime_type(), link.length()),
        (url.as_str(), Some("image/png"), Some(length.as_str()))
    );

    // JSON Feed: the item's image.
    let json: serde_json::Value = serde_json::from_str(&app.get_feed("json").await).unwrap();
    let item = json["items"].as_array().unwrap().iter().find(|i| i["title"] == "Une carte du Sahel").unwrap();
    assert_eq!(item["image"], url);
    // A link of the body to the file points at it under /media/ too.
    let content = item["content_html"].as_str().unwrap();
    assert!(content.contains(&format!(r#"href="{url}""#)), "{content}");

    // The Note: an Image attachment with its alt text and size.
    let note: serde_json::Value = app
        .get_with("/articles/carte-du-sahel", &[("accept", "application/activity+json")])
        .await
        .json()
        .await
        .unwrap();
    let attachment = &note["attachment"][0];
    assert_eq!(attachment["type"], "Image");
    assert_eq!(attachment["mediaType"], "image/png");
    assert_eq!(attachment["url"], url);
    assert_eq!(attachment["name"], "Carte du Sahel, Tin Zaouatine marqué");
    assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(64), Some(40)));

    // The page: OpenGraph.
    let html = app.text("/articles/carte-du-sahel").await;
    for meta in [
        format!(r#"<meta property="og:image" content="{url}">"#),
        r#"<meta property="og:image:type" content="image/png">"#.to_owned(),
        r#"<meta property="og:image:width" content="64">"#.to_owned(),
        r#"<meta property="og:image:height" content="40">"#.to_owned(),
        r#"<meta property="og:image:alt" content="Carte du Sahel, Tin Zaouatine marqué">"#.to_owned(),
    ] {
        assert!(html.contains(&meta), "{meta} missing from:\n{html}");
    }
}

#[tokio::test]
async fn a_changed_media_file_gets_a_new_url_and_an_unchanged_one_is_not_rewritten() {
    // Arrange
    let app = app_with_image().await;
    let old = fixture();

    // Act: publishing again without changes stores nothing.
    let output = app.herald(&["publish"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success() && !stdout.contains("media:"), "{stdout}");

    // Replacing the file moves the version of every URL to it.
    let mut new = old.clone();
    new.extend_from_slice(b"trailing bytes a PNG reader ignores");
    std::fs::write(app.content_dir.join("img/carte.png"), &new).unwrap();
    let output = app.herald(&["publish"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("media: 1 stored (img/carte.png)") && stdout.contains("1 updated"), "{stdout}");

    // Assert
    let new_url = versioned_url(&new);
    app.await_body("/feed.json", |body| body.contains(&new_url)).await;
    let response = app.get(&new_url.replace(BASE_URL, "/")).await;
    assert_eq!(header(response.headers(), "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(response.bytes().await.unwrap().as_ref(), new.as_slice());
    // An old URL still shows the image, the current one, but no longer as immutable.
    let response = app.get(&versioned_url(&old).replace(BASE_URL, "/")).await;
    assert_eq!(header(response.headers(), "cache-control"), "public, max-age=300");
    assert_eq!(response.bytes().await.unwrap().as_ref(), new.as_slice());
}

#[tokio::test]
async fn herald_check_reports_a_missing_image_file_on_the_line_of_image_url() {
    // Arrange
    let app = spawn_app().await;
    app.write_content("carte-du-sahel.md", ARTICLE);

    // Act
    let output = app.herald(&["check"]).await;

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let file = app.content_dir.join("carte-du-sahel.md");
    let expected = format!("{}:10: image.url: \"img/carte.png\" is not in the content directory", file.display());
    assert!(stdout.lines().any(|line| line.starts_with(&expected)), "{expected}\nnot in:\n{stdout}");
    // And publish skips the article, reporting the same.
    let output = app.herald(&["publish"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success() && stdout.contains(&expected), "{stdout}");
}

/// Two instances on one PostgreSQL database: a file replaced through one is
/// served new by the other at once, though its memory held the old bytes
/// (each unversioned request checks the stored hash; no notification needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_the_bytes_another_instance_published() {
    let Some(database) = crate::pg::fresh_database().await else { return };
    let a = spawn_instance(&database, BASE_URL).await;
    let b = spawn_instance(&database, BASE_URL).await;
    add_image(&a).await;
    let old = fixture();
    assert_eq!(b.get("/media/img/carte.png").await.bytes().await.unwrap().as_ref(), old.as_slice());

    let mut new = old.clone();
    new.extend_from_slice(b"published through the other instance");
    std::fs::write(a.content_dir.join("img/carte.png"), &new).unwrap();
    let output = a.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");

    assert_eq!(b.get("/media/img/carte.png").await.bytes().await.unwrap().as_ref(), new.as_slice());
    let versioned = versioned_url(&new).replace(BASE_URL, "/");
    let response = b.get(&versioned).await;
    assert_eq!(header(response.headers(), "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(response.bytes().await.unwrap().as_ref(), new.as_slice());
}
