//! Fan-out benchmark: the real `herald serve` binary as a child process, the
//! real `herald publish` CLI, and HTTP sinks in this process on loopback
//! addresses (on Linux all of 127/8 reaches the loopback interface, so
//! `127.0.X.Y` makes as many distinct hosts as we like).
//!
//! Each scenario prints one line ending in its ratio to its goal:
//! - **cpu**: 10,000 followers on 10,000 distinct inboxes answering 202 at
//!   once, spread over 100 hosts; deliveries/s against the signing limit
//!   (goal ≥ 0.8).
//! - **latency**: 10,000 followers on 1,000 hosts; live hosts answer after
//!   50–500 ms, 5 % of the hosts accept the connection and never answer; the
//!   time until every live inbox got the activity against the signing-limited
//!   time + 3 s (goal ≤ 1). Then the dead hosts' jobs, read from the store
//!   once their requests timed out: rescheduled (pending), not lost.
//! - **rss**: `herald serve`'s peak RSS (`VmHWM`) during the 10,000 fan-out
//!   against 100 MB (goal < 1).
//! - **first delivery**: from starting `herald publish` to the first inbox
//!   hit, against 1 s (goal < 1).
//!
//! The signing limit is `FANOUT_SIGN_LIMIT` (signatures/s, all cores;
//! `bench/fanout.sh` measures it with `openssl speed`), or else aws-lc-rs's
//! rate on one core measured here, times the cores. herald gets the default
//! `[federation]` settings except where a scenario says otherwise; `HERALD_*`
//! variables in the environment reach the child as usual. Every wait is
//! bounded: a scenario gives up after 120 s.
//!
//! `bash bench/fanout.sh`, or `cargo bench --bench fanout` (needs
//! `ulimit -n` ≥ 16384 or so: 10,000 sockets).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path as UrlPath;
use axum::routing::post;
use axum::Router;
use herald::config::Settings;
use herald::federation::keys;
use herald::store::{HostHealth, RemoteActorRow, Store};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const FOLLOWERS: usize = 10_000;
/// Every scenario gives up after this long.
const SCENARIO_CAP: Duration = Duration::from_secs(120);
/// The latency scenario's `federation.request_timeout_ms`.
const LATENCY_REQUEST_TIMEOUT: Duration = Duration::from_millis(5000);
const RSS_GOAL_MB: f64 = 100.0;
const FIRST_DELIVERY_GOAL: Duration = Duration::from_secs(1);

/// What a sink saw: which inboxes were reached and when.
struct Tally {
    reached: Vec<AtomicBool>,
    distinct: AtomicUsize,
    /// Requests being answered (received, answer not sent yet).
    answering: AtomicUsize,
    hits: AtomicUsize,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    /// When each inbox was first reached, in order.
    times: Mutex<Vec<Instant>>,
}

impl Tally {
    fn new(inboxes: usize) -> Self {
        Self {
            reached: (0..inboxes).map(|_| AtomicBool::new(false)).collect(),
            distinct: AtomicUsize::new(0),
            answering: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
            first: Mutex::new(None),
            last: Mutex::new(None),
            times: Mutex::new(Vec::with_capacity(inboxes)),
        }
    }

    fn hit(&self, inbox: usize) {
        let now = Instant::now();
        self.hits.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert(now);
        }
        if self.reached.get(inbox).is_some_and(|r| !r.swap(true, Ordering::Relaxed)) {
            self.distinct.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last.lock() {
                *last = Some(now);
            }
            if let Ok(mut times) = self.times.lock() {
                times.push(now);
            }
        }
    }

    fn distinct(&self) -> usize {
        self.distinct.load(Ordering::Relaxed)
    }

    fn first(&self) -> Option<Instant> {
        self.first.lock().ok().and_then(|f| *f)
    }

    fn last(&self) -> Option<Instant> {
        self.last.lock().ok().and_then(|l| *l)
    }

    /// The longest wait between two inboxes reached in a row.
    fn longest_gap(&self) -> Duration {
        let times = self.times.lock().map(|t| t.clone()).unwrap_or_default();
        times.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max().unwrap_or_default()
    }

    /// How many inboxes were reached before `at`.
    fn reached_before(&self, at: Instant) -> usize {
        self.times.lock().map(|t| t.iter().filter(|&&t| t < at).count()).unwrap_or(0)
    }

    /// The time, from `start`, by which `fraction` of `of` inboxes were reached.
    fn quantile(&self, start: Instant, fraction: f64, of: usize) -> Option<Duration> {
        let times = self.times.lock().ok()?;
        let n = ((of as f64 * fraction).ceil() as usize).clamp(1, of);
        times.get(n - 1).map(|t| t.saturating_duration_since(start))
    }
}

