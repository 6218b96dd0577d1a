//! The delivery engine: drains the durable queue in `store`, so that no
//! slow or dead server can hold back the others.
//!
//! - **No head-of-line blocking.** Every job is its own task and frees its
//!   slot the moment it finishes; the dispatcher claims more jobs as slots
//!   free up. Up to `max_in_flight` requests are in flight overall.
//! - **Per host** (`host[:port]`), at most `per_host` requests at once over
//!   kept-alive connections (HTTP/2 where offered). A host that has not
//!   answered yet in this process gets a single probe until it does, so a
//!   dead host holds one slot, not `per_host`.
//! - **Circuit breaker per host.** A timeout or network error opens the
//!   host's circuit: its other jobs, in hand or in the database, are
//!   rescheduled to the end of the window without counting an attempt; then
//!   one probe goes out. The window is `circuit_open` and doubles with each
//!   failed probe, up to an hour. A dead server costs one timeout, not one
//!   per follower. (Mastodon opens a circuit per inbox after 10 failures
//!   for 60 s; per host is stronger, since a dead server's inboxes die
//!   together.)
//! - **Signing never stalls the runtime:** RSA signatures are made by a
//!   pool of signing threads, one per core.
//! - **Durable.** Jobs are claimed with a lock (`delivery_lock_seconds`);
//!   outcomes are recorded in batches. A killed process loses nothing: its
//!   claimed jobs come back when their lock expires. Only the requests in
//!   flight at the crash (and outcomes not yet written) can be delivered
//!   twice; receivers deduplicate activities by id.
//!
//! Outcomes (Mastodon's rules): 2xx delivered; 410 Gone drops the followers
//! behind that inbox; 401, 408, 429, 5xx, timeouts and network errors are
//! retried; any other 4xx is permanent. Attempt n waits n⁴ + 15 s plus up to n⁴/2 of
//! random jitter (so a recovered host is not hit by every retry at once), or
//! the server's `Retry-After` if longer. A host whose deliveries failed on 7
//! different days (Mastodon's rule) is unavailable: its jobs are dropped
//! until a delivery succeeds or it sends us an activity.
//!
//! | attempt | wait (before jitter) | covers an outage of   |
//! |--------:|---------------------:|----------------------:|
//! | 1       | 16 s                 | a restart             |
//! | 4       | 4.5 min              | a deploy              |
//! | 8       | 68 min               | an afternoon          |
//! | 12      | 5.8 h                | a night               |
//! | 16      | 18 h                 | about 2.8 days in all |

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_lc_rs::rsa::KeyPair;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use url::Url;

use super::client::{Client, Delivered, SignedHeaders};
use super::signature;
use crate::config::DeliverySettings;
use crate::store::{HostHealth, Job, JobKind, Outcome, Store};
use crate::websub;

/// The wait before attempt `attempt + 1`, after `attempt` failures: n⁴ + 15 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt).pow(4) + 15)
}

/// [`backoff`] plus `fraction` (0 to 1) of n⁴/2 seconds of jitter.
pub fn backoff_with_jitter(attempt: u32, fraction: f64) -> Duration {
    let spread = u64::from(attempt).pow(4) as f64 / 2.0;
    backoff(attempt) + Duration::from_secs_f64(spread * fraction.clamp(0.0, 1.0))
}

/// Hosts remembered while idle (whether they answered, their circuit) before
/// the idle ones are forgotten.
const MAX_IDLE_HOSTS: usize = 4096;

/// The longest a circuit stays open.
pub const MAX_CIRCUIT: TimeDelta = TimeDelta::hours(1);

/// How long `host`'s circuit opens after `opens` earlier failed probes.
pub fn circuit_window(base: TimeDelta, opens: i64) -> TimeDelta {
    let factor = 1_i32 << opens.clamp(0, 12);
    (base * factor).min(MAX_CIRCUIT)
}

