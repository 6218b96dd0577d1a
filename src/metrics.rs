//! Prometheus metrics: the counters the rest of herald moves with one-line
//! calls, and the text a scrape of `/metrics` answers.
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client:
//! typed label sets, an OpenMetrics text encoder, no global recorder to
//! install and few dependencies (the `metrics` facade with
//! `metrics-exporter-prometheus` brings an HTTP server and histogram
//! sketches herald has no use for).
//!
//! The counters are process-wide: a process runs one server, and the
//! delivery engine and the cache count from wherever they are without a
//! handle threaded through every constructor. (The integration tests run
//! many servers in one process, so they assert that counters moved, never
//! their absolute values.) The gauges are not counted at all: queue depth,
//! the oldest pending job, followers and WebSub subscriptions are read from the database at
//! scrape time (see [`Scrape`]), so every instance on a shared PostgreSQL
//! reports the same truth and nothing can drift.
//!
//! This module only counts and encodes; it never reads the database or
//! serves HTTP (`http::ops` does both).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The media type of [`encode`]'s output (OpenMetrics 1.0 text, which
/// Prometheus negotiates and prefers).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `route` and `status` of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The matched route (`/articles/{slug}`), never the raw URL, so that
    /// the number of series stays bounded whatever clients ask for.
    route: String,
    /// The response's status code.
    status: u16,
}

/// `herald_http_requests`: every request of the site is counted here, so
/// counting must cost no lock, no hashing and no allocation. Each route
/// claims a slot the first time it answers (routes are matched paths, a
/// set the router bounds), with one atomic counter per status code; the
/// series are read from the slots at scrape time. Slots are claimed in
/// order and never released, so a lookup scans the claimed ones and stops
/// at the first free one.
///
/// A route beyond the slots, or a status outside 100–599, is counted in
/// `overflow`, a plain labelled family: same series, same output, with the
/// family's lock.
#[derive(Clone, Debug, Default)]
struct Requests {
    overflow: Family<RequestLabels, Counter>,
}

/// Distinct routes counted without a lock (herald has about 40).
const ROUTE_SLOTS: usize = 64;
/// The status codes a slot counts: 100 to 599.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

/// The requests of one route.
struct RouteSlot {
    /// Set once, when a route claims the slot.
    route: OnceLock<Box<str>>,
    /// Requests answered with status `FIRST_STATUS + i`.
    by_status: [AtomicU64; STATUSES],
}

impl RouteSlot {
    const fn new() -> Self {
        Self { route: OnceLock::new(), by_status: [const { AtomicU64::new(0) }; STATUSES] }
    }

    fn counter(&self, status: u16) -> Option<&AtomicU64> {
        self.by_status.get(usize::from(status.checked_sub(FIRST_STATUS)?))
    }
}

static ROUTES: [RouteSlot; ROUTE_SLOTS] = [const { RouteSlot::new() }; ROUTE_SLOTS];
/// Held while a route claims a slot (never while counting).
static CLAIM: Mutex<()> = Mutex::new(());

/// The claimed slots, in the order they were claimed.
fn claimed() -> impl Iterator<Item = (&'static str, &'static RouteSlot)> {
    ROUTES.iter().map_while(|slot| slot.route.get().map(|route| (&**route, slot)))
}

/// The slot of `route`, claimed now if it has none; `None` when every slot
/// is taken by other routes.
fn slot_of(route: &str) -> Option<&'static RouteSlot> {
    if let Some((_, slot)) = claimed().find(|(claimed, _)| *claimed == route) {
        return Some(slot);
    }
    let _claiming = CLAIM.lock().unwrap_or_else(|p| p.into_inner());
    for slot in &ROUTES {
        match slot.route.get() {
            Some(claimed) if **claimed == *route => return Some(slot),
            Some(_) => {}
            None => {
                // Free, and only claimers (who hold CLAIM) set it.
                let _ = slot.route.set(route.into());
                return Some(slot);
            }
        }
    }
    None
}

/// Where the requests of one route are counted: look it up once per
/// request ([`route`]), count once the status is known.
#[derive(Debug)]
pub struct RouteRequests(Counted);

#[derive(Debug)]
enum Counted {
    Slot(&'static RouteSlot),
    /// Every slot is taken: the route's name, for the overflow family.
    Overflow(String),
}

impl std::fmt::Debug for RouteSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSlot").field("route", &self.route.get()).finish_non_exhaustive()
    }
}