/// The answer delay of inbox `n`: 50–500 ms, a pure function of the seed.
/// A hand-written xorshift64 rather than the `rand` crate: four lines, and
/// no dependency to build for one benchmark.
fn latency(seed: u64, n: usize) -> Duration {
    let mut x = seed ^ (n as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    Duration::from_millis(50 + x % 451)
}

/// Server tasks that stop when this is dropped.
#[derive(Default)]
struct Servers(JoinSet<()>);

/// A listener on every loopback address at one port: inboxes `/inbox/{n}`
/// answer 202, after `latency(seed, n)` when `seed` is given. The hit is
/// counted when the answer is sent.
/// Binds every one of `addresses` (loopback only: never the wildcard
/// address) on one common port; bounded retries when the port is taken.
async fn bind_each(addresses: &[Ipv4Addr]) -> (u16, Vec<TcpListener>) {
    for _ in 0..20 {
        let first = TcpListener::bind((addresses[0], 0)).await.expect("bind a sink address");
        let port = first.local_addr().expect("sink address").port();
        let mut listeners = vec![first];
        for address in &addresses[1..] {
            match TcpListener::bind((*address, port)).await {
                Ok(listener) => listeners.push(listener),
                Err(_) => break,
            }
        }
        if listeners.len() == addresses.len() {
            return (port, listeners);
        }
    }
    panic!("no port is free on all {} sink addresses", addresses.len());
}

async fn live_sink(
    servers: &mut Servers,
    addresses: &[Ipv4Addr],
    inboxes: usize,
    seed: Option<u64>,
) -> (u16, Arc<Tally>) {
    let tally = Arc::new(Tally::new(inboxes));
    let sink = tally.clone();
    let router = Router::new().route(
        "/inbox/{n}",
        post(move |UrlPath(n): UrlPath<usize>, _body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.answering.fetch_add(1, Ordering::Relaxed);
                if let Some(seed) = seed {
                    tokio::time::sleep(latency(seed, n)).await;
                }
                sink.answering.fetch_sub(1, Ordering::Relaxed);
                sink.hit(n);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let (port, listeners) = bind_each(addresses).await;
    for listener in listeners {
        let router = router.clone();
        servers.0.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
    }
    (port, tally)
}

/// Black-holed hosts: connections are accepted, read and never answered.
#[derive(Default)]
struct Dead {
    accepted: AtomicUsize,
    closed: AtomicUsize,
    first_closed: Mutex<Option<Instant>>,
}

impl Dead {
    fn open(&self) -> usize {
        self.accepted.load(Ordering::Relaxed) - self.closed.load(Ordering::Relaxed)
    }

    fn first_closed(&self) -> Option<Instant> {
        self.first_closed.lock().ok().and_then(|f| *f)
    }
}

async fn dead_sink(servers: &mut Servers, addresses: &[Ipv4Addr]) -> (u16, Arc<Dead>) {
    let dead = Arc::new(Dead::default());
    let (port, listeners) = bind_each(addresses).await;
    for listener in listeners {
        hold_all(servers, listener, dead.clone());
    }
    (port, dead)
}

/// Accepts every connection on `listener` and holds it open, unanswered.
fn hold_all(servers: &mut Servers, listener: TcpListener, tally: Arc<Dead>) {
    servers.0.spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, most likely: let some close.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            tally.accepted.fetch_add(1, Ordering::Relaxed);
            let tally = tally.clone();
            connections.spawn(async move {
                hold(stream).await;
                if let Ok(mut first) = tally.first_closed.lock() {
                    first.get_or_insert_with(Instant::now);
                }
                tally.closed.fetch_add(1, Ordering::Relaxed);
            });
            while connections.try_join_next().is_some() {}
        }
    });
}