/// Why a job waits: its host's circuit is open.
fn circuit_reason(host: &str, until: DateTime<Utc>) -> String {
    format!("{host} did not answer; its circuit is open until {until}")
}

/// `host[:port]` of an inbox: the unit of per-host limits and circuits.
pub fn host_key(url: &Url) -> String {
    signature::host_header(url)
}

/// A uniform random number in [0, 1).
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// The delivery engine of one process. [`Engine::run`] until aborted.
pub struct Engine {
    store: Store,
    client: Client,
    settings: DeliverySettings,
    /// Something was queued (a publish, a Follow): claim now.
    notify: Arc<Notify>,
    shared: Arc<Shared>,
    /// herald's WebSub hub, named in the `Link` header of distributions.
    hub: Option<Arc<str>>,
}

struct Shared {
    state: Mutex<State>,
    /// A job finished: a slot is free.
    finished: Notify,
    /// Threads that make the RSA signatures, one per core.
    signer: Signer,
    /// Retired keys that claimed jobs must be signed with, by row id.
    retired: Mutex<HashMap<i64, Arc<KeyPair>>>,
}

impl Shared {
    fn retired_key(&self, id: i64) -> Option<Arc<KeyPair>> {
        self.retired.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }
}

/// A signing job: runs on a signer thread, answers through its channel.
type SignTask = Box<dyn FnOnce() + Send>;

/// A pool of threads, one per core, that make RSA signatures off the async
/// runtime. Under load its threads never sleep between signatures, which
/// makes it cheaper than a `spawn_blocking` per request.
struct Signer {
    tasks: std::sync::mpsc::Sender<SignTask>,
}

