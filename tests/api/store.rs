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
use herald::federation::keys::StoredKey;
use herald::store::{
    Backend, Change, Chore, CopyProgress, CopyRefused, DeliveryState, Event, Events, HostHealth, InteractionKind,
    InteractionTotals, Invalidation, Outcome, Outgoing, RemoteActorRow, Store, Submission, SyncReport, TrackedFile,
    KEEP_INVALIDATIONS, REMEMBER_RECEIVED, TABLES, UNAVAILABLE_AFTER_DAYS,
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
        let mut outcomes = Vec::new();
        for job in &jobs {
            if job.inbox == shared {
                outcomes.push(Outcome::Delivered { id: job.id, status: 202 });
            } else if job.inbox == c && outcomes.iter().all(|o| !matches!(o, Outcome::Failed { .. })) {
                outcomes.push(Outcome::Failed { id: job.id, status: Some(400), error: "c refused".into() });
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
        assert_eq!(backlog, [(b, 4, 0, Some("answered 500")), (c, 2, 1, Some("c refused"))]);
        assert_eq!(status.hosts, []);

        let newest: Vec<String> = store.inbox_jobs(b, 2).await.unwrap().into_iter().map(|j| j.activity_id).collect();
        assert_eq!(newest, ["extra", "a3"]);
        assert_eq!(store.inbox_jobs(b, 100).await.unwrap().len(), 4);
        assert_eq!(store.inbox_jobs(shared, 100).await.unwrap().len(), 3);
        assert_eq!(store.inbox_jobs("https://nowhere.example/inbox", 100).await.unwrap(), []);
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

