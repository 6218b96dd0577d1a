//! WebSub benchmark: the real `herald serve` binary as a child process
//! (default settings, SQLite, private addresses allowed), the real `herald
//! publish` CLI, and subscribers in this process on loopback addresses (on
//! Linux all of 127/8 reaches the loopback interface, so `127.0.X.Y` makes
//! as many distinct hosts as we like). Subscribers subscribe through
//! `/websub` and answer the verification like any subscriber.
//!
//! - **latency**: one verified subscriber; 20 times an edit of the sample
//!   article and `herald publish` (another process, as a newsroom runs
//!   it); the time from starting `herald publish` until the subscriber got
//!   the distribution carrying the edit: median and p90, against 1 s.
//! - **fan-out**: 1,000 subscribers on 100 hosts (`127.0.1.1` to
//!   `127.0.1.100`, 10 callbacks each), every callback answering after a
//!   random 50–500 ms; one publish; the time until every subscriber got
//!   it, against the latency scenario's median + 3 s.
//!
//! Every wait is bounded (60 s); the figures are printed, nothing asserts a
//! time. `bash bench/websub.sh`, or `cargo bench --bench websub`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use herald::config::Settings;
use herald::store::Store;
use tempfile::TempDir;
use tokio::task::JoinSet;

const PUBLISHES: usize = 20;
const LATENCY_GOAL: Duration = Duration::from_secs(1);
const HOSTS: usize = 100;
const PER_HOST: usize = 10;
/// Every wait gives up after this long.
const CAP: Duration = Duration::from_secs(60);
const ARTICLE: &str = "mali-embuscade-tin-zaouatine-wagner-ukraine.md";

#[path = "support/delay.rs"]
mod delay;
use delay::latency as delay;

/// What the subscribers saw: when each callback first got a distribution
/// containing the current mark.
struct Sink {
    mark: Mutex<String>,
    reached: Mutex<HashMap<usize, Instant>>,
    /// Answer delays per callback, none for immediate answers.
    seed: Option<u64>,
}

impl Sink {
    fn new(seed: Option<u64>) -> Arc<Self> {
        Arc::new(Self { mark: Mutex::new(String::new()), reached: Mutex::default(), seed })
    }

    fn expect(&self, mark: &str) {
        *self.mark.lock().expect("sink lock") = mark.to_owned();
        self.reached.lock().expect("sink lock").clear();
    }

    fn reached(&self) -> Vec<Instant> {
        self.reached.lock().expect("sink lock").values().copied().collect()
    }
}

async fn verify(Query(query): Query<HashMap<String, String>>) -> String {
    query.get("hub.challenge").cloned().unwrap_or_default()
}

async fn receive(State(sink): State<Arc<Sink>>, UrlPath(n): UrlPath<usize>, body: Bytes) -> StatusCode {
    if let Some(seed) = sink.seed {
        tokio::time::sleep(delay(seed, n)).await;
    }
    let mark = sink.mark.lock().expect("sink lock").clone();
    if !mark.is_empty() && body.windows(mark.len()).any(|w| w == mark.as_bytes()) {
        sink.reached.lock().expect("sink lock").entry(n).or_insert_with(Instant::now);
    }
    StatusCode::NO_CONTENT
}

/// Serves `/cb/{n}` on each address (one port for all); returns the port.
async fn serve_sinks(servers: &mut JoinSet<()>, addresses: &[Ipv4Addr], sink: Arc<Sink>) -> u16 {
    'attempt: for _ in 0..20 {
        let first = tokio::net::TcpListener::bind((addresses[0], 0)).await.expect("bind a sink");
        let port = first.local_addr().expect("sink address").port();
        let mut listeners = vec![first];
        for address in &addresses[1..] {
            match tokio::net::TcpListener::bind((*address, port)).await {
                Ok(listener) => listeners.push(listener),
                Err(_) => continue 'attempt,
            }
        }
        for listener in listeners {
            let router = Router::new().route("/cb/{n}", get(verify).post(receive)).with_state(sink.clone());
            servers.spawn(async move {
                let _ = axum::serve(listener, router).await;
            });
        }
        return port;
    }
    panic!("no port is free on all {} sink addresses", addresses.len());
}