/// Reads and discards until the peer closes the connection.
async fn hold(stream: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

fn follower(host: Ipv4Addr, port: u16, n: usize) -> RemoteActorRow {
    RemoteActorRow {
        id: format!("http://{host}:{port}/users/{n}"),
        inbox: format!("http://{host}:{port}/inbox/{n}"),
        shared_inbox: None,
        key_id: String::new(),
        public_pem: String::new(),
        fetched_at: chrono::Utc::now(),
    }
}

/// `herald serve` in a child process, on a fresh SQLite file.
struct Herald {
    child: Child,
    dir: TempDir,
    config: PathBuf,
    log: PathBuf,
    /// The settings the child runs with (its file and our environment).
    settings: Settings,
}

impl Herald {
    /// Imports `followers` into a fresh database, then starts `herald serve`
    /// with `federation` appended to the `[federation]` section.
    async fn start(followers: &[RemoteActorRow], federation: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("feeds")).expect("content dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let config = dir.path().join("herald.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}/\"\npoll_interval_ms = 50\n\
                 [database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{}\"\n\
                 [federation]\nallow_private_addresses = true\n{federation}",
                dir.path().join("herald.db").display(),
                dir.path().join("feeds").display()
            ),
        )
        .expect("write the config");
        let settings = Settings::load(Some(&config)).expect("settings");
        let store = Store::connect(&settings.database).await.expect("open the database");
        store.import_followers(followers, chrono::Utc::now()).await.expect("import followers");
        store.close().await;

        let log = dir.path().join("herald.log");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(dir.path())
            .env("HERALD_LOG", std::env::var("HERALD_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start herald serve");
        let mut herald = Self { child, dir, config, log, settings };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if herald.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                panic!("herald serve did not start:\n{}", herald.log_tail(20));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        herald
    }

    /// Writes an article and runs `herald publish`; returns when it started.
    async fn publish(&self) -> Instant {
        std::fs::write(
            self.dir.path().join("feeds/bench.md"),
            "+++\nid = \"urn:uuid:00000000-0000-4000-8000-00000000beef\"\nslug = \"bench\"\ntitle = \"Bench\"\n\
             summary = \"A fan-out.\"\npublished = \"2024-08-05T08:00:00Z\"\n+++\n\nBody.\n",
        )
        .expect("write the article");
        let (dir, config) = (self.dir.path().to_owned(), self.config.clone());
        let start = Instant::now();
        // Blocking, off the runtime: the sinks must keep answering meanwhile.
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_herald"))
                .arg("--config")
                .arg(&config)
                .arg("publish")
                .current_dir(&dir)
                .env("HERALD_LOG", "warn")
                .output()
        })
        .await
        .expect("join")
        .expect("run herald publish");
        assert!(output.status.success(), "herald publish failed: {output:?}");
        start
    }

    /// The delivery settings that matter here, as `key=value`.
    fn delivery(&self) -> String {
        let d = &self.settings.delivery;
        format!(
            "max_in_flight={} per_host_in_flight={} request_timeout_ms={}",
            d.max_in_flight,
            d.per_host,
            d.request_timeout.as_millis()
        )
    }

    /// Peak resident set size so far, in MB (`VmHWM`).
    fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 =
            status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb / 1024.0)
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines herald logged (warnings and errors with the default `HERALD_LOG`).
    fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map(|l| l.lines().count()).unwrap_or(0)
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second connection to herald's database, as `herald queue` opens it.
/// Waits until `done` holds or `deadline` passes; returns whether it held.
async fn until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn since(start: Instant, at: Option<Instant>) -> Option<Duration> {
    at.map(|at| at.saturating_duration_since(start))
}

/// What the cpu scenario measured for the rss and first-delivery lines.
struct Fanout {
    peak_rss_mb: Option<f64>,
    first_delivery: Option<Duration>,
}

