//! Slow and dead peers: a fan-out reaches every live inbox before herald
//! gives up on any black-holed host, and the dead hosts' jobs stay in the
//! queue. The reduced form of the latency scenario of `benches/fanout.rs`.
//!
//! Asserted by the order of events at the sinks, not by timing thresholds.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::routing::post;
use axum::Router;
use herald::config::Settings;
use herald::startup::Application;
use herald::store::{DeliveryState, RemoteActorRow};
use tokio::net::{TcpListener, TcpStream};

const HOSTS: usize = 30;
const INBOXES: usize = 300;
const REQUEST_TIMEOUT_MS: u64 = 5000;

/// What the sinks saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Live inbox n answered 202 to the activity.
    Delivered(usize),
    /// herald closed a connection to this black-holed host: it gave up.
    DeadClosed(Ipv4Addr),
}

type Log = Arc<Mutex<Vec<Event>>>;

/// A third of the hosts accept connections and never answer.
fn is_dead(host: usize) -> bool {
    host % 3 == 0
}

/// Host h is 127.0.9.(h + 1): on Linux all of 127/8 is loopback.
fn address(host: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 9, 1 + u8::try_from(host).unwrap())
}

/// Follower n lives on host n % HOSTS, so dead hosts' jobs are spread
/// evenly through the queue.
fn host_of(inbox: usize) -> usize {
    inbox % HOSTS
}

