//! Fan-out benchmark: one Create to 10,000 followers, on 10,000 distinct
//! loopback inboxes and on 100 shared inboxes, through the real queue, the
//! real workers and a real HTTP sink on 127.0.0.1. Prints deliveries per
//! second, the time from publish to the first delivery, and aws-lc-rs's
//! RSA-2048 signing rate on this machine for comparison (bench/fanout.sh adds
//! OpenSSL's). Bounded: each scenario stops after 120 s.
//!
//! `cargo bench --bench fanout` (or `bash bench/fanout.sh`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use herald::config::Settings;
use herald::federation::keys;
use herald::publish::publish_dir;
use herald::startup::Application;
use herald::store::RemoteActorRow;

const FOLLOWERS: usize = 10_000;

struct Sink {
    base: String,
    count: Arc<AtomicUsize>,
    first: Arc<Mutex<Option<Instant>>>,
}

async fn sink() -> Sink {
    let count = Arc::new(AtomicUsize::new(0));
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (c, f) = (count.clone(), first.clone());
    let router = Router::new().route(
        "/{*path}",
        post(move |_body: axum::body::Bytes| {
            let (c, f) = (c.clone(), f.clone());
            async move {
                f.lock().map(|mut first| *first.get_or_insert_with(Instant::now)).ok();
                c.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
    let base = format!("http://{}", listener.local_addr().expect("sink address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Sink { base, count, first }
}

async fn scenario(name: &str, shared_inboxes: Option<usize>, workers: usize) {
    let sink = sink().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let content = dir.path().join("feeds");
    std::fs::create_dir(&content).expect("content dir");
    let env = vec![
        ("HERALD_SERVER__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned()),
        ("HERALD_DATABASE__URL".to_owned(), format!("sqlite://{}", dir.path().join("h.db").display())),
        ("HERALD_CONTENT__DIR".to_owned(), content.display().to_string()),
        ("HERALD_FEDERATION__ALLOW_PRIVATE_ADDRESSES".to_owned(), "true".to_owned()),
        ("HERALD_FEDERATION__MAX_IN_FLIGHT".to_owned(), (workers * 8).to_string()),
    ];
    let settings = Settings::load_with_env(None, env).expect("settings");
    let app = Application::build(settings.clone()).await.expect("build");
    let state = app.state().clone();
    let followers: Vec<RemoteActorRow> = (0..FOLLOWERS)
        .map(|n| RemoteActorRow {
            id: format!("{}/users/{n}", sink.base),
            inbox: format!("{}/users/{n}/inbox", sink.base),
            shared_inbox: shared_inboxes.map(|m| format!("{}/shared/{}/inbox", sink.base, n % m)),
            key_id: String::new(),
            public_pem: String::new(),
            fetched_at: chrono::Utc::now(),
        })
        .collect();
    state.store.import_followers(&followers, chrono::Utc::now()).await.expect("import");
    tokio::spawn(app.run_until(std::future::pending()));
    let expected = shared_inboxes.unwrap_or(FOLLOWERS);

    std::fs::write(
        content.join("a.md"),
        "+++\nid = \"urn:uuid:00000000-0000-4000-8000-00000000beef\"\nslug = \"bench\"\ntitle = \"Bench\"\n\
         summary = \"A fan-out.\"\npublished = \"2024-08-05T08:00:00Z\"\n+++\n\nBody.\n",
    )
    .expect("write article");
    let start = Instant::now();
    publish_dir(&state.store, &settings.channel, &settings.account, &content, false, chrono::Utc::now())
        .await
        .expect("publish");
    state.deliveries.notify_waiters();
    let queued = start.elapsed();
    while sink.count.load(Ordering::Relaxed) < expected && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = start.elapsed();
    let delivered = sink.count.load(Ordering::Relaxed);
    let first = sink.first.lock().ok().and_then(|f| *f).map(|f| f - start).unwrap_or_default();
    println!(
        "{name:<40} {delivered:>6}/{expected} delivered in {:>7.2} s = {:>7.0} deliveries/s; queued in {:>6.1} ms; \
         first delivery after {:>6.1} ms",
        total.as_secs_f64(),
        delivered as f64 / total.as_secs_f64(),
        queued.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
    );
}

fn signing_rate() -> f64 {
    let stored = keys::generate().expect("key");
    let pair = keys::signing_key(&stored).expect("key");
    let url = url::Url::parse("http://127.0.0.1:1/inbox").expect("url");
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(3) {
        std::hint::black_box(
            herald::federation::signature::sign(&pair, "k", "POST", &url, Some(b"{}"), chrono::Utc::now()).ok(),
        );
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let rate = signing_rate();
    println!(
        "aws-lc-rs RSA-2048 signing (herald's signer, one core): {rate:.0} signs/s; x {cores} cores = {:.0}/s",
        rate * cores as f64
    );
    let workers = std::env::var("FANOUT_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(8);
    scenario(&format!("10,000 distinct inboxes, {workers} workers"), None, workers).await;
    scenario(&format!("100 shared inboxes, {workers} workers"), Some(100), workers).await;
}
