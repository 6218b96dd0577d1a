//! `herald copy`: a whole database from one backend to the other.
//!
//! Every table is read from the source in one snapshot (a read transaction)
//! and written to the target in one transaction, in foreign-key order, so
//! the target ends either complete or untouched. Rows keep their ids
//! (PostgreSQL's identity sequences are moved past them afterwards), and
//! times keep their microseconds. The column lists below are the contract
//! between the two schemas: a copy refuses to start when either database
//! has a column the list does not name, rather than leave it behind.

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{on_tx, Pool, Store, Time, Tx};
use crate::error::StoreError;

/// How a column's values travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Time,
    Bytes,
}

/// One table as `herald copy` moves it.
#[derive(Debug)]
pub struct TableSpec {
    /// The table.
    pub name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// The primary key, so that both sides list rows alike.
    key: &'static str,
    /// The identity column whose sequence follows the copied ids (PostgreSQL).
    identity: Option<&'static str>,
}

use Kind::{Bytes, Int, Text, Time as At};

/// Every table, parents before children.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "articles",
        columns: &[
            ("id", Text),
            ("slug", Text),
            ("kind", Text),
            ("state", Text),
            ("published", At),
            ("updated", At),
            ("data", Text),
            ("source", Text),
            ("fingerprint", Text),
            ("revision", Int),
            ("changed_at", At),
            ("held", Int),
        ],
        key: "id",
        identity: None,
    },
    TableSpec {
        name: "article_tags",
        columns: &[("article_id", Text), ("tag", Text)],
        key: "article_id, tag",
        identity: None,
    },
    TableSpec {
        name: "article_authors",
        columns: &[("article_id", Text), ("author_key", Text), ("name", Text)],
        key: "author_key, article_id",
        identity: None,
    },
    TableSpec {
        name: "article_revisions",
        columns: &[
            ("article_id", Text),
            ("revision", Int),
            ("state", Text),
            ("data", Text),
            ("source", Text),
            ("recorded_at", At),
        ],
        key: "article_id, revision",
        identity: None,
    },
    TableSpec {
        name: "site_state",
        columns: &[("id", Int), ("revision", Int), ("changed_at", At)],
        key: "id",
        identity: None,
    },
    TableSpec {
        name: "actor_keys",
        columns: &[("id", Int), ("private_pem", Text), ("public_pem", Text), ("created_at", At), ("retired_at", At)],
        key: "id",
        identity: Some("id"),
    },
    TableSpec {
        name: "followers",
        columns: &[("actor", Text), ("inbox", Text), ("shared_inbox", Text), ("follow_id", Text), ("created_at", At)],
        key: "actor",
        identity: None,
    },
    TableSpec {
        name: "remote_actors",
        columns: &[
            ("id", Text),
            ("inbox", Text),
            ("shared_inbox", Text),
            ("key_id", Text),
            ("public_pem", Text),
            ("fetched_at", At),
        ],
        key: "id",
        identity: None,
    },
    TableSpec {
        name: "activities",
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("article_id", Text),
            ("body", Text),
            ("created_at", At),
            ("signing_key", Int),
            ("protocol", Text),
            ("topic", Text),
            ("media_type", Text),
        ],
        key: "id",
        identity: None,
    },
    TableSpec {
        name: "deliveries",
        columns: &[
            ("id", Int),
            ("activity_id", Text),
            ("inbox", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", At),
            ("locked_until", At),
            ("last_status", Int),
            ("last_error", Text),
            ("created_at", At),
            ("updated_at", At),
        ],
        key: "id",
        identity: Some("id"),
    },
    TableSpec {
        name: "interactions",
        columns: &[("activity_id", Text), ("article_id", Text), ("kind", Text), ("actor", Text), ("created_at", At)],
        key: "activity_id",
        identity: None,
    },
    TableSpec {
        name: "hosts",
        columns: &[
            ("host", Text),
            ("failure_days", Text),
            ("unavailable_since", At),
            ("circuit_until", At),
            ("circuit_opens", Int),
        ],
        key: "host",
        identity: None,
    },
    TableSpec {
        name: "domain_blocks",
        columns: &[("domain", Text), ("created_at", At)],
        key: "domain",
        identity: None,
    },
    TableSpec {
        name: "received_activities",
        columns: &[("id", Text), ("actor", Text), ("kind", Text), ("received_at", At)],
        key: "id",
        identity: None,
    },
    TableSpec {
        name: "invalidations",
        columns: &[("seq", Int), ("key", Text), ("at", At)],
        key: "seq",
        identity: Some("seq"),
    },
    TableSpec { name: "account_state", columns: &[("name", Text), ("value", Text)], key: "name", identity: None },
    TableSpec {
        name: "websub_subscriptions",
        columns: &[
            ("topic", Text),
            ("callback", Text),
            ("secret", Text),
            ("lease_seconds", Int),
            ("expires_at", At),
            ("created_at", At),
            ("updated_at", At),
        ],
        key: "topic, callback",
        identity: None,
    },
    TableSpec {
        name: "websub_topics",
        columns: &[("topic", Text), ("tag", Text), ("revision", Int), ("distributed_at", At)],
        key: "topic",
        identity: None,
    },
    TableSpec {
        name: "api_tokens",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("hash", Text),
            ("read_only", Int),
            ("created_at", At),
            ("last_used_at", At),
            ("revoked_at", At),
        ],
        key: "id",
        identity: Some("id"),
    },
    TableSpec {
        name: "api_articles",
        columns: &[("article_id", Text), ("markdown", Text), ("token", Text), ("created_at", At), ("updated_at", At)],
        key: "article_id",
        identity: None,
    },
    TableSpec {
        name: "idempotency_keys",
        columns: &[
            ("token_id", Int),
            ("key", Text),
            ("request_hash", Text),
            ("status", Int),
            ("headers", Text),
            ("body", Text),
            ("created_at", At),
        ],
        key: "token_id, key",
        identity: None,
    },
    TableSpec {
        name: "media",
        columns: &[
            ("path", Text),
            ("content_type", Text),
            ("sha256", Text),
            ("size", Int),
            ("width", Int),
            ("height", Int),
            ("created_at", At),
            ("updated_at", At),
            ("bytes", Bytes),
            ("source", Text),
        ],
        key: "path",
        identity: None,
    },
];

