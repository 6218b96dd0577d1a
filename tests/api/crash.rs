//! Durability: `kill -9` in the middle of a fan-out loses no delivery.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::post;
use axum::Router;
use herald::config::Settings;
use herald::store::{RemoteActorRow, Store};

use crate::common::{copy_content, loopback_follower, repo, ServeProcess};

const INBOXES: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_killed_midway_resumes_after_restart_and_reaches_every_inbox() {
    // Arrange: a sink with INBOXES inboxes that records which got the Create.
    let reached: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let sink = reached.clone();
    let router = Router::new().route(
        "/inbox/{n}",
        post(move |Path(n): Path<usize>, body: String| {
            let sink = sink.clone();
            async move {
                // Slow enough that the kill lands mid-way.
                tokio::time::sleep(Duration::from_millis(5)).await;
                if body.contains("\"type\":\"Create\"") {
                    sink.lock().unwrap().insert(n);
                }
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    copy_content(dir.path(), false);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("herald.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"{address}/\"\npoll_interval_ms = 50\n\
             [database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{}\"\n\
             [federation]\nallow_private_addresses = true\ndelivery_lock_seconds = 2\n",
            dir.path().join("herald.db").display(),
            dir.path().join("feeds").display()
        ),
    )
    .unwrap();
    let settings = Settings::load_with_env(Some(&config), Vec::new()).unwrap();
    let store = Store::connect(&settings.database).await.unwrap();
    let followers: Vec<RemoteActorRow> = (0..INBOXES).map(|n| loopback_follower(&sink_base, n)).collect();
    store.import_followers(&followers, chrono::Utc::now()).await.unwrap();
    store.close().await;

    let client = reqwest::Client::new();
    let mut herald = ServeProcess::start(dir.path(), &config, port);
    herald.await_healthy(&client).await;

    // Act: publish an article (another process), then kill -9 mid fan-out.
    std::fs::copy(
        repo().join("tests/fixtures/extra/carte-du-nord-du-mali.md"),
        dir.path().join("feeds/carte-du-nord-du-mali.md"),
    )
    .unwrap();
    let publish = crate::common::herald_in(dir.path(), &config, &["publish"]);
    assert!(publish.status.success(), "{publish:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while reached.lock().unwrap().len() < INBOXES / 10 {
        assert!(tokio::time::Instant::now() < deadline, "the fan-out never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    herald.child.kill().await.unwrap(); // SIGKILL, then reaped
    let at_kill = reached.lock().unwrap().len();
    assert!(at_kill < INBOXES, "the fan-out finished before the kill; the test proves nothing");

    // Assert: after a restart, every inbox gets the Create.
    let mut herald = ServeProcess::start(dir.path(), &config, port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while reached.lock().unwrap().len() < INBOXES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {INBOXES} inboxes reached after restart (killed at {at_kill})",
            reached.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    herald.child.kill().await.unwrap();
    eprintln!("crash test: {at_kill} of {INBOXES} inboxes reached at the kill, all {INBOXES} after restart");
}