async fn cpu(limit: f64, cores: usize) -> Fanout {
    const HOSTS: u8 = 100;
    let mut servers = Servers::default();
    let host = |n: usize| Ipv4Addr::new(127, 0, 1, 1 + (n % usize::from(HOSTS)) as u8);
    let addresses: Vec<Ipv4Addr> = (0..usize::from(HOSTS)).map(host).collect();
    let (port, tally) = live_sink(&mut servers, &addresses, FOLLOWERS, None).await;
    let followers: Vec<_> = (0..FOLLOWERS).map(|n| follower(host(n), port, n)).collect();
    let herald = Herald::start(&followers, "").await;
    let pid = herald.child.id().to_string();
    let cpu_before = (cpu_time(&pid), cpu_time("self"), machine_busy());

    let start = herald.publish().await;
    let published = start.elapsed();
    let all = until(start + SCENARIO_CAP, || tally.distinct() >= FOLLOWERS).await;
    let cpu_used = (cpu_time(&pid), cpu_time("self"), machine_busy());
    let end = tally.last().unwrap_or(start);
    let delivered = tally.distinct();
    let total = end.saturating_duration_since(start);
    let rate = delivered as f64 / secs(total).max(1e-9);
    let steady = match (tally.first(), tally.last()) {
        (Some(first), Some(last)) if last > first => (delivered.saturating_sub(1)) as f64 / secs(last - first),
        _ => 0.0,
    };
    println!("cpu: herald {}", herald.delivery());
    println!(
        "cpu: {delivered}/{FOLLOWERS} distinct inboxes on {HOSTS} hosts (127.0.1.1-{HOSTS}, one port: \
         per_host_in_flight caps one host:port) in {:.2} s from `herald publish` = {rate:.0} deliveries/s \
         ({steady:.0}/s first to last; publish took {:.0} ms; {} requests){}; signing limit {limit:.0}/s; \
         ratio {:.2} (goal >= 0.80)",
        secs(total),
        published.as_secs_f64() * 1e3,
        tally.hits.load(Ordering::Relaxed),
        if all { String::new() } else { format!("; GAVE UP after {} s", SCENARIO_CAP.as_secs()) },
        rate / limit,
    );
    if let ((Some(h0), Some(s0), Some(m0)), (Some(h1), Some(s1), Some(m1))) = (cpu_before, cpu_used) {
        let (herald_cpu, sinks_cpu) = (h1.saturating_sub(h0), s1.saturating_sub(s0));
        let (busy, all) = (m1.0.saturating_sub(m0.0), m1.1.saturating_sub(m0.1));
        println!(
            "cpu: CPU time during the fan-out: herald serve {:.2} s ({:.3} ms per delivery; one signature is {:.3} ms \
             at the signing limit per core), sinks (this process) {:.2} s, other processes {:.2} s, idle {:.2} s \
             (of {:.2} s = wall x {cores} cores); longest pause between two deliveries {:.0} ms",
            secs(herald_cpu),
            secs(herald_cpu) * 1e3 / delivered.max(1) as f64,
            1e3 * cores as f64 / limit,
            secs(sinks_cpu),
            secs(busy.saturating_sub(herald_cpu + sinks_cpu)),
            secs(all.saturating_sub(busy)),
            secs(all),
            tally.longest_gap().as_secs_f64() * 1e3,
        );
    }
    if herald.log_lines() > 0 {
        println!("cpu: herald logged {} lines; last:\n{}", herald.log_lines(), herald.log_tail(3));
    }
    Fanout { peak_rss_mb: herald.peak_rss_mb(), first_delivery: since(start, tally.first()) }
}