impl Signer {
    fn new(threads: usize) -> Self {
        let (tasks, received) = std::sync::mpsc::channel::<SignTask>();
        let received = Arc::new(Mutex::new(received));
        for n in 0..threads {
            let received = received.clone();
            let spawned = std::thread::Builder::new().name(format!("herald-sign-{n}")).spawn(move || loop {
                let task = match received.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match task {
                    Ok(task) => task(),
                    // The engine is gone.
                    Err(_) => return,
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a signing thread");
            }
        }
        Self { tasks }
    }

    /// Signs a delivery of `body` to `inbox` with `key`, or `client`'s key.
    async fn sign(
        &self,
        client: &Client,
        key: Option<Arc<KeyPair>>,
        inbox: &Url,
        body: &Bytes,
    ) -> Result<SignedHeaders, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (client, inbox, body) = (client.clone(), inbox.clone(), body.clone());
        let task: SignTask = Box::new(move || {
            let digest = signature::digest(&body);
            let _ = reply.send(client.sign_delivery_with(key.as_deref(), &inbox, &digest).map_err(|e| e.to_string()));
        });
        self.tasks.send(task).map_err(|_| "the signing threads are gone".to_owned())?;
        answer.await.map_err(|_| "a signing thread failed".to_owned())?
    }
}

#[derive(Default)]
struct State {
    /// Requests being made.
    in_flight: usize,
    /// Jobs claimed and not finished (queued behind their host, or in
    /// flight), whose locks are extended while they wait.
    held: HashSet<i64>,
    hosts: HashMap<String, Host>,
    /// Hosts with queued jobs, in the order they get a turn.
    ready: VecDeque<String>,
}

impl State {
    /// Jobs in flight, plus those queued behind a host with a free slot.
    fn runnable(&self, per_host: usize) -> usize {
        self.in_flight
            + self
                .hosts
                .values()
                .map(|h| h.queue.len().min(h.limit(per_host).saturating_sub(h.in_flight)))
                .sum::<usize>()
    }
}

#[derive(Default)]
struct Host {
    /// `scheme://host[:port]/`, the prefix of its inboxes.
    origin: String,
    in_flight: usize,
    /// Answered in this process since its circuit last closed.
    proven: bool,
    /// Its circuit is open until then.
    open_until: Option<DateTime<Utc>>,
    /// Failed probes since it last answered (from the database).
    opens: i64,
    /// It has a row in `hosts` (failures on record), cleared by an answer.
    on_record: bool,
    /// Unavailable (failures on 7 days): its jobs are dropped.
    unavailable: Option<DateTime<Utc>>,
    queue: VecDeque<Job>,
}

impl Host {
    fn limit(&self, per_host: usize) -> usize {
        if self.proven {
            per_host
        } else {
            1
        }
    }
}

/// What an attempt says about its host.
enum HostSignal {
    /// It answered.
    Answered,
    /// It answered with an error status (429, 5xx): on record, circuit stays closed.
    Failing,
    /// No answer (timeout, network): open the circuit.
    Down,
    /// Nothing learnt (not sent).
    Nothing,
}

impl Engine {
    /// An engine over `store`, sending with `client`; `notify` wakes it.
    pub fn new(store: Store, client: Client, settings: DeliverySettings, notify: Arc<Notify>) -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            finished: Notify::new(),
            signer: Signer::new(cores),
            retired: Mutex::default(),
        });
        Self { store, client, settings, notify, shared, hub: None }
    }

    /// Names `hub` (herald's own WebSub hub) in the `Link` header of the
    /// WebSub distributions this engine sends.
    pub fn with_websub_hub(mut self, hub: &Url) -> Self {
        self.hub = Some(hub.as_str().into());
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims and delivers until the task is aborted (which aborts every
    /// request in flight; their jobs come back when their lock expires).
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Claims and delivers until `stop` resolves, then shuts down cleanly:
    /// claims nothing more, gives the requests in flight `shutdown_grace`
    /// to finish, writes every outcome, and hands the jobs it did not
    /// finish back to the queue, due at once (see [`Engine::drain`]).
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        use futures_util::FutureExt as _;
        let mut stop = std::pin::pin!(stop);
        let (outcomes, received) = mpsc::unbounded_channel();
        // Not aborted with the engine: it ends once the last outcome is written.
        let recorder = tokio::spawn(record_outcomes(self.store.clone(), received));
        let mut tasks = JoinSet::new();
        // Jobs that can start soon (in flight, or queued behind a host with a
        // free slot) are kept at the in-flight cap plus a backlog, so that a
        // freed slot finds a job without waiting for a claim. Jobs queued
        // behind a saturated or silent host do not count: they must not stop
        // the claiming of other hosts' jobs. They are bounded by `hard_cap`
        // (a few hundred bytes each; their locks are renewed while they wait).
        let cap = self.settings.max_in_flight + self.settings.max_in_flight / 2;
        let hard_cap = self.settings.max_in_flight.saturating_mul(16).max(cap);
        let batch = (self.settings.max_in_flight / 4).max(1);
        let renew_every =
            (self.settings.lock / 3).to_std().unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(200));
        let mut renewed = tokio::time::Instant::now();
        // Set when a claim found fewer due jobs than it had room for: the
        // next claim waits for news of new jobs, or a second, rather than
        // asking the database again after every finished job (with several
        // instances draining one queue, that was most of the asking).
        let recheck = renew_every.min(Duration::from_secs(1));
        let mut drained_until: Option<tokio::time::Instant> = None;
        loop {
            while tasks.try_join_next().is_some() {}
            if stop.as_mut().now_or_never().is_some() {
                break;
            }
            if renewed.elapsed() >= renew_every {
                self.renew_locks().await;
                renewed = tokio::time::Instant::now();
            }
            let queued = self.notify.notified();
            let finished = self.shared.finished.notified();
            let room = {
                let state = self.state();
                cap.saturating_sub(state.runnable(self.settings.per_host))
                    .min(hard_cap.saturating_sub(state.held.len()))
            };
            let mut full = false;
            let drained = drained_until.is_some_and(|until| tokio::time::Instant::now() < until);
            if room >= batch.min(cap) && !drained {
                match self.claim(room, &outcomes).await {
                    Ok(claimed) => {
                        full = claimed == room;
                        drained_until = (claimed < room).then(|| tokio::time::Instant::now() + recheck);
                    }
                    Err(error) => tracing::warn!(%error, "claiming deliveries failed"),
                }
            }
            self.dispatch(&mut tasks, &outcomes);
            if full {
                continue;
            }
            tokio::select! {
                () = queued => drained_until = None,
                () = finished => {}
                () = tokio::time::sleep(recheck) => {}
                () = stop.as_mut() => break,
            }
        }
        self.drain(tasks, outcomes, recorder).await;
    }

    /// The end of [`Engine::run_until`]: waits up to `shutdown_grace` for
    /// the requests in flight, aborts the rest, lets the recorder write
    /// every outcome, then releases the jobs still in hand (queued behind
    /// their host, or cut off) so that another instance takes them at once
    /// rather than after their lock. A job cut off between its answer and
    /// its outcome keeps its lock and comes back when it expires: delivered
    /// twice at worst, never lost.
    async fn drain(
        &self,
        mut tasks: JoinSet<()>,
        outcomes: mpsc::UnboundedSender<Outcome>,
        recorder: tokio::task::JoinHandle<()>,
    ) {
        let grace = self.settings.shutdown_grace;
        let in_flight = self.state().in_flight;
        tracing::info!(in_flight, grace_seconds = grace.as_secs(), "deliveries stopping: finishing those in flight");
        // Their locks must outlast the grace period.
        self.renew_locks().await;
        let finished = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(cut_off = tasks.len(), "deliveries still in flight after the grace period; cut off");
            tasks.shutdown().await;
        }
        let unfinished: Vec<i64> = {
            let mut state = self.state();
            for host in state.hosts.values_mut() {
                host.queue.clear();
            }
            state.held.drain().collect()
        };
        // The attempts' senders are gone with their tasks: the recorder
        // ends once it has written what they sent.
        drop(outcomes);
        if let Err(error) = recorder.await {
            tracing::error!(%error, "the outcome recorder failed");
        }
        if !unfinished.is_empty() {
            match self.store.release_deliveries(&unfinished, Utc::now()).await {
                Ok(released) => tracing::info!(released, "unfinished deliveries handed back to the queue"),
                Err(error) => {
                    tracing::warn!(%error, jobs = unfinished.len(), "could not release deliveries; they wait for their lock")
                }
            }
        }
    }

    /// Keeps the jobs in hand locked while they wait for a slot.
    async fn renew_locks(&self) {
        let ids: Vec<i64> = self.state().held.iter().copied().collect();
        if ids.is_empty() {
            return;
        }
        if let Err(error) = self.store.extend_locks(&ids, Utc::now() + self.settings.lock).await {
            tracing::warn!(%error, jobs = ids.len(), "could not extend the locks of claimed deliveries");
        }
    }

    /// Claims up to `room` due jobs and queues each behind its host; jobs of
    /// open-circuited or unavailable hosts are settled at once. Returns how
    /// many were claimed.
    async fn claim(
        &self,
        room: usize,
        outcomes: &mpsc::UnboundedSender<Outcome>,
    ) -> Result<usize, crate::error::StoreError> {
        let now = Utc::now();
        let jobs = self.store.claim_deliveries(now, self.settings.lock, room).await?;
        // Nothing below may fail and leave a claimed job out of hand.
        if jobs.is_empty() {
            return Ok(0);
        }
        let claimed = jobs.len();
        self.load_retired_keys(&jobs).await;
        // Few rows: only hosts with failures on record. The jobs are claimed
        // already: without this list they still go out, as if all were well.
        let health: HashMap<String, HostHealth> = match self.store.unhealthy_hosts().await {
            Ok(hosts) => hosts.into_iter().map(|h| (h.host.clone(), h)).collect(),
            Err(error) => {
                tracing::warn!(%error, "could not read the hosts' health");
                HashMap::new()
            }
        };
        let mut state = self.state();
        if state.hosts.len() > MAX_IDLE_HOSTS {
            // Forget idle hosts (they start again with a single probe).
            state.hosts.retain(|_, h| !h.queue.is_empty() || h.in_flight > 0 || h.open_until.is_some_and(|t| t > now));
        }
        for host in state.hosts.values_mut() {
            host.on_record = false;
        }
        for (key, h) in &health {
            let host = state.hosts.entry(key.clone()).or_default();
            host.on_record = true;
            host.opens = h.circuit_opens;
            host.unavailable = h.unavailable_since;
            if h.circuit_until.is_some_and(|t| t > now) {
                host.open_until = h.circuit_until;
                host.proven = false;
            }
        }
        for job in jobs {
            let Ok(inbox) = Url::parse(&job.inbox) else {
                let _ = outcomes.send(Outcome::Failed { id: job.id, status: None, error: "not a URL".into() });
                continue;
            };
            let key = host_key(&inbox);
            let host = state.hosts.entry(key.clone()).or_default();
            if host.origin.is_empty() {
                host.origin = format!("{}://{key}/", inbox.scheme());
            }
            if matches!(job.kind, JobKind::WebSub { subscription: None, .. }) {
                // Unsubscribed or expired since it was queued: not sent.
                let _ = outcomes.send(Outcome::Failed { id: job.id, status: None, error: "unsubscribed".into() });
                continue;
            }
            if let Some(since) = host.unavailable {
                let error =
                    format!("{key} is unavailable since {since} (failures on 7 days); skipped until it answers");
                let _ = outcomes.send(Outcome::Failed { id: job.id, status: None, error });
                continue;
            }
            if let Some(until) = host.open_until.filter(|t| *t > now) {
                let reason = circuit_reason(&key, until);
                let _ = outcomes.send(Outcome::Deferred { id: job.id, at: until, reason });
                continue;
            }
            let first = host.queue.is_empty();
            let id = job.id;
            host.queue.push_back(job);
            state.held.insert(id);
            if first {
                state.ready.push_back(key);
            }
        }
        Ok(claimed)
    }

    /// Loads the retired keys some claimed jobs are signed with (the Update
    /// that announces a key rotation).
    async fn load_retired_keys(&self, jobs: &[Job]) {
        // A job signed with a retired key announces a rotation (perhaps made
        // by another process): sign everything else with the new key, and
        // serve it, before the announcement reaches anyone who may then
        // fetch the actor.
        if jobs.iter().any(|j| j.signing_key.is_some()) {
            reload_key(&self.store, &self.client).await;
        }
        for id in jobs.iter().filter_map(|j| j.signing_key) {
            if self.shared.retired_key(id).is_some() {
                continue;
            }
            match self.store.actor_key_by_id(id).await {
                Ok(Some(stored)) => match super::keys::signing_key(&stored) {
                    Ok(pair) => {
                        self.shared.retired.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::new(pair));
                    }
                    Err(error) => tracing::error!(%error, id, "a retired key is unusable"),
                },
                Ok(None) => tracing::error!(id, "a retired key is missing"),
                Err(error) => tracing::warn!(%error, "could not read a retired key"),
            }
        }
    }

    /// Starts every queued job that has a free slot, overall and on its host.
    fn dispatch(&self, tasks: &mut JoinSet<()>, outcomes: &mpsc::UnboundedSender<Outcome>) {
        let per_host = self.settings.per_host;
        let mut state = self.state();
        let mut turns = state.ready.len();
        while turns > 0 && state.in_flight < self.settings.max_in_flight {
            turns -= 1;
            let Some(key) = state.ready.pop_front() else { break };
            let state_in_flight = state.in_flight;
            let Some(host) = state.hosts.get_mut(&key) else { continue };
            let free = host.limit(per_host).saturating_sub(host.in_flight);
            let take = free.min(host.queue.len()).min(self.settings.max_in_flight.saturating_sub(state_in_flight));
            let jobs: Vec<Job> = host.queue.drain(..take).collect();
            host.in_flight += jobs.len();
            let origin = host.origin.clone();
            let more = !host.queue.is_empty();
            state.in_flight += jobs.len();
            if more {
                // Its turn comes again when one of its requests finishes.
                state.ready.push_back(key.clone());
            }
            for job in jobs {
                let attempt = Attempt {
                    store: self.store.clone(),
                    client: self.client.clone(),
                    settings: self.settings.clone(),
                    shared: self.shared.clone(),
                    outcomes: outcomes.clone(),
                    key: key.clone(),
                    origin: origin.clone(),
                    hub: self.hub.clone(),
                };
                tasks.spawn(attempt.run(job));
            }
            if state.in_flight >= self.settings.max_in_flight {
                break;
            }
        }
    }
}

