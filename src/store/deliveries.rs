//! The `activities` and `deliveries` tables: the durable delivery queue.
//!
//! Enqueueing writes one job per distinct inbox (a follower's shared inbox
//! when it has one) in the same transaction as the activity, so a crash can
//! never leave an activity half fanned out. Workers claim a job by stamping
//! `locked_until`; a job whose worker died is claimed again once the lock
//! expires, so nothing is lost (an activity may then arrive twice, which
//! receivers deduplicate by id).

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{Any, Row, Transaction};

use super::{format_time, Store};
use crate::error::StoreError;

/// An activity to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The activity's id.
    pub id: String,
    /// `Create`, `Update`, `Delete`, `Accept`.
    pub kind: &'static str,
    /// The article it is about, if any.
    pub article_id: Option<String>,
    /// The JSON body.
    pub body: String,
}

/// A claimed delivery job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Destination inbox.
    pub inbox: String,
    /// The activity JSON.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// What became of an attempted job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The inbox accepted it.
    Delivered {
        /// Job id.
        id: i64,
        /// HTTP status.
        status: u16,
    },
    /// Given up: permanent refusal, or out of attempts.
    Failed {
        /// Job id.
        id: i64,
        /// HTTP status, if any.
        status: Option<u16>,
        /// Why.
        error: String,
    },
    /// To be tried again at `at`.
    Retry {
        /// Job id.
        id: i64,
        /// Next attempt.
        at: DateTime<Utc>,
        /// HTTP status, if any.
        status: Option<u16>,
        /// Why.
        error: String,
    },
}

/// Queue counts for `herald queue`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStatus {
    /// Jobs waiting or being retried.
    pub pending: i64,
    /// Jobs delivered.
    pub delivered: i64,
    /// Jobs given up.
    pub failed: i64,
    /// Per inbox with pending or failed jobs: (inbox, pending, failed, last error).
    pub inboxes: Vec<(String, i64, i64, Option<String>)>,
}

