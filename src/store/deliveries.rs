//! The `activities` and `deliveries` tables: the durable delivery queue.
//!
//! Enqueueing writes one job per distinct inbox (a follower's shared inbox
//! when it has one) in the same transaction as the activity, so a crash can
//! never leave an activity half fanned out. A process claims a job by
//! moving its `next_attempt_at` (and `locked_until`, for the record) to the
//! end of its lock: a claimed job is simply not due, so the claim query walks
//! the `(state, next_attempt_at)` index and never scans past claimed rows.
//! A job whose process died is due again once the lock expires, so nothing
//! is lost (an activity may then arrive twice, which receivers deduplicate
//! by id).

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use super::{int_param, on_pool, on_tx, Event, Pool, Store, Time, Tx};
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
    /// The key (`actor_keys` row) to sign it with, when not the current one.
    pub signing_key: Option<i64>,
}

impl Outgoing {
    /// An activity signed with the current key.
    pub fn new(id: String, kind: &'static str, article_id: Option<String>, body: String) -> Self {
        Self { id, kind, article_id, body, signing_key: None }
    }
}

/// The state of a delivery job (the `deliveries.state` column, `CHECK`-constrained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// The inbox accepted it.
    Delivered,
    /// Given up: refused for good, or out of attempts.
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub(super) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(StoreError::Corrupt { id: "deliveries".into(), message: format!("unknown state {other:?}") }),
        }
    }
}

/// What an `activities` row is (the `activities.protocol` column,
/// `CHECK`-constrained): how its jobs are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// An ActivityPub activity: a signed POST to an inbox.
    #[default]
    ActivityPub,
    /// A WebSub distribution: a topic's content POSTed to a subscriber's callback.
    WebSub,
    /// A `hub.mode=publish` ping to an external WebSub hub.
    Ping,
}

impl Protocol {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::ActivityPub => "activitypub",
            Protocol::WebSub => "websub",
            Protocol::Ping => "ping",
        }
    }

    pub(super) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "activitypub" => Ok(Protocol::ActivityPub),
            "websub" => Ok(Protocol::WebSub),
            "ping" => Ok(Protocol::Ping),
            other => {
                Err(StoreError::Corrupt { id: "activities".into(), message: format!("unknown protocol {other:?}") })
            }
        }
    }
}

/// How a claimed job is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JobKind {
    /// An ActivityPub activity, signed as the account.
    #[default]
    Activity,
    /// A WebSub distribution of `topic` to the job's callback (its `inbox`).
    WebSub {
        /// The topic URL.
        topic: String,
        /// The topic's `Content-Type`.
        media_type: String,
        /// The subscription as it stands at claim time: `None` when it is
        /// gone (unsubscribed, expired), else its secret, if any.
        subscription: Option<Option<String>>,
    },
    /// A `hub.mode=publish` form POST to an external hub (the job's `inbox`).
    Ping,
}

/// A claimed delivery job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Destination: an inbox, a WebSub callback or a hub.
    pub inbox: String,
    /// The activity JSON (or feed, or form), shared by every job of the activity.
    pub body: Bytes,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The key (`actor_keys` row) to sign with, when not the current one.
    pub signing_key: Option<i64>,
    /// How it is sent.
    pub kind: JobKind,
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
    /// To be tried again at `at`; the attempt counts.
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
    /// Not attempted (its host's circuit is open, or its host has enough
    /// jobs in hand): released until `at`, the attempt does not count.
    Deferred {
        /// Job id.
        id: i64,
        /// When it is due again.
        at: DateTime<Utc>,
        /// Why, kept as the job's last error when it has none.
        reason: String,
    },
}

impl Outcome {
    /// The job it is about.
    pub fn id(&self) -> i64 {
        match self {
            Outcome::Delivered { id, .. }
            | Outcome::Failed { id, .. }
            | Outcome::Retry { id, .. }
            | Outcome::Deferred { id, .. } => *id,
        }
    }
}