/// Makes `client` sign with the stored key if it changed (`herald key
/// rotate`, perhaps in another process).
pub async fn reload_key(store: &Store, client: &Client) {
    match store.actor_key().await {
        Ok(Some((key, _))) if key.public_pem != client.public_pem() => match client.set_key(&key) {
            Ok(()) => tracing::info!("signing with the rotated key"),
            Err(error) => tracing::error!(%error, "the stored actor key is unusable"),
        },
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not read the actor key"),
    }
}

/// One delivery, from signing to bookkeeping.
struct Attempt {
    store: Store,
    client: Client,
    settings: DeliverySettings,
    shared: Arc<Shared>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    key: String,
    origin: String,
    hub: Option<Arc<str>>,
}

impl Attempt {
    #[tracing::instrument(name = "delivery", skip_all, fields(job = job.id, inbox = %job.inbox, attempts = job.attempts))]
    async fn run(self, job: Job) {
        let (mut outcome, signal) = self.send(&job).await;
        let now = Utc::now();
        // Host bookkeeping first, so that its queued jobs see the verdict.
        let (deferred, open_until, on_record, opens) = {
            let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state.in_flight = state.in_flight.saturating_sub(1);
            state.held.remove(&job.id);
            let mut deferred = Vec::new();
            let mut open_until = None;
            let host = state.hosts.entry(self.key.clone()).or_default();
            host.in_flight = host.in_flight.saturating_sub(1);
            let on_record = host.on_record;
            let opens = host.opens;
            match signal {
                HostSignal::Answered => {
                    host.proven = true;
                    host.open_until = None;
                    host.opens = 0;
                    host.on_record = false;
                    host.unavailable = None;
                }
                HostSignal::Down => {
                    let until = now + circuit_window(self.settings.circuit_open, host.opens);
                    host.proven = false;
                    host.open_until = Some(until);
                    host.opens += 1;
                    host.on_record = true;
                    deferred.extend(host.queue.drain(..));
                    open_until = Some(until);
                }
                HostSignal::Failing => host.on_record = true,
                HostSignal::Nothing => {}
            }
            for job in &deferred {
                state.held.remove(&job.id);
            }
            (deferred, open_until, on_record, opens)
        };
        self.shared.finished.notify_one();
        if let Some(until) = open_until {
            if let Outcome::Retry { at, .. } = &mut outcome {
                *at = (*at).max(until);
            }
            tracing::info!(host = %self.key, %until, deferred = deferred.len(), opens = opens + 1, "circuit opened");
            let reason = circuit_reason(&self.key, until);
            for job in deferred {
                let _ = self.outcomes.send(Outcome::Deferred { id: job.id, at: until, reason: reason.clone() });
            }
        }
        if let Err(error) = self.host_records(&signal, on_record, open_until, now).await {
            tracing::warn!(%error, "host bookkeeping failed");
        }
        let _ = self.outcomes.send(outcome);
    }

