//! The `websub_subscriptions` and `websub_topics` tables: herald's WebSub
//! hub (W3C WebSub Recommendation).
//!
//! A subscription is stored only once its intent was verified (the hub
//! module does that); a renewal moves its expiry. Distributions go through
//! the delivery queue of `deliveries.rs`: [`Store::distribute`] compares
//! the content now served at a topic with the content last distributed
//! (`websub_topics.tag`) and, in the same transaction as that
//! compare-and-set, queues one job per live subscriber and one ping per
//! external hub, so that several instances noticing one change queue it once.

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, Event, Store, Time, Tx};
use crate::error::StoreError;

/// A verified subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic URL (a feed herald serves).
    pub topic: String,
    /// The subscriber's callback URL.
    pub callback: String,
    /// The HMAC secret of `X-Hub-Signature`, if the subscriber gave one.
    pub secret: Option<String>,
    /// The lease granted, in seconds.
    pub lease_seconds: i64,
    /// When the lease ends: no distributions after.
    pub expires_at: DateTime<Utc>,
}

/// A topic's content as served now, to distribute if it changed.
#[derive(Debug, Clone, Copy)]
pub struct Distribution<'a> {
    /// The topic URL.
    pub topic: &'a str,
    /// The content's strong tag (a hash): equal tags, equal bytes.
    pub tag: &'a str,
    /// The site revision the content was read at: an instance that read an
    /// older revision never overwrites a newer distribution.
    pub revision: i64,
    /// The feed's bytes (UTF-8).
    pub body: &'a str,
    /// Its `Content-Type`.
    pub media_type: &'a str,
    /// External hubs to ping (`hub.mode=publish`), none for most topics.
    pub hubs: &'a [String],
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    topic: String,
    callback: String,
    secret: Option<String>,
    lease_seconds: i64,
    expires_at: Time,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        Self {
            topic: row.topic,
            callback: row.callback,
            secret: row.secret,
            lease_seconds: row.lease_seconds,
            expires_at: row.expires_at.0,
        }
    }
}

/// The `hub.mode=publish` body of a ping for `topic`.
fn ping_body(topic: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("hub.mode", "publish")
        .append_pair("hub.url", topic)
        .finish()
}

