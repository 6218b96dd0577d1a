//! Independent validators: Python feedparser (RSS, Atom), jsonschema (JSON
//! Feed 1.1), and jing with the RELAX NG schema of RFC 4287 (Atom).

use std::path::Path;
use std::process::Command;

use crate::common::{python_check, repo, spawn_with, tool, Setup};

/// Every kind of feed: main, archive page, tag, author.
const FEEDS: [&str; 12] = [
    "/feed.rss",
    "/feed.atom",
    "/feed.json",
    "/archive/1.rss",
    "/archive/1.atom",
    "/archive/1.json",
    "/tags/mali/feed.rss",
    "/tags/mali/feed.atom",
    "/tags/mali/feed.json",
    "/authors/test-desk/feed.rss",
    "/authors/test-desk/feed.atom",
    "/authors/test-desk/feed.json",
];

/// Writes the served feeds (sample publication plus the image fixture,
/// two items per feed so that there are archive pages) to files.
async fn served_feeds(dir: &Path) -> Vec<std::path::PathBuf> {
    let app =
        spawn_with(Setup { extra: true, env: vec![("HERALD_FEEDS__ITEMS".into(), "2".into())], ..Setup::default() })
            .await;
    let mut files = Vec::new();
    for path in FEEDS {
        let name = path.trim_start_matches('/').replace('/', "_");
        let file = dir.join(name);
        std::fs::write(&file, app.text(path).await).unwrap();
        files.push(file);
    }
    files
}

#[tokio::test]
async fn feedparser_and_the_json_feed_schema_accept_every_feed() {
    if tool("HERALD_PYTHON", "python3").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = served_feeds(dir.path()).await;
    let args: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let Some(output) = python_check("check_feed.py", &args) else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), FEEDS.len(), "{stdout}");
    assert!(stdout.contains("version rss20"), "{stdout}");
    assert!(stdout.contains("version atom10"), "{stdout}");
}

#[tokio::test]
async fn jing_validates_the_atom_feeds_against_rfc_4287() {
    let Some(jing) = tool("HERALD_JING", "jing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = served_feeds(dir.path()).await;
    let schema = repo().join("tests/schema/atom.rnc");
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "atom")) {
        // jing prints harmless warnings on stderr; the exit status is the verdict.
        let output = Command::new(&jing).arg("-c").arg(&schema).arg(file).output().unwrap();
        assert!(output.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&output.stdout));
    }
}

#[tokio::test]
async fn jing_rejects_an_invalid_atom_feed() {
    // The validator is real: the same schema refuses an entry with no id.
    let Some(jing) = tool("HERALD_JING", "jing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.atom");
    std::fs::write(
        &file,
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>
<author><name>a</name></author><entry><title>e</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>"#,
    )
    .unwrap();
    let output = Command::new(jing).arg("-c").arg(repo().join("tests/schema/atom.rnc")).arg(&file).output().unwrap();
    assert!(!output.status.success());
}