    /// Writes what the attempt taught about the host: `open_until` is set
    /// when its circuit just opened.
    async fn host_records(
        &self,
        signal: &HostSignal,
        on_record: bool,
        open_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), crate::error::StoreError> {
        match signal {
            HostSignal::Answered if on_record => self.store.record_host_success(&self.key).await,
            HostSignal::Down | HostSignal::Failing => {
                if let Some(until) = open_until {
                    let reason = circuit_reason(&self.key, until);
                    let moved = self.store.defer_host(&self.origin, until, &reason).await?;
                    tracing::debug!(moved, "jobs of the host rescheduled");
                }
                if self.store.record_host_failure(&self.key, now, open_until).await? {
                    tracing::warn!(host = %self.key, "host marked unavailable after failures on 7 different days");
                }
                Ok(())
            }
            HostSignal::Answered | HostSignal::Nothing => Ok(()),
        }
    }

    /// Signs (off the runtime) and sends an activity, or sends a WebSub
    /// distribution or hub ping; classifies the answer.
    async fn send(&self, job: &Job) -> (Outcome, HostSignal) {
        let id = job.id;
        let failed = |status, error: String| Outcome::Failed { id, status, error };
        let Ok(inbox) = Url::parse(&job.inbox) else {
            return (failed(None, "not a URL".into()), HostSignal::Nothing);
        };
        let timeout = self.settings.request_timeout;
        let delivered = match &job.kind {
            JobKind::Activity => {
                let key = job.signing_key.and_then(|id| self.shared.retired_key(id));
                if job.signing_key.is_some() && key.is_none() {
                    return (
                        self.retry(job, None, None, "its retired signing key could not be read".into()),
                        HostSignal::Nothing,
                    );
                }
                let headers = match self.shared.signer.sign(&self.client, key, &inbox, &job.body).await {
                    Ok(headers) => headers,
                    Err(error) => {
                        return (self.retry(job, None, None, format!("not signed: {error}")), HostSignal::Nothing)
                    }
                };
                self.client.send_signed(&inbox, job.body.clone(), headers, timeout).await
            }
            JobKind::WebSub { topic, media_type, subscription } => {
                let Some(secret) = subscription else {
                    return (failed(None, "unsubscribed".into()), HostSignal::Nothing);
                };
                let headers =
                    websub::distribution_headers(self.hub.as_deref(), topic, media_type, secret.as_deref(), &job.body);
                self.client.send(&inbox, job.body.clone(), headers, timeout).await
            }
            JobKind::Ping => {
                let headers = vec![("content-type", websub::FORM.to_owned())];
                self.client.send(&inbox, job.body.clone(), headers, timeout).await
            }
        };
        self.classify(job, delivered).await
    }

