//! Building and running the server: `main` and the tests share this code.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};

use crate::federation::client::Client;
use crate::federation::delivery::{self, Engine};
use crate::federation::keys::StoredKey;
use crate::federation::outbox;

use crate::config::Settings;
use crate::http::cache::SiteCache;
use crate::http::{router, AppState};
use crate::publish;
use crate::store::{Chore, Store};

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    /// `/metrics`, when `server.metrics_bind` is set.
    metrics: Option<TcpListener>,
    state: AppState,
    watch: Option<Watch>,
}

/// A registered watcher on the content directory and its events.
struct Watch {
    dir: PathBuf,
    _debouncer: Debouncer<RecommendedWatcher>,
    events: mpsc::UnboundedReceiver<DebounceEventResult>,
}

impl Application {
    /// Connects the store, publishes the content directory when configured,
    /// renders the site and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let settings = Arc::new(settings);
        let store = Store::connect(&settings.database).await.context("opening the database")?;
        let key = ensure_actor_key(&store).await?;
        let client = Client::new(
            &key,
            settings.account.key_id(),
            settings.delivery.allow_private_addresses,
            settings.delivery.per_host,
        )
        .context("building the HTTP client (reading the actor key)")?;
        let deliveries = Arc::new(Notify::new());
        // Scheduled articles whose time came while herald was down go out
        // now, before the first render: a publish releases them itself.
        if settings.content.publish_on_start {
            let outcome = publish::publish_dir(
                &store,
                &settings.channel,
                &settings.account,
                &settings.content.dir,
                false,
                chrono::Utc::now(),
            )
            .await
            .context("publishing the content directory")?;
            for line in outcome.to_string().lines() {
                tracing::info!("{line}");
            }
        } else {
            let released = store
                .release_due(&outbox::activities(&settings.channel, &settings.account), chrono::Utc::now())
                .await
                .context("publishing the scheduled articles that are due")?;
            if !released.is_empty() {
                tracing::info!(released = %released.join(", "), "scheduled articles published at start");
            }
        }
        crate::federation::profile::announce_changes(&store, &settings, None, chrono::Utc::now())
            .await
            .context("queueing the account's profile changes to followers")?;
        let cache = Arc::new(
            SiteCache::build(store.clone(), settings.clone(), client.clone()).await.context("rendering the site")?,
        );
        let listener = TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| format!("binding {} (server.bind)", settings.server.bind))?;
        let metrics = match settings.server.metrics_bind {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.with_context(|| format!("binding {addr} (server.metrics_bind)"))?)
            }
            None => None,
        };
        let schedule = Arc::new(Notify::new());
        let state = AppState { store, settings, cache, client, deliveries, schedule, media: Arc::default() };
        Ok(Self { listener, metrics, state, watch: None })
    }

    /// Republish the content directory whenever a file in it changes. The
    /// watcher is registered before this returns, so no change made after
    /// it is missed.
    pub fn watch_content(mut self) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let dir = self.state.settings.content.dir.clone();
        let (tx, events) = mpsc::unbounded_channel();
        let mut debouncer = new_debouncer(Duration::from_millis(200), move |event| {
            // The receiver only goes away at shutdown.
            let _ = tx.send(event);
        })
        .context("starting the file watcher")?;
        debouncer
            .watcher()
            .watch(&dir, RecursiveMode::Recursive)
            .with_context(|| format!("watching {} (content.dir)", dir.display()))?;
        tracing::info!(dir = %dir.display(), "watching for changes");
        self.watch = Some(Watch { dir, _debouncer: debouncer, events });
        Ok(self)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address `/metrics` is served on, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// The state the handlers see (tests use its store and cache).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops cleanly: no new
    /// connections, no new delivery claims; open connections are drained
    /// and deliveries in flight get `federation.shutdown_grace_seconds` to
    /// finish and be recorded (the rest go back to the queue).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application { listener, metrics, state, watch } = self;
        // Tells the engine and the metrics listener that shutdown began (a
        // dropped sender, if serving fails, tells them too).
        let (stopping, stop) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            }
        };
        let poller = tokio::spawn(follow_changes(state.clone()));
        let watcher = watch.map(|watch| tokio::spawn(republish_on_change(state.clone(), watch)));
        let engine = tokio::spawn(
            Engine::new(
                state.store.clone(),
                state.client.clone(),
                state.settings.delivery.clone(),
                state.deliveries.clone(),
            )
            .with_websub_hub(&crate::websub::hub_url(&state.settings))
            .run_until(stopped()),
        );
        let metrics = metrics.map(|listener| {
            let app = crate::http::ops::metrics_router(state.store.clone());
            let stop = stopped();
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stop).await })
        });
        let maintenance = tokio::spawn(maintain(state.store.clone(), state.settings.clone()));
        let scheduler = tokio::spawn(release_scheduled(state.clone()));
        let served = axum::serve(listener, router(state.clone()))
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stopping.send(true);
            })
            .await;
        poller.abort();
        // The engine bounds its own drain by the grace period; the margin
        // covers writing the outcomes. Past it, a job cut off keeps its
        // lock and is retried when the lock expires.
        let mut engine = engine;
        let margin = state.settings.delivery.shutdown_grace + Duration::from_secs(5);
        if tokio::time::timeout(margin, &mut engine).await.is_err() {
            tracing::warn!("the delivery engine did not stop in time; cutting it off");
            engine.abort();
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        maintenance.abort();
        scheduler.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        state.store.close().await;
        served
    }
}