async fn latency_scenario(limit: f64, seed: u64) -> Option<f64> {
    const HOSTS: usize = 1000;
    // Every 20th host is dead: 5 %, spread evenly through the queue, since
    // follower n lives on host n % HOSTS.
    let dead_host = |h: usize| h % 20 == 19;
    let address = |h: usize| Ipv4Addr::new(127, 0, 2 + (h / 250) as u8, 1 + (h % 250) as u8);
    let mut servers = Servers::default();
    let live_addresses: Vec<Ipv4Addr> = (0..HOSTS).filter(|&h| !dead_host(h)).map(address).collect();
    let dead_addresses: Vec<Ipv4Addr> = (0..HOSTS).filter(|&h| dead_host(h)).map(address).collect();
    let (live_port, tally) = live_sink(&mut servers, &live_addresses, FOLLOWERS, Some(seed)).await;
    let (dead_port, dead) = dead_sink(&mut servers, &dead_addresses).await;
    let followers: Vec<_> = (0..FOLLOWERS)
        .map(|n| {
            let h = n % HOSTS;
            follower(address(h), if dead_host(h) { dead_port } else { live_port }, n)
        })
        .collect();
    let live = (0..FOLLOWERS).filter(|n| !dead_host(n % HOSTS)).count();
    let dead_hosts = (0..HOSTS).filter(|&h| dead_host(h)).count();
    let timeout_ms = LATENCY_REQUEST_TIMEOUT.as_millis();
    let herald = Herald::start(&followers, &format!("request_timeout_ms = {timeout_ms}\n")).await;

    println!("latency: herald {}", herald.delivery());
    let start = herald.publish().await;
    // Requests in flight to live hosts, once a second: what bounds the
    // time is slots x answer time, so this says whether slots sat unused.
    let mut in_flight = Vec::new();
    let all = until(start + SCENARIO_CAP, || {
        if start.elapsed() >= Duration::from_secs(in_flight.len() as u64 + 1) {
            in_flight.push(tally.answering.load(Ordering::Relaxed));
        }
        tally.distinct() >= live
    })
    .await;
    let reached = tally.distinct();
    let took = tally.last().unwrap_or(start).saturating_duration_since(start);
    let signing = FOLLOWERS as f64 / limit;
    let target = signing + 3.0;
    println!(
        "latency: {reached}/{live} live inboxes on {} live hosts (answers after 50-500 ms, seed {seed}) reached in \
         {:.2} s{}, {dead_hosts} hosts black-holed, request_timeout_ms = {timeout_ms}; signing-limited {signing:.2} s \
         ({FOLLOWERS} / {limit:.0}/s); target {target:.2} s; ratio {:.2} (goal <= 1.00)",
        HOSTS - dead_hosts,
        secs(took),
        if all { String::new() } else { format!(" (GAVE UP after {} s)", SCENARIO_CAP.as_secs()) },
        secs(if all { took } else { SCENARIO_CAP }) / target,
    );

    let quantile = |q| tally.quantile(start, q, live).map_or(f64::NAN, secs);
    let first_closed = dead.first_closed();
    let gave_up = match since(start, first_closed) {
        Some(t) => format!("{:.2} s", secs(t)),
        None => "no time yet (none had timed out)".into(),
    };
    println!(
        "latency: live inboxes reached by 50 % {:.2} s, 90 % {:.2} s, 99 % {:.2} s, 100 % {:.2} s; herald first gave up \
         on a dead host at {}, with {} live inboxes reached by then",
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
        quantile(1.0),
        gave_up,
        first_closed.map_or(reached, |at| tally.reached_before(at)),
    );

    println!("latency: requests in flight to live hosts at 1 s, 2 s, ...: {in_flight:?}");

    // Give every request to a dead host time to time out, then read the
    // queue as `herald queue` would.
    let live_done = Instant::now();
    let settle = live_done + LATENCY_REQUEST_TIMEOUT + Duration::from_secs(1);
    until(settle, || false).await;
    let closed_all = until(settle + LATENCY_REQUEST_TIMEOUT, || dead.open() == 0).await;
    let waited = live_done.elapsed();
    let store = Store::connect(&herald.settings.database).await.expect("open the database");
    let status = store.queue_status(chrono::Utc::now()).await.expect("queue status");
    // Each dead job, read as `herald queue --inbox` reads it.
    let dead_marker = format!(":{dead_port}/");
    let mut by_state: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost = 0;
    for inbox in followers.iter().map(|f| &f.inbox).filter(|inbox| inbox.contains(&dead_marker)) {
        let jobs = store.inbox_jobs(inbox, 10).await.expect("inbox jobs");
        lost += usize::from(jobs.is_empty());
        for job in jobs {
            *by_state.entry((job.state.as_str(), job.attempts)).or_default() += 1;
            *errors.entry(job.last_error.as_deref().map_or_else(|| "(none)".into(), error_kind)).or_default() += 1;
        }
    }
    let pending: usize = by_state.iter().filter(|((state, _), _)| *state == "pending").map(|(_, n)| n).sum();
    let failed: usize = by_state.iter().filter(|((state, _), _)| *state == "failed").map(|(_, n)| n).sum();
    let dead_suffix = format!(":{dead_port}");
    let open = |h: &&HostHealth| h.circuit_until.is_some_and(|t| t > chrono::Utc::now());
    let dead_open = status.hosts.iter().filter(open).filter(|h| h.host.ends_with(&dead_suffix)).count();
    let live_open = status.hosts.iter().filter(open).filter(|h| !h.host.ends_with(&dead_suffix)).count();
    println!(
        "latency: dead hosts' {} jobs {:.1} s after the last live delivery (request_timeout_ms = {timeout_ms}): \
         pending {pending}, failed {failed}, lost {lost}; whole queue: pending {}, delivered {}, failed {}; \
         circuits open: {dead_open} of {dead_hosts} dead hosts, {live_open} live hosts; dead connections accepted {}, \
         closed by herald {}{}",
        FOLLOWERS - live,
        secs(waited),
        status.pending,
        status.delivered,
        status.failed,
        dead.accepted.load(Ordering::Relaxed),
        dead.closed.load(Ordering::Relaxed),
        if closed_all { "" } else { " (some still open)" },
    );
    println!("latency: dead jobs by (state, attempts): {by_state:?}");
    println!("latency: dead jobs by last error: {errors:?}");
    store.close().await;
    herald.peak_rss_mb()
}