impl TableSpec {
    fn column_list(&self) -> String {
        self.columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }

    /// Rows per INSERT: one at a time for tables that carry files, whose
    /// rows can be megabytes each.
    fn batch(&self) -> usize {
        if self.columns.iter().any(|(_, kind)| *kind == Kind::Bytes) {
            1
        } else {
            BATCH
        }
    }

    fn count_sql(&self) -> String {
        format!("SELECT COUNT(*) FROM {}", self.name)
    }
}

/// One value in flight.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Time(Option<Time>),
    Bytes(Option<Vec<u8>>),
}

/// Rows per multi-row INSERT (at most 11 columns: well under either
/// engine's parameter limit).
const BATCH: usize = 500;

/// Where a copy is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    /// The table being copied.
    pub table: &'static str,
    /// Rows copied so far, all tables.
    pub done: u64,
    /// Rows to copy, all tables.
    pub total: u64,
}

/// A table's rows on both sides after a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: &'static str,
    /// Rows in the source.
    pub source: i64,
    /// Rows in the target.
    pub target: i64,
}

/// Why a copy did not start.
#[derive(Debug, thiserror::Error)]
pub enum CopyRefused {
    /// The target holds data and replacing it was not asked for.
    #[error("the target database is not empty ({0}); pass --replace to overwrite it")]
    NotEmpty(String),
    /// Source and target are the same database.
    #[error("the source and the target are the same database")]
    SameDatabase,
    /// A schema has columns the copy does not know.
    #[error("table {table} in the {side} has columns herald copy does not know ({columns}): are both herald versions the same?")]
    UnknownColumns {
        /// The table.
        table: &'static str,
        /// `source` or `target`.
        side: &'static str,
        /// The columns.
        columns: String,
    },
}

