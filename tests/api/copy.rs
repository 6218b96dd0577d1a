//! `herald copy`: SQLite → PostgreSQL → SQLite loses nothing. The feeds
//! rendered from each of the three databases are the same bytes, every
//! table has the same rows, and a non-empty target is refused.

use std::path::Path;
use std::process::Output;

use herald::config::DatabaseSettings;
use herald::store::{Outgoing, RemoteActorRow, Store};

use crate::common::copy_content;

/// A publication with no server running: nothing changes its database
/// behind the test's back.
struct Site {
    dir: tempfile::TempDir,
    config_file: std::path::PathBuf,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let content = copy_content(dir.path(), true);
        // A media file, whose bytes travel in a BLOB / BYTEA column.
        std::fs::create_dir_all(content.join("img")).unwrap();
        std::fs::copy(crate::common::repo().join("tests/fixtures/media/img/carte.png"), content.join("img/carte.png"))
            .unwrap();
        let config_file = dir.path().join("herald.toml");
        std::fs::write(
            &config_file,
            format!(
                "[server]\nbase_url = \"https://news.example.org/\"\n[database]\nurl = \"sqlite://{}\"\n\
                 [content]\ndir = \"{}\"\n",
                dir.path().join("herald.db").display(),
                dir.path().join("feeds").display()
            ),
        )
        .unwrap();
        Self { dir, config_file }
    }
}

