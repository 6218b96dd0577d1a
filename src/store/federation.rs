//! The `actor_keys`, `followers`, `remote_actors` and `interactions` tables.

use chrono::{DateTime, Utc};

use super::bookkeeping::{invalidate, Invalidation};
use super::{on_pool, on_tx, Store, Time, Tx};
use crate::error::StoreError;
use crate::federation::keys::StoredKey;

impl Store {
    /// The current actor key and when it was created, if there is one.
    pub async fn actor_key(&self) -> Result<Option<(StoredKey, DateTime<Utc>)>, StoreError> {
        let row: Option<KeyRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT private_pem, public_pem, created_at FROM actor_keys WHERE retired_at IS NULL \
                 ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|row| (StoredKey { private_pem: row.private_pem, public_pem: row.public_pem }, row.created_at.0)))
    }

    /// When the account came to be: its first key's creation (the actor's
    /// `published`, unchanged by key rotations).
    pub async fn account_created(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first: Option<Time> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(created_at) FROM actor_keys").fetch_one(pool).await?
        });
        Ok(first.map(|t| t.0))
    }

    /// Stores `key` as the current key unless one exists already (another
    /// instance may have raced us), and returns the current one.
    #[tracing::instrument(skip_all, err)]
    pub async fn ensure_actor_key(
        &self,
        key: StoredKey,
        now: DateTime<Utc>,
    ) -> Result<(StoredKey, DateTime<Utc>), StoreError> {
        let mut tx = self.begin().await?;
        super::articles::take_write_lock(&mut tx).await?;
        let exists: Option<i64> = on_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT id FROM actor_keys WHERE retired_at IS NULL").fetch_optional(&mut *conn).await?
        });
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
    /// Returns the retired key's id.
    #[tracing::instrument(skip_all, err)]
    pub async fn rotate_actor_key(&self, key: &StoredKey, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin().await?;
        super::articles::bump_site(&mut tx, now).await?;
        let retired: Option<i64> = on_tx!(&mut tx, conn => {
            let retired =
                sqlx::query_scalar("SELECT id FROM actor_keys WHERE retired_at IS NULL").fetch_optional(&mut *conn).await?;
            sqlx::query("UPDATE actor_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(Time(now))
                .execute(&mut *conn)
                .await?;
            retired
        });
        insert_key(&mut tx, key, now).await?;
        tx.commit().await?;
        Ok(retired)
    }

    /// A key by its row id, current or retired.
    pub async fn actor_key_by_id(&self, id: i64) -> Result<Option<StoredKey>, StoreError> {
        let row: Option<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT private_pem, public_pem FROM actor_keys WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(private_pem, public_pem)| StoredKey { private_pem, public_pem }))
    }

    /// Number of followers.
    pub async fn follower_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM followers").await
    }
}

/// What a remote actor did with one of our Notes (the `interactions.kind`
/// column, `CHECK`-constrained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InteractionKind {
    /// A `Like`.
    Like,
    /// An `Announce` (a boost).
    Announce,
    /// A reply: a Note `inReplyTo` ours.
    Reply,
}

impl InteractionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Like => "like",
            InteractionKind::Announce => "announce",
            InteractionKind::Reply => "reply",
        }
    }

    pub(super) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "like" => Ok(InteractionKind::Like),
            "announce" => Ok(InteractionKind::Announce),
            "reply" => Ok(InteractionKind::Reply),
            other => Err(StoreError::Corrupt { id: "interactions".into(), message: format!("unknown kind {other:?}") }),
        }
    }
}

/// An article's interaction counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InteractionTotals {
    /// Likes.
    pub likes: i64,
    /// Announces (boosts).
    pub shares: i64,
    /// Replies.
    pub replies: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    private_pem: String,
    public_pem: String,
    created_at: Time,
}

