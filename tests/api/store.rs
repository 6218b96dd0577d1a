//! The store's own test suite, run on both backends.
//!
//! Each test body is written once, inside [`both_backends!`], as
//! `async fn name(store: Store)` (or `name(db: Db)` when it needs a second
//! handle on the same database, as a second instance would have). The macro
//! keeps the body as a plain function and adds a module of the same name
//! with two tests, `store::name::on_sqlite` (a fresh SQLite file in a
//! temporary directory) and `store::name::on_postgres` (a fresh database in
//! the throwaway cluster of `HERALD_TEST_POSTGRES_URL`; skipped, loudly, when
//! there is none, and a failure under `CI=true`: see [`crate::pg`]). So
//! `cargo test --test api store::` runs everything and
//! `cargo test --test api ::on_postgres` one backend. (Test names are
//! module paths because `macro_rules!` cannot make `name_on_sqlite`
//! identifiers without a proc-macro crate such as `paste`.)
//!
//! The tests go through `Store`'s public API only and assert behaviour: what
//! a caller can read back, never which rows or statements produced it. Times
//! are fixed (with a sub-second part, so that every stored time must keep
//! its microseconds), and nothing sleeps: concurrent work is coordinated with
//! channels and awaited with timeouts.
//!
//! A few tests need PostgreSQL and SQLite at once (`herald copy`, the schema
//! contract) and are plain tests at the end.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use herald::article::{Article, ArticleId, Slug, State, Tag};
use herald::config::{Channel, DatabaseSettings, Settings};
use herald::error::StoreError;
use herald::federation::blocks::Domain;
use herald::federation::keys::StoredKey;
use herald::media::{MediaPath, NewMedia};
use herald::store::MediaSource;
use herald::store::{
    Backend, Change, Chore, CopyProgress, CopyRefused, DeliveryState, Distribution, Event, Events, HostHealth,
    InteractionKind, InteractionTotals, Invalidation, JobKind, Outcome, Outgoing, RemoteActorRow, Store, Submission,
    Subscription, SyncReport, TrackedFile, KEEP_INVALIDATIONS, REMEMBER_RECEIVED, TABLES, UNAVAILABLE_AFTER_DAYS,
};
use pretty_assertions::assert_eq;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Writes each test once and runs it on both backends (see the module doc).
macro_rules! both_backends {
    ($($(#[$meta:meta])* async fn $name:ident($arg:ident: $ty:ty) $body:block)+) => {$(
        $(#[$meta])*
        async fn $name($arg: $ty) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::run(herald::store::Backend::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::run(herald::store::Backend::Postgres, super::$name).await;
            }
        }
    )+};
}

/// A fresh database on one backend, with what it takes to connect again.
#[derive(Clone)]
struct Db {
    store: Store,
    backend: Backend,
    settings: DatabaseSettings,
    _dir: Arc<TempDir>,
}

impl Db {
    /// A fresh, migrated database; `None` when PostgreSQL is asked for and
    /// there is no test cluster (the test is then skipped, loudly).
    async fn open(backend: Backend) -> Option<Db> {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres => crate::pg::fresh_database().await?,
        };
        let settings = DatabaseSettings { url, data_dir: dir.path().to_owned(), max_connections: 8 };
        let store = Store::connect(&settings).await.unwrap();
        assert_eq!(store.backend(), backend);
        Some(Db { store, backend, settings, _dir: Arc::new(dir) })
    }

    /// A second handle on the same database, as another instance has.
    async fn connect(&self) -> Store {
        Store::connect(&self.settings).await.unwrap()
    }
}

/// What a test body takes: the store, or the whole fixture.
trait Fixture {
    fn from_db(db: &Db) -> Self;
}

impl Fixture for Store {
    fn from_db(db: &Db) -> Self {
        db.store.clone()
    }
}

impl Fixture for Db {
    fn from_db(db: &Db) -> Self {
        db.clone()
    }
}

async fn run<T: Fixture, F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = Db::open(backend).await else { return };
    test(T::from_db(&db)).await;
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// The tests' clock: a fixed time with microseconds, mid-day (so that a few
/// hours later is still the same day).
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T09:00:00.123456Z").unwrap().with_timezone(&Utc)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

static CHANNEL: LazyLock<Channel> = LazyLock::new(|| Settings::load_with_env(None, Vec::new()).unwrap().channel);

/// Article `n`, parsed from a front-matter file by the crate's own parser.
fn article(n: u32, slug: &str, published: &str, tags: &[&str]) -> Article {
    let tags: Vec<String> = tags.iter().map(|t| format!("{t:?}")).collect();
    let text = format!(
        "+++\nid = \"urn:uuid:00000000-0000-4000-8000-{n:012}\"\nslug = \"{slug}\"\nkind = \"full\"\n\
         title = \"Article {n}\"\nsummary = \"Summary of article {n}.\"\nauthors = [\"La rédaction\"]\n\
         tags = [{}]\npublished = \"{published}\"\n+++\n\nThe body of article {n}.\n",
        tags.join(", ")
    );
    herald::content::parse_article(Path::new(&format!("{slug}.md")), &text, &CHANNEL).unwrap()
}

fn id(n: u32) -> ArticleId {
    ArticleId::parse(&format!("urn:uuid:00000000-0000-4000-8000-{n:012}")).unwrap()
}

fn slugs(articles: &[Article]) -> Vec<&str> {
    articles.iter().map(|a| a.slug.as_str()).collect()
}

/// A submission from a file; the slug doubles as the file name.
fn submission(article: &Article) -> Submission<'_> {
    Submission { article, source: Some(article.slug.as_str()) }
}

/// The federation side of a publish: records what it was asked to render
/// and renders one activity per change.
#[derive(Default)]
struct Federation {
    calls: Mutex<Vec<(Change, String, i64)>>,
}

impl Federation {
    fn activity(&self, change: Change, article: &Article, revision: i64) -> Option<Outgoing> {
        self.calls.lock().unwrap().push((change, article.slug.to_string(), revision));
        let id = activity_id(article, change, revision);
        let body = format!("{{\"id\":\"{id}\"}}");
        Some(Outgoing::new(id, "Create", Some(article.id.to_string()), body))
    }

