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
        .fetch_optional(&self.pool)
        .await?;
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
        sqlx::query("UPDATE site_state SET revision = revision WHERE id = 1").execute(&mut *tx).await?;
        let exists = sqlx::query("SELECT id FROM actor_keys WHERE retired_at IS NULL").fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            sqlx::query("INSERT INTO actor_keys (private_pem, public_pem, created_at) VALUES ($1, $2, $3)")
                .bind(&key.private_pem)
                .bind(&key.public_pem)
                .bind(format_time(now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.actor_key().await?.ok_or_else(|| StoreError::Corrupt {
            id: "actor_keys".to_owned(),
            message: "no current key after storing one".to_owned(),
        })
    }

    /// Number of followers.
    pub async fn follower_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM followers").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
}