/// What an outcome writes to its job's row.
struct JobUpdate<'a> {
    id: i64,
    state: DeliveryState,
    /// The next attempt; `None` leaves it.
    at: Option<DateTime<Utc>>,
    status: Option<i64>,
    error: Option<&'a str>,
    /// Whether the attempt counts: a deferred job was not attempted, keeps
    /// its last status, and takes `error` only when it has none.
    attempted: bool,
}

impl<'a> From<&'a Outcome> for JobUpdate<'a> {
    fn from(outcome: &'a Outcome) -> Self {
        use DeliveryState::{Delivered, Failed, Pending};
        let (id, state, at, status, error, attempted) = match outcome {
            Outcome::Delivered { id, status } => (*id, Delivered, None, Some(*status), None, true),
            Outcome::Failed { id, status, error } => (*id, Failed, None, *status, Some(error.as_str()), true),
            Outcome::Retry { id, at, status, error } => (*id, Pending, Some(*at), *status, Some(error.as_str()), true),
            Outcome::Deferred { id, at, reason } => (*id, Pending, Some(*at), None, Some(reason.as_str()), false),
        };
        Self { id, state, at, status: status.map(i64::from), error, attempted }
    }
}

/// One job's outcome: `$6` is 1 when the attempt counts, 0 when deferred.
const RECORD_SQLITE: &str = "UPDATE deliveries SET state = $2, attempts = attempts + $6, \
    next_attempt_at = COALESCE($3, next_attempt_at), locked_until = NULL, \
    last_status = CASE WHEN $6 = 1 THEN $4 ELSE last_status END, \
    last_error = CASE WHEN $6 = 1 THEN $5 ELSE COALESCE(last_error, $5) END, updated_at = $7 WHERE id = $1";

/// A batch of outcomes as parallel arrays, the rows locked in id order
/// first (a materialized CTE runs in its own order, whatever the join).
const RECORD_POSTGRES: &str = "WITH locked AS MATERIALIZED (\
        SELECT id FROM deliveries WHERE id = ANY($1) ORDER BY id FOR UPDATE), \
    v AS (SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[], $5::text[], $6::bigint[]) \
        AS v(id, state, at, status, error, attempted)) \
    UPDATE deliveries d SET state = v.state, attempts = d.attempts + v.attempted, \
        next_attempt_at = COALESCE(v.at, d.next_attempt_at), locked_until = NULL, \
        last_status = CASE WHEN v.attempted = 1 THEN v.status ELSE d.last_status END, \
        last_error = CASE WHEN v.attempted = 1 THEN v.error ELSE COALESCE(d.last_error, v.error) END, \
        updated_at = $7 \
    FROM locked JOIN v ON v.id = locked.id WHERE d.id = locked.id";

/// One row of the queue, for `herald queue --inbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Row id.
    pub id: i64,
    /// The activity.
    pub activity_id: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i64,
    /// When it is (or was last) due.
    pub next_attempt_at: DateTime<Utc>,
    /// Last HTTP status.
    pub last_status: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
}

/// An inbox with pending or failed jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxBacklog {
    /// The inbox.
    pub inbox: String,
    /// Pending jobs.
    pub pending: i64,
    /// Failed jobs.
    pub failed: i64,
    /// Its latest error.
    pub last_error: Option<String>,
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
    /// When the oldest pending job was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// The inboxes with most pending or failed jobs, most first (at most 20).
    pub inboxes: Vec<InboxBacklog>,
    /// Hosts that are unavailable or whose circuit is open.
    pub hosts: Vec<HostHealth>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    inbox: String,
    activity_id: String,
    attempts: i64,
}

#[derive(sqlx::FromRow)]
struct BodyRow {
    body: String,
    signing_key: Option<i64>,
    protocol: String,
    topic: Option<String>,
    media_type: Option<String>,
}

/// A claimed WebSub job's subscription, read at claim time.
#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    secret: Option<String>,
    expires_at: Time,
}

/// The subscriptions behind claimed WebSub jobs (`$1`: their ids as a
/// JSON array on SQLite, an array on PostgreSQL).
const JOB_SUBSCRIPTIONS_SQLITE: &str = "SELECT d.id, s.secret, s.expires_at FROM deliveries d \
    JOIN activities a ON a.id = d.activity_id \
    JOIN websub_subscriptions s ON s.topic = a.topic AND s.callback = d.inbox \
    WHERE d.id IN (SELECT value FROM json_each($1))";