    /// The outcome of an attempt from what the destination answered.
    async fn classify(&self, job: &Job, delivered: Delivered) -> (Outcome, HostSignal) {
        let id = job.id;
        let failed = |status, error: String| Outcome::Failed { id, status, error };
        match delivered {
            Delivered::Refused(error) => (failed(None, error), HostSignal::Nothing),
            Delivered::Timeout => {
                let error = format!("no answer within {} ms", self.settings.request_timeout.as_millis());
                (self.retry(job, None, None, error), HostSignal::Down)
            }
            Delivered::Network(error) => (self.retry(job, None, None, error), HostSignal::Down),
            Delivered::Status(status, _) if status.is_success() => {
                (Outcome::Delivered { id, status: status.as_u16() }, HostSignal::Answered)
            }
            Delivered::Status(StatusCode::GONE, _) => {
                self.gone(job).await;
                (failed(Some(410), "410 Gone".into()), HostSignal::Answered)
            }
            // Mastodon's `response_error_unsalvageable?`: 401 (a key being
            // rotated, a signature checked against a stale key), 408 and 429
            // are worth another try, like 5xx.
            Delivered::Status(status, retry_after)
                if matches!(
                    status,
                    StatusCode::UNAUTHORIZED | StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
                ) || status.is_server_error() =>
            {
                let outcome = self.retry(job, Some(status.as_u16()), retry_after, format!("answered {status}"));
                (outcome, HostSignal::Failing)
            }
            Delivered::Status(status, _) => {
                (failed(Some(status.as_u16()), format!("answered {status}; not retried")), HostSignal::Answered)
            }
        }
    }