/// Generates the account's keypair on first start; afterwards it never
/// changes unless an operator rotates it.
async fn ensure_actor_key(store: &Store) -> anyhow::Result<StoredKey> {
    use anyhow::Context as _;
    if let Some((key, _)) = store.actor_key().await.context("reading the actor key")? {
        return Ok(key);
    }
    let key = tokio::task::spawn_blocking(crate::federation::keys::generate)
        .await
        .context("generating the actor key")?
        .context("generating the actor key")?;
    let (key, _) = store.ensure_actor_key(key, chrono::Utc::now()).await.context("storing the actor key")?;
    tracing::info!("generated the account's RSA-2048 keypair");
    Ok(key)
}

/// Picks up what other processes changed: on PostgreSQL from their
/// notifications, as they commit; on SQLite (or while PostgreSQL cannot
/// be listened to) by polling.
async fn follow_changes(state: AppState) {
    // A change made while herald was down (or by a process that has no hub
    // running, such as `herald publish`) is distributed now.
    distribute(&state).await;
    listen_for_changes(&state).await;
    poll_revisions(state).await;
}

/// Applies every instance's notifications; returns at once on SQLite, or
/// if listening cannot start at all (then polling takes over).
async fn listen_for_changes(state: &AppState) {
    use crate::store::Event;
    let mut events = match state.store.listen().await {
        Ok(Some(events)) => events,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other instances' changes; polling instead");
            return;
        }
    };
    // Whatever happened before listening started.
    site_changed(state, false).await;
    loop {
        match events.next().await {
            Ok(Event::Site) => site_changed(state, false).await,
            Ok(Event::Invalidated(invalidation)) => state.cache.apply(&invalidation),
            Ok(Event::Queued) => state.deliveries.notify_waiters(),
            Ok(Event::Missed) => {
                tracing::warn!("the database connection dropped: reading everything afresh");
                site_changed(state, true).await;
            }
            Err(error) => {
                tracing::warn!(%error, "lost the notification connection; retrying");
                tokio::time::sleep(state.settings.server.poll_interval).await;
            }
        }
    }
}

/// The site revision may have moved somewhere: rebuild if it did (or,
/// with `everything`, in any case), then use the current key and start
/// whatever deliveries were queued.
async fn site_changed(state: &AppState, everything: bool) {
    let rebuilt = if everything { state.cache.rebuild().await.map(|()| true) } else { state.cache.refresh().await };
    match rebuilt {
        Ok(true) => {
            delivery::reload_key(&state.store, &state.client).await;
            distribute(state).await;
            state.deliveries.notify_waiters();
            state.schedule.notify_one();
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "could not check the store for changes"),
    }
}

/// Queues WebSub distributions of the topics that changed (once, whichever
/// instance gets there first).
async fn distribute(state: &AppState) {
    if let Err(error) = crate::websub::distribute_changes(&state.store, &state.settings, &state.cache).await {
        tracing::warn!(%error, "could not queue the websub distributions");
    }
}