/// The counters of `route` (a matched path such as `/articles/{slug}`,
/// never a raw URL, or `unmatched`).
pub fn route(route: &str) -> RouteRequests {
    RouteRequests(match slot_of(route) {
        Some(slot) => Counted::Slot(slot),
        None => Counted::Overflow(route.to_owned()),
    })
}

impl RouteRequests {
    /// Counts one request of the route, answered with `status`.
    pub fn count(self, status: u16) {
        match self.0 {
            Counted::Slot(slot) => match slot.counter(status) {
                Some(counter) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                None => overflow(slot.route.get().map_or("", |route| route), status),
            },
            Counted::Overflow(route) => overflow(&route, status),
        }
    }
}

fn overflow(route: &str, status: u16) {
    METRICS.requests.overflow.get_or_create(&RequestLabels { route: route.to_owned(), status }).inc();
}

impl EncodeMetric for Requests {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (route, slot) in claimed() {
            for (status, counter) in (FIRST_STATUS..).zip(&slot.by_status) {
                let count = counter.load(Ordering::Relaxed);
                if count > 0 {
                    let labels = RequestLabels { route: route.to_owned(), status };
                    encoder.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
                }
            }
        }
        self.overflow.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    /// As a family: no series, no descriptor.
    fn is_empty(&self) -> bool {
        let counted = claimed().any(|(_, slot)| slot.by_status.iter().any(|c| c.load(Ordering::Relaxed) > 0));
        !counted && self.overflow.is_empty()
    }
}

/// What became of a delivery attempt.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are lower case on the wire
pub enum DeliveryOutcome {
    /// The inbox accepted it.
    delivered,
    /// It failed and will be tried again.
    retry,
    /// Given up: refused for good, out of attempts, or blocked.
    failed,
    /// Not attempted: its host's circuit is open; no attempt counted.
    deferred,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: DeliveryOutcome,
}

/// Every metric herald exports.
struct Metrics {
    registry: Registry,
    requests: Requests,
    cache_hits: Counter,
    cache_misses: Counter,
    renders: Counter,
    deliveries: Family<OutcomeLabels, Counter>,
    /// Scrape-time gauges, set from a [`Scrape`] right before encoding.
    gauges: Mutex<Gauges>,
}

struct Gauges {
    pending: Gauge,
    oldest_pending_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    followers: Gauge,
    domain_blocks: Gauge,
    websub: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("herald");
    let requests = Requests::default();
    registry.register("http_requests", "HTTP requests answered, by matched route and status", requests.clone());
    let cache_hits = Counter::default();
    registry.register(
        "cache_hits",
        "Lazily built documents (tag, author and archive feeds, pages, Notes) served from the cache",
        cache_hits.clone(),
    );
    let cache_misses = Counter::default();
    registry.register(
        "cache_misses",
        "Lazily built documents built from the database because the cache did not hold them",
        cache_misses.clone(),
    );
    let renders = Counter::default();
    registry.register(
        "snapshot_renders",
        "Rebuilds of the site snapshot (main feeds, front page) after a change",
        renders.clone(),
    );
    let deliveries = Family::<OutcomeLabels, Counter>::default();
    registry.register(
        "deliveries",
        "Delivery attempts recorded by this process, by outcome (delivered, retry, failed, deferred)",
        deliveries.clone(),
    );
    let gauges = Gauges {
        pending: Gauge::default(),
        oldest_pending_age: Gauge::default(),
        followers: Gauge::default(),
        domain_blocks: Gauge::default(),
        websub: Gauge::default(),
    };
    registry.register("queue_pending", "Delivery jobs waiting in the queue (all instances)", gauges.pending.clone());
    registry.register(
        "queue_oldest_pending_age_seconds",
        "Age of the oldest pending delivery job, 0 when none is pending",
        gauges.oldest_pending_age.clone(),
    );
    registry.register("followers", "Followers of the account", gauges.followers.clone());
    registry.register("domain_blocks", "Blocked domains (herald block list)", gauges.domain_blocks.clone());
    registry.register(
        "websub_subscriptions",
        "Live WebSub subscriptions (a callback subscribed to a topic, lease not expired)",
        gauges.websub.clone(),
    );
    Metrics { registry, requests, cache_hits, cache_misses, renders, deliveries, gauges: Mutex::new(gauges) }
});

/// Counts an answered HTTP request (see [`route`] to look the route up
/// before the status is known).
pub fn request(route_name: &str, status: u16) {
    route(route_name).count(status);
}

/// Counts a lazily built document served from the cache.
pub fn cache_hit() {
    METRICS.cache_hits.inc();
}

/// Counts a lazily built document built from the database.
pub fn cache_miss() {
    METRICS.cache_misses.inc();
}