/// `herald serve` in a temporary directory with the sample publication.
struct Herald {
    dir: TempDir,
    config: PathBuf,
    child: Child,
    address: String,
    store: Store,
    topic: String,
}

impl Herald {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let feeds = dir.path().join("feeds");
        std::fs::create_dir(&feeds).expect("content dir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(repo.join("feeds")).expect("the sample publication") {
            let entry = entry.expect("a sample file");
            std::fs::copy(entry.path(), feeds.join(entry.file_name())).expect("copy a sample file");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port();
        let config = dir.path().join("herald.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}/\"\n\
                 metrics_bind = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{}\"\n\
                 [federation]\nallow_private_addresses = true\n",
                dir.path().join("herald.db").display(),
                feeds.display(),
            ),
        )
        .expect("write the config");
        let log = std::fs::File::create(dir.path().join("herald.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(dir.path())
            .env("HERALD_LOG", std::env::var("HERALD_LOG").unwrap_or_else(|_| "warn".into()))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start herald serve");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + CAP;
        while !client.get(format!("{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "herald serve did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let settings = Settings::load(Some(&config)).expect("settings");
        let store = Store::connect(&settings.database).await.expect("open the database");
        Self { dir, config, child, topic: format!("{address}/feed.atom"), address, store }
    }

    /// Subscribes every callback (at most 64 requests at once) and waits
    /// until all are verified and stored.
    async fn subscribe(&self, callbacks: &[String]) {
        let client = reqwest::Client::new();
        let hub = format!("{}/websub", self.address);
        let mut requests = JoinSet::new();
        for chunk in callbacks.chunks(64) {
            for callback in chunk {
                let form = [("hub.mode", "subscribe"), ("hub.topic", self.topic.as_str()), ("hub.callback", callback)];
                let request = client.post(&hub).form(&form).send();
                requests.spawn(async move { request.await.map(|r| r.status().as_u16()) });
            }
            while let Some(answer) = requests.join_next().await {
                assert_eq!(answer.expect("a request task").expect("a subscription request"), 202);
            }
        }
        let deadline = Instant::now() + CAP;
        loop {
            let live = self.store.websub_live_subscriptions(&self.topic, chrono::Utc::now()).await.expect("read");
            if live.len() == callbacks.len() {
                return;
            }
            assert!(Instant::now() < deadline, "{} of {} subscriptions verified", live.len(), callbacks.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Edits the article's title with `mark`, runs `herald publish`;
    /// returns when the publish started.
    async fn publish(&self, mark: &str) -> Instant {
        let file = self.dir.path().join("feeds").join(ARTICLE);
        let text = std::fs::read_to_string(&file).expect("read the article");
        let start = text.find("title = \"").expect("a title") + "title = \"".len();
        let end = start + text[start..].find("Mali").expect("the title's first word");
        std::fs::write(&file, format!("{}{mark} {}", &text[..start], &text[end..])).expect("write the article");
        let started = Instant::now();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(&self.config)
            .arg("publish")
            .current_dir(self.dir.path())
            .env("HERALD_LOG", "warn")
            .output();
        let output = tokio::time::timeout(CAP, output).await.expect("herald publish hangs").expect("herald publish");
        assert!(output.status.success(), "herald publish: {}", String::from_utf8_lossy(&output.stderr));
        started
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `sink` saw `want` callbacks reached; returns when the last was.
async fn all_reached(sink: &Sink, want: usize) -> Option<Instant> {
    let deadline = Instant::now() + CAP;
    while Instant::now() < deadline {
        let reached = sink.reached();
        if reached.len() >= want {
            return reached.into_iter().max();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and p90 (nearest rank) of `times`.
fn median_p90(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let rank = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    (rank(0.5), rank(0.9))
}

/// 20 publishes to one subscriber: median and p90 from publish to receipt.
async fn latency() -> Option<Duration> {
    let herald = Herald::start().await;
    let mut servers = JoinSet::new();
    let sink = Sink::new(None);
    let port = serve_sinks(&mut servers, &[Ipv4Addr::LOCALHOST], sink.clone()).await;
    herald.subscribe(&[format!("http://127.0.0.1:{port}/cb/0")]).await;
    let mut times = Vec::with_capacity(PUBLISHES);
    for i in 0..PUBLISHES {
        let mark = format!("[bench {i}]");
        sink.expect(&mark);
        let started = herald.publish(&mark).await;
        match all_reached(&sink, 1).await {
            Some(at) => times.push(at.saturating_duration_since(started)),
            None => {
                println!("latency: publish {i} never reached the subscriber within {} s", CAP.as_secs());
                return None;
            }
        }
    }
    let (median, p90) = median_p90(&mut times);
    println!(
        "latency: publish -> verified subscriber got the distribution, {PUBLISHES} publishes: median {:.0} ms, \
         p90 {:.0} ms, max {:.0} ms; ratio {:.2} (goal < 1.00: < {} s)",
        ms(median),
        ms(p90),
        ms(times[times.len() - 1]),
        median.as_secs_f64() / LATENCY_GOAL.as_secs_f64(),
        LATENCY_GOAL.as_secs(),
    );
    Some(median)
}

/// 1,000 subscribers on 100 hosts answering in 50–500 ms: one publish.
async fn fan_out(seed: u64, latency: Duration) {
    let herald = Herald::start().await;
    let mut servers = JoinSet::new();
    let sink = Sink::new(Some(seed));
    let hosts: Vec<Ipv4Addr> =
        (1..=HOSTS).map(|h| Ipv4Addr::new(127, 0, 1, u8::try_from(h).expect("100 hosts"))).collect();
    let port = serve_sinks(&mut servers, &hosts, sink.clone()).await;
    let callbacks: Vec<String> =
        (0..HOSTS * PER_HOST).map(|n| format!("http://{}:{port}/cb/{n}", hosts[n % HOSTS])).collect();
    let subscribing = Instant::now();
    herald.subscribe(&callbacks).await;
    println!(
        "fan-out: {} subscriptions requested and verified in {:.0} ms",
        callbacks.len(),
        ms(subscribing.elapsed())
    );
    sink.expect("[fan-out]");
    let started = herald.publish("[fan-out]").await;
    let bound = latency + Duration::from_secs(3);
    match all_reached(&sink, callbacks.len()).await {
        Some(last) => {
            let took = last.saturating_duration_since(started);
            let mut each: Vec<Duration> =
                sink.reached().into_iter().map(|t| t.saturating_duration_since(started)).collect();
            let (median, p90) = median_p90(&mut each);
            println!(
                "fan-out: {} subscribers on {HOSTS} hosts (answers in 50-500 ms): all delivered {:.0} ms after \
                 `herald publish` started (each: median {:.0} ms, p90 {:.0} ms); ratio {:.2} (goal <= 1.00: \
                 <= latency median {:.0} ms + 3 s)",
                callbacks.len(),
                ms(took),
                ms(median),
                ms(p90),
                took.as_secs_f64() / bound.as_secs_f64(),
                ms(latency),
            );
        }
        None => println!(
            "fan-out: only {} of {} subscribers reached within {} s",
            sink.reached().len(),
            callbacks.len(),
            CAP.as_secs()
        ),
    }
}

#[tokio::main]
async fn main() {
    let seed = std::env::var("WEBSUB_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(median) = latency().await else { return };
    fan_out(seed, median).await;
}