const JOB_SUBSCRIPTIONS_POSTGRES: &str = "SELECT d.id, s.secret, s.expires_at FROM deliveries d \
    JOIN activities a ON a.id = d.activity_id \
    JOIN websub_subscriptions s ON s.topic = a.topic AND s.callback = d.inbox \
    WHERE d.id = ANY($1)";

#[derive(sqlx::FromRow)]
struct BacklogRow {
    inbox: String,
    pending: i64,
    failed: i64,
    last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct JobListRow {
    id: i64,
    activity_id: String,
    state: String,
    attempts: i64,
    next_attempt_at: Time,
    last_status: Option<i64>,
    last_error: Option<String>,
}

/// The queue claim: one statement that stamps due jobs with the end of
/// their lock. SQLite serializes writers, so two workers never stamp the
/// same row (the second one's subquery sees the first one's lock).
const CLAIM_SQLITE: &str = "UPDATE deliveries SET locked_until = $1, next_attempt_at = $1 WHERE id IN (\
    SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 \
    ORDER BY next_attempt_at, id LIMIT $3) \
    RETURNING id, inbox, activity_id, attempts";

/// On PostgreSQL, instances claim side by side: `FOR UPDATE SKIP LOCKED`
/// passes over rows another instance is claiming, and a row it claimed
/// meanwhile is re-checked and no longer due.
const CLAIM_POSTGRES: &str = "UPDATE deliveries SET locked_until = $1, next_attempt_at = $1 WHERE id IN (\
    SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 \
    ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
    RETURNING id, inbox, activity_id, attempts";

/// How many inboxes `herald queue` lists.
pub const TOP_INBOXES: i64 = 20;

impl Store {
    /// Stores `activity` and one job per follower inbox (deduplicated by
    /// shared inbox). Returns the number of jobs.
    #[tracing::instrument(skip_all, fields(activity = %activity.id), err)]
    pub async fn enqueue_to_followers(&self, activity: &Outgoing, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let jobs = fan_out(&mut tx, activity, now).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Stores `activity` and one job for `inbox`.
    #[tracing::instrument(skip_all, fields(activity = %activity.id, inbox), err)]
    pub async fn enqueue_to(&self, activity: &Outgoing, inbox: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        queue_to(&mut tx, activity, inbox, now).await?;
        tx.commit().await
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
        let due: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1")
                .bind(Time(now))
                .fetch_optional(pool)
                .await?
        });
        if due.is_none() {
            return Ok(Vec::new());
        }
        let claim = match self.pool {
            Pool::Sqlite(_) => CLAIM_SQLITE,
            Pool::Postgres(_) => CLAIM_POSTGRES,
        };
        let rows: Vec<ClaimedRow> = on_pool!(self, pool => {
            sqlx::query_as(claim)
                .bind(Time(now + lock))
                .bind(Time(now))
                .bind(int_param(limit))
                .fetch_all(pool)
                .await?
        });
        let blocked = self.fail_blocked(rows.iter().map(|r| (r.id, r.inbox.as_str())), now).await?;
        let mut bodies: std::collections::HashMap<String, (Bytes, Option<i64>, JobKind)> =
            std::collections::HashMap::new();
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows.into_iter().filter(|r| !blocked.contains(&r.id)) {
            if !bodies.contains_key(&row.activity_id) {
                let body: BodyRow = on_pool!(self, pool => {
                    sqlx::query_as(
                        "SELECT body, signing_key, protocol, topic, media_type FROM activities WHERE id = $1",
                    )
                    .bind(&row.activity_id)
                    .fetch_one(pool)
                    .await?
                });
                let kind = match Protocol::parse(&body.protocol)? {
                    Protocol::ActivityPub => JobKind::Activity,
                    Protocol::Ping => JobKind::Ping,
                    Protocol::WebSub => JobKind::WebSub {
                        topic: body.topic.unwrap_or_default(),
                        media_type: body.media_type.unwrap_or_default(),
                        subscription: None,
                    },
                };
                bodies.insert(row.activity_id.clone(), (Bytes::from(body.body), body.signing_key, kind));
            }
            let (body, signing_key, kind) = bodies.get(&row.activity_id).cloned().unwrap_or_default();
            jobs.push(Job { id: row.id, inbox: row.inbox, body, signing_key, attempts: row.attempts, kind });
        }
        self.attach_subscriptions(&mut jobs, now).await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Reads the current subscription (its secret) of each claimed WebSub
    /// job, in one query: a job whose subscription is gone or expired keeps
    /// `subscription: None` and is settled without being sent.
    async fn attach_subscriptions(&self, jobs: &mut [Job], now: DateTime<Utc>) -> Result<(), StoreError> {
        let ids: Vec<i64> = jobs.iter().filter(|j| matches!(j.kind, JobKind::WebSub { .. })).map(|j| j.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<SubscriptionRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query_as(JOB_SUBSCRIPTIONS_SQLITE).bind(ids).fetch_all(pool).await?
            }
            Pool::Postgres(pool) => sqlx::query_as(JOB_SUBSCRIPTIONS_POSTGRES).bind(&ids).fetch_all(pool).await?,
        };
        let live: std::collections::HashMap<i64, Option<String>> =
            rows.into_iter().filter(|r| r.expires_at.0 > now).map(|r| (r.id, r.secret)).collect();
        for job in jobs {
            if let JobKind::WebSub { subscription, .. } = &mut job.kind {
                *subscription = live.get(&job.id).cloned();
            }
        }
        Ok(())
    }