impl Store {
    /// Stores `activity` and one job per follower inbox (deduplicated by
    /// shared inbox). Returns the number of jobs.
    #[tracing::instrument(skip_all, fields(activity = %activity.id), err)]
    pub async fn enqueue_to_followers(&self, activity: &Outgoing, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let jobs = fan_out(&mut tx, activity, now).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Stores `activity` and one job for `inbox`.
    #[tracing::instrument(skip_all, fields(activity = %activity.id, inbox), err)]
    pub async fn enqueue_to(&self, activity: &Outgoing, inbox: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_activity(&mut tx, activity, now).await?;
        sqlx::query(
            "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, $3, $3) ON CONFLICT (activity_id, inbox) DO NOTHING",
        )
        .bind(&activity.id)
        .bind(inbox)
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims the next due job for `lock`, or `None` when nothing is due.
    pub async fn claim_delivery(&self, now: DateTime<Utc>, lock: TimeDelta) -> Result<Option<Job>, StoreError> {
        Ok(self.claim_deliveries(now, lock, 1).await?.pop())
    }

    /// Claims up to `limit` due jobs for `lock`, oldest due first.
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lock: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        // Read first: an idle queue must not take SQLite's write lock once a
        // second per worker, next to publishes from other processes.
        let due = sqlx::query(
            "SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
             AND (locked_until IS NULL OR locked_until < $1) LIMIT 1",
        )
        .bind(format_time(now))
        .fetch_all(&self.pool)
        .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // One statement: SQLite serializes writers, so two workers can never
        // stamp the same row; the second one's subquery sees the lock.
        let rows = sqlx::query(
            "UPDATE deliveries SET locked_until = $1 WHERE id IN (\
                SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 \
                AND (locked_until IS NULL OR locked_until < $2) ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING id, inbox, activity_id, attempts",
        )
        .bind(format_time(now + lock))
        .bind(format_time(now))
        .bind(i64::try_from(limit).unwrap_or(1))
        .fetch_all(&self.pool)
        .await?;
        let mut bodies: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let activity_id: String = row.try_get("activity_id")?;
            if !bodies.contains_key(&activity_id) {
                let body = sqlx::query("SELECT body FROM activities WHERE id = $1")
                    .bind(&activity_id)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(sqlx::Error::RowNotFound)?;
                bodies.insert(activity_id.clone(), body.try_get("body")?);
            }
            jobs.push(Job {
                id: row.try_get("id")?,
                inbox: row.try_get("inbox")?,
                body: bodies.get(&activity_id).cloned().unwrap_or_default(),
                attempts: row.try_get("attempts")?,
            });
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Records the outcomes of attempted jobs in one transaction.
    pub async fn record_outcomes(&self, outcomes: &[Outcome], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for outcome in outcomes {
            let (id, state, at, status, error) = match outcome {
                Outcome::Delivered { id, status } => (*id, "delivered", None, Some(*status), None),
                Outcome::Failed { id, status, error } => (*id, "failed", None, *status, Some(error.as_str())),
                Outcome::Retry { id, at, status, error } => (*id, "pending", Some(*at), *status, Some(error.as_str())),
            };
            sqlx::query(
                "UPDATE deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = COALESCE($2, next_attempt_at), \
                 locked_until = NULL, last_status = $3, last_error = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(state)
            .bind(at.map(format_time))
            .bind(status.map(i64::from))
            .bind(error)
            .bind(format_time(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks a job delivered (or given up, when `failed`).
    pub async fn finish_delivery(
        &self,
        id: i64,
        failed: bool,
        status: Option<u16>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let outcome = match (failed, status) {
            (false, Some(status)) => Outcome::Delivered { id, status },
            _ => Outcome::Failed { id, status, error: error.unwrap_or_default().to_owned() },
        };
        self.record_outcomes(&[outcome], now).await
    }

    /// Schedules a job's next attempt.
    pub async fn retry_delivery(
        &self,
        id: i64,
        at: DateTime<Utc>,
        status: Option<u16>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_outcomes(&[Outcome::Retry { id, at, status, error: error.to_owned() }], now).await
    }

    /// Makes every pending job due now (`herald queue --retry-now`); returns how many.
    pub async fn retry_all_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE deliveries SET next_attempt_at = $1 WHERE state = 'pending'")
            .bind(format_time(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Counts by state and per inbox.
    pub async fn queue_status(&self) -> Result<QueueStatus, StoreError> {
        let mut status = QueueStatus::default();
        for row in
            sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state").fetch_all(&self.pool).await?
        {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            match state.as_str() {
                "pending" => status.pending = n,
                "delivered" => status.delivered = n,
                _ => status.failed = n,
            }
        }
        let rows = sqlx::query(
            "SELECT inbox, SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending, \
             SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, MAX(last_error) AS last_error \
             FROM deliveries WHERE state <> 'delivered' GROUP BY inbox ORDER BY inbox",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            status.inboxes.push((
                row.try_get("inbox")?,
                row.try_get("pending")?,
                row.try_get("failed")?,
                row.try_get("last_error")?,
            ));
        }
        Ok(status)
    }
}

async fn insert_activity(
    tx: &mut Transaction<'_, Any>,
    activity: &Outgoing,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO activities (id, kind, article_id, body, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&activity.id)
    .bind(activity.kind)
    .bind(activity.article_id.as_deref())
    .bind(&activity.body)
    .bind(format_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts the activity and its jobs inside the caller's transaction.
pub(super) async fn fan_out(
    tx: &mut Transaction<'_, Any>,
    activity: &Outgoing,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    insert_activity(tx, activity, now).await?;
    let done = sqlx::query(
        "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
         SELECT DISTINCT $1, COALESCE(shared_inbox, inbox), 'pending', $2, $2, $2 FROM followers WHERE true \
         ON CONFLICT (activity_id, inbox) DO NOTHING",
    )
    .bind(&activity.id)
    .bind(format_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// A host's delivery health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostHealth {
    /// Distinct days with failed deliveries since the last success.
    pub failure_days: usize,
    /// Set once failures happened on [`UNAVAILABLE_AFTER_DAYS`] different days.
    pub unavailable_since: Option<DateTime<Utc>>,
}

/// Failures on this many different days make a host unavailable (Mastodon's rule).
pub const UNAVAILABLE_AFTER_DAYS: usize = 7;

impl Store {
    /// The health of `host`, `None` when nothing failed since its last success.
    pub async fn host_health(&self, host: &str) -> Result<Option<HostHealth>, StoreError> {
        let row = sqlx::query("SELECT failure_days, unavailable_since FROM hosts WHERE host = $1")
            .bind(host)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .next();
        row.map(|row| {
            let days: String = row.try_get("failure_days")?;
            let since: Option<String> = row.try_get("unavailable_since")?;
            Ok(HostHealth {
                failure_days: days.split_whitespace().count(),
                unavailable_since: since.map(|s| super::parse_time("hosts", &s)).transpose()?,
            })
        })
        .transpose()
    }

    /// Records a failed delivery to `host` today; returns whether the host is
    /// now unavailable.
    ///
    /// Single statements, no read-then-write transaction: a deferred SQLite
    /// transaction that upgrades from reading to writing can fail or wait on
    /// another process's write lock, and this runs beside publishes.
    pub async fn record_host_failure(&self, host: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let today = now.format("%Y-%m-%d").to_string();
        sqlx::query(
            "INSERT INTO hosts (host, failure_days, unavailable_since) VALUES ($1, $2, NULL) \
             ON CONFLICT (host) DO UPDATE SET failure_days = CASE \
               WHEN instr(' ' || hosts.failure_days || ' ', ' ' || $2 || ' ') > 0 THEN hosts.failure_days \
               ELSE hosts.failure_days || ' ' || $2 END",
        )
        .bind(host)
        .bind(&today)
        .execute(&self.pool)
        .await?;
        // Days are 10 characters and space-separated: N days make 11N - 1 characters.
        let threshold = i64::try_from(UNAVAILABLE_AFTER_DAYS * 11 - 1).unwrap_or(76);
        sqlx::query(
            "UPDATE hosts SET unavailable_since = $1 WHERE host = $2 AND unavailable_since IS NULL \
             AND length(failure_days) >= $3",
        )
        .bind(format_time(now))
        .bind(host)
        .bind(threshold)
        .execute(&self.pool)
        .await?;
        Ok(self.host_health(host).await?.is_some_and(|h| h.unavailable_since.is_some()))
    }

    /// The host answered (a delivery succeeded, or it sent us an activity):
    /// forget its failures.
    pub async fn record_host_success(&self, host: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM hosts WHERE host = $1").bind(host).execute(&self.pool).await?;
        Ok(())
    }
}
