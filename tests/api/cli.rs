//! The command line: check, render, configuration errors.

use crate::common::{herald_in, repo, spawn_app};

#[test]
fn check_passes_on_the_sample_publication() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("none.toml");
    std::fs::write(&config, "").unwrap();
    let output = herald_in(dir.path(), &config, &["check", repo().join("feeds").to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("4 valid, 0 problems"));
}

#[test]
fn check_reports_a_bad_date_and_an_unknown_key_with_their_lines() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    let sample = std::fs::read_to_string(repo().join("feeds/mali-embuscade-tin-zaouatine-wagner-ukraine.md")).unwrap();
    let bad = sample
        .replace("published = \"2024-08-05T08:00:00Z\"", "published = \"05/08/2024\"")
        .replace("language = \"fr\"", "language = \"fr\"\nauthor = \"Someone\"");
    std::fs::write(feeds.join("bad.md"), bad).unwrap();
    let config = dir.path().join("none.toml");
    std::fs::write(&config, "").unwrap();

    // Act
    let output = herald_in(dir.path(), &config, &["check", "feeds"]);

    // Assert
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("feeds/bad.md:9: author: unknown key; expected one of: id, slug"), "{stdout}");
    assert!(stdout.contains("feeds/bad.md:11: published: \"05/08/2024\" is not RFC 3339"), "{stdout}");
    assert!(stdout.contains("1 files in feeds: 0 valid, 2 problems"), "{stdout}");
}

#[tokio::test]
async fn render_prints_each_feed_as_served() {
    let app = spawn_app().await;
    for ext in ["rss", "atom", "json"] {
        let output = app.herald(&["render", "--format", ext]).await;
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), app.get_feed(ext).await, "{ext}");
    }
    let output = app.herald(&["render", "--format", "atom", "--tag", "ukraine"]).await;
    assert_eq!(String::from_utf8(output.stdout).unwrap(), app.text("/tags/ukraine/feed.atom").await);
}

#[test]
fn a_bad_configuration_value_names_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "[feeds]\nitems = 0\n[channel]\nlanguage = \"fr_FR\"\n").unwrap();
    let output = herald_in(dir.path(), &config, &["check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("feeds.items: 0 is out of range: use 1 to 10000"), "{stderr}");
    assert!(stderr.contains("channel.language: \"fr_FR\" is not a BCP 47 language tag"), "{stderr}");
}
