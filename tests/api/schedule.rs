//! Scheduled publishing: an article dated in the future is stored but held
//! (no feed, page, outbox or delivery shows it), then goes out by itself at
//! its time, exactly once, with the real clock.

use std::time::Duration;

use herald::store::RemoteActorRow;

use crate::common::{copy_content, herald_in, loopback_follower, spawn_app, ServeProcess};
use crate::instances::{await_body, creates_per_inbox, free_port, sink, Pair};

/// An article file dated `at`.
fn scheduled_article(slug: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "+++\nid = \"urn:uuid:5c4e0f52-3b1d-4c39-9a41-{:012x}\"\nslug = \"{slug}\"\ntitle = \"Embargoed {slug}\"\n\
         summary = \"Held until its time.\"\npublished = \"{}\"\n+++\n\nThe body.\n",
        slug.len(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// The next whole second at least `seconds` from now.
fn in_seconds(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    (chrono::Utc::now() + chrono::TimeDelta::seconds(seconds + 1)).trunc_subsecs(0)
}

#[tokio::test]
async fn a_future_article_is_held_then_published_at_its_time() {
    let app = spawn_app().await;
    let at = in_seconds(3);
    app.write_content("embargo.md", &scheduled_article("embargo", at));

    let check = app.herald(&["check"]).await;
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert!(out.contains(&format!("embargo.md: embargo is scheduled: held until {}", at.to_rfc3339())), "{out}");
    let publish = app.herald(&["publish"]).await;
    let out = String::from_utf8_lossy(&publish.stdout);
    assert!(publish.status.success(), "{out}");
    assert!(out.contains("embargo: scheduled; held until"), "{out}");
    assert!(out.contains("0 new, 0 updated, 0 retracted, 1 scheduled"), "{out}");
    assert_eq!(app.store.scheduled().await.unwrap(), [("embargo".to_owned(), at)]);

    // Held: nothing shows it, however it is asked for.
    for path in ["/feed.atom", "/feed.rss", "/feed.json", "/", "/users/news/outbox?page=1", "/feeds.opml"] {
        let body = app.get(path).await.text().await.unwrap();
        assert!(!body.contains("embargo"), "{path} leaks the held article: {body}");
    }
    assert_eq!(app.get("/articles/embargo").await.status(), 404);
    let note = app.get("/notes/5c4e0f52-3b1d-4c39-9a41-000000000007").await;
    assert_eq!(note.status(), 404);
    assert!(chrono::Utc::now() < at, "the checks above must run before the article's time");

    // At its time it goes out by itself: no publish, no restart.
    app.await_body("/feed.atom", |b| b.contains("Embargoed embargo")).await;
    assert!(chrono::Utc::now() >= at, "published before its time");
    assert_eq!(app.get("/articles/embargo").await.status(), 200);
    assert!(app.store.scheduled().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_schedule_missed_while_herald_was_down_goes_out_at_start() {
    let dir = tempfile::tempdir().unwrap();
    copy_content(dir.path(), false);
    let config = dir.path().join("herald.toml");
    let database = format!("sqlite://{}", dir.path().join("herald.db").display());
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{database}\"\n[content]\ndir = \"{}\"\n\
             publish_on_start = false\n",
            dir.path().join("feeds").display()
        ),
    )
    .unwrap();
    let at = in_seconds(3);
    std::fs::write(dir.path().join("feeds/missed.md"), scheduled_article("missed", at)).unwrap();
    let publish = herald_in(dir.path(), &config, &["publish"]);
    assert!(String::from_utf8_lossy(&publish.stdout).contains("1 scheduled"), "{publish:?}");
    // herald is down while the time passes.
    tokio::time::sleep((at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100)).await;

    let client = reqwest::Client::new();
    let mut server = ServeProcess::start(dir.path(), &config, free_port());
    server.await_healthy(&client).await;
    let feed = client.get(format!("{}/feed.atom", server.address)).send().await.unwrap().text().await.unwrap();
    assert!(feed.contains("Embargoed missed"), "served at start: {feed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_instances_a_scheduled_article_goes_out_once_at_its_time() {
    let Some(database_url) = crate::pg::fresh_database().await else { return };
    let (sink_base, received) = sink().await;
    let followers: Vec<RemoteActorRow> = (0..50).map(|n| loopback_follower(&sink_base, n)).collect();
    let Pair { dir, config, store, client, first, second } = Pair::start(&database_url, &followers).await;

    let at = in_seconds(4);
    std::fs::write(dir.path().join("feeds/embargo.md"), scheduled_article("embargo", at)).unwrap();
    let publish = herald_in(dir.path(), &config, &["publish"]);
    assert!(String::from_utf8_lossy(&publish.stdout).contains("1 scheduled"), "{publish:?}");
    for instance in [&first, &second] {
        let feed = client.get(format!("{}/feed.atom", instance.address)).send().await.unwrap().text().await.unwrap();
        assert!(!feed.contains("embargo"), "held");
    }
    assert!(chrono::Utc::now() < at, "the checks above must run before the article's time");

    let shown = |body: &str| body.contains("Embargoed embargo");
    await_body(&first, &client, "/feed.atom", shown).await;
    await_body(&second, &client, "/feed.atom", shown).await;
    let late = chrono::Utc::now() - at;
    assert!(late >= chrono::TimeDelta::zero(), "published before its time");

    // Exactly one Create per follower, however many instances saw the time come.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = store.queue_status(chrono::Utc::now()).await.unwrap();
        if status.pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {} pending", status.pending);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = creates_per_inbox(&received);
    assert_eq!(counts.len(), 50, "every inbox reached");
    assert!(counts.values().all(|n| *n == 1), "a Create sent more than once: {counts:?}");
    eprintln!("scheduled article served by both instances {} ms after its time", late.num_milliseconds());
    store.close().await;
}