    /// 410 Gone: the followers behind an inbox, or a WebSub subscription,
    /// are no more.
    async fn gone(&self, job: &Job) {
        match &job.kind {
            JobKind::Activity => match self.store.remove_followers_at(&job.inbox).await {
                Ok(removed) => tracing::info!(removed, "inbox is gone; its followers were removed"),
                Err(error) => tracing::warn!(%error, "could not remove the followers of a gone inbox"),
            },
            // WebSub §7: a subscriber answering 410 Gone ends its subscription.
            JobKind::WebSub { topic, .. } => match self.store.websub_unsubscribe(topic, &job.inbox).await {
                Ok(_) => tracing::info!(topic, "callback is gone; its subscription was removed"),
                Err(error) => tracing::warn!(%error, "could not remove the subscription of a gone callback"),
            },
            JobKind::Ping => {}
        }
    }

    /// A retry after the backoff with jitter (or `Retry-After`), or the end
    /// when attempts are used up.
    fn retry(&self, job: &Job, status: Option<u16>, retry_after: Option<Duration>, error: String) -> Outcome {
        let failures = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
        if failures >= self.settings.max_attempts {
            tracing::warn!(%error, "giving up after {failures} attempts");
            return Outcome::Failed { id: job.id, status, error };
        }
        let wait = backoff_with_jitter(failures, random_fraction()).max(retry_after.unwrap_or_default());
        let at = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::days(1));
        tracing::debug!(%error, ?wait, "will retry");
        Outcome::Retry { id: job.id, at, status, error }
    }
}