/// 50–500 ms, fixed per inbox (xorshift64 of its number).
fn answer_delay(inbox: usize) -> Duration {
    let mut x = (inbox as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    Duration::from_millis(50 + x % 451)
}

/// Binds every one of `addresses` (loopback only: never the wildcard
/// address) on one common port; bounded retries when the port is taken.
async fn bind_each(addresses: &[Ipv4Addr]) -> (u16, Vec<TcpListener>) {
    for _ in 0..20 {
        let first = TcpListener::bind((addresses[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
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

/// Every live host, on one port.
async fn live_sink(log: Log, addresses: &[Ipv4Addr]) -> u16 {
    let router = Router::new().route(
        "/inbox/{n}",
        post(move |Path(n): Path<usize>, _body: String| {
            let log = log.clone();
            async move {
                tokio::time::sleep(answer_delay(n)).await;
                log.lock().unwrap().push(Event::Delivered(n));
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let (port, listeners) = bind_each(addresses).await;
    for listener in listeners {
        let router = router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    port
}

/// Every dead host, on another port: accept, read, never answer, and log
/// when herald closes the connection.
async fn dead_sink(log: Log, addresses: &[Ipv4Addr]) -> u16 {
    let (port, listeners) = bind_each(addresses).await;
    for listener in listeners {
        let log = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let std::net::IpAddr::V4(host) = stream.local_addr().unwrap().ip() else { return };
                    read_until_closed(stream).await;
                    log.lock().unwrap().push(Event::DeadClosed(host));
                });
            }
        });
    }
    port
}

async fn read_until_closed(stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while stream.readable().await.is_ok() {
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// A copy of the log, so that a failed assertion does not poison it.
fn snapshot(log: &Log) -> Vec<Event> {
    log.lock().unwrap().clone()
}

/// Polls `condition` on the event log every 10 ms until it holds; panics
/// with `what` after `limit`.
async fn await_events(log: &Log, limit: Duration, what: &str, condition: impl Fn(&[Event]) -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let events = snapshot(log);
        if condition(&events) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} within {limit:?}; events: {events:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_dead_hosts_do_not_hold_back_live_inboxes() {
    // Arrange: 300 inboxes on 30 hosts; 10 hosts black-holed, the others
    // answering after 50–500 ms.
    let log: Log = Arc::default();
    let live_addresses: Vec<Ipv4Addr> = (0..HOSTS).filter(|&h| !is_dead(h)).map(address).collect();
    let dead_addresses: Vec<Ipv4Addr> = (0..HOSTS).filter(|&h| is_dead(h)).map(address).collect();
    let live_port = live_sink(log.clone(), &live_addresses).await;
    let dead_port = dead_sink(log.clone(), &dead_addresses).await;
    let followers: Vec<RemoteActorRow> = (0..INBOXES)
        .map(|n| {
            let host = host_of(n);
            let base = format!("http://{}:{}", address(host), if is_dead(host) { dead_port } else { live_port });
            crate::common::loopback_follower(&base, n)
        })
        .collect();
    let live: Vec<usize> = (0..INBOXES).filter(|&n| !is_dead(host_of(n))).collect();
    let dead_hosts: Vec<Ipv4Addr> = (0..HOSTS).filter(|&h| is_dead(h)).map(address).collect();

    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("feeds");
    std::fs::create_dir(&content).unwrap();
    let mut env = crate::common::test_env(dir.path());
    env.push(("HERALD_FEDERATION__REQUEST_TIMEOUT_MS".into(), REQUEST_TIMEOUT_MS.to_string()));
    // Fewer slots than jobs (300), so that what frees a slot matters. The
    // live inboxes need ~200 × 275 ms of requests: well within the timeout
    // on the ~54 slots the 10 dead hosts' probes leave free. Jobs waiting
    // behind a dead host's probe (90) must not crowd out live ones either.
    env.push(("HERALD_FEDERATION__MAX_IN_FLIGHT".into(), "64".into()));
    let settings = Settings::load_with_env(None, env).unwrap();
    let app = Application::build(settings.clone()).await.unwrap();
    let store = app.state().store.clone();
    store.import_followers(&followers, chrono::Utc::now()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // Act: publish one article to the 300 followers.
    std::fs::write(
        content.join("latency.md"),
        "+++\nid = \"urn:uuid:00000000-0000-4000-8000-0000000001a7\"\nslug = \"latency\"\ntitle = \"Latency\"\n\
         summary = \"A fan-out to slow and dead hosts.\"\npublished = \"2024-08-05T08:00:00Z\"\n+++\n\nBody.\n",
    )
    .unwrap();
    herald::publish::publish_dir(&store, &settings.channel, &settings.account, &content, false, chrono::Utc::now())
        .await
        .unwrap();

    // Assert: every live inbox is reached before herald gives up on any
    // dead host. Stop at whichever comes first.
    let delivered = |events: &[Event]| events.iter().filter(|e| matches!(e, Event::Delivered(_))).count();
    await_events(&log, Duration::from_secs(60), "neither every live inbox nor any dead host was done", |events| {
        delivered(events) >= live.len() || events.iter().any(|e| matches!(e, Event::DeadClosed(_)))
    })
    .await;
    {
        let events = snapshot(&log);
        if let Some(first_dead) = events.iter().position(|e| matches!(e, Event::DeadClosed(_))) {
            let before: Vec<usize> = events[..first_dead]
                .iter()
                .filter_map(|e| if let Event::Delivered(n) = e { Some(*n) } else { None })
                .collect();
            let waiting: Vec<usize> = live.iter().copied().filter(|n| !before.contains(n)).collect();
            assert!(
                waiting.is_empty(),
                "herald gave up on a dead host ({:?}, event #{first_dead}) while {} of {} live inboxes were still \
                 waiting (e.g. {:?}): live deliveries queued behind black-holed ones (head-of-line blocking)",
                events[first_dead],
                waiting.len(),
                live.len(),
                &waiting[..waiting.len().min(5)],
            );
        }
    }

    // Assert: once herald has given up on every dead host, their jobs are
    // rescheduled, not failed, and not lost.
    await_events(
        &log,
        Duration::from_millis(REQUEST_TIMEOUT_MS) * 3,
        "herald did not give up on every dead host",
        |events| dead_hosts.iter().all(|h| events.contains(&Event::DeadClosed(*h))),
    )
    .await;
    let dead_inboxes: Vec<&str> =
        followers.iter().enumerate().filter(|(n, _)| is_dead(host_of(*n))).map(|(_, f)| f.inbox.as_str()).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (status, dead_jobs) = loop {
        // Outcomes are written just after the sinks saw them: wait until
        // every live job is recorded delivered and every dead host's probe
        // has its error recorded.
        let status = store.queue_status(chrono::Utc::now()).await.unwrap();
        let mut dead_jobs = Vec::new();
        for inbox in &dead_inboxes {
            dead_jobs.push((*inbox, store.inbox_jobs(inbox, 10).await.unwrap()));
        }
        let probed = dead_hosts.iter().all(|h| {
            let host = format!("//{h}:");
            dead_jobs.iter().any(|(inbox, jobs)| inbox.contains(&host) && jobs.iter().any(|j| j.last_error.is_some()))
        });
        if (probed && status.delivered >= live.len() as i64) || status.failed > 0 {
            break (status, dead_jobs);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcomes not recorded: {} of {} live jobs delivered, or no error on some dead host's jobs: {dead_jobs:?}",
            status.delivered,
            live.len(),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (status.pending, status.delivered, status.failed),
        (100, 200, 0),
        "expected the 100 dead jobs pending and the 200 live ones delivered: {status:?}"
    );
    for (inbox, jobs) in &dead_jobs {
        assert!(
            matches!(jobs.as_slice(), [job] if job.state == DeliveryState::Pending),
            "{inbox}: expected one pending job: {jobs:?}"
        );
    }
    // Rescheduled behind an open circuit, not retried: a dead host costs
    // one attempt (its probe), not one per follower.
    for host in &dead_hosts {
        let prefix = format!("//{host}:");
        let attempts: i64 = dead_jobs
            .iter()
            .filter(|(inbox, _)| inbox.contains(&prefix))
            .flat_map(|(_, jobs)| jobs)
            .map(|j| j.attempts)
            .sum();
        assert!(attempts <= 1, "{host}: {attempts} attempts counted on its jobs, expected only its probe's");
    }
    let _ = stop.send(());
}