impl Store {
    /// Stores a verified subscription, or renews it (new secret, new lease
    /// from `now`). `baseline` (the topic's tag and revision as served now)
    /// is recorded as distributed when the topic has no record yet, so the
    /// first distribution is the first change after subscribing.
    #[tracing::instrument(skip_all, fields(topic = %subscription.topic, callback = %subscription.callback), err)]
    pub async fn websub_subscribe(
        &self,
        subscription: &Subscription,
        baseline: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO websub_subscriptions \
                 (topic, callback, secret, lease_seconds, expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret, \
                 lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at, \
                 updated_at = excluded.updated_at",
            )
            .bind(&subscription.topic)
            .bind(&subscription.callback)
            .bind(subscription.secret.as_deref())
            .bind(subscription.lease_seconds)
            .bind(Time(subscription.expires_at))
            .bind(Time(now))
            .execute(&mut *conn)
            .await?;
            if let Some((tag, revision)) = baseline {
                sqlx::query(
                    "INSERT INTO websub_topics (topic, tag, revision, distributed_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (topic) DO NOTHING",
                )
                .bind(&subscription.topic)
                .bind(tag)
                .bind(revision)
                .bind(Time(now))
                .execute(&mut *conn)
                .await?;
            }
        });
        tx.commit().await
    }

    /// Deletes a subscription; returns whether there was one.
    #[tracing::instrument(skip(self), err)]
    pub async fn websub_unsubscribe(&self, topic: &str, callback: &str) -> Result<bool, StoreError> {
        let deleted = on_pool!(self, pool => {
            sqlx::query("DELETE FROM websub_subscriptions WHERE topic = $1 AND callback = $2")
                .bind(topic)
                .bind(callback)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// One subscription, expired or not.
    pub async fn websub_subscription(&self, topic: &str, callback: &str) -> Result<Option<Subscription>, StoreError> {
        let row: Option<SubscriptionRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT topic, callback, secret, lease_seconds, expires_at FROM websub_subscriptions \
                 WHERE topic = $1 AND callback = $2",
            )
            .bind(topic)
            .bind(callback)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(Subscription::from))
    }

    /// The subscriptions of `topic` whose lease runs past `now`, by callback.
    pub async fn websub_live_subscriptions(
        &self,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows: Vec<SubscriptionRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT topic, callback, secret, lease_seconds, expires_at FROM websub_subscriptions \
                 WHERE topic = $1 AND expires_at > $2 ORDER BY callback",
            )
            .bind(topic)
            .bind(Time(now))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(Subscription::from).collect())
    }

    /// Every topic with at least one live subscription at `now`.
    pub async fn websub_live_topics(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT topic FROM websub_subscriptions WHERE expires_at > $1 ORDER BY topic",
            )
            .bind(Time(now))
            .fetch_all(pool)
            .await?
        }))
    }

    /// The tag last distributed for `topic`, if any.
    pub async fn websub_distributed_tag(&self, topic: &str) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT tag FROM websub_topics WHERE topic = $1")
                .bind(topic)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Distributes `distribution` if its tag differs from the one last
    /// distributed for its topic (and its revision is not older): in one
    /// transaction, records the new tag (compare-and-set), queues one WebSub
    /// job per subscriber live at `now` and one ping per hub. Returns the
    /// jobs queued, or `None` when the topic's content was distributed
    /// already (by this instance or another).
    #[tracing::instrument(skip_all, fields(topic = %distribution.topic, tag = %distribution.tag), err)]
    pub async fn distribute(
        &self,
        distribution: &Distribution<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin().await?;
        // On PostgreSQL a second instance's upsert waits on the first one's
        // row (or unique-index entry) until it commits, then sees its tag:
        // the WHERE is false and nothing is returned. SQLite has one writer.
        let claimed: Option<String> = on_tx!(&mut tx, conn => {
            sqlx::query_scalar(
                "INSERT INTO websub_topics (topic, tag, revision, distributed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (topic) DO UPDATE SET tag = excluded.tag, revision = excluded.revision, \
                 distributed_at = excluded.distributed_at \
                 WHERE websub_topics.tag <> excluded.tag AND websub_topics.revision <= excluded.revision \
                 RETURNING topic",
            )
            .bind(distribution.topic)
            .bind(distribution.tag)
            .bind(distribution.revision)
            .bind(Time(now))
            .fetch_optional(&mut *conn)
            .await?
        });
        if claimed.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut jobs = queue_distribution(&mut tx, distribution, now).await?;
        jobs += queue_pings(&mut tx, distribution, now).await?;
        if jobs > 0 {
            tx.notify(Event::Queued).await?;
        }
        tx.commit().await?;
        Ok(Some(jobs))
    }

    /// Deletes subscriptions whose lease ended before `now`; returns how many.
    pub async fn prune_websub_subscriptions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM websub_subscriptions WHERE expires_at <= $1")
                .bind(Time(now))
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// A fresh activity id for a distribution or a ping.
fn activity_id(kind: &str) -> String {
    format!("urn:uuid:{}#{kind}", uuid::Uuid::new_v4())
}

/// Stores the topic's content as an activity and one job per live subscriber.
async fn queue_distribution(tx: &mut Tx, d: &Distribution<'_>, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let id = activity_id("websub");
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO activities (id, kind, article_id, body, created_at, protocol, topic, media_type) \
             VALUES ($1, 'Distribution', NULL, $2, $3, 'websub', $4, $5)",
        )
        .bind(&id)
        .bind(d.body)
        .bind(Time(now))
        .bind(d.topic)
        .bind(d.media_type)
        .execute(&mut *conn)
        .await?;
        // The SELECT's own WHERE keeps SQLite from reading ON CONFLICT as a
        // join clause.
        sqlx::query(
            "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
             SELECT $1, callback, 'pending', $2, $2, $2 FROM websub_subscriptions \
             WHERE topic = $3 AND expires_at > $2 \
             ON CONFLICT (activity_id, inbox) DO NOTHING",
        )
        .bind(&id)
        .bind(Time(now))
        .bind(d.topic)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// Stores a `hub.mode=publish` ping and one job per external hub.
async fn queue_pings(tx: &mut Tx, d: &Distribution<'_>, now: DateTime<Utc>) -> Result<u64, StoreError> {
    if d.hubs.is_empty() {
        return Ok(0);
    }
    let id = activity_id("ping");
    let body = ping_body(d.topic);
    let mut jobs = 0;
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO activities (id, kind, article_id, body, created_at, protocol, topic, media_type) \
             VALUES ($1, 'Ping', NULL, $2, $3, 'ping', $4, 'application/x-www-form-urlencoded')",
        )
        .bind(&id)
        .bind(&body)
        .bind(Time(now))
        .bind(d.topic)
        .execute(&mut *conn)
        .await?;
        for hub in d.hubs {
            jobs += sqlx::query(
                "INSERT INTO deliveries (activity_id, inbox, state, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, 'pending', $3, $3, $3) ON CONFLICT (activity_id, inbox) DO NOTHING",
            )
            .bind(&id)
            .bind(hub)
            .bind(Time(now))
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
    });
    Ok(jobs)
}