/// Writes outcomes in batches: whatever arrived while the previous batch
/// was being written goes in the next transaction.
async fn record_outcomes(store: Store, mut received: mpsc::UnboundedReceiver<Outcome>) {
    let mut batch = Vec::new();
    while let Some(first) = received.recv().await {
        batch.push(first);
        while batch.len() < 2048 {
            match received.try_recv() {
                Ok(outcome) => batch.push(outcome),
                Err(_) => break,
            }
        }
        for attempt in 1..=5 {
            match store.record_outcomes(&batch, Utc::now()).await {
                Ok(()) => {
                    crate::metrics::deliveries(&batch);
                    break;
                }
                Err(error) if attempt < 5 => {
                    tracing::warn!(%error, attempt, "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                // The jobs stay locked and are attempted again after the lock.
                Err(error) => tracing::error!(%error, jobs = batch.len(), "could not record delivery outcomes"),
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_grows_and_spans_more_than_two_days() {
        let waits: Vec<Duration> = (1..=16).map(backoff).collect();
        assert!(waits.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(waits[0], Duration::from_secs(16));
        let total: u64 = (1..16).map(|n| backoff(n).as_secs()).sum();
        assert!(total > 2 * 86_400, "{total}");
    }

    #[test]
    fn jitter_adds_at_most_half_of_n_to_the_fourth() {
        assert_eq!(backoff_with_jitter(4, 0.0), backoff(4));
        assert_eq!(backoff_with_jitter(4, 1.0), backoff(4) + Duration::from_secs(128));
        let samples: Vec<f64> = (0..100).map(|_| random_fraction()).collect();
        assert!(samples.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(samples.iter().any(|f| *f != samples[0]), "jitter is random");
    }

    #[test]
    fn circuit_windows_double_up_to_an_hour() {
        let base = TimeDelta::seconds(60);
        assert_eq!(circuit_window(base, 0), base);
        assert_eq!(circuit_window(base, 1), TimeDelta::seconds(120));
        assert_eq!(circuit_window(base, 10), MAX_CIRCUIT);
    }

    #[test]
    fn hosts_are_keyed_with_their_port() {
        assert_eq!(host_key(&Url::parse("http://127.0.0.5:8080/inbox").unwrap()), "127.0.0.5:8080");
        assert_eq!(host_key(&Url::parse("https://m.example/inbox").unwrap()), "m.example");
    }
}
