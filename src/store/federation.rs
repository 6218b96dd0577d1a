//! The `actor_keys` and `followers` tables.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{format_time, parse_time, Store};
use crate::error::StoreError;
use crate::federation::keys::StoredKey;

impl Store {
    /// The current actor key and when it was created, if there is one.
    pub async fn actor_key(&self) -> Result<Option<(StoredKey, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "SELECT private_pem, public_pem, created_at FROM actor_keys WHERE retired_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_all(&self.pool).await?.into_iter().next();
        row.map(|row| {
            let created: String = row.try_get("created_at")?;
            Ok((
                StoredKey { private_pem: row.try_get("private_pem")?, public_pem: row.try_get("public_pem")? },
                parse_time("actor_keys", &created)?,
            ))
        })
        .transpose()
    }

    /// Stores `key` as the current key unless one exists already (another
    /// instance may have raced us), and returns the current one.
    #[tracing::instrument(skip_all, err)]
    pub async fn ensure_actor_key(
        &self,
        key: StoredKey,
        now: DateTime<Utc>,
    ) -> Result<(StoredKey, DateTime<Utc>), StoreError> {
        let mut tx = self.pool.begin().await?;
        super::articles::take_write_lock(&mut tx).await?;
        let exists = sqlx::query("SELECT id FROM actor_keys WHERE retired_at IS NULL")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .next();
        if exists.is_none() {
            insert_key(&mut tx, &key, now).await?;
        }
        tx.commit().await?;
        self.actor_key().await?.ok_or_else(|| StoreError::Corrupt {
            id: "actor_keys".to_owned(),
            message: "no current key after storing one".to_owned(),
        })
    }

    /// Retires the current key and makes `key` current; bumps the site
    /// revision so that running servers serve the new key and sign with it.
    #[tracing::instrument(skip_all, err)]
    pub async fn rotate_actor_key(&self, key: &StoredKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        super::articles::bump_site(&mut tx, now).await?;
        sqlx::query("UPDATE actor_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
        insert_key(&mut tx, key, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Number of followers.
    pub async fn follower_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM followers").await
    }
}

/// A follower or fetched remote actor, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteActorRow {
    /// Actor id.
    pub id: String,
    /// Personal inbox.
    pub inbox: String,
    /// Shared inbox.
    pub shared_inbox: Option<String>,
    /// Key id.
    pub key_id: String,
    /// Public key PEM.
    pub public_pem: String,
    /// When it was fetched.
    pub fetched_at: DateTime<Utc>,
}

impl Store {
    /// A cached remote actor.
    pub async fn remote_actor(&self, id: &str) -> Result<Option<RemoteActorRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, inbox, shared_inbox, key_id, public_pem, fetched_at FROM remote_actors WHERE id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .next();
        row.map(|row| {
            let fetched: String = row.try_get("fetched_at")?;
            Ok(RemoteActorRow {
                id: row.try_get("id")?,
                inbox: row.try_get("inbox")?,
                shared_inbox: row.try_get("shared_inbox")?,
                key_id: row.try_get("key_id")?,
                public_pem: row.try_get("public_pem")?,
                fetched_at: parse_time("remote_actors", &fetched)?,
            })
        })
        .transpose()
    }

    /// Caches a fetched remote actor.
    pub async fn cache_remote_actor(&self, actor: &RemoteActorRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO remote_actors (id, inbox, shared_inbox, key_id, public_pem, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET inbox = excluded.inbox, \
             shared_inbox = excluded.shared_inbox, key_id = excluded.key_id, public_pem = excluded.public_pem, \
             fetched_at = excluded.fetched_at",
        )
        .bind(&actor.id)
        .bind(&actor.inbox)
        .bind(actor.shared_inbox.as_deref())
        .bind(&actor.key_id)
        .bind(&actor.public_pem)
        .bind(format_time(actor.fetched_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a follower (a repeated Follow updates it) and queues the
    /// `accept` activity to its inbox, in one transaction.
    #[tracing::instrument(skip_all, fields(actor = %actor.id), err)]
    pub async fn add_follower(
        &self,
        actor: &RemoteActorRow,
        follow_id: &str,
        accept: &super::deliveries::Outgoing,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO followers (actor, inbox, shared_inbox, follow_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (actor) DO UPDATE SET inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, \
             follow_id = excluded.follow_id",
        )
        .bind(&actor.id)
        .bind(&actor.inbox)
        .bind(actor.shared_inbox.as_deref())
        .bind(follow_id)
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.enqueue_to(accept, &actor.inbox, now).await
    }

    /// Adds followers in bulk, in one transaction, without sending Accepts
    /// (importing followers moved from another server, load tests).
    pub async fn import_followers(&self, actors: &[RemoteActorRow], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for actor in actors {
            sqlx::query(
                "INSERT INTO followers (actor, inbox, shared_inbox, follow_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (actor) DO NOTHING",
            )
            .bind(&actor.id)
            .bind(&actor.inbox)
            .bind(actor.shared_inbox.as_deref())
            .bind(format!("{}#imported", actor.id))
            .bind(format_time(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a follower; returns whether there was one.
    pub async fn remove_follower(&self, actor: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM followers WHERE actor = $1").bind(actor).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes the followers reached through `inbox` (it answered 410 Gone).
    pub async fn remove_followers_at(&self, inbox: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM followers WHERE inbox = $1").bind(inbox).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Followers, for `herald followers`: (actor, inbox).
    pub async fn followers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT actor, inbox FROM followers ORDER BY actor").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("actor")?, row.try_get("inbox")?))).collect()
    }

    /// Records a like, boost or reply once per activity id.
    pub async fn record_interaction(
        &self,
        activity_id: &str,
        article_id: &str,
        kind: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO interactions (activity_id, article_id, kind, actor, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (activity_id) DO NOTHING",
        )
        .bind(activity_id)
        .bind(article_id)
        .bind(kind)
        .bind(actor)
        .bind(format_time(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Likes, boosts and replies per article, most interactions first:
    /// (slug, likes, boosts, replies).
    pub async fn interaction_summary(&self) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.slug AS slug, \
             SUM(CASE WHEN i.kind = 'like' THEN 1 ELSE 0 END) AS likes, \
             SUM(CASE WHEN i.kind = 'announce' THEN 1 ELSE 0 END) AS boosts, \
             SUM(CASE WHEN i.kind = 'reply' THEN 1 ELSE 0 END) AS replies \
             FROM interactions i JOIN articles a ON a.id = i.article_id \
             GROUP BY a.slug ORDER BY COUNT(*) DESC, a.slug",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((row.try_get("slug")?, row.try_get("likes")?, row.try_get("boosts")?, row.try_get("replies")?))
            })
            .collect()
    }

    /// Likes, boosts and replies of an article: (kind, count).
    pub async fn interaction_counts(&self, article_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n FROM interactions WHERE article_id = $1 GROUP BY kind ORDER BY kind",
        )
        .bind(article_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("kind")?, row.try_get("n")?))).collect()
    }
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &StoredKey,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO actor_keys (private_pem, public_pem, created_at) VALUES ($1, $2, $3)")
        .bind(&key.private_pem)
        .bind(&key.public_pem)
        .bind(format_time(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