/// The last error without URLs, hosts and times, so that errors group by kind.
fn error_kind(error: &str) -> String {
    let words: Vec<&str> = error
        .split_whitespace()
        .map(|w| match w {
            _ if w.contains("://") => "<url>",
            _ if w.chars().all(|c| c.is_ascii_digit()) => w,
            _ if !w.chars().all(|c| c.is_ascii_digit() || ".:-".contains(c)) => w,
            _ if w.matches(':').count() >= 2 => "<time>",
            _ if w.contains(':') => "<host:port>",
            _ => "<date>",
        })
        .collect();
    words.join(" ")
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// The machine's (busy, total) CPU time so far, all cores, from /proc/stat.
fn machine_busy() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    let time = |t: u64| Duration::from_secs_f64(t as f64 / clock_ticks());
    Some((time(total - idle), time(total)))
}

/// `getconf CLK_TCK`: the unit of /proc times (100 on Linux), asked once.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn aws_lc_signing_rate() -> f64 {
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

fn open_file_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| l.split_whitespace().nth(3).unwrap_or("?").to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    // herald signs with aws-lc-rs: its rate next to OpenSSL's tells whether
    // the limit the script measured is the one herald runs into.
    let aws_lc = aws_lc_signing_rate();
    println!(
        "aws-lc-rs RSA-2048 (herald's signer): {aws_lc:.0} signs/s on one core; x {cores} cores = {:.0}/s",
        aws_lc * cores as f64
    );
    let limit = match std::env::var("FANOUT_SIGN_LIMIT").ok().and_then(|l| l.parse::<f64>().ok()) {
        Some(limit) if limit > 0.0 => {
            println!("signing limit: {limit:.0} signs/s (FANOUT_SIGN_LIMIT)");
            limit
        }
        _ => {
            println!("signing limit: {:.0} signs/s (aws-lc-rs; FANOUT_SIGN_LIMIT unset)", aws_lc * cores as f64);
            aws_lc * cores as f64
        }
    };
    println!("open files limit: {} (soft)", open_file_limit());
    let seed = std::env::var("FANOUT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);

    let fanout = cpu(limit, cores).await;
    match fanout.peak_rss_mb {
        Some(mb) => println!(
            "rss: herald serve peak RSS (VmHWM) {mb:.1} MB after the 10,000-inbox fan-out; ratio {:.2} (goal < 1.00: \
             < {RSS_GOAL_MB:.0} MB)",
            mb / RSS_GOAL_MB
        ),
        None => println!("rss: could not read VmHWM from /proc"),
    }
    match fanout.first_delivery {
        Some(first) => println!(
            "first delivery: {:.0} ms from starting `herald publish` to the first inbox hit (10,000 jobs queued); \
             ratio {:.2} (goal < 1.00: < 1 s)",
            first.as_secs_f64() * 1e3,
            first.as_secs_f64() / FIRST_DELIVERY_GOAL.as_secs_f64()
        ),
        None => println!("first delivery: no inbox was reached; ratio inf (goal < 1.00)"),
    }
    if let Some(mb) = latency_scenario(limit, seed).await {
        println!("latency: herald serve peak RSS (VmHWM) {mb:.1} MB");
    }
}