    /// The calls since the last `take`.
    fn take(&self) -> Vec<(Change, String, i64)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

fn activity_id(article: &Article, change: Change, revision: i64) -> String {
    format!("{}#{change:?}-{revision}", article.id)
}

fn call(change: Change, slug: &str, revision: i64) -> (Change, String, i64) {
    (change, slug.to_owned(), revision)
}

async fn sync(store: &Store, fed: &Federation, articles: &[&Article], now: DateTime<Utc>) -> SyncReport {
    let submissions: Vec<Submission<'_>> = articles.iter().map(|a| submission(a)).collect();
    store
        .sync(&submissions, &|change, article: &Article, revision| fed.activity(change, article, revision), now)
        .await
        .unwrap()
}

async fn retract(store: &Store, fed: &Federation, ids: &[ArticleId], now: DateTime<Utc>) -> Vec<String> {
    store
        .retract(ids, &|change, article: &Article, revision| fed.activity(change, article, revision), now)
        .await
        .unwrap()
}

/// A remote actor on `host`; with `shared`, it has the host's shared inbox.
fn actor(host: &str, name: &str, shared: bool) -> RemoteActorRow {
    RemoteActorRow {
        id: format!("https://{host}/users/{name}"),
        inbox: format!("https://{host}/users/{name}/inbox"),
        shared_inbox: shared.then(|| format!("https://{host}/inbox")),
        key_id: format!("https://{host}/users/{name}#main-key"),
        public_pem: format!("-----BEGIN PUBLIC KEY-----\n{name}\n-----END PUBLIC KEY-----\n"),
        fetched_at: t0(),
    }
}

fn activity(id: &str) -> Outgoing {
    Outgoing::new(id.to_owned(), "Create", None, format!("{{\"id\":\"{id}\"}}"))
}

fn accept(id: &str) -> Outgoing {
    Outgoing::new(id.to_owned(), "Accept", None, format!("{{\"id\":\"{id}\",\"type\":\"Accept\"}}"))
}

/// Any PEM will do: the store does not parse keys.
fn key(name: &str) -> StoredKey {
    StoredKey {
        private_pem: format!("-----BEGIN PRIVATE KEY-----\n{name}\n-----END PRIVATE KEY-----\n"),
        public_pem: format!("-----BEGIN PUBLIC KEY-----\n{name}\n-----END PUBLIC KEY-----\n"),
    }
}

const LOCK: TimeDelta = TimeDelta::seconds(60);

/// Ids of the jobs in `jobs`, sorted.
fn ids(jobs: &[herald::store::Job]) -> Vec<i64> {
    let mut ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    ids.sort_unstable();
    ids
}

/// The only job of `inbox`.
async fn job_at(store: &Store, inbox: &str) -> herald::store::JobRow {
    let mut jobs = store.inbox_jobs(inbox, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "{inbox}: {jobs:?}");
    jobs.remove(0)
}

/// How many jobs `inbox` has.
async fn store_jobs(store: &Store, inbox: &str) -> usize {
    store.inbox_jobs(inbox, 1000).await.unwrap().len()
}

/// The next event, within a few seconds.
async fn next_event(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("no notification within 5 s").unwrap()
}

// ---------------------------------------------------------------------------
// Articles
// ---------------------------------------------------------------------------

both_backends! {
    /// New articles are stored as submitted, and the published ones are
    /// queued to every follower inbox in the same call.
    async fn sync_creates_articles_and_queues_them_to_followers(store: Store) {
        let now = t0();
        let followers =
            [actor("a.example", "alice", true), actor("a.example", "bob", true), actor("b.example", "carol", false)];
        store.import_followers(&followers, now).await.unwrap();
        let before = store.site_state().await.unwrap();
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &["mali", "sahel"]);
        let mut two = article(2, "second-article", "2024-08-02T08:00:00Z", &["mali"]);
        two.state = State::Retracted;

        let report = sync(&store, &fed, &[&one, &two], now).await;

        assert_eq!(report.created, ["first-article", "second-article"]);
        assert!(report.updated.is_empty() && report.retracted.is_empty() && report.conflicts.is_empty(), "{report:?}");
        assert_eq!(report.unchanged, 0);
        assert!(report.changed());
        // Only the published one is federated, as revision 1.
        assert_eq!(fed.take(), [call(Change::Created, "first-article", 1)]);
        assert_eq!(store.activity_count().await.unwrap(), 1);
        let status = store.queue_status(now).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (2, 0, 0), "one job per distinct inbox");
        for inbox in ["https://a.example/inbox", "https://b.example/users/carol/inbox"] {
            assert_eq!(job_at(&store, inbox).await.activity_id, activity_id(&one, Change::Created, 1));
        }
        // Stored as submitted.
        assert_eq!(store.article_by_id(&one.id).await.unwrap(), Some(one.clone()));
        assert_eq!(store.article_by_slug(&two.slug).await.unwrap(), Some(two.clone()));
        assert_eq!(store.latest_published(10).await.unwrap(), vec![one.clone()]);
        assert_eq!(store.published_count().await.unwrap(), 1);
        assert_eq!(
            store.tracked_files().await.unwrap(),
            [TrackedFile { id: one.id.clone(), slug: "first-article".into(), source: "first-article".into() }]
        );
        let after = store.site_state().await.unwrap();
        assert_eq!(after.revision, before.revision + 1);
        assert_eq!(after.changed_at, now.trunc_subsecs(0));
    }

    /// Submitting what is stored changes nothing, not even the site revision;
    /// a new source file for the same article is remembered quietly.
    async fn sync_of_unchanged_articles_changes_nothing(store: Store) {
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&one], t0()).await;
        fed.take();
        let state = store.site_state().await.unwrap();

        let report = sync(&store, &fed, &[&one], t0() + secs(3600)).await;

        assert_eq!(report, SyncReport { unchanged: 1, ..SyncReport::default() });
        assert!(!report.changed());
        assert_eq!(fed.take(), []);
        assert_eq!(store.activity_count().await.unwrap(), 1);
        assert_eq!(store.site_state().await.unwrap(), state);
        assert_eq!(store.article_by_id(&one.id).await.unwrap(), Some(one.clone()));

        // The same article from another file.
        let moved = Submission { article: &one, source: Some("archive/first-article.md") };
        let report = store.sync(&[moved], &|c, a: &Article, r| fed.activity(c, a, r), t0() + secs(7200)).await.unwrap();
        assert_eq!(report.unchanged, 1);
        assert_eq!(store.tracked_files().await.unwrap()[0].source, "archive/first-article.md");
        assert_eq!(store.site_state().await.unwrap(), state);
        assert_eq!(fed.take(), []);
    }

    /// An edit is a new revision; `published` stays; `updated` moves to the
    /// publish time when the edit did not move it, and never goes back.
    async fn sync_edits_make_a_new_revision_and_move_updated_forward(store: Store) {
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&one], t0()).await;
        let revision = store.site_state().await.unwrap().revision;

        // An edit that leaves `updated` alone.
        let mut edited = one.clone();
        edited.title = "Edited title".into();
        let t1 = t0() + secs(3600);
        let report = sync(&store, &fed, &[&edited], t1).await;
        assert_eq!(report.updated, ["first-article"]);
        assert!(report.created.is_empty() && report.retracted.is_empty(), "{report:?}");
        let stored = store.article_by_id(&one.id).await.unwrap().unwrap();
        assert_eq!(stored.title, "Edited title");
        assert_eq!(stored.published, one.published);
        assert_eq!(stored.updated, t1.trunc_subsecs(0));
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1);

        // The same file again: unchanged, although the stored `updated` moved.
        let report = sync(&store, &fed, &[&edited], t1 + secs(60)).await;
        assert_eq!(report.unchanged, 1, "{report:?}");
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1);

        // An edit that moves `updated` itself keeps it.
        let mut again = stored.clone();
        again.summary = "A new summary.".into();
        again.updated = stored.updated + TimeDelta::days(1);
        sync(&store, &fed, &[&again], t1 + secs(3600)).await;
        let stored = store.article_by_id(&one.id).await.unwrap().unwrap();
        assert_eq!(stored, again);

        // An edit published "before" the stored `updated` (a clock behind):
        // `updated` still moves forward, by a second.
        let mut late = one.clone();
        late.title = "Third title".into();
        sync(&store, &fed, &[&late], t0()).await;
        let newest = store.article_by_id(&one.id).await.unwrap().unwrap();
        assert_eq!(newest.title, "Third title");
        assert_eq!(newest.updated, stored.updated + secs(1));
        assert_eq!(newest.published, one.published);

        assert_eq!(
            fed.take(),
            [
                call(Change::Created, "first-article", 1),
                call(Change::Updated, "first-article", 2),
                call(Change::Updated, "first-article", 3),
                call(Change::Updated, "first-article", 4),
            ]
        );
        assert_eq!(store.site_state().await.unwrap().revision, revision + 3);
    }

    /// `state = "retracted"` retracts; `"published"` brings the article back.
    async fn sync_retracts_and_republishes(store: Store) {
        store.import_followers(&[actor("a.example", "alice", false)], t0()).await.unwrap();
        let inbox = "https://a.example/users/alice/inbox";
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &["mali"]);
        sync(&store, &fed, &[&one], t0()).await;

        let mut gone = one.clone();
        gone.state = State::Retracted;
        let report = sync(&store, &fed, &[&gone], t0() + secs(60)).await;
        assert_eq!(report.retracted, ["first-article"]);
        assert!(report.updated.is_empty(), "{report:?}");
        assert_eq!(store.latest_published(10).await.unwrap(), []);
        assert_eq!(store.latest_published_with_tag(&Tag::parse("mali").unwrap(), 10).await.unwrap(), []);
        assert_eq!(store.published_count().await.unwrap(), 0);
        assert_eq!(store.tracked_files().await.unwrap(), []);
        assert_eq!(store.article_by_slug(&one.slug).await.unwrap().unwrap().state, State::Retracted);

        let report = sync(&store, &fed, &[&one], t0() + secs(120)).await;
        assert_eq!(report.updated, ["first-article"]);
        assert_eq!(store.latest_published(10).await.unwrap(), vec![one.clone()]);
        assert_eq!(store.published_count().await.unwrap(), 1);

        assert_eq!(
            fed.take(),
            [
                call(Change::Created, "first-article", 1),
                call(Change::Retracted, "first-article", 2),
                call(Change::Created, "first-article", 3),
            ]
        );
        let jobs: Vec<String> = store.inbox_jobs(inbox, 10).await.unwrap().into_iter().map(|j| j.activity_id).collect();
        assert_eq!(
            jobs,
            [
                activity_id(&one, Change::Created, 3),
                activity_id(&one, Change::Retracted, 2),
                activity_id(&one, Change::Created, 1),
            ]
        );
    }

    /// A slug owned by another article and a moved `published` are refused
    /// and reported; nothing of them is stored or sent; the rest goes in.
    async fn sync_refuses_conflicts_and_stores_nothing_for_them(store: Store) {
        store.import_followers(&[actor("a.example", "alice", false)], t0()).await.unwrap();
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &[]);
        let two = article(2, "second-article", "2024-08-02T08:00:00Z", &[]);
        sync(&store, &fed, &[&one, &two], t0()).await;
        fed.take();
        let jobs_before = store.queue_status(t0()).await.unwrap().pending;
        let revision = store.site_state().await.unwrap().revision;

        let thief = article(3, "first-article", "2024-08-03T08:00:00Z", &[]);
        let mut moved = two.clone();
        moved.published -= TimeDelta::days(1);
        moved.title = "Moved".into();
        let fresh = article(4, "fourth-article", "2024-08-04T08:00:00Z", &[]);
        let report = sync(&store, &fed, &[&thief, &moved, &fresh], t0() + secs(60)).await;

        assert_eq!(report.created, ["fourth-article"]);
        assert!(report.updated.is_empty() && report.retracted.is_empty(), "{report:?}");
        assert_eq!(report.conflicts.len(), 2, "{report:?}");
        assert_eq!((report.conflicts[0].field, report.conflicts[0].source.as_deref()), ("slug", Some("first-article")));
        assert!(report.conflicts[0].message.contains(one.id.as_str()), "{}", report.conflicts[0].message);
        assert_eq!(
            (report.conflicts[1].field, report.conflicts[1].source.as_deref()),
            ("published", Some("second-article"))
        );
        assert_eq!(store.article_by_id(&thief.id).await.unwrap(), None);
        assert_eq!(store.article_by_slug(&one.slug).await.unwrap(), Some(one.clone()));
        assert_eq!(store.article_by_id(&two.id).await.unwrap(), Some(two.clone()));
        assert_eq!(fed.take(), [call(Change::Created, "fourth-article", 1)]);
        assert_eq!(store.queue_status(t0()).await.unwrap().pending, jobs_before + 1);
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1);

        // A batch of conflicts only changes nothing.
        let state = store.site_state().await.unwrap();
        let report = sync(&store, &fed, &[&thief, &moved], t0() + secs(120)).await;
        assert_eq!(report.conflicts.len(), 2);
        assert!(!report.changed());
        assert_eq!(store.site_state().await.unwrap(), state);
        assert_eq!(fed.take(), []);
    }

    /// A sync is one transaction: when a statement fails half-way, nothing
    /// of the batch is stored or queued.
    async fn a_sync_that_fails_half_way_stores_nothing(store: Store) {
        store.import_followers(&[actor("a.example", "alice", false)], t0()).await.unwrap();
        let state = store.site_state().await.unwrap();
        let fed = Federation::default();
        let good = article(1, "good-article", "2024-08-01T08:00:00Z", &[]);
        let bad = article(2, "bad-article", "2024-08-02T08:00:00Z", &[]);
        // The second activity names a signing key that does not exist.
        let activities = |change, article: &Article, revision| {
            let mut outgoing = fed.activity(change, article, revision)?;
            if article.slug.as_str() == "bad-article" {
                outgoing.signing_key = Some(424_242);
            }
            Some(outgoing)
        };

        let result = store.sync(&[submission(&good), submission(&bad)], &activities, t0()).await;

        assert!(result.is_err(), "{result:?}");
        assert_eq!(store.article_by_id(&good.id).await.unwrap(), None);
        assert_eq!(store.published_count().await.unwrap(), 0);
        assert_eq!(store.activity_count().await.unwrap(), 0);
        assert_eq!(store.queue_status(t0()).await.unwrap().pending, 0);
        assert_eq!(store.site_state().await.unwrap(), state);
    }

    /// Two instances publishing the same files at once: each article is
    /// created once and federated once; the other instance finds it there.
    async fn two_instances_publishing_at_once_create_each_article_once(db: Db) {
        db.store.import_followers(&[actor("a.example", "alice", false)], t0()).await.unwrap();
        let other = db.connect().await;
        let fed = Federation::default();
        let articles: Vec<Article> =
            (1..=5).map(|n| article(n, &format!("article-{n}"), "2024-08-01T08:00:00Z", &[])).collect();
        let all: Vec<&Article> = articles.iter().collect();

        let (a, b) = tokio::join!(sync(&db.store, &fed, &all, t0()), sync(&other, &fed, &all, t0()));

        assert_eq!(a.created.len() + b.created.len(), 5, "{a:?} {b:?}");
        assert_eq!(a.unchanged + b.unchanged, 5, "{a:?} {b:?}");
        assert_eq!(fed.take().len(), 5);
        assert_eq!(store_jobs(&db.store, "https://a.example/users/alice/inbox").await, 5);
        assert_eq!(db.store.published_count().await.unwrap(), 5);
    }

    /// The published listings: newest first, paged, counted, by tag.
    async fn published_articles_are_listed_newest_first_paged_and_by_tag(store: Store) {
        let fed = Federation::default();
        let a1 = article(1, "a-one", "2024-01-01T08:00:00Z", &["mali"]);
        let a2 = article(2, "a-two", "2024-02-01T08:00:00Z", &["mali", "sahel"]);
        let a3 = article(3, "a-three", "2024-03-01T08:00:00Z", &["sahel"]);
        let mut a4 = article(4, "a-four", "2024-04-01T08:00:00Z", &["mali"]);
        a4.state = State::Retracted;
        let a5 = article(5, "a-five", "2024-05-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&a3, &a1, &a5, &a4, &a2], t0()).await;
        let mali = Tag::parse("mali").unwrap();
        let sahel = Tag::parse("sahel").unwrap();

        assert_eq!(slugs(&store.latest_published(10).await.unwrap()), ["a-five", "a-three", "a-two", "a-one"]);
        assert_eq!(slugs(&store.latest_published(2).await.unwrap()), ["a-five", "a-three"]);
        assert_eq!(slugs(&store.published_page(2, 1).await.unwrap()), ["a-three", "a-two"]);
        assert_eq!(slugs(&store.published_page(2, 3).await.unwrap()), ["a-one"]);
        assert_eq!(store.published_page(2, 4).await.unwrap(), []);
        assert_eq!(store.published_count().await.unwrap(), 4);
        assert_eq!(slugs(&store.latest_published_with_tag(&mali, 10).await.unwrap()), ["a-two", "a-one"]);
        assert_eq!(slugs(&store.latest_published_with_tag(&sahel, 1).await.unwrap()), ["a-three"]);
        assert_eq!(store.latest_published_with_tag(&Tag::parse("ukraine").unwrap(), 10).await.unwrap(), []);
        assert_eq!(store.article_by_slug(&Slug::parse("nowhere").unwrap()).await.unwrap(), None);
        assert_eq!(store.article_by_id(&id(99)).await.unwrap(), None);
        assert_eq!(store.article_by_id(&a4.id).await.unwrap(), Some(a4.clone()));
        let tracked: Vec<String> = store.tracked_files().await.unwrap().into_iter().map(|f| f.source).collect();
        assert_eq!(tracked, ["a-five", "a-one", "a-three", "a-two"], "published files, by source");

        // An edit replaces the tags.
        let mut retagged = a2.clone();
        retagged.tags = vec![Tag::parse("ukraine").unwrap()];
        sync(&store, &fed, &[&retagged], t0() + secs(60)).await;
        assert_eq!(slugs(&store.latest_published_with_tag(&mali, 10).await.unwrap()), ["a-one"]);
        assert_eq!(
            slugs(&store.latest_published_with_tag(&Tag::parse("ukraine").unwrap(), 10).await.unwrap()),
            ["a-two"]
        );
    }

    /// `retract` (publish --prune) retracts published articles once each.
    async fn retract_retracts_published_articles_once(store: Store) {
        store.import_followers(&[actor("a.example", "alice", false)], t0()).await.unwrap();
        let fed = Federation::default();
        let a1 = article(1, "a-one", "2024-01-01T08:00:00Z", &[]);
        let a2 = article(2, "a-two", "2024-02-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&a1, &a2], t0()).await;
        fed.take();
        let revision = store.site_state().await.unwrap().revision;

        let retracted = retract(&store, &fed, &[a1.id.clone(), id(99), a1.id.clone()], t0() + secs(60)).await;

        assert_eq!(retracted, ["a-one"]);
        assert_eq!(fed.take(), [call(Change::Retracted, "a-one", 2)]);
        assert_eq!(store.article_by_id(&a1.id).await.unwrap().unwrap().state, State::Retracted);
        assert_eq!(slugs(&store.latest_published(10).await.unwrap()), ["a-two"]);
        assert_eq!(store.tracked_files().await.unwrap().len(), 1);
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1);
        assert_eq!(store.inbox_jobs("https://a.example/users/alice/inbox", 10).await.unwrap().len(), 3);

        // Again: nothing left to retract, nothing changes.
        assert_eq!(retract(&store, &fed, std::slice::from_ref(&a1.id), t0() + secs(120)).await, Vec::<String>::new());
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1);
        assert_eq!(fed.take(), []);
    }

    /// An article retracted because its file disappeared (publish --prune)
    /// is published again when the file comes back as it was.
    async fn a_pruned_article_comes_back_with_its_file(store: Store) {
        let fed = Federation::default();
        let a1 = article(1, "a-one", "2024-01-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&a1], t0()).await;
        retract(&store, &fed, std::slice::from_ref(&a1.id), t0() + secs(60)).await;
        fed.take();

        let report = sync(&store, &fed, &[&a1], t0() + secs(120)).await;

        assert_eq!(report.updated, ["a-one"], "{report:?}");
        assert_eq!(slugs(&store.latest_published(10).await.unwrap()), ["a-one"]);
        assert_eq!(fed.take(), [call(Change::Created, "a-one", 3)]);
    }

    /// Every stored time keeps its microseconds, in values read back and in
    /// the comparisons and orderings the queries make.
    async fn times_keep_their_microseconds(store: Store) {
        let now = t0();
        // The later article has the smaller id: only `published` orders them.
        let early = article(2, "early", "2024-08-05T08:00:00.000001Z", &[]);
        let late = article(1, "late", "2024-08-05T08:00:00.000002Z", &[]);
        sync(&store, &Federation::default(), &[&early, &late], now).await;
        let listed = store.latest_published(10).await.unwrap();
        assert_eq!(slugs(&listed), ["late", "early"]);
        assert_eq!(listed[0].published.timestamp_subsec_micros(), 2);

        let inbox = "https://a.example/inbox";
        store.enqueue_to(&activity("x"), inbox, now).await.unwrap();
        assert_eq!(store.queue_status(now).await.unwrap().oldest_pending, Some(now));
        assert_eq!(job_at(&store, inbox).await.next_attempt_at, now);
        assert_eq!(store.claim_deliveries(now - TimeDelta::microseconds(1), LOCK, 10).await.unwrap(), []);
        let job = store.claim_delivery(now, LOCK).await.unwrap().unwrap();
        let at = now + TimeDelta::microseconds(1_500_001);
        store
            .record_outcomes(&[Outcome::Retry { id: job.id, at, status: None, error: "timeout".into() }], now)
            .await
            .unwrap();
        assert_eq!(job_at(&store, inbox).await.next_attempt_at, at);
        assert_eq!(store.claim_deliveries(at - TimeDelta::microseconds(1), LOCK, 10).await.unwrap(), []);
        assert_eq!(store.claim_deliveries(at, LOCK, 10).await.unwrap().len(), 1);

        let mut remote = actor("a.example", "alice", true);
        remote.fetched_at = now + TimeDelta::microseconds(7);
        store.cache_remote_actor(&remote).await.unwrap();
        assert_eq!(store.remote_actor(&remote.id).await.unwrap().unwrap().fetched_at, remote.fetched_at);

        let until = now + TimeDelta::microseconds(30_000_009);
        store.record_host_failure("a.example", now, Some(until)).await.unwrap();
        assert_eq!(store.host_health("a.example").await.unwrap().unwrap().circuit_until, Some(until));

        let (_, created) = store.ensure_actor_key(key("one"), now).await.unwrap();
        assert_eq!(created, now);
        assert_eq!(store.actor_key().await.unwrap().unwrap().1, now);
        assert_eq!(store.account_created().await.unwrap(), Some(now));
    }
}

