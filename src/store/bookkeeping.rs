//! The `received_activities`, `invalidations` and `account_state` tables:
//! what the inbox has already processed, which cached documents changed
//! without a publish, and what followers were last told about the account.

use chrono::{DateTime, TimeDelta, Utc};

use super::deliveries::{fan_out, Outgoing};
use super::{on_pool, on_tx, Event, Store, Time, Tx};
use crate::error::StoreError;

/// A cached document that changed: every running server drops it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Invalidation {
    /// `/users/{account}/followers` (a follower came or went).
    Followers,
    /// The Note of this article (its likes, shares or replies changed).
    Note(String),
}

impl Invalidation {
    pub(super) fn encode(&self) -> String {
        match self {
            Invalidation::Followers => "followers".to_owned(),
            Invalidation::Note(article_id) => format!("note {article_id}"),
        }
    }

    pub(super) fn decode(raw: &str) -> Option<Self> {
        match raw.split_once(' ') {
            None if raw == "followers" => Some(Invalidation::Followers),
            Some(("note", id)) => Some(Invalidation::Note(id.to_owned())),
            _ => None,
        }
    }
}

/// Received activity ids are kept this long: past the longest signature
/// validity (12 h, plus 1 h of skew), a replay is refused by its signature.
pub const REMEMBER_RECEIVED: TimeDelta = TimeDelta::hours(14);
/// Invalidations are kept this long (servers read them within a second).
pub const KEEP_INVALIDATIONS: TimeDelta = TimeDelta::days(1);

impl Store {
    /// Remembers an activity id from `actor`; false when it was already
    /// processed (a replay or a redelivery), which then changes nothing.
    pub async fn remember_activity(
        &self,
        id: &str,
        actor: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO received_activities (id, actor, kind, received_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(actor)
            .bind(kind)
            .bind(Time(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Forgets an activity id whose processing failed, so a redelivery is
    /// processed again.
    pub async fn forget_activity(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("DELETE FROM received_activities WHERE id = $1").bind(id).execute(pool).await?; });
        Ok(())
    }

    /// The invalidations after `seq`, oldest first, with their sequence numbers.
    pub async fn invalidations_since(&self, seq: i64) -> Result<Vec<(i64, Invalidation)>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT seq, key FROM invalidations WHERE seq > $1 ORDER BY seq").bind(seq).fetch_all(pool).await?
        });
        Ok(rows.into_iter().filter_map(|(seq, key)| Invalidation::decode(&key).map(|i| (seq, i))).collect())
    }

    /// The latest invalidation's sequence number (0 when none).
    pub async fn last_invalidation(&self) -> Result<i64, StoreError> {
        self.count("SELECT COALESCE(MAX(seq), 0) FROM invalidations").await
    }

    /// Deletes invalidations and received activity ids nobody needs any more.
    pub async fn prune_bookkeeping(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM invalidations WHERE at < $1")
                .bind(Time(now - KEEP_INVALIDATIONS))
                .execute(pool)
                .await?;
            sqlx::query("DELETE FROM received_activities WHERE received_at < $1")
                .bind(Time(now - REMEMBER_RECEIVED))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A value of `account_state`.
    pub async fn account_state(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM account_state WHERE name = $1").bind(name).fetch_optional(pool).await?
        }))
    }

    /// Sends `activity` to every follower once per `value` of `name`: when
    /// the stored value differs, stores `value` and queues the activity in
    /// the same transaction. With `announce_first` false, a first value is
    /// only stored (nothing to tell followers about on a first start).
    /// Returns the number of jobs queued.
    pub async fn announce_once(
        &self,
        name: &str,
        value: &str,
        announce_first: bool,
        activity: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        super::articles::take_write_lock(&mut tx).await?;
        let stored: Option<String> = on_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT value FROM account_state WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?
        });
        if stored.as_deref() == Some(value) {
            // Ended here, not left to the drop: the write lock goes now.
            tx.rollback().await?;
            return Ok(0);
        }
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO account_state (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *conn)
            .await?;
        });
        let jobs = if stored.is_some() || announce_first { fan_out(&mut tx, activity, now).await? } else { 0 };
        tx.commit().await?;
        Ok(jobs)
    }
}

/// Records `invalidation` inside the caller's transaction.
///
/// On PostgreSQL the invalidation also travels in a notification, which
/// listening servers apply directly: sequence numbers of concurrent
/// transactions may commit out of order there, so reading "the rows after
/// the last one seen" could miss one.
pub(super) async fn invalidate(tx: &mut Tx, invalidation: &Invalidation, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO invalidations (key, at) VALUES ($1, $2)")
            .bind(invalidation.encode())
            .bind(Time(now))
            .execute(&mut *conn)
            .await?;
    });
    tx.notify(Event::Invalidated(invalidation.clone())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip_through_their_stored_form() {
        for i in [Invalidation::Followers, Invalidation::Note("urn:uuid:1 x".into())] {
            assert_eq!(Invalidation::decode(&i.encode()), Some(i));
        }
        assert_eq!(Invalidation::decode("nonsense"), None);
    }
}
