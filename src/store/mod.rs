//! The store: the only module that speaks SQL.
//!
//! It runs on SQLite (the embedded default: WAL, foreign keys on) through
//! sqlx's `Any` driver, with portable SQL (`$n` parameters, text ids, UTC times
//! as fixed-width RFC 3339 text) so that PostgreSQL can sit behind the same
//! interface. Migrations are embedded in the binary and run at connect.
//!
//! Every query here runs to its end (`fetch_all`, `execute`), never
//! `fetch_one`/`fetch_optional`: on SQLite those leave the statement
//! active, and its connection then keeps its transaction open after a later
//! write on it, locking the database for every other process (seen as
//! `herald publish` failing with "database is locked" beside `serve`).

mod articles;
mod bookkeeping;
mod deliveries;
mod federation;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

pub use articles::{Activities, Change, Conflict, Submission, SyncReport, TrackedFile};
pub use bookkeeping::{Invalidation, KEEP_INVALIDATIONS, REMEMBER_RECEIVED};
pub use deliveries::{
    DeliveryState, HostHealth, InboxBacklog, Job, JobRow, Outcome, Outgoing, QueueStatus, TOP_INBOXES,
    UNAVAILABLE_AFTER_DAYS,
};
pub use federation::{InteractionKind, InteractionTotals, RemoteActorRow};

use crate::config::DatabaseSettings;
use crate::error::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

/// What changed last, for cache invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteState {
    /// Bumped by every publish that changed something.
    pub revision: i64,
    /// When that publish happened.
    pub changed_at: DateTime<Utc>,
}

impl Store {
    /// Opens (creating when needed) the database and brings its schema up to date.
    #[tracing::instrument(skip_all, fields(url = %settings.url), err)]
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = sqlite_url(&settings.url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // Per connection: foreign keys are off by default in SQLite, and
                    // a second process (`herald publish` beside `serve`) must wait
                    // for the write lock instead of failing at once.
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL")
                        .await?;
                    Ok(())
                })
            })
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
            .connect(&url)
            .await?;
        // WAL lets readers (serve) and a writer (publish) work at once; the
        // mode is stored in the file, so once is enough.
        // Only switch when needed: asking for WAL again while another
        // process (a running `serve`) has the file open can return SQLITE_BUSY.
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?
            .try_get(0)?;
        if !mode.eq_ignore_ascii_case("wal") {
            sqlx::query("PRAGMA journal_mode = WAL").fetch_all(&pool).await?.into_iter().next();
        }
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The current site revision.
    pub async fn site_state(&self) -> Result<SiteState, StoreError> {
        let row = sqlx::query("SELECT revision, changed_at FROM site_state WHERE id = 1")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?;
        Ok(SiteState {
            revision: row.try_get("revision")?,
            changed_at: parse_time("site_state", &row.try_get::<String, _>("changed_at")?)?,
        })
    }

    /// Runs a `SELECT COUNT(*) AS n …` query.
    async fn count(&self, sql: &'static str) -> Result<i64, StoreError> {
        let row = sqlx::query(sql).fetch_all(&self.pool).await?.into_iter().next().ok_or(sqlx::Error::RowNotFound)?;
        Ok(row.try_get("n")?)
    }

    /// Whether the database answers, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_all(&self.pool).await?.into_iter().next().ok_or(sqlx::Error::RowNotFound)?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` to a SQLite URL and creates the file's directory.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return Ok(url.to_owned());
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir { path: dir.to_owned(), source })?;
    }
    Ok(if rest.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") })
}

/// The stored form of a time: fixed-width RFC 3339 UTC, which sorts as text.
fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(id: &str, raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::<chrono::FixedOffset>::from_str(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt { id: id.to_owned(), message: format!("time {raw:?}: {e}") })
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
        assert_eq!(parse_time("x", &a).unwrap().timestamp_subsec_micros(), 5);
    }

    #[test]
    fn sqlite_urls_get_create_mode_and_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/h.db", dir.path().display());
        assert_eq!(sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
    }
}