// ---------------------------------------------------------------------------
// The delivery queue
// ---------------------------------------------------------------------------

both_backends! {
    /// One job per distinct inbox (a shared inbox once), never twice for an
    /// activity; `enqueue_to` sends to one inbox.
    async fn enqueue_makes_one_job_per_distinct_inbox(store: Store) {
        let now = t0();
        // Nobody follows yet: the activity is kept, no job.
        assert_eq!(store.enqueue_to_followers(&activity("a0"), now).await.unwrap(), 0);
        assert_eq!(store.activity_count().await.unwrap(), 1);
        let followers = [
            actor("a.example", "alice", true),
            actor("a.example", "bob", true),
            actor("b.example", "carol", false),
            actor("b.example", "dave", false),
        ];
        store.import_followers(&followers, now).await.unwrap();

        assert_eq!(store.enqueue_to_followers(&activity("a1"), now).await.unwrap(), 3);
        assert_eq!(store.enqueue_to_followers(&activity("a1"), now).await.unwrap(), 0, "the same activity again");
        for inbox in
            ["https://a.example/inbox", "https://b.example/users/carol/inbox", "https://b.example/users/dave/inbox"]
        {
            assert_eq!(job_at(&store, inbox).await.activity_id, "a1");
        }
        assert_eq!(store.inbox_jobs("https://a.example/users/alice/inbox", 10).await.unwrap(), []);

        store.enqueue_to(&accept("ac1"), "https://c.example/inbox", now).await.unwrap();
        store.enqueue_to(&accept("ac1"), "https://c.example/inbox", now).await.unwrap();
        assert_eq!(job_at(&store, "https://c.example/inbox").await.activity_id, "ac1");
        assert_eq!(store.activity_count().await.unwrap(), 3);
        let status = store.queue_status(now).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (4, 0, 0));

        let job = store.claim_delivery(now, LOCK).await.unwrap().unwrap();
        assert_eq!(job.body, "{\"id\":\"a1\"}");
        assert_eq!((job.attempts, job.signing_key), (0, None));
    }

    /// A claimed job is not claimed again until its lock expires (or as long
    /// as the lock is extended); a job whose worker died comes back.
    async fn claims_lock_jobs_until_the_lock_expires(store: Store) {
        let now = t0();
        let followers: Vec<RemoteActorRow> = (0..5).map(|n| actor(&format!("h{n}.example"), "a", false)).collect();
        store.import_followers(&followers, now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();

        let first = store.claim_deliveries(now, LOCK, 3).await.unwrap();
        assert_eq!(first.len(), 3);
        let rest = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert!(ids(&first).iter().all(|id| !ids(&rest).contains(id)));
        assert_eq!(store.claim_deliveries(now + LOCK - secs(1), LOCK, 10).await.unwrap(), []);
        assert_eq!(store.claim_delivery(now, LOCK).await.unwrap(), None);

        // The worker of `first` is still at it: its lock is extended.
        store.extend_locks(&ids(&first), now + LOCK * 3).await.unwrap();
        let expired = now + LOCK + secs(1);
        assert_eq!(ids(&store.claim_deliveries(expired, LOCK, 10).await.unwrap()), ids(&rest));
        assert_eq!(store.claim_deliveries(expired, LOCK, 10).await.unwrap(), []);
        // The extension runs out too: every job whose worker went away is due.
        let later = now + LOCK * 3 + secs(1);
        let again = store.claim_deliveries(later, LOCK, 10).await.unwrap();
        let mut every = [ids(&first), ids(&rest)].concat();
        every.sort_unstable();
        assert_eq!(ids(&again), every);
        assert!(again.iter().all(|j| j.attempts == 0), "a lost claim is not an attempt");
        let status = store.queue_status(later).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (5, 0, 0));
    }

    /// Each outcome does what it says to the job and to the counts.
    async fn outcomes_are_recorded(store: Store) {
        let now = t0();
        let followers: Vec<RemoteActorRow> = (0..4).map(|n| actor(&format!("h{n}.example"), "a", false)).collect();
        let inboxes: Vec<String> = followers.iter().map(|f| f.inbox.clone()).collect();
        store.import_followers(&followers, now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        let jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        let id_of = |inbox: &str| jobs.iter().find(|j| j.inbox == inbox).unwrap().id;
        let retry_at = now + TimeDelta::minutes(10);
        let deferred_until = now + TimeDelta::minutes(5);
        let recorded = now + secs(1);

        store
            .record_outcomes(
                &[
                    Outcome::Delivered { id: id_of(&inboxes[0]), status: 202 },
                    Outcome::Failed { id: id_of(&inboxes[1]), status: Some(410), error: "gone".into() },
                    Outcome::Retry { id: id_of(&inboxes[2]), at: retry_at, status: Some(503), error: "busy".into() },
                    Outcome::Deferred { id: id_of(&inboxes[3]), at: deferred_until, reason: "circuit open".into() },
                ],
                recorded,
            )
            .await
            .unwrap();

        let row = job_at(&store, &inboxes[0]).await;
        assert_eq!(
            (row.state, row.attempts, row.last_status, row.last_error),
            (DeliveryState::Delivered, 1, Some(202), None)
        );
        let row = job_at(&store, &inboxes[1]).await;
        assert_eq!(
            (row.state, row.attempts, row.last_status, row.last_error.as_deref()),
            (DeliveryState::Failed, 1, Some(410), Some("gone"))
        );
        let row = job_at(&store, &inboxes[2]).await;
        assert_eq!(
            (row.state, row.attempts, row.next_attempt_at, row.last_status, row.last_error.as_deref()),
            (DeliveryState::Pending, 1, retry_at, Some(503), Some("busy"))
        );
        let row = job_at(&store, &inboxes[3]).await;
        assert_eq!(
            (row.state, row.attempts, row.next_attempt_at, row.last_status, row.last_error.as_deref()),
            (DeliveryState::Pending, 0, deferred_until, None, Some("circuit open")),
            "a deferral is not an attempt"
        );
        let status = store.queue_status(recorded).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (2, 1, 1));

        // Each comes back at its time, not before.
        assert_eq!(store.claim_deliveries(deferred_until - secs(1), LOCK, 10).await.unwrap(), []);
        let deferred = store.claim_deliveries(deferred_until, TimeDelta::hours(1), 10).await.unwrap();
        assert_eq!((deferred.len(), deferred[0].inbox.as_str(), deferred[0].attempts), (1, inboxes[3].as_str(), 0));
        let retried = store.claim_deliveries(retry_at, LOCK, 10).await.unwrap();
        assert_eq!((retried.len(), retried[0].inbox.as_str(), retried[0].attempts), (1, inboxes[2].as_str(), 1));

        // A deferral keeps the error the job already has.
        let later = retry_at + secs(1);
        store
            .record_outcomes(&[Outcome::Deferred { id: retried[0].id, at: later, reason: "other".into() }], later)
            .await
            .unwrap();
        assert_eq!(job_at(&store, &inboxes[2]).await.last_error.as_deref(), Some("busy"));

        // The one-job wrappers.
        store.finish_delivery(deferred[0].id, false, Some(200), None, later).await.unwrap();
        assert_eq!(job_at(&store, &inboxes[3]).await.state, DeliveryState::Delivered);
        store.retry_delivery(retried[0].id, later + secs(60), None, "timeout", later).await.unwrap();
        let row = job_at(&store, &inboxes[2]).await;
        assert_eq!(
            (row.attempts, row.last_error.as_deref(), row.next_attempt_at),
            (2, Some("timeout"), later + secs(60))
        );
        store.finish_delivery(retried[0].id, true, None, Some("gave up"), later).await.unwrap();
        let row = job_at(&store, &inboxes[2]).await;
        assert_eq!((row.state, row.attempts, row.last_error.as_deref()), (DeliveryState::Failed, 3, Some("gave up")));
        let status = store.queue_status(later).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed, status.oldest_pending), (0, 2, 2, None));
    }

    /// `queue --retry-now` makes waiting jobs due, and leaves jobs a worker
    /// holds alone until their lock expires.
    async fn retry_all_now_makes_waiting_jobs_due_but_not_claimed_ones(store: Store) {
        let now = t0();
        let followers: Vec<RemoteActorRow> = (0..4).map(|n| actor(&format!("h{n}.example"), "a", false)).collect();
        store.import_followers(&followers, now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        let held = store.claim_deliveries(now, LOCK, 3).await.unwrap();
        // One of them is put back for an hour.
        let waiting = held[2].id;
        store
            .record_outcomes(
                &[Outcome::Retry { id: waiting, at: now + TimeDelta::hours(1), status: None, error: "timeout".into() }],
                now,
            )
            .await
            .unwrap();

        assert_eq!(store.retry_all_now(now).await.unwrap(), 2, "the unclaimed job and the waiting one");
        let due = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert!(due.iter().any(|j| j.id == waiting));
        assert!(due.iter().all(|j| j.id != held[0].id && j.id != held[1].id));

        // Once every lock has expired, all four.
        assert_eq!(store.retry_all_now(now + LOCK * 2).await.unwrap(), 4);
        assert_eq!(store.claim_deliveries(now + LOCK * 2, LOCK, 10).await.unwrap().len(), 4);
    }

    /// `herald queue`: counts, the oldest pending job, the inboxes with
    /// most undelivered jobs, and one inbox's jobs newest first.
    async fn queue_status_and_inbox_jobs_describe_the_backlog(store: Store) {
        let t1 = t0();
        let followers = [
            actor("s.example", "a", true),
            actor("s.example", "b", true),
            actor("b.example", "b", false),
            actor("c.example", "c", false),
        ];
        store.import_followers(&followers, t1).await.unwrap();
        let (shared, b, c) =
            ("https://s.example/inbox", "https://b.example/users/b/inbox", "https://c.example/users/c/inbox");
        for (n, id) in ["a1", "a2", "a3"].into_iter().enumerate() {
            store.enqueue_to_followers(&activity(id), t1 + secs(i64::try_from(n).unwrap() * 60)).await.unwrap();
        }
        store.enqueue_to(&activity("extra"), b, t1 + secs(600)).await.unwrap();
        let later = t1 + secs(900);
        let jobs = store.claim_deliveries(later, LOCK, 100).await.unwrap();
        assert_eq!(jobs.len(), 10);
        // One of c's jobs is refused first; every other one then fails.
        let refused = jobs.iter().find(|j| j.inbox == c).unwrap().id;
        let failure = Outcome::Failed { id: refused, status: Some(400), error: "answered 400".into() };
        store.record_outcomes(&[failure], later - secs(1)).await.unwrap();
        let mut outcomes = Vec::new();
        for job in jobs.iter().filter(|j| j.id != refused) {
            if job.inbox == shared {
                outcomes.push(Outcome::Delivered { id: job.id, status: 202 });
            } else {
                outcomes.push(Outcome::Retry {
                    id: job.id,
                    at: later,
                    status: Some(500),
                    error: "answered 500".into(),
                });
            }
        }
        store.record_outcomes(&outcomes, later).await.unwrap();

        let status = store.queue_status(later).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (6, 3, 1));
        assert_eq!(status.oldest_pending, Some(t1));
        let backlog: Vec<(&str, i64, i64, Option<&str>)> =
            status.inboxes.iter().map(|i| (i.inbox.as_str(), i.pending, i.failed, i.last_error.as_deref())).collect();
        assert_eq!(backlog, [(b, 4, 0, Some("answered 500")), (c, 2, 1, Some("answered 500"))]);
        assert_eq!(status.hosts, []);

        let newest: Vec<String> = store.inbox_jobs(b, 2).await.unwrap().into_iter().map(|j| j.activity_id).collect();
        assert_eq!(newest, ["extra", "a3"]);
        assert_eq!(store.inbox_jobs(b, 100).await.unwrap().len(), 4);
        assert_eq!(store.inbox_jobs(shared, 100).await.unwrap().len(), 3);
        assert_eq!(store.inbox_jobs("https://nowhere.example/inbox", 100).await.unwrap(), []);
    }

    /// `herald queue` shows each inbox's latest error, the one that says
    /// why it fails now.
    async fn queue_status_shows_each_inboxs_latest_error(store: Store) {
        let now = t0();
        let inbox = "https://a.example/inbox";
        store.enqueue_to(&activity("a1"), inbox, now).await.unwrap();
        store.enqueue_to(&activity("a2"), inbox, now).await.unwrap();
        let jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        let retry = |id, error: &str| Outcome::Retry { id, at: now + secs(600), status: None, error: error.into() };

        store.record_outcomes(&[retry(jobs[0].id, "timeout")], now + secs(1)).await.unwrap();
        store.record_outcomes(&[retry(jobs[1].id, "answered 503")], now + secs(2)).await.unwrap();

        let status = store.queue_status(now + secs(3)).await.unwrap();
        assert_eq!(status.inboxes.len(), 1);
        assert_eq!(status.inboxes[0].last_error.as_deref(), Some("answered 503"));
    }

    /// An open circuit postpones that host's pending jobs, and only them.
    async fn defer_host_postpones_the_pending_jobs_of_one_host(store: Store) {
        let now = t0();
        let followers = [
            actor("a.example", "x", false),
            actor("a.example", "y", false),
            actor("a.example.org", "z", false),
            actor("b.example", "w", false),
        ];
        store.import_followers(&followers, now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        let until = now + TimeDelta::hours(1);

        assert_eq!(store.defer_host("https://a.example/", until, "circuit open").await.unwrap(), 2);

        let due = store.claim_deliveries(now, TimeDelta::hours(2), 10).await.unwrap();
        let mut inboxes: Vec<&str> = due.iter().map(|j| j.inbox.as_str()).collect();
        inboxes.sort_unstable();
        assert_eq!(inboxes, ["https://a.example.org/users/z/inbox", "https://b.example/users/w/inbox"]);
        let row = job_at(&store, "https://a.example/users/x/inbox").await;
        assert_eq!((row.next_attempt_at, row.last_error.as_deref(), row.attempts), (until, Some("circuit open"), 0));
        // Only forward: an earlier deadline moves nothing.
        assert_eq!(store.defer_host("https://a.example/", now + TimeDelta::minutes(30), "again").await.unwrap(), 0);
        assert_eq!(store.claim_deliveries(until - secs(1), LOCK, 10).await.unwrap(), []);
        assert_eq!(store.claim_deliveries(until, LOCK, 10).await.unwrap().len(), 2);
    }

    /// Old delivered and failed jobs go; pending ones and activities stay.
    async fn purge_deliveries_deletes_old_finished_jobs_only(store: Store) {
        let now = t0();
        let followers: Vec<RemoteActorRow> = (0..4).map(|n| actor(&format!("h{n}.example"), "a", false)).collect();
        store.import_followers(&followers, now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        let jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        let day = TimeDelta::days(1);
        store.record_outcomes(&[Outcome::Delivered { id: jobs[0].id, status: 202 }], now).await.unwrap();
        store.record_outcomes(&[Outcome::Delivered { id: jobs[1].id, status: 202 }], now + day * 2).await.unwrap();
        store
            .record_outcomes(&[Outcome::Failed { id: jobs[2].id, status: None, error: "refused".into() }], now)
            .await
            .unwrap();

        assert_eq!(store.purge_deliveries(now + day, now - day).await.unwrap(), (1, 0));
        assert_eq!(store.purge_deliveries(now + day, now + secs(1)).await.unwrap(), (0, 1));
        assert_eq!(store.purge_deliveries(now + day, now + secs(1)).await.unwrap(), (0, 0));
        let status = store.queue_status(now).await.unwrap();
        assert_eq!((status.pending, status.delivered, status.failed), (1, 1, 0));
        // However old, a pending job is never purged.
        assert_eq!(store.purge_deliveries(now + day * 365, now + day * 365).await.unwrap(), (1, 0));
        assert_eq!(store.queue_status(now).await.unwrap().pending, 1);
        assert_eq!(store.activity_count().await.unwrap(), 1, "activities are the outbox's history");
    }

    /// Two instances claiming side by side: every job is claimed exactly once.
    async fn concurrent_claims_take_each_job_once(db: Db) {
        const JOBS: usize = 2000;
        let now = t0();
        let followers: Vec<RemoteActorRow> = (0..JOBS).map(|n| actor(&format!("h{n}.example"), "a", false)).collect();
        db.store.import_followers(&followers, now).await.unwrap();
        assert_eq!(db.store.enqueue_to_followers(&activity("a1"), now).await.unwrap(), 2000);
        let other = db.connect().await;

        let claim_all = |store: Store| {
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                // Bounded: at least one job per round until the queue is empty.
                for _ in 0..=JOBS {
                    let jobs = store.claim_deliveries(now, LOCK, 25).await.unwrap();
                    if jobs.is_empty() {
                        break;
                    }
                    claimed.extend(jobs.iter().map(|j| j.id));
                }
                claimed
            })
        };
        let (a, b) = tokio::join!(claim_all(db.store.clone()), claim_all(other.clone()));
        let (a, b) = (a.unwrap(), b.unwrap());

        eprintln!("claims: {} by the first instance, {} by the second", a.len(), b.len());
        let mut all: Vec<i64> = a.into_iter().chain(b).collect();
        let claims = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), claims, "a job was claimed twice");
        assert_eq!(claims, JOBS);
        assert_eq!(other.claim_deliveries(now, LOCK, 10).await.unwrap(), []);
        assert_eq!(db.store.queue_status(now).await.unwrap().pending, 2000);
    }
}