/// Picks up publishes made by other processes: one tiny query per interval,
/// a rebuild only when the revision moved.
async fn poll_revisions(state: AppState) {
    let mut interval = tokio::time::interval(state.settings.server.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // A publish elsewhere may have queued deliveries: site_changed starts them.
        site_changed(&state, false).await;
    }
}

/// The longest the scheduler sleeps without looking at the database (a
/// safety net: site changes wake it at once).
const SCHEDULE_RECHECK: Duration = Duration::from_secs(60);

/// Publishes each scheduled article at its time: sleeps until the next
/// one is due (or the site changed, which may bring a sooner one), then
/// releases it. Every instance runs this; the store releases each article
/// once, whichever instance gets there first.
async fn release_scheduled(state: AppState) {
    let activities = outbox::activities(&state.settings.channel, &state.settings.account);
    loop {
        match state.store.release_due(&activities, chrono::Utc::now()).await {
            Ok(released) if !released.is_empty() => {
                tracing::info!(released = %released.join(", "), "scheduled articles published");
                site_changed(&state, false).await;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not publish the scheduled articles that are due"),
        }
        let wait = match state.store.next_release().await {
            Ok(Some(at)) => (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO).min(SCHEDULE_RECHECK),
            Ok(None) => SCHEDULE_RECHECK,
            Err(error) => {
                tracing::warn!(%error, "could not read the schedule");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.schedule.notified() => {}
        }
    }
}

/// Periodic upkeep, hourly and at start, by one instance at a time (the
/// others skip the round): deletes delivered and failed jobs past their
/// retention, expired WebSub subscriptions, and the bookkeeping rows nobody
/// needs any more (invalidations a day old, received activity ids past the
/// longest signature validity, the API's idempotency keys once expired).
async fn maintain(store: Store, settings: Arc<Settings>) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match store.exclusively(Chore::Maintenance, maintain_once(&store, &settings)).await {
            Ok(Some(())) => {}
            Ok(None) => tracing::debug!("another instance is doing the maintenance"),
            Err(error) => tracing::warn!(%error, "could not take the maintenance lock"),
        }
    }
}

/// One round of [`maintain`].
async fn maintain_once(store: &Store, settings: &Settings) {
    let now = chrono::Utc::now();
    let delivery = &settings.delivery;
    match store.purge_deliveries(now - delivery.keep_delivered, now - delivery.keep_failed).await {
        Ok((0, 0)) => {}
        Ok((delivered, failed)) => tracing::info!(delivered, failed, "deleted old delivery jobs"),
        Err(error) => tracing::warn!(%error, "could not delete old delivery jobs"),
    }
    match store.prune_websub_subscriptions(now).await {
        Ok(0) => {}
        Ok(expired) => tracing::info!(expired, "deleted expired websub subscriptions"),
        Err(error) => tracing::warn!(%error, "could not delete expired websub subscriptions"),
    }
    if let Err(error) = store.prune_bookkeeping(now).await {
        tracing::warn!(%error, "could not prune old bookkeeping rows");
    }
    if let Err(error) = store.prune_idempotency_keys(now - crate::api::IDEMPOTENCY_KEYS_EXPIRE).await {
        tracing::warn!(%error, "could not prune old idempotency keys");
    }
}

/// `serve --watch`: republish the content directory when its files change.
async fn republish_on_change(state: AppState, mut watch: Watch) {
    while let Some(event) = watch.events.recv().await {
        if let Err(error) = event {
            tracing::warn!(%error, "file watcher error");
            continue;
        }
        match publish::publish_dir(
            &state.store,
            &state.settings.channel,
            &state.settings.account,
            &watch.dir,
            false,
            chrono::Utc::now(),
        )
        .await
        {
            Ok(outcome) => {
                for line in outcome.to_string().lines() {
                    tracing::info!("{line}");
                }
                if outcome.changed() {
                    match state.cache.refresh().await {
                        Ok(true) => distribute(&state).await,
                        Ok(false) => {}
                        Err(error) => tracing::warn!(%error, "could not rebuild the site"),
                    }
                    state.deliveries.notify_waiters();
                }
            }
            Err(error) => tracing::error!(%error, "publish failed"),
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