impl Store {
    /// The columns `table` has in this database, in order.
    pub async fn table_columns(&self, table: &str) -> Result<Vec<String>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(pool)
                .await?
            }
        })
    }

    /// Rows per table, in [`TABLES`] order.
    pub async fn table_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let sql = table.count_sql();
            let n: i64 = super::on_pool!(self, pool => sqlx::query_scalar(&sql).fetch_one(pool).await?);
            counts.push((table.name, n));
        }
        Ok(counts)
    }

    /// Whether the database holds nothing but what migrations create.
    async fn emptiness(&self) -> Result<Option<String>, StoreError> {
        let held: Vec<String> = self
            .table_counts()
            .await?
            .into_iter()
            .filter(|(table, n)| *n > 0 && *table != "site_state")
            .map(|(table, n)| format!("{table}: {n} rows"))
            .collect();
        Ok((!held.is_empty()).then(|| held.join(", ")))
    }

    async fn check_columns(&self, side: &'static str) -> Result<(), StoreError> {
        for table in TABLES {
            let unknown: Vec<String> = self
                .table_columns(table.name)
                .await?
                .into_iter()
                .filter(|c| !table.columns.iter().any(|(name, _)| name == c))
                .collect();
            if !unknown.is_empty() {
                return Err(StoreError::Copy(CopyRefused::UnknownColumns {
                    table: table.name,
                    side,
                    columns: unknown.join(", "),
                }));
            }
        }
        Ok(())
    }

    /// Copies every row of this database into `target`, which must be
    /// empty unless `replace` (its rows are then deleted first, in the same
    /// transaction). Returns the rows per table on both sides, counted after
    /// the copy committed.
    pub async fn copy_to(
        &self,
        target: &Store,
        replace: bool,
        progress: &(dyn Fn(CopyProgress) + Sync),
    ) -> Result<Vec<TableCount>, StoreError> {
        self.check_columns("source").await?;
        target.check_columns("target").await?;
        if !replace {
            if let Some(held) = target.emptiness().await? {
                return Err(StoreError::Copy(CopyRefused::NotEmpty(held)));
            }
        }
        let mut source = self.begin().await?;
        if let Tx::Postgres(t) = &mut source {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut **t).await?;
        }
        let mut source_counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let sql = table.count_sql();
            let n: i64 = on_tx!(&mut source, conn => sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?);
            source_counts.push(n);
        }
        let total = source_counts.iter().map(|n| u64::try_from(*n).unwrap_or(0)).sum();
        let mut out = target.begin().await?;
        for table in TABLES.iter().rev() {
            let sql = format!("DELETE FROM {}", table.name);
            on_tx!(&mut out, conn => { sqlx::query(&sql).execute(&mut *conn).await?; });
        }
        let mut done = 0u64;
        for table in TABLES {
            progress(CopyProgress { table: table.name, done, total });
            let select = format!("SELECT {} FROM {} ORDER BY {}", table.column_list(), table.name, table.key);
            let mut batch = Vec::with_capacity(table.batch());
            on_tx!(&mut source, conn => {
                let mut rows = sqlx::query(&select).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await? {
                    let mut values = Vec::with_capacity(table.columns.len());
                    for (i, (_, kind)) in table.columns.iter().enumerate() {
                        values.push(match kind {
                            Kind::Text => Value::Text(row.try_get(i)?),
                            Kind::Int => Value::Int(row.try_get(i)?),
                            Kind::Time => Value::Time(row.try_get(i)?),
                            Kind::Bytes => Value::Bytes(row.try_get(i)?),
                        });
                    }
                    batch.push(values);
                    if batch.len() == table.batch() {
                        insert(&mut out, table, &batch).await?;
                        done += batch.len() as u64;
                        batch.clear();
                        progress(CopyProgress { table: table.name, done, total });
                    }
                }
            });
            insert(&mut out, table, &batch).await?;
            done += batch.len() as u64;
        }
        if let Tx::Postgres(t) = &mut out {
            for table in TABLES {
                if let Some(column) = table.identity {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), COALESCE(MAX({1}), 0) + 1, false) FROM {0}",
                        table.name, column
                    );
                    sqlx::query(&sql).execute(&mut **t).await?;
                }
            }
        }
        out.notify(super::Event::Missed).await?;
        out.commit().await?;
        source.rollback().await?;
        progress(CopyProgress { table: "", done, total });
        let target_counts = target.table_counts().await?;
        Ok(TABLES
            .iter()
            .zip(source_counts)
            .zip(target_counts)
            .map(|((table, source), (_, target))| TableCount { table: table.name, source, target })
            .collect())
    }
}

/// Inserts `rows` into `table` with one multi-row statement.
async fn insert(tx: &mut Tx, table: &TableSpec, rows: &[Vec<Value>]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let width = table.columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO {} ({}) VALUES {}", table.name, table.column_list(), tuples.join(", "));
    on_tx!(tx, conn => {
        let mut query = sqlx::query(&sql);
        for value in rows.iter().flatten() {
            query = match value {
                Value::Text(v) => query.bind(v.clone()),
                Value::Int(v) => query.bind(*v),
                Value::Time(v) => query.bind(*v),
                Value::Bytes(v) => query.bind(v.clone()),
            };
        }
        query.execute(&mut *conn).await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_an_order_and_no_column_twice() {
        for table in TABLES {
            let mut names: Vec<_> = table.columns.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.columns.len(), "{}", table.name);
            for key in table.key.split(", ") {
                assert!(names.contains(&key), "{} orders by {key}", table.name);
            }
        }
    }
}