// ---------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------

both_backends! {
    /// Failures on distinct days add up; on the seventh day the host is
    /// unavailable; an answer forgets everything.
    async fn host_failures_on_distinct_days_make_a_host_unavailable(store: Store) {
        let host = "down.example";
        let day = |n: usize| t0() + TimeDelta::days(i64::try_from(n).unwrap());
        assert_eq!(store.host_health(host).await.unwrap(), None);
        for n in 0..UNAVAILABLE_AFTER_DAYS - 1 {
            assert!(!store.record_host_failure(host, day(n), None).await.unwrap());
            assert!(!store.record_host_failure(host, day(n) + secs(3600), None).await.unwrap(), "same day");
        }
        let health = store.host_health(host).await.unwrap().unwrap();
        assert_eq!(
            health,
            HostHealth {
                host: host.into(),
                failure_days: UNAVAILABLE_AFTER_DAYS - 1,
                unavailable_since: None,
                circuit_until: None,
                circuit_opens: 0,
            }
        );
        assert_eq!(store.queue_status(day(6)).await.unwrap().hosts, [], "failing, not unavailable yet");

        let last = day(UNAVAILABLE_AFTER_DAYS - 1);
        assert!(store.record_host_failure(host, last, None).await.unwrap());
        assert!(store.record_host_failure(host, last + TimeDelta::days(1), None).await.unwrap());
        let health = store.host_health(host).await.unwrap().unwrap();
        assert_eq!(health.failure_days, UNAVAILABLE_AFTER_DAYS + 1);
        assert_eq!(health.unavailable_since, Some(last), "since the day it became unavailable");
        assert_eq!(store.unhealthy_hosts().await.unwrap(), vec![health.clone()]);
        assert_eq!(store.queue_status(last).await.unwrap().hosts, [health]);

        store.record_host_success(host).await.unwrap();
        assert_eq!(store.host_health(host).await.unwrap(), None);
        assert_eq!(store.unhealthy_hosts().await.unwrap(), []);
        assert!(
            !store.record_host_failure(host, last + TimeDelta::days(2), None).await.unwrap(),
            "counting starts over"
        );
    }

    /// The circuit fields: opened until a time, counted, kept by failures
    /// that do not reopen it.
    async fn host_circuits_open_and_close(store: Store) {
        let now = t0();
        let host = "flaky.example";
        assert!(!store.record_host_failure(host, now, Some(now + secs(30))).await.unwrap());
        assert!(!store.record_host_failure(host, now + secs(10), None).await.unwrap());
        let health = store.host_health(host).await.unwrap().unwrap();
        assert_eq!((health.failure_days, health.circuit_until, health.circuit_opens), (1, Some(now + secs(30)), 1));
        store.record_host_failure(host, now + secs(40), Some(now + secs(100))).await.unwrap();
        let health = store.host_health(host).await.unwrap().unwrap();
        assert_eq!((health.failure_days, health.circuit_until, health.circuit_opens), (1, Some(now + secs(100)), 2));
        store.record_host_failure("another.example", now, None).await.unwrap();

        let hosts: Vec<String> = store.unhealthy_hosts().await.unwrap().into_iter().map(|h| h.host).collect();
        assert_eq!(hosts, ["another.example", host]);
        assert_eq!(store.queue_status(now + secs(50)).await.unwrap().hosts, [health], "its circuit is open");
        assert_eq!(store.queue_status(now + secs(200)).await.unwrap().hosts, [], "closed again, still available");

        store.record_host_success(host).await.unwrap();
        store.record_host_success("never-failed.example").await.unwrap();
        let hosts: Vec<String> = store.unhealthy_hosts().await.unwrap().into_iter().map(|h| h.host).collect();
        assert_eq!(hosts, ["another.example"]);
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

both_backends! {
    /// The first key stays; a rotation retires it (still found by id) and
    /// keeps the account's creation time.
    async fn actor_keys_are_kept_rotated_and_found_by_id(store: Store) {
        let t = t0();
        assert_eq!(store.actor_key().await.unwrap(), None);
        assert_eq!(store.account_created().await.unwrap(), None);
        assert_eq!(store.ensure_actor_key(key("one"), t).await.unwrap(), (key("one"), t));
        assert_eq!(store.ensure_actor_key(key("two"), t + secs(60)).await.unwrap(), (key("one"), t), "the first stays");
        assert_eq!(store.actor_key().await.unwrap(), Some((key("one"), t)));
        let revision = store.site_state().await.unwrap().revision;

        let t1 = t + TimeDelta::days(1);
        let first = store.rotate_actor_key(&key("two"), t1).await.unwrap().unwrap();
        assert_eq!(store.actor_key().await.unwrap(), Some((key("two"), t1)));
        assert_eq!(store.account_created().await.unwrap(), Some(t));
        assert_eq!(store.actor_key_by_id(first).await.unwrap(), Some(key("one")));
        assert_eq!(store.site_state().await.unwrap().revision, revision + 1, "servers pick the new key up");

        let t2 = t1 + TimeDelta::days(1);
        let second = store.rotate_actor_key(&key("three"), t2).await.unwrap().unwrap();
        assert_ne!(second, first);
        assert_eq!(store.actor_key_by_id(second).await.unwrap(), Some(key("two")));
        assert_eq!(store.actor_key_by_id(first).await.unwrap(), Some(key("one")));
        assert_eq!(store.actor_key_by_id(second + 1000).await.unwrap(), None);
        assert_eq!(store.ensure_actor_key(key("four"), t2).await.unwrap(), (key("three"), t2));
        assert_eq!(store.account_created().await.unwrap(), Some(t));

        // An activity signed with a retired key says so to its worker.
        let mut signed = activity("signed");
        signed.signing_key = Some(first);
        store.enqueue_to(&signed, "https://a.example/inbox", t2).await.unwrap();
        assert_eq!(store.claim_delivery(t2, LOCK).await.unwrap().unwrap().signing_key, Some(first));
    }

    /// A rotation with no key yet simply stores the first one.
    async fn rotating_without_a_key_stores_the_first_one(store: Store) {
        assert_eq!(store.rotate_actor_key(&key("one"), t0()).await.unwrap(), None);
        assert_eq!(store.actor_key().await.unwrap(), Some((key("one"), t0())));
        assert_eq!(store.ensure_actor_key(key("two"), t0()).await.unwrap().0, key("one"));
    }

    /// Two instances starting at once on an empty database: one key.
    async fn two_instances_ensuring_a_key_at_once_agree_on_one(db: Db) {
        let other = db.connect().await;
        let (a, b) = tokio::join!(db.store.ensure_actor_key(key("a"), t0()), other.ensure_actor_key(key("b"), t0()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b);
        assert_eq!(db.store.actor_key().await.unwrap(), Some(a));
        // Exactly one key row: a rotation retires it and finds no other.
        let retired = db.store.rotate_actor_key(&key("c"), t0() + secs(1)).await.unwrap().unwrap();
        let ids: Vec<i64> = (retired - 5..retired + 5).collect();
        let mut found = 0;
        for id in ids {
            if db.store.actor_key_by_id(id).await.unwrap().is_some() {
                found += 1;
            }
        }
        assert_eq!(found, 2, "the retired key and the new one");
    }
}

// ---------------------------------------------------------------------------
// Followers and remote actors
// ---------------------------------------------------------------------------

both_backends! {
    /// A fetched actor is cached, and a refetch replaces it.
    async fn remote_actors_are_cached_and_replaced(store: Store) {
        let mut alice = actor("a.example", "alice", true);
        assert_eq!(store.remote_actor(&alice.id).await.unwrap(), None);
        store.cache_remote_actor(&alice).await.unwrap();
        assert_eq!(store.remote_actor(&alice.id).await.unwrap(), Some(alice.clone()));

        alice.inbox = "https://a.example/new/inbox".into();
        alice.shared_inbox = None;
        alice.public_pem = "-----BEGIN PUBLIC KEY-----\nnew\n-----END PUBLIC KEY-----\n".into();
        alice.fetched_at += TimeDelta::hours(1);
        store.cache_remote_actor(&alice).await.unwrap();
        assert_eq!(store.remote_actor(&alice.id).await.unwrap(), Some(alice));
        assert_eq!(store.follower_count().await.unwrap(), 0, "a cached actor is no follower");
    }

    /// A Follow records the follower and queues the Accept to its own inbox;
    /// a repeated Follow updates it; an Undo must name the current Follow.
    async fn followers_are_added_updated_and_removed(store: Store) {
        let now = t0();
        let alice = actor("a.example", "alice", true);
        store.remember_activity("https://a.example/follows/1", &alice.id, "Follow", now).await.unwrap();
        store.add_follower(&alice, "https://a.example/follows/1", &accept("accept-1"), now).await.unwrap();

        assert_eq!(store.followers().await.unwrap(), [(alice.id.clone(), alice.inbox.clone())]);
        assert_eq!(store.follower_count().await.unwrap(), 1);
        let row = job_at(&store, &alice.inbox).await;
        assert_eq!((row.activity_id.as_str(), row.state), ("accept-1", DeliveryState::Pending));
        let job = store.claim_delivery(now, LOCK).await.unwrap().unwrap();
        assert_eq!(job.body, "{\"id\":\"accept-1\",\"type\":\"Accept\"}");

        let mut moved = alice.clone();
        moved.inbox = "https://a.example/users/alice/new-inbox".into();
        store.remember_activity("https://a.example/follows/2", &alice.id, "Follow", now).await.unwrap();
        store.add_follower(&moved, "https://a.example/follows/2", &accept("accept-2"), now).await.unwrap();
        assert_eq!(store.followers().await.unwrap(), [(alice.id.clone(), moved.inbox.clone())]);
        assert_eq!(store.follower_count().await.unwrap(), 1);
        assert_eq!(job_at(&store, &moved.inbox).await.activity_id, "accept-2");

        assert!(!store.remove_follow(&alice.id, "https://a.example/follows/1").await.unwrap(), "a stale Follow");
        assert_eq!(store.follower_count().await.unwrap(), 1);
        assert!(store.remove_follow(&alice.id, "https://a.example/follows/2").await.unwrap());
        assert_eq!(store.follower_count().await.unwrap(), 0);
        assert!(!store.remove_follower(&alice.id).await.unwrap());
        // The ended Follow's id is forgotten: the same id may follow again.
        assert!(store.remember_activity("https://a.example/follows/2", &alice.id, "Follow", now).await.unwrap());
        assert!(!store.remember_activity("https://a.example/follows/1", &alice.id, "Follow", now).await.unwrap());

        store.add_follower(&alice, "https://a.example/follows/3", &accept("accept-3"), now).await.unwrap();
        assert!(store.remove_follower(&alice.id).await.unwrap());
        assert_eq!(store.followers().await.unwrap(), []);
    }

    /// `add_follower` is one transaction: when the Accept cannot be queued,
    /// no follower is recorded (it would get our posts without ever being
    /// accepted).
    async fn a_follower_whose_accept_cannot_be_queued_is_not_recorded(store: Store) {
        let alice = actor("a.example", "alice", true);
        let mut broken = accept("accept-1");
        broken.signing_key = Some(424_242); // no such key

        let result = store.add_follower(&alice, "https://a.example/follows/1", &broken, t0()).await;

        assert!(result.is_err(), "{result:?}");
        assert_eq!(store.activity_count().await.unwrap(), 0);
        assert_eq!(store.followers().await.unwrap(), []);
    }

    /// Imported followers get no Accept; an import never overwrites.
    async fn followers_are_imported_in_bulk(store: Store) {
        let now = t0();
        let (a, b, c) = (actor("a.example", "a", false), actor("s.example", "b", true), actor("s.example", "c", true));
        store.import_followers(&[a.clone(), b.clone(), c.clone()], now).await.unwrap();
        let mut a_moved = a.clone();
        a_moved.inbox = "https://a.example/elsewhere".into();
        let d = actor("d.example", "d", false);
        store.import_followers(&[a_moved, d.clone()], now).await.unwrap();

        assert_eq!(store.follower_count().await.unwrap(), 4);
        assert_eq!(
            store.followers().await.unwrap(),
            [
                (a.id.clone(), a.inbox.clone()),
                (d.id.clone(), d.inbox.clone()),
                (b.id.clone(), b.inbox.clone()),
                (c.id.clone(), c.inbox.clone()),
            ]
        );
        assert_eq!(store.activity_count().await.unwrap(), 0);
        assert_eq!(store.queue_status(now).await.unwrap().pending, 0);

        assert_eq!(store.remove_followers_at(&a.inbox).await.unwrap(), 1);
        assert_eq!(store.remove_followers_at(&a.inbox).await.unwrap(), 0);
        assert_eq!(store.follower_count().await.unwrap(), 3);
    }

    /// A shared inbox that answers 410 Gone takes the followers reached
    /// through it along: deliveries go to the shared inbox, and that is the
    /// inbox the delivery worker passes.
    async fn followers_reached_through_a_gone_shared_inbox_are_removed(store: Store) {
        let now = t0();
        let (b, c, d) = (actor("s.example", "b", true), actor("s.example", "c", true), actor("d.example", "d", true));
        store.import_followers(&[b, c, d.clone()], now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        let gone = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        assert!(gone.iter().any(|j| j.inbox == "https://s.example/inbox"), "{gone:?}");

        assert_eq!(store.remove_followers_at("https://s.example/inbox").await.unwrap(), 2);
        assert_eq!(store.followers().await.unwrap(), [(d.id.clone(), d.inbox.clone())]);
    }
}

// ---------------------------------------------------------------------------
// Operations: domain blocks, released jobs, readiness, scrape numbers
// ---------------------------------------------------------------------------

both_backends! {
    /// See issue #10 (part 4): a block covers the domain and its subdomains.
    async fn blocking_a_domain_removes_its_followers_and_fails_its_pending_jobs(store: Store) {
        // Arrange: followers on the domain, a subdomain, a look-alike and elsewhere.
        let now = t0();
        let (on, sub, alike, other) = (
            actor("blocked.example", "a", true),
            actor("media.blocked.example", "b", false),
            actor("notblocked.example", "c", false),
            actor("ok.example", "d", false),
        );
        store.import_followers(&[on, sub, alike.clone(), other.clone()], now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();

        // Act
        let domain = Domain::parse("Blocked.Example").unwrap();
        let report = store.block_domain(&domain, now + secs(1)).await.unwrap();

        // Assert
        assert_eq!((report.added, report.followers_removed, report.jobs_failed), (true, 2, 2));
        let mut left: Vec<String> = store.followers().await.unwrap().into_iter().map(|(a, _)| a).collect();
        left.sort();
        assert_eq!(left, [alike.id.clone(), other.id.clone()]);
        let job = job_at(&store, "https://blocked.example/inbox").await;
        assert_eq!((job.state, job.last_error.as_deref()), (DeliveryState::Failed, Some(herald::store::BLOCKED)));
        assert_eq!(job_at(&store, &other.inbox).await.state, DeliveryState::Pending);
        assert!(store.is_blocked("blocked.example").await.unwrap());
        assert!(store.is_blocked("x.media.blocked.example:8443").await.unwrap());
        assert!(!store.is_blocked("notblocked.example").await.unwrap());
        assert!(!store.block_domain(&domain, now + secs(2)).await.unwrap().added, "blocking twice adds nothing");
        assert_eq!(store.blocked_domains().await.unwrap(), [(domain.clone(), now + secs(1))]);

        assert!(store.unblock_domain(&domain).await.unwrap());
        assert!(!store.unblock_domain(&domain).await.unwrap());
        assert!(!store.is_blocked("blocked.example").await.unwrap());
        assert!(store.blocked_domains().await.unwrap().is_empty());
    }

    async fn jobs_queued_to_a_blocked_domain_after_the_block_are_failed_when_claimed(store: Store) {
        let now = t0();
        store.block_domain(&Domain::parse("blocked.example").unwrap(), now).await.unwrap();
        store.enqueue_to(&accept("late"), "https://relay.blocked.example/inbox", now).await.unwrap();
        store.enqueue_to(&accept("fine"), "https://ok.example/inbox", now).await.unwrap();

        let claimed = store.claim_deliveries(now + secs(1), LOCK, 10).await.unwrap();

        assert_eq!(claimed.iter().map(|j| j.inbox.as_str()).collect::<Vec<_>>(), ["https://ok.example/inbox"]);
        let refused = job_at(&store, "https://relay.blocked.example/inbox").await;
        assert_eq!((refused.state, refused.last_error.as_deref()), (DeliveryState::Failed, Some("blocked")));
    }

    async fn released_jobs_are_due_at_once_and_finished_ones_stay_as_they_are(store: Store) {
        let now = t0();
        store.enqueue_to(&accept("x"), "https://a.example/inbox", now).await.unwrap();
        store.enqueue_to(&accept("y"), "https://b.example/inbox", now).await.unwrap();
        let jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        assert_eq!(jobs.len(), 2);
        store.record_outcomes(&[Outcome::Delivered { id: jobs[0].id, status: 202 }], now).await.unwrap();

        let released = store.release_deliveries(&ids(&jobs), now + secs(1)).await.unwrap();

        assert_eq!(released, 1, "only the unfinished job");
        let again = store.claim_deliveries(now + secs(1), LOCK, 10).await.unwrap();
        assert_eq!(ids(&again), [jobs[1].id], "due at once, not after its lock");
        assert_eq!(job_at(&store, &jobs[0].inbox).await.state, DeliveryState::Delivered);
    }

    async fn a_fresh_database_has_every_migration_and_scrape_numbers(store: Store) {
        assert_eq!(store.migrations_current().await.unwrap(), None);
        let now = t0();
        store.import_followers(&[actor("a.example", "a", false)], now).await.unwrap();
        store.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        store.websub_subscribe(&subscription("https://r.example/cb/1", None, now), None, now).await.unwrap();
        let mut expired = subscription("https://r.example/cb/2", None, now);
        expired.expires_at = now + secs(60);
        store.websub_subscribe(&expired, None, now).await.unwrap();

        let scrape = store.scrape(now + secs(90)).await.unwrap();

        assert_eq!((scrape.pending, scrape.followers, scrape.domain_blocks), (1, 1, 0));
        assert_eq!(scrape.websub_subscriptions, 1, "the expired subscription does not count");
        assert!((scrape.oldest_pending_age_seconds - 90.0).abs() < 0.01, "{scrape:?}");
    }
}

// ---------------------------------------------------------------------------
// Interactions
// ---------------------------------------------------------------------------

both_backends! {
    /// Likes, boosts and replies are recorded once per activity id and counted.
    async fn interactions_are_recorded_once_and_counted(store: Store) {
        let now = t0();
        let fed = Federation::default();
        let a1 = article(1, "a-one", "2024-01-01T08:00:00Z", &[]);
        let a2 = article(2, "a-two", "2024-02-01T08:00:00Z", &[]);
        sync(&store, &fed, &[&a1, &a2], now).await;
        let (one, two) = (a1.id.as_str(), a2.id.as_str());
        let (alice, bob) = ("https://a.example/users/alice", "https://b.example/users/bob");

        assert!(store
            .record_interaction("https://a.example/likes/1", one, InteractionKind::Like, alice, now)
            .await
            .unwrap());
        assert!(!store
            .record_interaction("https://a.example/likes/1", one, InteractionKind::Like, alice, now)
            .await
            .unwrap());
        assert!(store
            .record_interaction("https://b.example/boosts/1", one, InteractionKind::Announce, bob, now)
            .await
            .unwrap());
        assert!(store
            .record_interaction("https://a.example/notes/1", one, InteractionKind::Reply, alice, now)
            .await
            .unwrap());
        assert!(store
            .record_interaction("https://b.example/likes/2", one, InteractionKind::Like, bob, now)
            .await
            .unwrap());
        assert!(store
            .record_interaction("https://a.example/likes/3", two, InteractionKind::Like, alice, now)
            .await
            .unwrap());

        assert_eq!(
            store.interaction_by("https://a.example/likes/1", alice).await.unwrap(),
            Some((InteractionKind::Like, one.to_owned()))
        );
        assert_eq!(store.interaction_by("https://a.example/likes/1", bob).await.unwrap(), None, "someone else's");
        assert_eq!(
            store.interaction_counts(one).await.unwrap(),
            [("announce".to_owned(), 1), ("like".to_owned(), 2), ("reply".to_owned(), 1)]
        );
        assert_eq!(store.interaction_totals(one).await.unwrap(), InteractionTotals { likes: 2, shares: 1, replies: 1 });
        assert_eq!(store.interaction_totals("urn:uuid:nothing").await.unwrap(), InteractionTotals::default());
        assert_eq!(
            store.interaction_summary().await.unwrap(),
            [("a-one".to_owned(), 2, 1, 1), ("a-two".to_owned(), 1, 0, 0)]
        );
    }

    /// An Undo removes the interaction it names, or every matching one when
    /// it names an id herald never saw.
    async fn interactions_are_removed_by_id_or_all_at_once(store: Store) {
        let now = t0();
        let (one, two) =
            ("urn:uuid:00000000-0000-4000-8000-000000000001", "urn:uuid:00000000-0000-4000-8000-000000000002");
        let (alice, bob) = ("https://a.example/users/alice", "https://b.example/users/bob");
        let like = InteractionKind::Like;
        store.record_interaction("https://a.example/likes/1", one, like, alice, now).await.unwrap();
        store.record_interaction("https://a.example/likes/2", one, like, alice, now).await.unwrap();
        store.record_interaction("https://b.example/likes/3", one, like, bob, now).await.unwrap();
        store.record_interaction("https://a.example/likes/4", two, like, alice, now).await.unwrap();
        store
            .record_interaction("https://a.example/boosts/5", one, InteractionKind::Announce, alice, now)
            .await
            .unwrap();

        assert_eq!(store.remove_interaction(bob, like, one, Some("https://a.example/likes/1"), now).await.unwrap(), 0);
        assert_eq!(
            store.remove_interaction(alice, like, one, Some("https://a.example/likes/1"), now).await.unwrap(),
            1
        );
        assert_eq!(store.interaction_totals(one).await.unwrap().likes, 2);
        assert_eq!(
            store.remove_interaction(alice, like, one, None, now).await.unwrap(),
            1,
            "alice's other like of one"
        );
        assert_eq!(store.interaction_totals(one).await.unwrap(), InteractionTotals { likes: 1, shares: 1, replies: 0 });
        assert_eq!(store.interaction_totals(two).await.unwrap().likes, 1);
        assert_eq!(store.interaction_by("https://b.example/likes/3", bob).await.unwrap(), Some((like, one.to_owned())));
        // Once removed, the same activity id counts again.
        assert!(store.record_interaction("https://a.example/likes/1", one, like, alice, now).await.unwrap());
        assert_eq!(store.interaction_totals(one).await.unwrap().likes, 2);
    }
}

// ---------------------------------------------------------------------------
// Bookkeeping
// ---------------------------------------------------------------------------

both_backends! {
    /// Received activity ids: remembered once, forgotten on demand, pruned
    /// past the signature validity.
    async fn received_activities_are_remembered_forgotten_and_pruned(store: Store) {
        let now = t0();
        let alice = "https://a.example/users/alice";
        assert!(store.remember_activity("https://a.example/1", alice, "Like", now).await.unwrap());
        assert!(!store.remember_activity("https://a.example/1", alice, "Like", now).await.unwrap(), "a replay");
        store.forget_activity("https://a.example/1").await.unwrap();
        store.forget_activity("https://a.example/never").await.unwrap();
        assert!(store.remember_activity("https://a.example/1", alice, "Like", now).await.unwrap());
        assert!(store
            .remember_activity("https://a.example/2", alice, "Like", now + TimeDelta::hours(1))
            .await
            .unwrap());

        store.prune_bookkeeping(now + REMEMBER_RECEIVED + TimeDelta::minutes(30)).await.unwrap();

        assert!(store.remember_activity("https://a.example/1", alice, "Like", now).await.unwrap(), "pruned");
        assert!(!store.remember_activity("https://a.example/2", alice, "Like", now).await.unwrap(), "kept");
    }

    /// Every change of a cached document without a publish is one
    /// invalidation, in order; they are pruned after a day.
    async fn invalidations_record_followers_and_interactions(store: Store) {
        let now = t0();
        assert_eq!(store.last_invalidation().await.unwrap(), 0);
        assert_eq!(store.invalidations_since(0).await.unwrap(), []);

        store
            .add_follower(&actor("a.example", "alice", false), "https://a.example/f/1", &accept("ac-1"), now)
            .await
            .unwrap();
        let log = store.invalidations_since(0).await.unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        let (first, ref what) = log[0];
        assert_eq!(what, &Invalidation::Followers);
        assert_eq!(store.last_invalidation().await.unwrap(), first);

        let note = "urn:uuid:00000000-0000-4000-8000-000000000001";
        store
            .record_interaction(
                "https://a.example/likes/1",
                note,
                InteractionKind::Like,
                "https://a.example/users/alice",
                now,
            )
            .await
            .unwrap();
        store
            .record_interaction(
                "https://a.example/likes/1",
                note,
                InteractionKind::Like,
                "https://a.example/users/alice",
                now,
            )
            .await
            .unwrap();
        let log = store.invalidations_since(first).await.unwrap();
        assert_eq!(log.len(), 1, "the repeated like changes nothing: {log:?}");
        let (second, ref what) = log[0];
        assert!(second > first);
        assert_eq!(what, &Invalidation::Note(note.to_owned()));
        assert_eq!(store.invalidations_since(second).await.unwrap(), []);

        store.import_followers(&[actor("b.example", "bob", false)], now).await.unwrap();
        assert_eq!(
            store.remove_interaction("https://nobody.example", InteractionKind::Like, note, None, now).await.unwrap(),
            0
        );
        let kinds: Vec<Invalidation> =
            store.invalidations_since(0).await.unwrap().into_iter().map(|(_, i)| i).collect();
        assert_eq!(kinds, [Invalidation::Followers, Invalidation::Note(note.to_owned()), Invalidation::Followers]);
        let last = store.last_invalidation().await.unwrap();

        store.prune_bookkeeping(now + KEEP_INVALIDATIONS - secs(1)).await.unwrap();
        assert_eq!(store.invalidations_since(0).await.unwrap().len(), 3, "not a day old yet");
        store.prune_bookkeeping(now + KEEP_INVALIDATIONS + secs(1)).await.unwrap();
        assert_eq!(store.invalidations_since(0).await.unwrap(), []);

        // Numbers are never reused: a server that saw `last` sees the next one.
        let later = now + TimeDelta::days(2);
        store
            .record_interaction(
                "https://a.example/likes/2",
                note,
                InteractionKind::Like,
                "https://a.example/users/alice",
                later,
            )
            .await
            .unwrap();
        let log = store.invalidations_since(last).await.unwrap();
        assert_eq!(log.len(), 1);
        assert!(log[0].0 > last);
        assert_eq!(store.last_invalidation().await.unwrap(), log[0].0);
    }

    /// An account change is announced once per value; a first value is
    /// only stored unless asked for.
    async fn announce_once_announces_each_value_once(store: Store) {
        let now = t0();
        store.import_followers(&[actor("a.example", "a", false), actor("b.example", "b", false)], now).await.unwrap();
        assert_eq!(store.account_state("profile").await.unwrap(), None);

        assert_eq!(store.announce_once("profile", "v1", false, &activity("update-1"), now).await.unwrap(), 0);
        assert_eq!(store.account_state("profile").await.unwrap().as_deref(), Some("v1"));
        assert_eq!(store.activity_count().await.unwrap(), 0, "a first value is not announced");
        assert_eq!(store.announce_once("profile", "v1", false, &activity("update-1b"), now).await.unwrap(), 0);

        assert_eq!(store.announce_once("profile", "v2", false, &activity("update-2"), now).await.unwrap(), 2);
        assert_eq!(store.account_state("profile").await.unwrap().as_deref(), Some("v2"));
        assert_eq!(store.announce_once("profile", "v2", true, &activity("update-2b"), now).await.unwrap(), 0);
        assert_eq!(store.activity_count().await.unwrap(), 1);
        assert_eq!(store.queue_status(now).await.unwrap().pending, 2);

        assert_eq!(
            store.announce_once("moved", "https://x.example/new", true, &activity("move-1"), now).await.unwrap(),
            2
        );
        assert_eq!(store.account_state("moved").await.unwrap().as_deref(), Some("https://x.example/new"));
        assert_eq!(store.account_state("profile").await.unwrap().as_deref(), Some("v2"));
    }
}

both_backends! {
    /// Two instances starting at once with a new profile announce it once.
    async fn two_instances_announce_a_change_once(db: Db) {
        db.store
            .import_followers(&[actor("a.example", "a", false), actor("b.example", "b", false)], t0())
            .await
            .unwrap();
        db.store.announce_once("profile", "v1", false, &activity("update-1"), t0()).await.unwrap();
        let other = db.connect().await;
        let (first, second) = (activity("update-2a"), activity("update-2b"));

        let (a, b) = tokio::join!(
            db.store.announce_once("profile", "v2", false, &first, t0()),
            other.announce_once("profile", "v2", false, &second, t0()),
        );

        assert_eq!(a.unwrap() + b.unwrap(), 2, "one announcement, to two inboxes");
        assert_eq!(db.store.activity_count().await.unwrap(), 1);
        assert_eq!(db.store.account_state("profile").await.unwrap().as_deref(), Some("v2"));
    }
}

// ---------------------------------------------------------------------------
// Chores, events, the handle itself
// ---------------------------------------------------------------------------

both_backends! {
    /// On PostgreSQL one instance at a time does a chore; the others skip
    /// it meanwhile. On SQLite (one machine) every process does it.
    async fn chores_run_on_one_instance_at_a_time(db: Db) {
        let other = db.connect().await;
        let (started_tx, started) = oneshot::channel();
        let (release, release_rx) = oneshot::channel::<()>();
        let store = db.store.clone();
        let holder = tokio::spawn(async move {
            store
                .exclusively(Chore::Maintenance, async move {
                    started_tx.send(()).unwrap();
                    release_rx.await.unwrap();
                    "first"
                })
                .await
        });
        tokio::time::timeout(Duration::from_secs(5), started).await.unwrap().unwrap();

        let meanwhile = other.exclusively(Chore::Maintenance, async { "second" }).await.unwrap();
        match db.backend {
            Backend::Postgres => assert_eq!(meanwhile, None, "the chore is being done elsewhere"),
            Backend::Sqlite => assert_eq!(meanwhile, Some("second")),
        }

        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap().unwrap(), Some("first"));
        assert_eq!(other.exclusively(Chore::Maintenance, async { "third" }).await.unwrap(), Some("third"));
        assert_eq!(db.store.exclusively(Chore::Maintenance, async { "fourth" }).await.unwrap(), Some("fourth"));
    }

    /// A chore whose future is dropped half-way (its task aborted) does not
    /// keep the other instances out.
    async fn a_dropped_chore_releases_its_turn(db: Db) {
        let other = db.connect().await;
        let (started_tx, started) = oneshot::channel();
        let store = db.store.clone();
        let holder = tokio::spawn(async move {
            store
                .exclusively(Chore::Maintenance, async move {
                    started_tx.send(()).unwrap();
                    std::future::pending::<()>().await;
                })
                .await
        });
        tokio::time::timeout(Duration::from_secs(5), started).await.unwrap().unwrap();
        holder.abort();
        assert!(holder.await.unwrap_err().is_cancelled());

        assert_eq!(other.exclusively(Chore::Maintenance, async { 1 }).await.unwrap(), Some(1));
    }

    /// On PostgreSQL a publish by another instance is announced; SQLite has
    /// no notifications (its servers poll).
    async fn events_announce_a_publish_by_another_instance(db: Db) {
        let Some(mut events) = db.store.listen().await.unwrap() else {
            assert_eq!(db.backend, Backend::Sqlite, "only SQLite has nothing to listen to");
            return;
        };
        assert_eq!(db.backend, Backend::Postgres);
        let other = db.connect().await;
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &[]);

        sync(&other, &Federation::default(), &[&one], t0()).await;

        assert_eq!(next_event(&mut events).await, Event::Site);
        other.rotate_actor_key(&key("one"), t0()).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Site);
    }

    /// Followers, interactions and queued jobs are announced as they commit.
    async fn events_announce_invalidations_and_queued_jobs(db: Db) {
        let Some(mut events) = db.store.listen().await.unwrap() else {
            assert_eq!(db.backend, Backend::Sqlite);
            return;
        };
        let other = db.connect().await;
        let now = t0();

        other
            .add_follower(&actor("a.example", "alice", false), "https://a.example/f/1", &accept("ac-1"), now)
            .await
            .unwrap();
        assert_eq!(next_event(&mut events).await, Event::Invalidated(Invalidation::Followers));
        assert_eq!(next_event(&mut events).await, Event::Queued, "the Accept");

        other.enqueue_to_followers(&activity("a1"), now).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Queued);

        let note = "urn:uuid:00000000-0000-4000-8000-000000000001";
        other
            .record_interaction(
                "https://a.example/likes/1",
                note,
                InteractionKind::Like,
                "https://a.example/users/alice",
                now,
            )
            .await
            .unwrap();
        assert_eq!(next_event(&mut events).await, Event::Invalidated(Invalidation::Note(note.to_owned())));

        other.retry_all_now(now).await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Queued);

        other.remove_follower("https://a.example/users/alice").await.unwrap();
        assert_eq!(next_event(&mut events).await, Event::Invalidated(Invalidation::Followers));
    }

    /// Nothing is announced for changes that did not happen: a batch of
    /// conflicts, a failed (rolled back) sync, an announcement already made,
    /// jobs already queued. The first event after them is the next real one.
    async fn events_announce_nothing_for_changes_that_did_not_happen(db: Db) {
        let other = db.connect().await;
        let now = t0();
        let fed = Federation::default();
        let one = article(1, "first-article", "2024-08-01T08:00:00Z", &[]);
        other.import_followers(&[actor("a.example", "alice", false)], now).await.unwrap();
        sync(&other, &fed, &[&one], now).await;
        other.announce_once("profile", "v1", true, &activity("update-1"), now).await.unwrap();
        let Some(mut events) = db.store.listen().await.unwrap() else {
            assert_eq!(db.backend, Backend::Sqlite);
            return;
        };

        // Conflicts only.
        let mut moved = one.clone();
        moved.published -= TimeDelta::days(1);
        let thief = article(2, "first-article", "2024-08-02T08:00:00Z", &[]);
        assert!(!sync(&other, &fed, &[&moved, &thief], now).await.changed());
        // A sync that queues jobs, then fails: rolled back.
        let good = article(3, "good-article", "2024-08-03T08:00:00Z", &[]);
        let bad = article(4, "bad-article", "2024-08-04T08:00:00Z", &[]);
        let activities = |change, article: &Article, revision| {
            let mut outgoing = fed.activity(change, article, revision)?;
            if article.slug.as_str() == "bad-article" {
                outgoing.signing_key = Some(424_242);
            }
            Some(outgoing)
        };
        assert!(other.sync(&[submission(&good), submission(&bad)], &activities, now).await.is_err());
        // Already announced, already queued.
        assert_eq!(other.announce_once("profile", "v1", true, &activity("update-1b"), now).await.unwrap(), 0);
        assert_eq!(other.enqueue_to_followers(&activity("update-1"), now).await.unwrap(), 0);

        let note = "urn:uuid:00000000-0000-4000-8000-000000000001";
        other
            .record_interaction(
                "https://a.example/likes/1",
                note,
                InteractionKind::Like,
                "https://a.example/users/alice",
                now,
            )
            .await
            .unwrap();
        assert_eq!(next_event(&mut events).await, Event::Invalidated(Invalidation::Note(note.to_owned())));
    }

    /// The handle: which engine, whether it answers, closing it.
    async fn the_handle_knows_its_backend_answers_and_closes(db: Db) {
        let store = db.connect().await;
        assert_eq!(store.backend(), db.backend);
        store.ping().await.unwrap();
        store.close().await;
        assert!(store.ping().await.is_err(), "a closed store answers no more");
        db.store.ping().await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// Media files
// ---------------------------------------------------------------------------

fn png(extra: &[u8]) -> NewMedia {
    let mut bytes = std::fs::read(crate::common::repo().join("tests/fixtures/media/img/carte.png")).unwrap();
    bytes.extend_from_slice(extra);
    NewMedia::parse(MediaPath::parse("img/carte.png").unwrap(), bytes).unwrap()
}

both_backends! {
    /// A media file reads back with its bytes; storing the same bytes again
    /// writes nothing, new bytes move `updated_at` and keep `created_at`.
    async fn media_files_are_stored_once_per_content(store: Store) {
        let path = MediaPath::parse("img/carte.png").unwrap();
        assert_eq!(store.media(&path).await.unwrap(), None);
        assert_eq!(store.media_row(&path).await.unwrap(), None);
        let first = png(b"");

        let written = store.put_media(&first, MediaSource::File, t0()).await.unwrap().unwrap();

        assert!(written.changed);
        let row = written.row;
        assert_eq!(row.path, path);
        assert_eq!(row.content_type, "image/png");
        assert_eq!((row.size, row.width, row.height), (first.bytes.len() as u64, Some(64), Some(40)));
        assert_eq!(row.sha256, first.info.sha256);
        assert_eq!((row.created_at, row.updated_at), (t0(), t0()));
        let media = store.media(&path).await.unwrap().unwrap();
        assert_eq!(media.bytes, first.bytes);
        assert_eq!(media.row, row);
        assert_eq!(store.media_row(&path).await.unwrap(), Some(row.clone()));

        let again = store.put_media(&first, MediaSource::File, t0() + secs(60)).await.unwrap().unwrap();
        assert!(!again.changed);
        assert_eq!(again.row, row);

        let second = png(b"more");
        let replaced = store.put_media(&second, MediaSource::File, t0() + secs(120)).await.unwrap().unwrap();
        assert!(replaced.changed);
        assert_eq!((replaced.row.created_at, replaced.row.updated_at), (t0(), t0() + secs(120)));
        assert_eq!(store.media(&path).await.unwrap().unwrap().bytes, second.bytes);
        let hashes = store.media_hashes().await.unwrap();
        assert_eq!(hashes.get("img/carte.png"), Some(&second.info.sha256));
        assert_eq!(hashes.len(), 1);
    }

    /// An upload never replaces a file, and a publish never replaces an
    /// upload; the same bytes again are fine from either.
    async fn uploads_and_files_never_replace_each_other(store: Store) {
        let first = png(b"");
        let second = png(b"more");
        let uploaded = store.put_media(&first, MediaSource::Api, t0()).await.unwrap().unwrap();
        assert!(uploaded.changed);

        let by_publish = store.put_media(&second, MediaSource::File, t0() + secs(60)).await.unwrap();
        let by_upload = store.put_media(&second, MediaSource::Api, t0() + secs(60)).await.unwrap();
        let same = store.put_media(&first, MediaSource::File, t0() + secs(60)).await.unwrap().unwrap();

        assert_eq!(by_publish, Err(uploaded.row.clone()));
        assert_eq!(by_upload, Err(uploaded.row.clone()));
        assert!(!same.changed);
        assert_eq!(store.media(&first.path).await.unwrap().unwrap().bytes, first.bytes);
        // A published file is not replaced by an upload either.
        let pdf = NewMedia::parse(MediaPath::parse("doc/a.pdf").unwrap(), b"%PDF-1.4 a".to_vec()).unwrap();
        let other = NewMedia::parse(MediaPath::parse("doc/a.pdf").unwrap(), b"%PDF-1.4 b".to_vec()).unwrap();
        let published = store.put_media(&pdf, MediaSource::File, t0()).await.unwrap().unwrap();
        assert_eq!(store.put_media(&other, MediaSource::Api, t0()).await.unwrap(), Err(published.row));
    }

    /// Files that are not images are stored without dimensions.
    async fn media_files_other_than_images_have_no_dimensions(store: Store) {
        let pdf = NewMedia::parse(MediaPath::parse("doc/rapport.pdf").unwrap(), b"%PDF-1.4 tiny".to_vec()).unwrap();
        let row = store.put_media(&pdf, MediaSource::File, t0()).await.unwrap().unwrap().row;
        assert_eq!((row.content_type.as_str(), row.width, row.height), ("application/pdf", None, None));
        assert_eq!(store.media(&pdf.path).await.unwrap().unwrap().bytes.as_ref(), b"%PDF-1.4 tiny");
    }
}

// ---------------------------------------------------------------------------
// herald copy, and the contract between the two schemas
// ---------------------------------------------------------------------------

/// The inboxes `populate` queues to.
const POPULATED_INBOXES: [&str; 4] = [
    "https://s.example/inbox",
    "https://b.example/users/b/inbox",
    "https://c.example/users/c/inbox",
    "https://d.example/inbox",
];

/// What `populate` stored, to check that new rows get fresh ids.
struct Populated {
    retired_key: i64,
    last_job: i64,
    last_invalidation: i64,
}

/// Puts rows in every table, through the public API.
async fn populate(store: &Store) -> Populated {
    let now = t0();
    let fed = Federation::default();
    let retired_key = {
        store.ensure_actor_key(key("one"), now).await.unwrap();
        store.rotate_actor_key(&key("two"), now + secs(1)).await.unwrap().unwrap()
    };
    let followers = [actor("s.example", "a", true), actor("s.example", "b", true), actor("b.example", "b", false)];
    store.import_followers(&followers, now).await.unwrap();
    store
        .add_follower(&actor("c.example", "c", false), "https://c.example/f/1", &accept("accept-c"), now)
        .await
        .unwrap();
    store.cache_remote_actor(&actor("c.example", "c", false)).await.unwrap();
    let a1 = article(1, "a-one", "2024-01-01T08:00:00.000001Z", &["mali", "sahel"]);
    let a2 = article(2, "a-two", "2024-02-01T08:00:00Z", &["sahel"]);
    let mut a3 = article(3, "a-three", "2024-03-01T08:00:00Z", &[]);
    a3.state = State::Retracted;
    sync(store, &fed, &[&a1, &a2, &a3], now).await;
    let mut edited = a1.clone();
    edited.title = "Edited".into();
    sync(store, &fed, &[&edited], now + secs(60)).await;
    let mut signed = activity("signed-with-the-old-key");
    signed.signing_key = Some(retired_key);
    store.enqueue_to(&signed, "https://d.example/inbox", now + secs(61)).await.unwrap();
    // Jobs in every state, one of them claimed.
    let jobs = store.claim_deliveries(now + secs(120), LOCK, 3).await.unwrap();
    store
        .record_outcomes(
            &[
                Outcome::Delivered { id: jobs[0].id, status: 202 },
                Outcome::Failed { id: jobs[1].id, status: Some(400), error: "refused".into() },
            ],
            now + secs(121),
        )
        .await
        .unwrap();
    store
        .record_outcomes(
            &[Outcome::Retry { id: jobs[2].id, at: now + secs(900), status: None, error: "timeout".into() }],
            now,
        )
        .await
        .unwrap();
    store.claim_deliveries(now + secs(120), LOCK, 1).await.unwrap();
    store
        .record_interaction("https://s.example/likes/1", a1.id.as_str(), InteractionKind::Like, &followers[0].id, now)
        .await
        .unwrap();
    store
        .record_interaction("https://s.example/notes/1", a1.id.as_str(), InteractionKind::Reply, &followers[1].id, now)
        .await
        .unwrap();
    store.record_host_failure("c.example", now, Some(now + secs(30))).await.unwrap();
    store.remember_activity("https://s.example/likes/1", &followers[0].id, "Like", now).await.unwrap();
    store.announce_once("profile", "v1", false, &activity("update-1"), now).await.unwrap();
    store.block_domain(&Domain::parse("blocked.example").unwrap(), now).await.unwrap();
    store
        .websub_subscribe(&subscription("https://r.example/cb/1", Some("s3cret"), now), Some(("tag0", 1)), now)
        .await
        .unwrap();
    // The publishing API: a token, an article made through it, a recorded response.
    assert!(store.create_token("cms", "hash-of-the-cms-token", false, now).await.unwrap());
    let token = store.tokens().await.unwrap()[0].id;
    let a4 = article(4, "a-four", "2024-04-01T08:00:00Z", &["api"]);
    let activities = |change, article: &Article, revision| fed.activity(change, article, revision);
    store.save_api_article(&a4, Some("The body."), "cms", true, &activities, now).await.unwrap().unwrap();
    store.reserve_idempotency_key(token, "key-1", "hash-1", now, now - secs(86_400)).await.unwrap();
    store.finish_idempotency_key(token, "key-1", 201, "location: /api/articles/x\n", "{}").await.unwrap();
    store.put_media(&png(b""), MediaSource::Api, now).await.unwrap().unwrap();
    let mut last_job = 0;
    for inbox in POPULATED_INBOXES {
        last_job = store.inbox_jobs(inbox, 100).await.unwrap().into_iter().map(|j| j.id).fold(last_job, i64::max);
    }
    Populated { retired_key, last_job, last_invalidation: store.last_invalidation().await.unwrap() }
}

/// Everything the public API reads, one line per query.
async fn snapshot(store: &Store) -> Vec<String> {
    let now = t0() + secs(200);
    let mut lines = vec![
        format!("blocked_domains: {:?}", store.blocked_domains().await.unwrap()),
        format!("site_state: {:?}", store.site_state().await.unwrap()),
        format!("published_count: {:?}", store.published_count().await.unwrap()),
        format!("latest_published: {:?}", store.latest_published(100).await.unwrap()),
        format!("retracted: {:?}", store.article_by_slug(&Slug::parse("a-three").unwrap()).await.unwrap()),
        format!(
            "with_tag: {:?}",
            slugs(&store.latest_published_with_tag(&Tag::parse("sahel").unwrap(), 10).await.unwrap())
        ),
        format!("tracked_files: {:?}", store.tracked_files().await.unwrap()),
        format!("actor_key: {:?}", store.actor_key().await.unwrap()),
        format!("account_created: {:?}", store.account_created().await.unwrap()),
        format!("followers: {:?}", store.followers().await.unwrap()),
        format!("follower_count: {:?}", store.follower_count().await.unwrap()),
        format!("remote_actor: {:?}", store.remote_actor("https://c.example/users/c").await.unwrap()),
        format!("activity_count: {:?}", store.activity_count().await.unwrap()),
        format!("queue_status: {:?}", store.queue_status(now).await.unwrap()),
        format!("unhealthy_hosts: {:?}", store.unhealthy_hosts().await.unwrap()),
        format!("interaction_summary: {:?}", store.interaction_summary().await.unwrap()),
        format!("invalidations: {:?}", store.invalidations_since(0).await.unwrap()),
        format!("last_invalidation: {:?}", store.last_invalidation().await.unwrap()),
        format!("account_state: {:?}", store.account_state("profile").await.unwrap()),
        format!("websub: {:?}", store.websub_subscription(TOPIC, "https://r.example/cb/1").await.unwrap()),
        format!("websub_distributed_tag: {:?}", store.websub_distributed_tag(TOPIC).await.unwrap()),
        format!("table_counts: {:?}", store.table_counts().await.unwrap()),
        format!("tokens: {:?}", store.tokens().await.unwrap()),
        format!("api_article: {:?}", store.stored_article(&id(4)).await.unwrap()),
        format!("revisions: {:?}", store.revisions(&id(1)).await.unwrap()),
        format!("media: {:?}", store.media(&MediaPath::parse("img/carte.png").unwrap()).await.unwrap()),
    ];
    for id in 1..=3 {
        let key = store.actor_key_by_id(id).await.unwrap();
        lines.push(format!("actor_key_by_id({id}): {:?}", key.map(|k| (k.private_pem, k.public_pem))));
    }
    for inbox in POPULATED_INBOXES {
        lines.push(format!("inbox_jobs({inbox}): {:?}", store.inbox_jobs(inbox, 100).await.unwrap()));
    }
    // Locks travel too: what is due when.
    for at in [now, t0() + secs(900), t0() + secs(3600)] {
        let mut due: Vec<(String, i64, Option<i64>)> = Vec::new();
        for inbox in POPULATED_INBOXES {
            for job in store.inbox_jobs(inbox, 100).await.unwrap() {
                if job.state == DeliveryState::Pending && job.next_attempt_at <= at {
                    due.push((inbox.to_owned(), job.attempts, job.last_status));
                }
            }
        }
        lines.push(format!("due at {at}: {due:?}"));
    }
    lines
}

/// New rows in a copied database get fresh ids.
async fn check_fresh_ids(store: &Store, populated: &Populated) {
    let now = t0() + TimeDelta::days(1);
    store.enqueue_to(&activity("after-the-copy"), "https://new.example/inbox", now).await.unwrap();
    assert!(job_at(store, "https://new.example/inbox").await.id > populated.last_job);
    let current = store.rotate_actor_key(&key("three"), now).await.unwrap().unwrap();
    assert!(current > populated.retired_key);
    let newest = store.rotate_actor_key(&key("four"), now).await.unwrap().unwrap();
    assert!(newest > current);
    assert_eq!(store.actor_key_by_id(newest).await.unwrap(), Some(key("three")));
    store
        .add_follower(&actor("new.example", "n", false), "https://new.example/f/1", &accept("accept-n"), now)
        .await
        .unwrap();
    assert!(store.last_invalidation().await.unwrap() > populated.last_invalidation);
}

/// SQLite → PostgreSQL → a fresh SQLite: every row, every time to the
/// microsecond, every lock; a non-empty target only with `replace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_a_database_to_postgres_and_back() {
    let Some(pg) = Db::open(Backend::Postgres).await else { return };
    let sqlite = Db::open(Backend::Sqlite).await.unwrap();
    let back = Db::open(Backend::Sqlite).await.unwrap();
    let populated = populate(&sqlite.store).await;
    let expected = snapshot(&sqlite.store).await;

    let progress = Mutex::new(Vec::<CopyProgress>::new());
    let counts = sqlite.store.copy_to(&pg.store, false, &|p| progress.lock().unwrap().push(p)).await.unwrap();

    let tables: Vec<&str> = counts.iter().map(|c| c.table).collect();
    assert_eq!(tables, TABLES.iter().map(|t| t.name).collect::<Vec<_>>());
    for count in &counts {
        assert_eq!(count.source, count.target, "{}", count.table);
        assert!(count.source > 0, "populate leaves {} empty", count.table);
    }
    assert_eq!(pg.store.table_counts().await.unwrap(), sqlite.store.table_counts().await.unwrap());
    let total: i64 = counts.iter().map(|c| c.source).sum();
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!((last.done, last.total), (u64::try_from(total).unwrap(), u64::try_from(total).unwrap()));
    assert_eq!(snapshot(&pg.store).await, expected);

    // A second copy into the non-empty target is refused, and changes nothing.
    let refused = sqlite.store.copy_to(&pg.store, false, &|_| {}).await.unwrap_err();
    assert!(matches!(refused, StoreError::Copy(CopyRefused::NotEmpty(_))), "{refused}");
    assert_eq!(snapshot(&pg.store).await, expected);
    // With `replace`, it goes, and running servers are told to read
    // everything afresh.
    let mut events = pg.store.listen().await.unwrap().unwrap();
    sqlite.store.copy_to(&pg.store, true, &|_| {}).await.unwrap();
    assert_eq!(snapshot(&pg.store).await, expected);
    assert_eq!(next_event(&mut events).await, Event::Missed);

    // And back into a fresh SQLite database.
    let counts = pg.store.copy_to(&back.store, false, &|_| {}).await.unwrap();
    assert!(counts.iter().all(|c| c.source == c.target), "{counts:?}");
    assert_eq!(snapshot(&back.store).await, expected);

    check_fresh_ids(&pg.store, &populated).await;
    check_fresh_ids(&back.store, &populated).await;
}

/// The guard against schema drift: every table `herald copy` moves has the
/// same columns, in the same order, on both backends.
#[tokio::test]
async fn both_schemas_have_the_same_columns() {
    let Some(pg) = Db::open(Backend::Postgres).await else { return };
    let sqlite = Db::open(Backend::Sqlite).await.unwrap();
    for table in TABLES {
        let columns = sqlite.store.table_columns(table.name).await.unwrap();
        assert!(!columns.is_empty(), "no table {}", table.name);
        assert_eq!(pg.store.table_columns(table.name).await.unwrap(), columns, "{}", table.name);
    }
}

both_backends! {
    /// A copy onto the database itself is refused, or at least loses nothing.
    async fn copying_a_database_onto_itself_loses_nothing(store: Store) {
        populate(&store).await;
        let expected = snapshot(&store).await;

        let plain = store.copy_to(&store, false, &|_| {}).await;
        assert!(
            matches!(plain, Err(StoreError::Copy(CopyRefused::SameDatabase | CopyRefused::NotEmpty(_)))),
            "{plain:?}"
        );
        let replacing = tokio::time::timeout(Duration::from_secs(10), store.copy_to(&store, true, &|_| {})).await;
        match replacing.expect("a copy onto itself hangs") {
            Err(StoreError::Copy(CopyRefused::SameDatabase)) | Ok(_) => {}
            Err(other) => panic!("{other}"),
        }
        assert_eq!(snapshot(&store).await, expected);
    }
}

both_backends! {
    /// An article dated after `now` is stored but held: no query shows it
    /// and nothing is sent; its time may still move. When it is due, two
    /// handles releasing at once release it once, with one Create.
    async fn future_articles_are_held_then_released_once(store: Store) {
        let fed = Federation::default();
        store.import_followers(&[actor("a.example", "alice", true)], t0()).await.unwrap();
        let shown = article(1, "shown", "2026-03-01T08:00:00Z", &["mali"]);
        let held = article(2, "held", "2026-03-01T10:00:00Z", &["sahel"]);

        let report = sync(&store, &fed, &[&shown, &held], t0()).await;

        assert_eq!(report.created, ["shown"]);
        assert_eq!(report.scheduled, [("held".to_owned(), held.published)]);
        assert_eq!(fed.take(), [call(Change::Created, "shown", 1)]);
        assert_eq!(slugs(&store.latest_published(10).await.unwrap()), ["shown"]);
        assert_eq!(store.published_count().await.unwrap(), 1);
        assert_eq!(store.archived_count().await.unwrap(), 1);
        assert_eq!(store.article_by_slug(&held.slug).await.unwrap(), None);
        assert_eq!(store.article_by_id(&held.id).await.unwrap(), None);
        let sahel = herald::article::Tag::parse("sahel").unwrap();
        assert!(store.latest_published_with_tag(&sahel, 10).await.unwrap().is_empty());
        assert_eq!(store.tags().await.unwrap(), [herald::article::Tag::parse("mali").unwrap()]);
        assert_eq!(store.next_release().await.unwrap(), Some(held.published));

        // Rescheduled: a held article's time may move (it was never shown).
        let mut later = held.clone();
        later.published = held.published + secs(1800);
        later.updated = later.published;
        let report = sync(&store, &fed, &[&later], t0() + secs(60)).await;
        assert!(report.conflicts.is_empty(), "{report:?}");
        assert_eq!(report.scheduled, [("held".to_owned(), later.published)]);
        assert_eq!(fed.take(), []);
        let activities = |c, a: &Article, r| fed.activity(c, a, r);
        assert!(store.release_due(&activities, held.published).await.unwrap().is_empty(), "not due yet");

        let other = store.clone();
        let (a, b) = tokio::join!(
            store.release_due(&activities, later.published),
            other.release_due(&activities, later.published + secs(1))
        );
        let mut released = a.unwrap();
        released.extend(b.unwrap());

        assert_eq!(released, ["held"]);
        assert_eq!(fed.take(), [call(Change::Created, "held", 2)]);
        assert_eq!(slugs(&store.latest_published(10).await.unwrap()), ["held", "shown"]);
        assert_eq!(store.article_by_slug(&held.slug).await.unwrap(), Some(later.clone()));
        assert_eq!(store.next_release().await.unwrap(), None);
        assert_eq!(store.queue_status(t0()).await.unwrap().pending, 2, "one Create each");
    }
}

// ---------------------------------------------------------------------------
// WebSub: subscriptions and distributions
// ---------------------------------------------------------------------------

const TOPIC: &str = "https://news.example.org/feed.atom";

/// A subscription to [`TOPIC`] for an hour from `now`.
fn subscription(callback: &str, secret: Option<&str>, now: DateTime<Utc>) -> Subscription {
    Subscription {
        topic: TOPIC.to_owned(),
        callback: callback.to_owned(),
        secret: secret.map(str::to_owned),
        lease_seconds: 3600,
        expires_at: now + secs(3600),
    }
}

/// [`TOPIC`]'s content with `tag` at `revision`, pinging `hubs`.
fn distribution<'a>(tag: &'a str, revision: i64, hubs: &'a [String]) -> Distribution<'a> {
    Distribution {
        topic: TOPIC,
        tag,
        revision,
        body: "<feed>content</feed>",
        media_type: "application/atom+xml; charset=utf-8",
        hubs,
    }
}

both_backends! {
    /// Subscribing stores, subscribing again renews (secret and lease),
    /// an expired lease is live no more and is pruned, unsubscribing deletes.
    async fn websub_subscriptions_are_stored_renewed_expired_and_removed(store: Store) {
        let now = t0();
        let first = subscription("https://r.example/cb/1", Some("one"), now);
        store.websub_subscribe(&first, Some(("tag0", 1)), now).await.unwrap();
        assert_eq!(store.websub_subscription(TOPIC, &first.callback).await.unwrap(), Some(first.clone()));
        assert_eq!(store.websub_live_topics(now).await.unwrap(), vec![TOPIC.to_owned()]);

        let later = now + secs(1800);
        let mut renewed = subscription(&first.callback, Some("two"), later);
        renewed.lease_seconds = 7200;
        renewed.expires_at = later + secs(7200);
        store.websub_subscribe(&renewed, Some(("tag-ignored", 2)), later).await.unwrap();
        assert_eq!(store.websub_live_subscriptions(TOPIC, later).await.unwrap(), vec![renewed.clone()]);
        // The first baseline stays: what was distributed does not move on a renewal.
        assert_eq!(store.websub_distributed_tag(TOPIC).await.unwrap().as_deref(), Some("tag0"));

        let expired = renewed.expires_at + secs(1);
        assert_eq!(store.websub_live_subscriptions(TOPIC, expired).await.unwrap(), vec![]);
        assert!(store.websub_live_topics(expired).await.unwrap().is_empty());
        assert_eq!(store.distribute(&distribution("tag1", 2, &[]), expired).await.unwrap(), Some(0));
        assert_eq!(store.prune_websub_subscriptions(later).await.unwrap(), 0);
        assert_eq!(store.prune_websub_subscriptions(expired).await.unwrap(), 1);
        assert_eq!(store.websub_subscription(TOPIC, &first.callback).await.unwrap(), None);

        store.websub_subscribe(&first, None, now).await.unwrap();
        assert!(store.websub_unsubscribe(TOPIC, &first.callback).await.unwrap());
        assert!(!store.websub_unsubscribe(TOPIC, &first.callback).await.unwrap());
        assert_eq!(store.websub_live_subscriptions(TOPIC, now).await.unwrap(), vec![]);
    }

    /// Two instances noticing the same change queue it once: one job per
    /// live subscriber, with the subscriber's current secret at claim time,
    /// plus one ping per hub; unchanged or older content queues nothing.
    async fn a_changed_topic_is_distributed_once_by_two_instances(db: Db) {
        let store = db.store.clone();
        let other = db.connect().await;
        let now = t0();
        store.websub_subscribe(&subscription("https://r.example/cb/1", Some("s1"), now), Some(("tag0", 1)), now).await.unwrap();
        store.websub_subscribe(&subscription("https://q.example/cb/2", None, now), Some(("tag0", 1)), now).await.unwrap();
        assert_eq!(store.distribute(&distribution("tag0", 1, &[]), now).await.unwrap(), None);

        let hubs = vec!["https://hub.example/".to_owned()];
        let change = distribution("tag1", 2, &hubs);
        let (a, b) = tokio::join!(store.distribute(&change, now), other.distribute(&change, now));
        let mut results = vec![a.unwrap(), b.unwrap()];
        results.sort();
        assert_eq!(results, vec![None, Some(3)]);
        assert_eq!(store.websub_distributed_tag(TOPIC).await.unwrap().as_deref(), Some("tag1"));
        // An instance that read an older revision does not undo it.
        assert_eq!(other.distribute(&distribution("tag0", 1, &[]), now).await.unwrap(), None);

        // The secret is the one at claim time, not at queueing time.
        store.websub_subscribe(&subscription("https://r.example/cb/1", Some("s2"), now), None, now).await.unwrap();
        let mut jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        jobs.sort_by(|a, b| a.inbox.cmp(&b.inbox));
        let kinds: Vec<(&str, &JobKind)> = jobs.iter().map(|j| (j.inbox.as_str(), &j.kind)).collect();
        let websub = |secret: Option<&str>| JobKind::WebSub {
            topic: TOPIC.to_owned(),
            media_type: "application/atom+xml; charset=utf-8".to_owned(),
            subscription: Some(secret.map(str::to_owned)),
        };
        assert_eq!(
            kinds,
            vec![
                ("https://hub.example/", &JobKind::Ping),
                ("https://q.example/cb/2", &websub(None)),
                ("https://r.example/cb/1", &websub(Some("s2"))),
            ]
        );
        assert_eq!(&jobs[0].body[..], b"hub.mode=publish&hub.url=https%3A%2F%2Fnews.example.org%2Ffeed.atom");
        assert_eq!(&jobs[1].body[..], b"<feed>content</feed>");
        assert!(store.claim_deliveries(now, LOCK, 10).await.unwrap().is_empty());
    }

    /// A job whose subscription ended after it was queued (unsubscribed,
    /// or its lease ran out) is claimed without one: it is not sent.
    async fn a_distribution_to_a_subscription_gone_since_is_claimed_without_it(store: Store) {
        let now = t0();
        store.websub_subscribe(&subscription("https://r.example/cb/1", Some("s"), now), Some(("tag0", 1)), now).await.unwrap();
        store.websub_subscribe(&subscription("https://q.example/cb/2", Some("s"), now), Some(("tag0", 1)), now).await.unwrap();
        assert_eq!(store.distribute(&distribution("tag1", 2, &[]), now).await.unwrap(), Some(2));
        store.websub_unsubscribe(TOPIC, "https://r.example/cb/1").await.unwrap();
        let jobs = store.claim_deliveries(now, LOCK, 10).await.unwrap();
        assert_eq!(jobs.len(), 2);
        for job in &jobs {
            let JobKind::WebSub { subscription, .. } = &job.kind else { panic!("{job:?}") };
            assert_eq!(subscription.is_some(), job.inbox == "https://q.example/cb/2", "{job:?}");
        }
        // Past its lease, the other is gone too.
        let expired = now + secs(3601);
        store.retry_all_now(expired).await.unwrap();
        for job in store.claim_deliveries(expired, LOCK, 10).await.unwrap() {
            assert!(matches!(job.kind, JobKind::WebSub { subscription: None, .. }), "{job:?}");
        }
    }
}

// The publishing API's tables, in their own file.
mod api_tables;
