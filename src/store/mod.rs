//! The store: the only module that speaks SQL.
//!
//! Two backends sit behind one interface: SQLite, the embedded default (WAL,
//! foreign keys on), and PostgreSQL, for several herald instances on one
//! database. Each has its own pool, its own migrations and typed rows
//! (`sqlx::FromRow`); a statement is written once when both engines accept
//! it (`$n` parameters, `ON CONFLICT`, `RETURNING`) and once per backend
//! where they differ (the queue claim, locks, notifications). [`on_pool!`]
//! and [`on_tx!`] run one body against whichever backend is open, so the
//! shared statements exist once in the source.
//!
//! Times are `TIMESTAMPTZ` on PostgreSQL and fixed-width RFC 3339 UTC text
//! on SQLite (which sorts as text); [`Time`] is both.

mod api;
mod articles;
mod blocks;
mod bookkeeping;
mod copy;
mod deliveries;
mod events;
mod federation;
mod media;
mod ops;
mod websub;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Postgres, Sqlite};

pub use api::{ListFilter, Reservation, Revision, Saved, StoredArticle, TokenRow, API_SOURCE};
pub use articles::{Activities, Change, Conflict, Submission, SyncReport, TrackedFile};
pub use blocks::{BlockReport, BLOCKED};
pub use bookkeeping::{Invalidation, KEEP_INVALIDATIONS, REMEMBER_RECEIVED};
pub use copy::{CopyProgress, CopyRefused, TableCount, TableSpec, TABLES};
pub use deliveries::{
    DeliveryState, HostHealth, InboxBacklog, Job, JobKind, JobRow, Outcome, Outgoing, Protocol, QueueStatus,
    TOP_INBOXES, UNAVAILABLE_AFTER_DAYS,
};
pub use events::{Event, Events};
pub use federation::{InteractionKind, InteractionTotals, RemoteActorRow};
pub use media::{Media, MediaRow, MediaSource, MediaWrite};
pub use ops::NotReady;
pub use websub::{Distribution, Subscription};

use crate::config::DatabaseSettings;
use crate::error::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// The open backend.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL, for several instances.
    Postgres,
}