/// Runs the `herald` binary with the site's configuration on `database_url`.
async fn herald_on(app: &Site, database_url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("--config")
        .arg(&app.config_file)
        .args(args)
        .current_dir(app.dir.path())
        .env("HERALD_LOG", "warn")
        .env("HERALD_DATABASE__URL", database_url)
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn open(url: &str) -> Store {
    Store::connect(&DatabaseSettings { url: url.to_owned(), data_dir: Path::new("unused").into(), max_connections: 2 })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_to_postgres_and_back_keeps_every_row_and_the_same_feeds() {
    let Some(postgres) = crate::pg::fresh_database().await else { return };
    // Arrange: a SQLite database with articles (one edited: two revisions),
    // followers, an interaction, queued jobs and a rotated key.
    let app = Site::new();
    let sqlite = format!("sqlite://{}", app.dir.path().join("herald.db").display());
    stdout(&herald_on(&app, &sqlite, &["publish"]).await);
    let source = open(&sqlite).await;
    let now = chrono::Utc::now();
    let followers: Vec<RemoteActorRow> = (0..3)
        .map(|n| RemoteActorRow {
            id: format!("https://peer{n}.example/users/a"),
            inbox: format!("https://peer{n}.example/users/a/inbox"),
            shared_inbox: (n > 0).then(|| "https://shared.example/inbox".to_owned()),
            key_id: format!("https://peer{n}.example/users/a#main-key"),
            public_pem: "PEM".to_owned(),
            fetched_at: now,
        })
        .collect();
    source.import_followers(&followers, now).await.unwrap();
    source.cache_remote_actor(&followers[0]).await.unwrap();
    let activity = Outgoing::new("https://news.example.org/activities/x".into(), "Create", None, "{}".into());
    source.enqueue_to_followers(&activity, now).await.unwrap();
    let articles = source.latest_published(10).await.unwrap();
    source
        .record_interaction(
            "https://peer0.example/likes/1",
            articles[0].id.as_str(),
            herald::store::InteractionKind::Like,
            &followers[0].id,
            now,
        )
        .await
        .unwrap();
    let subscription = herald::store::Subscription {
        topic: format!("{}feed.atom", crate::common::BASE_URL),
        callback: "https://reader.example/websub/1".into(),
        secret: Some("s3cret".into()),
        lease_seconds: 3600,
        expires_at: now + chrono::TimeDelta::hours(1),
    };
    source.websub_subscribe(&subscription, Some(("tag0", 1)), now).await.unwrap();
    // The publishing API's rows: a token, an article made through it, a
    // recorded Idempotency-Key response.
    source.create_token("cms", "hash", false, now).await.unwrap();
    let token = source.tokens().await.unwrap()[0].id;
    let mut from_api = articles[0].clone();
    from_api.id = herald::article::ArticleId::parse("urn:uuid:00000000-0000-4000-8000-0000000000a1").unwrap();
    from_api.slug = herald::article::Slug::parse("from-the-cms").unwrap();
    source.save_api_article(&from_api, Some("Body."), "cms", true, &|_, _, _| None, now).await.unwrap().unwrap();
    source.reserve_idempotency_key(token, "k", "h", now, now).await.unwrap();
    source.finish_idempotency_key(token, "k", 201, "", "{}").await.unwrap();
    let file = app.dir.path().join("feeds/carte-du-nord-du-mali.md");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("A paragraph with", "An edited paragraph with")).unwrap();
    let edit = stdout(&herald_on(&app, &sqlite, &["publish"]).await);
    assert!(edit.contains("updated"), "{edit}");
    stdout(&herald_on(&app, &sqlite, &["key", "rotate"]).await);
    stdout(&herald_on(&app, &sqlite, &["block", "add", "blocked.example"]).await);
    source.close().await;

    // Act: SQLite → PostgreSQL → a new SQLite file.
    let to_postgres = stdout(&herald_on(&app, &sqlite, &["copy", "--to", &postgres]).await);
    let back = format!("sqlite://{}", app.dir.path().join("back.db").display());
    let to_sqlite = stdout(&herald_on(&app, &postgres, &["copy", "--to", &back]).await);

    // Assert: the same rows per table on all three, and the same feeds.
    for report in [&to_postgres, &to_sqlite] {
        assert!(report.contains("every table has the same rows on both sides"), "{report}");
        assert!(!report.contains("DIFFERS"), "{report}");
    }
    let (a, b, c) = (open(&sqlite).await, open(&postgres).await, open(&back).await);
    let counts = a.table_counts().await.unwrap();
    assert!(
        counts.iter().all(|(table, n)| *n > 0 || ["hosts", "received_activities", "account_state"].contains(table)),
        "{counts:?}"
    );
    assert_eq!(b.table_counts().await.unwrap(), counts);
    assert_eq!(c.table_counts().await.unwrap(), counts);
    for store in [&b, &c] {
        assert_eq!(store.latest_published(100).await.unwrap(), a.latest_published(100).await.unwrap());
        assert_eq!(store.followers().await.unwrap(), a.followers().await.unwrap());
        assert_eq!(store.actor_key().await.unwrap(), a.actor_key().await.unwrap());
        assert_eq!(store.site_state().await.unwrap(), a.site_state().await.unwrap());
        assert_eq!(store.queue_status(now).await.unwrap(), a.queue_status(now).await.unwrap());
        assert_eq!(
            store.remote_actor(&followers[0].id).await.unwrap(),
            a.remote_actor(&followers[0].id).await.unwrap()
        );
        assert_eq!(store.interaction_summary().await.unwrap(), a.interaction_summary().await.unwrap());
        assert_eq!(
            store.inbox_jobs("https://shared.example/inbox", 10).await.unwrap(),
            a.inbox_jobs("https://shared.example/inbox", 10).await.unwrap()
        );
    }
    for format in ["rss", "atom", "json"] {
        let original = stdout(&herald_on(&app, &sqlite, &["render", "--format", format]).await);
        assert_eq!(stdout(&herald_on(&app, &postgres, &["render", "--format", format]).await), original, "{format}");
        assert_eq!(stdout(&herald_on(&app, &back, &["render", "--format", format]).await), original, "{format}");
    }
    // After the copy, PostgreSQL hands out fresh ids.
    let next = Outgoing::new("https://news.example.org/activities/y".into(), "Create", None, "{}".into());
    assert_eq!(b.enqueue_to_followers(&next, now).await.unwrap(), 2);

    // A non-empty target is refused and left as it was, unless --replace.
    let refused = herald_on(&app, &sqlite, &["copy", "--to", &postgres]).await;
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("not empty") && message.contains("--replace"), "{message}");
    assert_eq!(b.queue_status(now).await.unwrap().pending, counts_of(&counts, "deliveries") + 2);
    let replaced = stdout(&herald_on(&app, &sqlite, &["copy", "--to", &postgres, "--replace"]).await);
    assert!(replaced.contains("every table has the same rows"), "{replaced}");
    assert_eq!(b.table_counts().await.unwrap(), counts);
    for store in [a, b, c] {
        store.close().await;
    }
}

fn counts_of(counts: &[(&str, i64)], table: &str) -> i64 {
    counts.iter().find(|(t, _)| *t == table).map(|(_, n)| *n).unwrap()
}