    /// Extends the lock of jobs still in hand (queued behind their host or
    /// in flight) to `until`, so that no other process, and no later claim
    /// of this one, takes them while they wait.
    pub async fn extend_locks(&self, ids: &[i64], until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        self.set_pending(&mut tx, "locked_until = $1, next_attempt_at = $1", ids, until).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands claimed jobs back to the queue, due at `now`, so that another
    /// process takes them at once instead of after their lock: a process
    /// shutting down with jobs it will not attempt. Jobs no longer pending
    /// are left alone. Returns how many were released.
    pub async fn release_deliveries(&self, ids: &[i64], now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let released = self.set_pending(&mut tx, "locked_until = NULL, next_attempt_at = $1", ids, now).await?;
        tx.notify(Event::Queued).await?;
        tx.commit().await?;
        Ok(released)
    }

    /// `UPDATE deliveries SET {set}` (with `$1` bound to `at`) on the
    /// pending jobs among `ids`, in id order, 500 at a time.
    async fn set_pending(&self, tx: &mut Tx, set: &str, ids: &[i64], at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        let mut changed = 0;
        for chunk in ids.chunks(500) {
            let list: Vec<String> = (0..chunk.len()).map(|n| format!("${}", n + 2)).collect();
            let rows = format!("state = 'pending' AND id IN ({})", list.join(", "));
            let sql = format!("UPDATE deliveries SET {set} WHERE {}", self.in_id_order(&rows));
            changed += on_tx!(tx, conn => {
                let mut query = sqlx::query(&sql).bind(Time(at));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(&mut *conn).await?.rows_affected()
            });
        }
        Ok(changed)
    }

    /// Records the outcomes of attempted jobs in one transaction.
    pub async fn record_outcomes(&self, outcomes: &[Outcome], now: DateTime<Utc>) -> Result<(), StoreError> {
        // Rows are locked in id order by every statement that touches
        // several (see `in_id_order`), so two instances never deadlock.
        let mut changes: Vec<JobUpdate<'_>> = outcomes.iter().map(JobUpdate::from).collect();
        changes.sort_by_key(|change| change.id);
        let mut tx = self.begin().await?;
        match &mut tx {
            // One statement for the whole batch: a round trip per job is
            // most of what recording costs over a network.
            Tx::Postgres(t) => {
                // An UPDATE … FROM changes a row once: of two outcomes for
                // one job in a batch (rare), the later one stands.
                changes.reverse();
                changes.dedup_by_key(|change| change.id);
                changes.reverse();
                sqlx::query(RECORD_POSTGRES)
                    .bind(changes.iter().map(|c| c.id).collect::<Vec<_>>())
                    .bind(changes.iter().map(|c| c.state.as_str()).collect::<Vec<_>>())
                    .bind(changes.iter().map(|c| c.at.map(Time)).collect::<Vec<_>>())
                    .bind(changes.iter().map(|c| c.status).collect::<Vec<_>>())
                    .bind(changes.iter().map(|c| c.error).collect::<Vec<_>>())
                    .bind(changes.iter().map(|c| i64::from(c.attempted)).collect::<Vec<_>>())
                    .bind(Time(now))
                    .execute(&mut **t)
                    .await?;
            }
            Tx::Sqlite(t) => {
                for c in &changes {
                    sqlx::query(RECORD_SQLITE)
                        .bind(c.id)
                        .bind(c.state.as_str())
                        .bind(c.at.map(Time))
                        .bind(c.status)
                        .bind(c.error)
                        .bind(i64::from(c.attempted))
                        .bind(Time(now))
                        .execute(&mut **t)
                        .await?;
                }
            }
        }
        tx.commit().await
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

    /// Activities sent (kept when their jobs are deleted: the outbox's history).
    pub async fn activity_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM activities").await
    }

    /// Makes every pending job due now (`herald queue --retry-now`); returns how many.
    pub async fn retry_all_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let done = on_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = $1 WHERE state = 'pending' \
                 AND (locked_until IS NULL OR locked_until < $1)",
            )
            .bind(Time(now))
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        tx.notify(Event::Queued).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Counts by state, the oldest pending job, the inboxes with most
    /// pending or failed jobs, and the hosts that are unavailable or whose
    /// circuit is open at `now`.
    pub async fn queue_status(&self, now: DateTime<Utc>) -> Result<QueueStatus, StoreError> {
        let mut status = QueueStatus::default();
        let counts: Vec<(String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state").fetch_all(pool).await?
        });
        for (state, n) in counts {
            match DeliveryState::parse(&state)? {
                DeliveryState::Pending => status.pending = n,
                DeliveryState::Delivered => status.delivered = n,
                DeliveryState::Failed => status.failed = n,
            }
        }
        let oldest: Option<Time> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(created_at) FROM deliveries WHERE state = 'pending'").fetch_one(pool).await?
        });
        status.oldest_pending = oldest.map(|t| t.0);
        let rows: Vec<BacklogRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.inbox, SUM(CASE WHEN d.state = 'pending' THEN 1 ELSE 0 END) AS pending, \
                 SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END) AS failed, \
                 (SELECT e.last_error FROM deliveries e WHERE e.inbox = d.inbox AND e.state <> 'delivered' \
                  AND e.last_error IS NOT NULL ORDER BY e.updated_at DESC, e.id DESC LIMIT 1) AS last_error \
                 FROM deliveries d WHERE d.state <> 'delivered' GROUP BY d.inbox \
                 ORDER BY COUNT(*) DESC, d.inbox LIMIT $1",
            )
            .bind(TOP_INBOXES)
            .fetch_all(pool)
            .await?
        });
        status.inboxes = rows
            .into_iter()
            .map(|row| InboxBacklog {
                inbox: row.inbox,
                pending: row.pending,
                failed: row.failed,
                last_error: row.last_error,
            })
            .collect();
        status.hosts = self
            .unhealthy_hosts()
            .await?
            .into_iter()
            .filter(|h| h.unavailable_since.is_some() || h.circuit_until.is_some_and(|t| t > now))
            .collect();
        Ok(status)
    }

    /// Every job for `inbox`, newest first (at most `limit`).
    pub async fn inbox_jobs(&self, inbox: &str, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        let rows: Vec<JobListRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, activity_id, state, attempts, next_attempt_at, last_status, last_error FROM deliveries \
                 WHERE inbox = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(inbox)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(JobRow {
                    id: row.id,
                    activity_id: row.activity_id,
                    state: DeliveryState::parse(&row.state)?,
                    attempts: row.attempts,
                    next_attempt_at: row.next_attempt_at.0,
                    last_status: row.last_status,
                    last_error: row.last_error,
                })
            })
            .collect()
    }

    /// Postpones every pending job whose inbox starts with `origin`
    /// (`scheme://host[:port]/`) to `until`, without counting an attempt:
    /// the host's circuit is open. `reason` becomes the last error of jobs
    /// that have none. Returns how many jobs moved.
    pub async fn defer_host(&self, origin: &str, until: DateTime<Utc>, reason: &str) -> Result<u64, StoreError> {
        // The inboxes starting with `origin` are the range [origin, origin
        // with its last character incremented): bytewise on both backends
        // (SQLite's BINARY collation, `COLLATE "C"` on PostgreSQL), so the
        // `deliveries_by_inbox` index finds them.
        let mut end = origin.to_owned();
        let last = end.pop().map_or('\u{1}', |c| char::from_u32(u32::from(c) + 1).unwrap_or(char::MAX));
        end.push(last);
        let rows = "state = 'pending' AND inbox >= $2 AND inbox < $4 AND next_attempt_at < $1";
        let sql = format!(
            "UPDATE deliveries SET next_attempt_at = $1, last_error = COALESCE(last_error, $3) WHERE {}",
            self.in_id_order(rows)
        );
        Ok(on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(Time(until))
                .bind(origin)
                .bind(reason)
                .bind(&end)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// `condition` on `deliveries`, as an UPDATE's WHERE clause that locks
    /// the rows in id order on PostgreSQL, as every statement updating
    /// several jobs does: two instances updating overlapping jobs then wait
    /// for each other instead of deadlocking. (SQLite has one writer.)
    pub(super) fn in_id_order(&self, condition: &str) -> String {
        match self.pool {
            Pool::Sqlite(_) => condition.to_owned(),
            Pool::Postgres(_) => {
                format!("id IN (SELECT id FROM deliveries WHERE {condition} ORDER BY id FOR UPDATE)")
            }
        }
    }

    /// Deletes delivered jobs last touched before `delivered_before` and
    /// failed ones before `failed_before`; the activities stay (they are the
    /// outbox's history). Returns (delivered, failed) rows deleted.
    pub async fn purge_deliveries(
        &self,
        delivered_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let mut deleted = [0; 2];
        for (n, (state, before)) in
            [(DeliveryState::Delivered, delivered_before), (DeliveryState::Failed, failed_before)]
                .into_iter()
                .enumerate()
        {
            deleted[n] = on_pool!(self, pool => {
                sqlx::query("DELETE FROM deliveries WHERE state = $1 AND updated_at < $2")
                    .bind(state.as_str())
                    .bind(Time(before))
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
        }
        Ok((deleted[0], deleted[1]))
    }
}

async fn insert_activity(tx: &mut Tx, activity: &Outgoing, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO activities (id, kind, article_id, body, created_at, signing_key) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&activity.id)
        .bind(activity.kind)
        .bind(activity.article_id.as_deref())
        .bind(&activity.body)
        .bind(Time(now))
        .bind(activity.signing_key)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Inserts the activity and one job for `inbox` inside the caller's transaction.
pub(super) async fn queue_to(
    tx: &mut Tx,
    activity: &Outgoing,
    inbox: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_activity(tx, activity, now).await?;
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, $3, $3) ON CONFLICT (activity_id, inbox) DO NOTHING",
        )
        .bind(&activity.id)
        .bind(inbox)
        .bind(Time(now))
        .execute(&mut *conn)
        .await?;
    });
    tx.notify(Event::Queued).await
}