/// A transaction on either backend.
enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the open backend's pool: the body is
/// written once and compiled for each backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$conn` bound to the transaction's connection
/// (`&mut *$conn` in each statement).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// Tells every instance listening on PostgreSQL that `event` happened,
    /// when this transaction commits (a no-op on SQLite, whose servers poll).
    async fn notify(&mut self, event: Event) -> Result<(), StoreError> {
        if let Tx::Postgres(t) = self {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(events::CHANNEL)
                .bind(event.payload())
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

/// What changed last, for cache invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteState {
    /// Bumped by every publish that changed something.
    pub revision: i64,
    /// When that publish happened.
    pub changed_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SiteRow {
    revision: i64,
    changed_at: Time,
}

/// How long [`Store::exclusively`] waits for a chore's lock before skipping.
pub const CHORE_WAIT: Duration = Duration::from_millis(500);

/// Periodic work that one instance at a time does (see [`Store::exclusively`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chore {
    /// Queue retention and bookkeeping pruning.
    Maintenance,
}

impl Chore {
    /// The PostgreSQL advisory lock key (an arbitrary constant per chore).
    fn lock_key(self) -> i64 {
        match self {
            Chore::Maintenance => 0x6865_7261_6c64_0001, // "herald" 1
        }
    }
}

impl Store {
    /// Opens (creating when needed) the database and brings its schema up to
    /// date: `postgres://` (or `postgresql://`) URLs open PostgreSQL,
    /// anything else SQLite.
    #[tracing::instrument(skip_all, fields(url = %redact(&settings.url)), err)]
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let store = if is_postgres_url(&settings.url) {
            Self::connect_postgres(&settings.url, settings.max_connections).await?
        } else {
            Self::connect_sqlite(&settings.url).await?
        };
        let backfilled = store.backfill_authors().await?;
        if backfilled > 0 {
            tracing::info!(articles = backfilled, "bylines indexed for the author feeds");
        }
        Ok(store)
    }

    async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        // sqlx holds a PostgreSQL advisory lock while it migrates, so two
        // instances starting at once migrate once; the second waits and
        // then finds the schema current.
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool: Pool::Postgres(pool) })
    }

    async fn connect_sqlite(url: &str) -> Result<Self, StoreError> {
        let options = sqlite_options(url)?
            // A second process (`herald publish` beside `serve`) waits for
            // the write lock instead of failing at once.
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    // A connection goes back to the pool with no transaction
                    // open, whatever happened to the code that used it (a
                    // dropped request future, a failed commit): a transaction
                    // left open would hold SQLite's write lock against every
                    // other process. "No transaction is active" is the normal
                    // answer and is ignored.
                    let _ = conn.execute("ROLLBACK").await;
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        // WAL lets readers (serve) and a writer (publish) work at once; the
        // mode is stored in the file, so it is set once, and only when
        // needed: asking for WAL again while another process (a running
        // `serve`) has the file open can answer SQLITE_BUSY.
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await?;
        if !mode.eq_ignore_ascii_case("wal") {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool: Pool::Sqlite(pool) })
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// The current site revision.
    pub async fn site_state(&self) -> Result<SiteState, StoreError> {
        let row: SiteRow = on_pool!(self, pool => {
            sqlx::query_as("SELECT revision, changed_at FROM site_state WHERE id = 1").fetch_one(pool).await?
        });
        Ok(SiteState { revision: row.revision, changed_at: row.changed_at.0 })
    }

    /// Runs a `SELECT COUNT(*) …` query.
    async fn count(&self, sql: &'static str) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// Whether the database answers, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Runs `work` unless another instance is doing `chore` right now;
    /// returns `None` when it was skipped. On PostgreSQL a session advisory
    /// lock, held on one connection for the duration, decides; SQLite serves
    /// one machine, where every process may do it.
    ///
    /// The lock is waited for a moment ([`CHORE_WAIT`]) before giving up:
    /// a holder that was just aborted frees it only once PostgreSQL has seen
    /// its connection close, which happens asynchronously.
    pub async fn exclusively<T, F>(&self, chore: Chore, work: F) -> Result<Option<T>, StoreError>
    where
        F: std::future::Future<Output = T>,
    {
        let Pool::Postgres(pool) = &self.pool else { return Ok(Some(work.await)) };
        let mut conn = pool.acquire().await?;
        // Dropped half-way (the task aborted at shutdown), the connection
        // is closed rather than pooled, which ends the session and its lock;
        // so the session setting below never reaches another user either.
        conn.close_on_drop();
        let wait = format!("SET lock_timeout = {}", CHORE_WAIT.as_millis());
        sqlx::query(&wait).execute(&mut *conn).await?;
        match sqlx::query("SELECT pg_advisory_lock($1)").bind(chore.lock_key()).execute(&mut *conn).await {
            Ok(_) => {}
            // lock_not_available: another instance has it.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let result = work.await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(chore.lock_key()).execute(&mut *conn).await?;
        Ok(Some(result))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => { pool.close().await; });
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` without its password, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// SQLite connect options for `url`, creating the file (and its directory).
fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = rest.split('?').next().unwrap_or(rest);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir { path: dir.to_owned(), source })?;
        }
    }
    Ok(SqliteConnectOptions::from_str(url)?.create_if_missing(true))
}

/// A stored time: `TIMESTAMPTZ` on PostgreSQL, fixed-width RFC 3339 UTC
/// text on SQLite (`2024-08-05T08:00:00.000000Z`, which sorts as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Time(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Time {
    fn from(time: DateTime<Utc>) -> Self {
        Time(time)
    }
}

impl sqlx::Type<Sqlite> for Time {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for Time {
    fn encode_by_ref(
        &self,
        buf: &mut Vec<sqlx::sqlite::SqliteArgumentValue<'q>>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <String as sqlx::Encode<'q, Sqlite>>::encode(format_time(self.0), buf)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Time {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let raw = <&str as sqlx::Decode<'r, Sqlite>>::decode(value)?;
        Ok(Time(parse_time(raw)?))
    }
}

impl sqlx::Type<Postgres> for Time {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for Time {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <DateTime<Utc> as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::postgres::PgHasArrayType for Time {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <DateTime<Utc> as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Time {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Time(<DateTime<Utc> as sqlx::Decode<'r, Postgres>>::decode(value)?))
    }
}

/// The SQLite form of a time: fixed-width RFC 3339 UTC, which sorts as text.
fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::<chrono::FixedOffset>::from_str(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("time {raw:?}: {e}"))
}

/// A count or limit as a bound parameter.
fn int_param(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_text() {
        let a = format_time(DateTime::from_timestamp(1_000_000_000, 5_000).unwrap());
        let b = format_time(DateTime::from_timestamp(1_000_000_001, 0).unwrap());
        assert_eq!(a, "2001-09-09T01:46:40.000005Z");
        assert!(a < b);
        assert_eq!(parse_time(&a).unwrap().timestamp_subsec_micros(), 5);
    }

    #[test]
    fn sqlite_urls_get_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/h.db", dir.path().display());
        sqlite_options(&url).unwrap();
        assert!(dir.path().join("sub").is_dir());
    }

    #[test]
    fn postgres_urls_are_recognised_and_redacted() {
        assert!(is_postgres_url("postgres://u:p@h/db"));
        assert!(is_postgres_url("postgresql://h/db"));
        assert!(!is_postgres_url("sqlite://x.db"));
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
