//! What operators ask of the database: the numbers a metrics scrape
//! reports, whether the schema is the one this binary expects, and an
//! online backup (SQLite).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{on_pool, Pool, Store, Time, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::error::StoreError;
use crate::metrics::Scrape;

/// Why the database is not ready for this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// A migration compiled into herald is not applied (or failed half-way).
    Missing(i64, String),
    /// A migration is applied that this herald does not know: the database
    /// was migrated by a newer version.
    Unknown(i64),
    /// An applied migration's file changed since.
    Changed(i64, String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Missing(version, name) => write!(f, "migration {version} ({name}) is not applied"),
            NotReady::Unknown(version) => {
                write!(f, "migration {version} is applied but unknown to this herald (a newer version migrated it)")
            }
            NotReady::Changed(version, name) => {
                write!(f, "migration {version} ({name}) was applied from a different file")
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct AppliedRow {
    version: i64,
    checksum: Vec<u8>,
    success: bool,
}

impl Store {
    /// The gauges of a metrics scrape, in five cheap queries: the pending
    /// count and the oldest pending job walk the `(state, …)` index over
    /// pending rows only, live WebSub subscriptions the expiry index;
    /// followers and blocks are small tables.
    pub async fn scrape(&self, now: DateTime<Utc>) -> Result<Scrape, StoreError> {
        let pending = self.count("SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'").await?;
        let oldest: Option<Time> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(created_at) FROM deliveries WHERE state = 'pending'").fetch_one(pool).await?
        });
        let age = oldest.map_or(0.0, |t| (now - t.0).num_milliseconds().max(0) as f64 / 1000.0);
        // Live subscriptions only: expired ones get nothing and are pruned.
        let websub: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM websub_subscriptions WHERE expires_at > $1")
                .bind(Time(now))
                .fetch_one(pool)
                .await?
        });
        Ok(Scrape {
            pending,
            oldest_pending_age_seconds: age,
            followers: self.follower_count().await?,
            domain_blocks: self.domain_block_count().await?,
            websub_subscriptions: websub,
        })
    }

    /// `Ok(None)` when every migration compiled into this binary is
    /// applied, successfully and from the same file, and no other is;
    /// otherwise the first difference.
    pub async fn migrations_current(&self) -> Result<Option<NotReady>, StoreError> {
        let migrator = match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let applied: Vec<AppliedRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await?
        });
        for migration in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
            match applied.iter().find(|a| a.version == migration.version) {
                Some(row) if !row.success => {
                    return Ok(Some(NotReady::Missing(migration.version, migration.description.to_string())))
                }
                Some(row) if row.checksum != *migration.checksum => {
                    return Ok(Some(NotReady::Changed(migration.version, migration.description.to_string())))
                }
                Some(_) => {}
                None => return Ok(Some(NotReady::Missing(migration.version, migration.description.to_string()))),
            }
        }
        Ok(applied
            .iter()
            .find(|a| !migrator.iter().any(|m| m.version == a.version))
            .map(|a| NotReady::Unknown(a.version)))
    }

    /// Writes a consistent copy of the SQLite database to `path` with
    /// `VACUUM INTO`: a read transaction, so it is safe while herald serves
    /// and publishes (writers go on; the copy is the database as of its
    /// start). `path` must not exist. `Ok(false)` on PostgreSQL, which
    /// `pg_dump` backs up.
    pub async fn backup_into(&self, path: &Path) -> Result<bool, StoreError> {
        let Pool::Sqlite(pool) = &self.pool else { return Ok(false) };
        let target = path.to_str().ok_or_else(|| StoreError::Corrupt {
            id: path.display().to_string(),
            message: "the backup path is not UTF-8".to_owned(),
        })?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(pool).await?;
        Ok(true)
    }
}