#[derive(sqlx::FromRow)]
struct ActorRow {
    id: String,
    inbox: String,
    shared_inbox: Option<String>,
    key_id: String,
    public_pem: String,
    fetched_at: Time,
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
        let row: Option<ActorRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, inbox, shared_inbox, key_id, public_pem, fetched_at FROM remote_actors WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|row| RemoteActorRow {
            id: row.id,
            inbox: row.inbox,
            shared_inbox: row.shared_inbox,
            key_id: row.key_id,
            public_pem: row.public_pem,
            fetched_at: row.fetched_at.0,
        }))
    }

    /// Caches a fetched remote actor.
    pub async fn cache_remote_actor(&self, actor: &RemoteActorRow) -> Result<(), StoreError> {
        on_pool!(self, pool => {
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
            .bind(Time(actor.fetched_at))
            .execute(pool)
            .await?;
        });
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
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO followers (actor, inbox, shared_inbox, follow_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (actor) DO UPDATE SET inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, \
                 follow_id = excluded.follow_id",
            )
            .bind(&actor.id)
            .bind(&actor.inbox)
            .bind(actor.shared_inbox.as_deref())
            .bind(follow_id)
            .bind(Time(now))
            .execute(&mut *conn)
            .await?;
        });
        invalidate(&mut tx, &Invalidation::Followers, now).await?;
        super::deliveries::queue_to(&mut tx, accept, &actor.inbox, now).await?;
        tx.commit().await
    }

    /// Adds followers in bulk, in one transaction, without sending Accepts
    /// (importing followers moved from another server, load tests).
    pub async fn import_followers(&self, actors: &[RemoteActorRow], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for actor in actors {
            on_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO followers (actor, inbox, shared_inbox, follow_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (actor) DO NOTHING",
                )
                .bind(&actor.id)
                .bind(&actor.inbox)
                .bind(actor.shared_inbox.as_deref())
                .bind(format!("{}#imported", actor.id))
                .bind(Time(now))
                .execute(&mut *conn)
                .await?;
            });
        }
        invalidate(&mut tx, &Invalidation::Followers, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a follower; returns whether there was one.
    pub async fn remove_follower(&self, actor: &str) -> Result<bool, StoreError> {
        Ok(self.remove_followers_where("actor = $1", actor, None).await? > 0)
    }

    /// Removes `actor` as a follower if `follow_id` is the Follow it was
    /// accepted with (an Undo naming the Follow by id); returns whether it was.
    pub async fn remove_follow(&self, actor: &str, follow_id: &str) -> Result<bool, StoreError> {
        Ok(self.remove_followers_where("actor = $1 AND follow_id = $2", actor, Some(follow_id)).await? > 0)
    }

    /// Removes the followers whose deliveries go to `inbox` (it answered
    /// 410 Gone): those whose own inbox it is, and those who share it.
    pub async fn remove_followers_at(&self, inbox: &str) -> Result<u64, StoreError> {
        self.remove_followers_where("COALESCE(shared_inbox, inbox) = $1 OR inbox = $1", inbox, None).await
    }

    async fn remove_followers_where(
        &self,
        condition: &'static str,
        first: &str,
        second: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        // The Follow ids of the ended follows are forgotten: some servers
        // (Misskey) send the same Follow id when the actor follows again.
        let forget =
            format!("DELETE FROM received_activities WHERE id IN (SELECT follow_id FROM followers WHERE {condition})");
        let sql = format!("DELETE FROM followers WHERE {condition}");
        let removed = on_tx!(&mut tx, conn => {
            let mut query = sqlx::query(&forget).bind(first);
            if let Some(second) = second {
                query = query.bind(second);
            }
            query.execute(&mut *conn).await?;
            let mut query = sqlx::query(&sql).bind(first);
            if let Some(second) = second {
                query = query.bind(second);
            }
            query.execute(&mut *conn).await?.rows_affected()
        });
        if removed > 0 {
            invalidate(&mut tx, &Invalidation::Followers, Utc::now()).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Followers, for `herald followers`: (actor, inbox).
    pub async fn followers(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT actor, inbox FROM followers ORDER BY actor").fetch_all(pool).await?
        }))
    }

    /// Records a like, boost or reply once per activity id (a reply's is
    /// its Note's id); returns whether it is new.
    pub async fn record_interaction(
        &self,
        activity_id: &str,
        article_id: &str,
        kind: InteractionKind,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let new = on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO interactions (activity_id, article_id, kind, actor, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_id) DO NOTHING",
            )
            .bind(activity_id)
            .bind(article_id)
            .bind(kind.as_str())
            .bind(actor)
            .bind(Time(now))
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1
        });
        if new {
            invalidate(&mut tx, &Invalidation::Note(article_id.to_owned()), now).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// The interaction `actor` made with activity (or reply Note) `id`:
    /// (kind, article id).
    pub async fn interaction_by(&self, id: &str, actor: &str) -> Result<Option<(InteractionKind, String)>, StoreError> {
        let row: Option<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, article_id FROM interactions WHERE activity_id = $1 AND actor = $2")
                .bind(id)
                .bind(actor)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(kind, article_id)| Ok((InteractionKind::parse(&kind)?, article_id))).transpose()
    }

    /// Removes `actor`'s interactions of `kind` with `article_id` whose id
    /// is `id` (or, when `id` is `None`, every such one: an Undo whose
    /// embedded activity has an id herald never saw). Returns how many.
    pub async fn remove_interaction(
        &self,
        actor: &str,
        kind: InteractionKind,
        article_id: &str,
        id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let removed = on_tx!(&mut tx, conn => {
            sqlx::query(
                "DELETE FROM interactions WHERE actor = $1 AND kind = $2 AND article_id = $3 \
                 AND ($4 IS NULL OR activity_id = $4)",
            )
            .bind(actor)
            .bind(kind.as_str())
            .bind(article_id)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if removed > 0 {
            invalidate(&mut tx, &Invalidation::Note(article_id.to_owned()), now).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Likes, boosts and replies per article, most interactions first:
    /// (slug, likes, boosts, replies).
    pub async fn interaction_summary(&self) -> Result<Vec<(String, i64, i64, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.slug AS slug, \
                 SUM(CASE WHEN i.kind = 'like' THEN 1 ELSE 0 END) AS likes, \
                 SUM(CASE WHEN i.kind = 'announce' THEN 1 ELSE 0 END) AS boosts, \
                 SUM(CASE WHEN i.kind = 'reply' THEN 1 ELSE 0 END) AS replies \
                 FROM interactions i JOIN articles a ON a.id = i.article_id \
                 GROUP BY a.slug ORDER BY COUNT(*) DESC, a.slug",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Likes, boosts and replies of an article: (kind, count), kinds with none left out.
    pub async fn interaction_counts(&self, article_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, COUNT(*) AS n FROM interactions WHERE article_id = $1 GROUP BY kind ORDER BY kind")
                .bind(article_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Likes, shares and replies of an article, as its Note shows them.
    pub async fn interaction_totals(&self, article_id: &str) -> Result<InteractionTotals, StoreError> {
        let mut totals = InteractionTotals::default();
        for (kind, n) in self.interaction_counts(article_id).await? {
            match InteractionKind::parse(&kind)? {
                InteractionKind::Like => totals.likes = n,
                InteractionKind::Announce => totals.shares = n,
                InteractionKind::Reply => totals.replies = n,
            }
        }
        Ok(totals)
    }
}

async fn insert_key(tx: &mut Tx, key: &StoredKey, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO actor_keys (private_pem, public_pem, created_at) VALUES ($1, $2, $3)")
            .bind(&key.private_pem)
            .bind(&key.public_pem)
            .bind(Time(now))
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}
