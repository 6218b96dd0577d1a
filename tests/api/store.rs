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