/// Inserts the activity and its jobs inside the caller's transaction.
pub(super) async fn fan_out(tx: &mut Tx, activity: &Outgoing, now: DateTime<Utc>) -> Result<u64, StoreError> {
    insert_activity(tx, activity, now).await?;
    // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
    let jobs = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
             SELECT DISTINCT $1, COALESCE(shared_inbox, inbox), 'pending', $2, $2, $2 FROM followers WHERE true \
             ON CONFLICT (activity_id, inbox) DO NOTHING",
        )
        .bind(&activity.id)
        .bind(Time(now))
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if jobs > 0 {
        tx.notify(Event::Queued).await?;
    }
    Ok(jobs)
}

/// A host's delivery health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostHealth {
    /// `host[:port]`.
    pub host: String,
    /// Distinct days with failed deliveries since the last success.
    pub failure_days: usize,
    /// Set once failures happened on [`UNAVAILABLE_AFTER_DAYS`] different days.
    pub unavailable_since: Option<DateTime<Utc>>,
    /// Its circuit is open until then: no request before.
    pub circuit_until: Option<DateTime<Utc>>,
    /// Failed probes since it last answered.
    pub circuit_opens: i64,
}

/// Failures on this many different days make a host unavailable (Mastodon's rule).
pub const UNAVAILABLE_AFTER_DAYS: usize = 7;

