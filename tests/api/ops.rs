//! What operators run herald with (issue #10, part 4): `/metrics` parsed by
//! the Prometheus project's own parser, `/readyz`, JSON logs, a graceful
//! shutdown on SIGTERM that loses no delivery, `herald backup` while
//! serving, and domain blocks, all against real servers and the real binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use herald::config::{DatabaseSettings, Settings};
use herald::federation::keys::{self, StoredKey};
use herald::federation::signature;
use herald::store::{DeliveryState, Store};
use serde_json::{json, Value};
use url::Url;

use crate::common::{copy_content, herald_in, loopback_follower, repo, spawn_app, tool, TestApp};

// ---------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------

/// The families of an exposition, as the Prometheus project's OpenMetrics
/// parser (Python `prometheus_client`) reads them; `None` (the test is
/// skipped, loudly) when the parser is not installed outside CI.
fn parse_metrics(text: &str) -> Option<HashMap<String, Value>> {
    let python = tool("HERALD_PYTHON", "python3")?;
    let mut child = Command::new(python)
        .arg(repo().join("tests/tools/parse_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(2) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{stderr}");
        eprintln!("\n*** SKIPPING: {stderr} ***\n");
        return None;
    }
    assert!(output.status.success(), "the exposition does not parse: {stderr}\n{text}");
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// The sum of a family's samples whose labels include `labels`.
fn value(families: &HashMap<String, Value>, family: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(found) = families.get(family) else { panic!("no family {family} in {families:?}") };
    found["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(format!("{}/metrics", app.metrics_address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    response.text().await.unwrap()
}

/// An inbox sink on loopback: counts the requests it got and answers 202
/// after `delay`.
struct Sink {
    base: String,
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Sink {
    async fn start(delay: Duration) -> Sink {
        let (started, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, f) = (started.clone(), finished.clone());
        let router = Router::new().route(
            "/inbox/{n}",
            post(move || {
                let (s, f) = (s.clone(), f.clone());
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Sink { base, started, finished }
    }
}

/// Adds the image fixture to the content and publishes it with the CLI.
async fn publish_fixture(app: &TestApp) {
    std::fs::copy(
        repo().join("tests/fixtures/extra/carte-du-nord-du-mali.md"),
        app.content_dir.join("carte-du-nord-du-mali.md"),
    )
    .unwrap();
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Waits until nothing is pending and something was delivered.
async fn await_delivered(store: &Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = store.queue_status(chrono::Utc::now()).await.unwrap();
        if status.pending == 0 && status.delivered > 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing delivered: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_count_requests_cache_and_deliveries() {
    // Arrange: one follower whose inbox answers at once.
    let app = spawn_app().await;
    let sink = Sink::start(Duration::ZERO).await;
    app.store.import_followers(&[loopback_follower(&sink.base, 0)], chrono::Utc::now()).await.unwrap();
    assert_eq!(app.get("/metrics").await.status(), 404, "the public listener does not serve /metrics");
    let Some(before) = parse_metrics(&scrape(&app).await) else { return };

    // Act: a publish that is delivered to the follower, then feeds, a
    // lazily built tag feed twice (once the publish's rebuild is done, so
    // that the second one finds the first in the cache), an unknown path.
    publish_fixture(&app).await;
    app.await_body("/feed.atom", |body| body.contains("carte-du-nord-du-mali")).await;
    await_delivered(&app.store).await;
    app.text("/feed.atom").await;
    app.text("/tags/mali/feed.atom").await;
    app.text("/tags/mali/feed.atom").await;
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let after = parse_metrics(&scrape(&app).await).unwrap();

    // Assert: every family, typed; the counters moved; the gauges are now.
    for (family, kind) in [
        ("herald_http_requests", "counter"),
        ("herald_cache_hits", "counter"),
        ("herald_cache_misses", "counter"),
        ("herald_snapshot_renders", "counter"),
        ("herald_deliveries", "counter"),
        ("herald_queue_pending", "gauge"),
        ("herald_queue_oldest_pending_age_seconds", "gauge"),
        ("herald_followers", "gauge"),
        ("herald_domain_blocks", "gauge"),
        ("herald_websub_subscriptions", "gauge"),
    ] {
        assert_eq!(after.get(family).map(|f| f["type"].clone()), Some(json!(kind)), "{family}: {after:?}");
    }
    let moved = |family: &str, labels: &[(&str, &str)]| value(&after, family, labels) - value(&before, family, labels);
    assert!(moved("herald_http_requests", &[("route", "/tags/{tag}/{file}"), ("status", "200")]) >= 2.0);
    assert!(moved("herald_http_requests", &[("route", "/feed.atom"), ("status", "200")]) >= 1.0);
    assert!(moved("herald_http_requests", &[("route", "unmatched"), ("status", "404")]) >= 1.0);
    let raw_urls = after["herald_http_requests"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["labels"]["route"].as_str().is_some_and(|r| r.contains("mali") || r.contains("no/such")));
    assert!(!raw_urls, "routes are matched paths, never raw URLs");
    assert!(moved("herald_cache_misses", &[]) >= 1.0);
    assert!(moved("herald_cache_hits", &[]) >= 1.0);
    assert!(moved("herald_snapshot_renders", &[]) >= 1.0);
    assert!(moved("herald_deliveries", &[("outcome", "delivered")]) >= 1.0);
    assert_eq!(value(&after, "herald_followers", &[]), 1.0);
    assert_eq!(value(&after, "herald_websub_subscriptions", &[]), 0.0);
    assert_eq!(value(&after, "herald_queue_pending", &[]), 0.0);
    assert_eq!(value(&after, "herald_queue_oldest_pending_age_seconds", &[]), 0.0);
}

// ---------------------------------------------------------------------------
// /readyz
// ---------------------------------------------------------------------------

/// Runs one statement on the app's database, from outside herald.
async fn execute(url: &str, sql: &str, binds: (i64, Vec<u8>)) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let mut query = sqlx::query(sql);
        if sql.contains("$2") {
            query = query.bind(binds.0).bind(binds.1);
        }
        query.execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let mut query = sqlx::query(sql);
        if sql.contains("$2") {
            query = query.bind(binds.0).bind(binds.1);
        }
        query.execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app.get("/readyz").await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn readyz_is_ready_only_while_the_applied_migrations_are_this_heralds() {
    let app = spawn_app().await;
    assert_eq!(readyz(&app).await, (200, json!({ "status": "ready" })));

    // A migration from a newer herald.
    let future = 20_991_231_000_000_i64;
    execute(
        &app.database_url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer herald', TRUE, $2, 0)",
        (future, vec![0]),
    )
    .await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("20991231000000") && reason.contains("unknown"), "{reason}");
    assert_eq!(app.get("/healthz").await.status(), 200, "alive all the same");

    // A migration of this herald missing.
    execute(&app.database_url, &format!("DELETE FROM _sqlx_migrations WHERE version = {future}"), (0, vec![])).await;
    assert_eq!(readyz(&app).await.0, 200);
    execute(&app.database_url, "DELETE FROM _sqlx_migrations WHERE version = 20261128000030", (0, vec![])).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("20261128000030 (ops) is not applied"), "{body}");
}

// ---------------------------------------------------------------------------
// A real `herald serve`: JSON logs, SIGTERM
// ---------------------------------------------------------------------------

/// A content directory, a database with one follower at `sink`, and a
/// configuration with `grace` seconds of shutdown grace, for `herald serve`.
async fn serve_setup(sink: &str, grace: u64) -> (tempfile::TempDir, PathBuf, u16) {
    let dir = tempfile::tempdir().unwrap();
    copy_content(dir.path(), false);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = dir.path().join("herald.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nmetrics_bind = \"127.0.0.1:0\"\nbase_url = \"http://127.0.0.1:{port}/\"\n\
             poll_interval_ms = 50\n[database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{}\"\n\
             [federation]\nallow_private_addresses = true\nshutdown_grace_seconds = {grace}\nrequest_timeout_ms = 60000\n\
             delivery_lock_seconds = 120\n",
            dir.path().join("herald.db").display(),
            dir.path().join("feeds").display()
        ),
    )
    .unwrap();
    // The sample publication goes out before the follower exists, so that
    // the only delivery is the one each test makes.
    let published = herald_in(dir.path(), &config, &["publish"]);
    assert!(published.status.success(), "{published:?}");
    let store = store_of(&config).await;
    store.import_followers(&[loopback_follower(sink, 0)], chrono::Utc::now()).await.unwrap();
    store.close().await;
    (dir, config, port)
}

async fn store_of(config: &Path) -> Store {
    Store::connect(&Settings::load_with_env(Some(config), Vec::new()).unwrap().database).await.unwrap()
}

fn serve(dir: &Path, config: &Path, env: &[(&str, &str)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .current_dir(dir)
        .env("HERALD_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn await_ready(port: u16) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(tokio::time::Instant::now() < deadline, "herald did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

/// Waits for the process to exit (at most `within`); returns its status,
/// how long it took, and its stderr.
async fn exit_of(child: tokio::process::Child, within: Duration) -> (std::process::ExitStatus, Duration, String) {
    let start = Instant::now();
    let output = tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("herald did not exit within {within:?} of SIGTERM"))
        .unwrap();
    (output.status, start.elapsed(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn publish_in(dir: &Path, config: &Path) {
    std::fs::copy(
        repo().join("tests/fixtures/extra/carte-du-nord-du-mali.md"),
        dir.join("feeds/carte-du-nord-du-mali.md"),
    )
    .unwrap();
    let publish = herald_in(dir, config, &["publish"]);
    assert!(publish.status.success(), "{publish:?}");
}

async fn await_started(sink: &Sink) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.started.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_logs_every_line_on_stderr_is_one_json_object() {
    let sink = Sink::start(Duration::ZERO).await;
    let (dir, config, port) = serve_setup(&sink.base, 10).await;
    let child = serve(dir.path(), &config, &[("HERALD_LOG_FORMAT", "json")]);
    await_ready(port).await;
    sigterm(&child);
    let (status, _, stderr) = exit_of(child, Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "too few log lines to judge: {stderr}");
    for line in &lines {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object.is_object() && object["level"].is_string() && object["timestamp"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("shutting down")), "{stderr}");
}

/// What became of a delivery that was in flight at SIGTERM.
struct Stopped {
    status: std::process::ExitStatus,
    took: Duration,
    stderr: String,
    finished: usize,
    jobs: Vec<herald::store::JobRow>,
}

/// `herald serve` with `grace` seconds of grace, delivering a publish to an
/// inbox that answers after `delay`, gets SIGTERM mid-request.
async fn sigterm_during_a_delivery(delay: Duration, grace: u64) -> Stopped {
    let sink = Sink::start(delay).await;
    let (dir, config, port) = serve_setup(&sink.base, grace).await;
    let child = serve(dir.path(), &config, &[]);
    await_ready(port).await;
    publish_in(dir.path(), &config);
    await_started(&sink).await;
    sigterm(&child);
    let (status, took, stderr) = exit_of(child, Duration::from_secs(20)).await;
    let store = store_of(&config).await;
    let jobs = store.inbox_jobs(&format!("{}/inbox/0", sink.base), 10).await.unwrap();
    Stopped { status, took, stderr, finished: sink.finished.load(Ordering::SeqCst), jobs }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_delivery_finish_and_records_it_once_then_exits_0() {
    // An inbox that takes 2 s, well inside the 10 s grace.
    let stopped = sigterm_during_a_delivery(Duration::from_secs(2), 10).await;

    // Exit 0 inside the grace, the delivery finished and recorded once.
    assert!(stopped.status.success(), "{:?}\n{}", stopped.status, stopped.stderr);
    assert!(stopped.took < Duration::from_secs(10), "took {:?}", stopped.took);
    assert_eq!(stopped.finished, 1, "the request in flight was let finish");
    assert_eq!(stopped.jobs.len(), 1, "{:?}", stopped.jobs);
    assert_eq!(stopped.jobs[0].state, DeliveryState::Delivered, "{:?}", stopped.jobs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_a_delivery_slower_than_the_grace_back_to_the_queue() {
    // An inbox slower than the 1 s grace.
    let stopped = sigterm_during_a_delivery(Duration::from_secs(60), 1).await;

    // Exit 0 soon after the grace; the job is pending, due now (released
    // rather than left to its 120 s lock), never lost.
    assert!(stopped.status.success(), "{:?}\n{}", stopped.status, stopped.stderr);
    assert!(stopped.took < Duration::from_secs(6), "took {:?}", stopped.took);
    let jobs = &stopped.jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].state, DeliveryState::Pending, "{jobs:?}");
    assert!(jobs[0].next_attempt_at <= chrono::Utc::now(), "released, due at once: {jobs:?}");
    assert_eq!(jobs[0].attempts, 0, "a cut-off attempt does not count");
}

// ---------------------------------------------------------------------------
// herald backup
// ---------------------------------------------------------------------------

/// Writes articles `from..to` as files of the app's content directory.
fn write_articles(app: &TestApp, from: usize, to: usize) {
    for i in from..to {
        app.write_content(
            &format!("backup-{i:04}.md"),
            &format!(
                "+++\nid = \"urn:uuid:00000000-0000-4000-9000-{i:012}\"\nslug = \"backup-{i}\"\ntitle = \"Article {i}\"\n\
                 summary = \"Summary {i}.\"\npublished = \"2021-01-01T00:00:00Z\"\n+++\n\nBody of article {i}.\n"
            ),
        );
    }
}

/// The backup file, opened as herald opens a database.
async fn open_backup(file: &Path) -> Store {
    let url = format!("sqlite://{}", file.display());
    Store::connect(&DatabaseSettings { url, data_dir: file.parent().unwrap().to_owned(), max_connections: 1 })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_and_publishing_has_every_article() {
    let app = spawn_app().await;
    let file = app.dir.path().join("backup.db");
    if app.database_url.starts_with("postgres") {
        let output = app.herald(&["backup", file.to_str().unwrap()]).await;
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump"), "{output:?}");
        return;
    }
    // Arrange: 40 articles published, 40 more being published during the backup.
    write_articles(&app, 0, 40);
    let first = app.herald(&["publish"]).await;
    assert!(first.status.success(), "{first:?}");
    assert!(first.stderr.is_empty(), "no progress bar when stderr is not a terminal: {first:?}");
    let before = app.store.published_count().await.unwrap();
    write_articles(&app, 40, 80);

    // Act
    let path = file.to_str().unwrap();
    let (publish_args, backup_args) = (["publish"], ["backup", path]);
    let (publish, backup) = tokio::join!(app.herald(&publish_args), app.herald(&backup_args));

    // Assert
    assert!(publish.status.success(), "{publish:?}");
    assert!(backup.status.success(), "{backup:?}");
    let copy = open_backup(&file).await;
    assert!(copy.published_count().await.unwrap() >= before);
    for i in 0..40 {
        let id = herald::article::ArticleId::parse(&format!("urn:uuid:00000000-0000-4000-9000-{i:012}")).unwrap();
        assert!(copy.article_by_id(&id).await.unwrap().is_some(), "article {i} missing from the backup");
    }
    copy.close().await;

    // An existing file is kept unless --force.
    let again = app.herald(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists; pass --force"), "{again:?}");
    let forced = app.herald(&["backup", "--force", file.to_str().unwrap()]).await;
    assert!(forced.status.success(), "{forced:?}");
    let copy = open_backup(&file).await;
    assert_eq!(copy.published_count().await.unwrap(), app.store.published_count().await.unwrap());
}

// ---------------------------------------------------------------------------
// Domain blocks
// ---------------------------------------------------------------------------

/// A remote server named `localhost` with actors that sign their Follows,
/// counting every request it gets.
struct Remote {
    base: String,
    key: StoredKey,
    requests: Arc<AtomicUsize>,
}

impl Remote {
    async fn start() -> Remote {
        let key = keys::generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let requests = Arc::new(AtomicUsize::new(0));
        let (pem, b, counted) = (key.public_pem.clone(), base.clone(), requests.clone());
        let sink = requests.clone();
        let router = Router::new()
            .route(
                "/users/{name}",
                get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let (pem, b) = (pem.clone(), b.clone());
                    async move {
                        axum::Json(json!({
                            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                            "id": format!("{b}/users/{name}"),
                            "type": "Person",
                            "preferredUsername": name,
                            "inbox": format!("{b}/users/{name}/inbox"),
                            "publicKey": {
                                "id": format!("{b}/users/{name}#main-key"),
                                "owner": format!("{b}/users/{name}"),
                                "publicKeyPem": pem,
                            }
                        }))
                    }
                }),
            )
            .route(
                "/users/{name}/inbox",
                post(move || {
                    sink.fetch_add(1, Ordering::SeqCst);
                    async { axum::http::StatusCode::ACCEPTED }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Remote { base, key, requests }
    }

    /// POSTs a Follow of herald's account by `name`, signed; returns the status.
    async fn follow(&self, app: &TestApp, name: &str, n: u32) -> u16 {
        let actor = format!("{}/users/{name}", self.base);
        let body = serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/follows/{name}/{n}", self.base),
            "type": "Follow",
            "actor": actor,
            "object": format!("{}users/news", crate::common::BASE_URL),
        }))
        .unwrap();
        let url = Url::parse(&format!("{}/inbox", app.address)).unwrap();
        let pair = keys::signing_key(&self.key).unwrap();
        let mut request = app.client.post(url.clone()).body(body.clone());
        for (header, value) in
            signature::sign(&pair, &format!("{actor}#main-key"), "POST", &url, Some(&body), chrono::Utc::now()).unwrap()
        {
            request = request.header(header, value);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_blocked_domain_loses_its_followers_is_refused_and_gets_nothing() {
    // Arrange: a follower on localhost (its Accept delivered).
    let app = spawn_app().await;
    let remote = Remote::start().await;
    assert_eq!(remote.follow(&app, "alice", 1).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    await_delivered(&app.store).await;

    // Act
    let blocked = app.herald(&["block", "add", "LOCALHOST"]).await;

    // Assert: the follower is gone; a signed Follow gets 403 without a
    // fetch of its actor; a publish queues nothing there.
    assert!(blocked.status.success(), "{blocked:?}");
    assert!(stdout(&blocked).contains("blocked localhost and its subdomains: 1 followers removed"), "{blocked:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
    let requests = remote.requests.load(Ordering::SeqCst);
    assert_eq!(remote.follow(&app, "bob", 1).await, 403);
    assert_eq!(remote.requests.load(Ordering::SeqCst), requests, "no actor of a blocked domain is fetched");
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
    let jobs_before = app.store.inbox_jobs(&format!("{}/users/alice/inbox", remote.base), 100).await.unwrap().len();
    publish_fixture(&app).await;
    app.await_body("/feed.atom", |body| body.contains("carte-du-nord-du-mali")).await;
    let jobs_after = app.store.inbox_jobs(&format!("{}/users/alice/inbox", remote.base), 100).await.unwrap().len();
    assert_eq!(jobs_after, jobs_before, "nothing queued to the blocked domain");
    assert_eq!(app.store.queue_status(chrono::Utc::now()).await.unwrap().pending, 0);

    let listed = app.herald(&["block", "list"]).await;
    assert!(stdout(&listed).lines().any(|l| l.starts_with("localhost\tsince ")), "{listed:?}");
    assert!(app.herald(&["block", "remove", "localhost"]).await.status.success());
    assert_eq!(remote.follow(&app, "alice", 2).await, 202, "unblocked, they can follow again");
    let bad = app.herald(&["block", "add", "not a domain"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a domain name"), "{bad:?}");
}