/// Counts a rebuild of the site snapshot.
pub fn snapshot_render() {
    METRICS.renders.inc();
}

/// Counts a delivery attempt's recorded outcome.
pub fn delivery(outcome: DeliveryOutcome) {
    METRICS.deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
}

/// Counts recorded delivery outcomes.
pub fn deliveries(outcomes: &[crate::store::Outcome]) {
    use crate::store::Outcome;
    for outcome in outcomes {
        delivery(match outcome {
            Outcome::Delivered { .. } => DeliveryOutcome::delivered,
            Outcome::Retry { .. } => DeliveryOutcome::retry,
            Outcome::Failed { .. } => DeliveryOutcome::failed,
            Outcome::Deferred { .. } => DeliveryOutcome::deferred,
        });
    }
}

/// What is read from the database at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scrape {
    /// Pending delivery jobs.
    pub pending: i64,
    /// Age of the oldest pending job, in seconds (0 when none).
    pub oldest_pending_age_seconds: f64,
    /// Followers.
    pub followers: i64,
    /// Blocked domains.
    pub domain_blocks: i64,
    /// Live WebSub subscriptions.
    pub websub_subscriptions: i64,
}

/// The whole exposition: the counters, and the gauges set from `scrape`.
pub fn encode(scrape: &Scrape) -> String {
    let mut out = String::new();
    // The gauges are shared by every server of the process: set and encode
    // under one lock so that two scrapes cannot interleave.
    let gauges = METRICS.gauges.lock().unwrap_or_else(|p| p.into_inner());
    gauges.pending.set(scrape.pending);
    gauges.oldest_pending_age.set(scrape.oldest_pending_age_seconds);
    gauges.followers.set(scrape.followers);
    gauges.domain_blocks.set(scrape.domain_blocks);
    gauges.websub.set(scrape.websub_subscriptions);
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        // Writing to a String cannot fail; keep what was written.
        tracing::error!(%error, "encoding the metrics failed");
    }
    drop(gauges);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_and_ends_with_eof() {
        request("/feed.atom", 200);
        delivery(DeliveryOutcome::retry);
        let text = encode(&Scrape {
            pending: 3,
            oldest_pending_age_seconds: 1.5,
            followers: 2,
            domain_blocks: 0,
            websub_subscriptions: 4,
        });
        for line in [
            "# TYPE herald_http_requests counter",
            "herald_http_requests_total{route=\"/feed.atom\",status=\"200\"}",
            "herald_deliveries_total{outcome=\"retry\"}",
            "herald_queue_pending 3",
            "herald_queue_oldest_pending_age_seconds 1.5",
            "herald_followers 2",
            "herald_websub_subscriptions 4",
            "# TYPE herald_cache_hits counter",
            "# TYPE herald_snapshot_renders counter",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// The value of one `herald_http_requests` series in `text`, 0 if absent.
    fn requests_in(text: &str, route: &str, status: u16) -> u64 {
        let series = format!("herald_http_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
        let values: Vec<u64> = text
            .lines()
            .filter_map(|line| line.strip_prefix(series.as_str()))
            .map(|value| value.parse().expect("a counter's value is an integer"))
            .collect();
        assert!(values.len() <= 1, "{series} is there twice in\n{text}");
        values.first().copied().unwrap_or(0)
    }

    #[test]
    fn requests_are_counted_by_route_and_status_whichever_way_they_are_kept() {
        let route = "/metrics-test/{key}";
        request(route, 200);
        let counts = |text: &str| [200, 304, 999].map(|status| requests_in(text, route, status));
        let before = counts(&encode(&Scrape::default()));
        // Looked up first, counted once answered, as `http::ops` does.
        self::route(route).count(304);
        request(route, 200);
        request(route, 200);
        // Beyond the statuses a slot counts: in the overflow family.
        request(route, 999);
        let after = counts(&encode(&Scrape::default()));
        assert_eq!(after, [before[0] + 2, before[1] + 1, before[2] + 1]);
    }

    #[test]
    fn routes_beyond_the_slots_are_still_counted_once_each() {
        let routes: Vec<String> = (0..ROUTE_SLOTS + 8).map(|n| format!("/slots-test/{n}")).collect();
        for route in &routes {
            request(route, 201);
        }
        request(&routes[0], 201);
        let text = encode(&Scrape::default());
        assert_eq!(requests_in(&text, &routes[0], 201), 2);
        for route in &routes[1..] {
            assert_eq!(requests_in(&text, route, 201), 1, "{route}");
        }
    }
}
