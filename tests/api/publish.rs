//! Publishing: idempotence, edits, retraction, deleted and broken files,
//! and a publish from another process showing in a running server.

use crate::common::{spawn_app, spawn_app_with};

const ARTICLE: &str = "mali-embuscade-tin-zaouatine-wagner-ukraine.md";
const TEASER: &str = "kuleba-appel-boycott-trois-entreprises.md";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn republishing_unchanged_files_changes_nothing() {
    let app = spawn_app().await;
    let before = app.store.site_state().await.unwrap();
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("0 new, 0 updated, 0 retracted, 4 unchanged, 0 skipped"), "{}", stdout(&output));
    assert_eq!(app.store.site_state().await.unwrap(), before);
}

#[tokio::test]
async fn a_publish_from_another_process_shows_in_the_served_feeds_without_a_restart() {
    // Arrange
    let app = spawn_app().await;
    let etag_before = app.get("/feed.atom").await.headers()["etag"].clone();
    let text = app.read_content(ARTICLE).replace("title = \"Mali : après", "title = \"Mali (mise à jour) : après");
    app.write_content(ARTICLE, &text);

    // Act: `herald publish` as a separate process on the same database.
    let output = app.herald(&["publish"]).await;

    // Assert
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("1 updated"), "{}", stdout(&output));
    for ext in ["rss", "atom", "json"] {
        app.await_body(&format!("/feed.{ext}"), |body| body.contains("Mali (mise à jour) : après")).await;
    }
    let etag_after = app.get("/feed.atom").await.headers()["etag"].clone();
    assert_ne!(etag_before, etag_after);
    let page = app.text("/articles/mali-embuscade-tin-zaouatine-wagner-ukraine").await;
    assert!(page.contains("Mali (mise à jour)"));
}

#[tokio::test]
async fn an_edit_keeps_published_and_moves_updated_forward() {
    let app = spawn_app().await;
    let before = app.store.latest_published(10).await.unwrap();
    let old = before.iter().find(|a| a.slug.as_str().starts_with("mali-")).unwrap();
    // The edit does not touch `updated`: herald moves it so readers see the change.
    let text = app.read_content(ARTICLE).replace("Contribuer", "").replace("fin juillet", "à la fin de juillet");
    app.write_content(ARTICLE, &text);

    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");

    let after = app.store.latest_published(10).await.unwrap();
    let new = after.iter().find(|a| a.id == old.id).unwrap();
    assert_eq!(new.published, old.published);
    assert!(new.updated > old.updated, "{} > {}", new.updated, old.updated);
    let atom = app.await_body("/feed.atom", |b| b.contains("à la fin de juillet")).await;
    assert!(atom.contains(&format!("<published>{}</published>", old.published.to_rfc3339())));
}

#[tokio::test]
async fn moving_published_is_refused_and_the_stored_article_kept() {
    let app = spawn_app().await;
    let text = app
        .read_content(ARTICLE)
        .replace("published = \"2024-08-05T08:00:00Z\"", "published = \"2024-08-01T08:00:00Z\"");
    app.write_content(ARTICLE, &text);
    let output = app.herald(&["publish"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(&format!("{ARTICLE}:1: published: was 2024-08-05T08:00:00+00:00")),
        "{}",
        stdout(&output)
    );
    let stored = app.store.latest_published(10).await.unwrap();
    assert!(stored.iter().any(|a| a.published.to_rfc3339() == "2024-08-05T08:00:00+00:00"));
}

#[tokio::test]
async fn a_retracted_article_leaves_the_feeds_and_its_page_answers_410() {
    let app = spawn_app().await;
    let text = app.read_content(TEASER).replace("state = \"published\"", "state = \"retracted\"");
    app.write_content(TEASER, &text);

    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("1 retracted (kuleba-appel-boycott-trois-entreprises)"), "{}", stdout(&output));

    for ext in ["rss", "atom", "json"] {
        app.await_body(&format!("/feed.{ext}"), |b| !b.contains("d3da699c-3a45-4fab-8085-91bd8807df37")).await;
    }
    let page = app.get("/articles/kuleba-appel-boycott-trois-entreprises").await;
    assert_eq!(page.status(), 410);
    assert!(!app.text("/").await.contains("kuleba"));
}

#[tokio::test]
async fn a_deleted_file_is_reported_and_left_alone_unless_pruned() {
    let app = spawn_app().await;
    std::fs::remove_file(app.content_dir.join(TEASER)).unwrap();

    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("file is gone; article kuleba-appel-boycott-trois-entreprises left published"),
        "{}",
        stdout(&output)
    );
    assert_eq!(app.store.latest_published(10).await.unwrap().len(), 4);

    let output = app.herald(&["publish", "--prune"]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("retracted (--prune)"), "{}", stdout(&output));
    assert_eq!(app.store.latest_published(10).await.unwrap().len(), 3);
    app.await_body("/feed.rss", |b| !b.contains("kuleba")).await;
}

#[tokio::test]
async fn a_broken_file_is_skipped_while_the_valid_ones_publish() {
    let app = spawn_app().await;
    // Break a stored article's file and add a new valid one.
    let broken = app.read_content(TEASER).replace("published = \"2022-03-24T09:00:00Z\"", "published = \"24/03/2022\"");
    app.write_content(TEASER, &broken);
    app.write_content(
        "nouvelle-breve.md",
        "+++\nid = \"urn:uuid:7c0a9f8e-1d2b-4c3d-8e4f-5a6b7c8d9e0f\"\nslug = \"nouvelle-breve\"\nkind = \"teaser\"\n\
         title = \"Nouvelle brève\"\nsummary = \"Une brève de test.\"\npublished = \"2024-08-10T08:00:00Z\"\n+++\n",
    );

    let output = app.herald(&["publish", "--prune"]).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let out = stdout(&output);
    assert!(out.contains(&format!("{TEASER}:10: published: \"24/03/2022\" is not RFC 3339")), "{out}");
    assert!(out.contains("1 new (nouvelle-breve)"), "{out}");
    assert!(!out.contains("file is gone"), "a broken file is not a deleted one: {out}");
    let stored = app.store.latest_published(10).await.unwrap();
    assert_eq!(stored.len(), 5, "the broken file's article is kept as it was");
    app.await_body("/feed.json", |b| b.contains("Nouvelle brève")).await;
}

#[tokio::test]
async fn a_slug_taken_by_another_article_is_refused() {
    let app = spawn_app().await;
    app.write_content(
        "copie.md",
        "+++\nid = \"urn:uuid:7c0a9f8e-1d2b-4c3d-8e4f-5a6b7c8d9e01\"\nslug = \"kuleba-appel-boycott-trois-entreprises\"\n\
         kind = \"teaser\"\ntitle = \"Copie\"\nsummary = \"Copie.\"\npublished = \"2024-08-10T08:00:00Z\"\n+++\n",
    );
    std::fs::remove_file(app.content_dir.join(TEASER)).unwrap();
    let output = app.herald(&["publish"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains(
            "copie.md:1: slug: \"kuleba-appel-boycott-trois-entreprises\" already belongs to article urn:uuid:d3da699c"
        ),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn serve_watch_republishes_when_a_file_changes() {
    // Arrange
    let app = spawn_app_with(false, true).await;

    // Act: edit a file, with no `herald publish`.
    let text = app.read_content(TEASER).replace("bien connues.", "bien connues (mise à jour).");
    app.write_content(TEASER, &text);

    // Assert
    app.await_body("/feed.atom", |b| b.contains("bien connues (mise à jour).")).await;
}