impl Store {
    /// The health of `host`, `None` when nothing failed since its last success.
    pub async fn host_health(&self, host: &str) -> Result<Option<HostHealth>, StoreError> {
        let row: Option<HostRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT host, failure_days, unavailable_since, circuit_until, circuit_opens FROM hosts WHERE host = $1",
            )
            .bind(host)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(HostRow::health))
    }

    /// Every host with failures since its last success (few: a host leaves
    /// the table when it answers).
    pub async fn unhealthy_hosts(&self) -> Result<Vec<HostHealth>, StoreError> {
        let rows: Vec<HostRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT host, failure_days, unavailable_since, circuit_until, circuit_opens FROM hosts ORDER BY host",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(HostRow::health).collect())
    }

    /// Records a failed delivery to `host` today, and its circuit open until
    /// `circuit_until` when given; returns whether the host is now
    /// unavailable.
    ///
    /// Single statements, no read-then-write transaction: a deferred SQLite
    /// transaction that upgrades from reading to writing can fail or wait on
    /// another process's write lock, and this runs beside publishes.
    pub async fn record_host_failure(
        &self,
        host: &str,
        now: DateTime<Utc>,
        circuit_until: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let today = now.format("%Y-%m-%d").to_string();
        let opened = i64::from(circuit_until.is_some());
        // Days are 10 characters and space-separated: N days make 11N - 1 characters.
        let threshold = int_param(UNAVAILABLE_AFTER_DAYS * 11 - 1);
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO hosts (host, failure_days, unavailable_since, circuit_until, circuit_opens) \
                 VALUES ($1, $2, NULL, $3, $4) \
                 ON CONFLICT (host) DO UPDATE SET failure_days = CASE \
                   WHEN (' ' || hosts.failure_days || ' ') LIKE ('% ' || $2 || ' %') THEN hosts.failure_days \
                   ELSE hosts.failure_days || ' ' || $2 END, \
                 circuit_until = COALESCE($3, hosts.circuit_until), circuit_opens = hosts.circuit_opens + $4",
            )
            .bind(host)
            .bind(&today)
            .bind(circuit_until.map(Time))
            .bind(opened)
            .execute(pool)
            .await?;
            sqlx::query(
                "UPDATE hosts SET unavailable_since = $1 WHERE host = $2 AND unavailable_since IS NULL \
                 AND length(failure_days) >= $3",
            )
            .bind(Time(now))
            .bind(host)
            .bind(threshold)
            .execute(pool)
            .await?;
        });
        Ok(self.host_health(host).await?.is_some_and(|h| h.unavailable_since.is_some()))
    }

    /// The host answered (a delivery succeeded, or it sent us an activity):
    /// forget its failures and close its circuit.
    pub async fn record_host_success(&self, host: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("DELETE FROM hosts WHERE host = $1").bind(host).execute(pool).await?; });
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct HostRow {
    host: String,
    failure_days: String,
    unavailable_since: Option<Time>,
    circuit_until: Option<Time>,
    circuit_opens: i64,
}

impl HostRow {
    fn health(self) -> HostHealth {
        HostHealth {
            host: self.host,
            failure_days: self.failure_days.split_whitespace().count(),
            unavailable_since: self.unavailable_since.map(|t| t.0),
            circuit_until: self.circuit_until.map(|t| t.0),
            circuit_opens: self.circuit_opens,
        }
    }
}
