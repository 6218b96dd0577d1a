//! The publishing API's tables: `api_tokens`, `api_articles` and
//! `idempotency_keys`, and the API's reads over articles, revisions and
//! deliveries.
//!
//! An article written through the API goes through the same per-submission
//! step as a file's ([`super::articles::apply`]): same conflicts, same
//! revisions, the same activities queued to followers in the same
//! transaction, the same site revision bump. Its `articles.source` is
//! [`API_SOURCE`].

use chrono::{DateTime, SubsecRound, Utc};

use super::articles::{apply, bump_site, fetch_row, take_write_lock, Applied, ArticleRow};
use super::{int_param, on_pool, on_tx, Activities, Conflict, Store, Submission, Time, Tx};
use crate::article::{Article, ArticleId, State, Tag};
use crate::error::StoreError;

/// `articles.source` of the articles made through the API.
pub const API_SOURCE: &str = "api";

/// A bearer token as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Row id (idempotency keys are kept per token).
    pub id: i64,
    /// The name given at creation, e.g. `cms`.
    pub name: String,
    /// Whether the token may only read.
    pub read_only: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenDbRow {
    id: i64,
    name: String,
    read_only: i64,
    created_at: Time,
    last_used_at: Option<Time>,
    revoked_at: Option<Time>,
}

impl From<TokenDbRow> for TokenRow {
    fn from(row: TokenDbRow) -> Self {
        TokenRow {
            id: row.id,
            name: row.name,
            read_only: row.read_only != 0,
            created_at: row.created_at.0,
            last_used_at: row.last_used_at.map(|t| t.0),
            revoked_at: row.revoked_at.map(|t| t.0),
        }
    }
}

/// An article as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArticle {
    /// The article.
    pub article: Article,
    /// Its Markdown, for articles written through the API.
    pub markdown: Option<String>,
    /// `articles.source`: [`API_SOURCE`] or a file.
    pub source: Option<String>,
    /// The current revision.
    pub revision: i64,
    /// Scheduled: stored, held until its `published` time.
    pub held: bool,
}

impl StoredArticle {
    /// Whether it was made through the API (and so the API may edit it).
    pub fn from_api(&self) -> bool {
        self.source.as_deref() == Some(API_SOURCE)
    }
}

/// One revision in an article's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// 1 for the first.
    pub revision: i64,
    /// The article as that revision stored it.
    pub article: Article,
    /// Where it came from: [`API_SOURCE`] or a file.
    pub source: Option<String>,
    /// When it was stored.
    pub recorded_at: DateTime<Utc>,
}

/// What an API write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// A new article.
    Created,
    /// A new revision (an edit, a retraction or a republication).
    Updated,
    /// Identical to what was stored: nothing changed.
    Unchanged,
}

/// Which articles a listing holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only in this state.
    pub state: Option<State>,
    /// Only the held (scheduled) articles, or only the others.
    pub held: Option<bool>,
    /// Only with this tag.
    pub tag: Option<Tag>,
    /// Only after this one, newest first: (published, id) of the last
    /// article of the previous page.
    pub after: Option<(DateTime<Utc>, ArticleId)>,
}

/// What became of a request's Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key is new: the request runs, then [`Store::finish_idempotency_key`].
    New,
    /// The same request was answered before: this is its response.
    Replay {
        /// Status code.
        status: u16,
        /// Headers worth repeating (`Location`), one `name: value` per line.
        headers: String,
        /// Body.
        body: String,
    },
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    id: String,
    data: String,
    source: Option<String>,
    revision: i64,
    markdown: Option<String>,
    held: i64,
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: i64,
    data: String,
    source: Option<String>,
    recorded_at: Time,
    article_id: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    status: Option<i64>,
    headers: Option<String>,
    body: Option<String>,
    created_at: Time,
}

impl DetailRow {
    fn decode(self) -> Result<StoredArticle, StoreError> {
        let DetailRow { id, data, source, revision, markdown, held } = self;
        let held = held != 0;
        Ok(StoredArticle { article: ArticleRow { id, data }.decode()?, markdown, source, revision, held })
    }
}

const DETAIL: &str = "SELECT a.id, a.data, a.source, a.revision, m.markdown, a.held FROM articles a \
                      LEFT JOIN api_articles m ON m.article_id = a.id";

impl Store {
    /// Makes a token; false when a live token has that name already.
    pub async fn create_token(
        &self,
        name: &str,
        hash: &str,
        read_only: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (name, hash, read_only, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(hash)
            .bind(i64::from(read_only))
            .bind(Time(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Every token, revoked ones too, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows: Vec<TokenDbRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, name, read_only, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(TokenRow::from).collect())
    }

    /// Revokes the live token called `name`; false when there is none.
    pub async fn revoke_token(&self, name: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(Time(now))
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The live token whose SHA-256 is `hash`, marking it used (at most
    /// once a minute, to spare the database a write per request).
    pub async fn use_token(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<TokenRow>, StoreError> {
        let row: Option<TokenDbRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, name, read_only, created_at, last_used_at, revoked_at FROM api_tokens \
                 WHERE hash = $1 AND revoked_at IS NULL",
            )
            .bind(hash)
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else { return Ok(None) };
        let row = TokenRow::from(row);
        if row.last_used_at.is_none_or(|t| t < now - chrono::TimeDelta::minutes(1)) {
            on_pool!(self, pool => {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(Time(now))
                    .bind(row.id)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(Some(row))
    }

    /// Stores an article written through the API, with its Markdown, in
    /// one transaction: the article and its revision, the activity to
    /// followers, the site revision. `create` refuses an id that exists.
    /// A conflict (the id taken, a slug owned by another article, a
    /// `published` that moved, an article that came from a file) writes
    /// nothing and is returned.
    #[tracing::instrument(skip_all, fields(id = %article.id, token), err)]
    pub async fn save_api_article(
        &self,
        article: &Article,
        markdown: Option<&str>,
        token: &str,
        create: bool,
        activities: &Activities<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<Saved, Conflict>, StoreError> {
        let now = now.trunc_subsecs(0);
        let mut tx = self.begin().await?;
        take_write_lock(&mut tx).await?;
        let existed = fetch_row(&mut tx, &article.id).await?.is_some();
        if create && existed {
            tx.rollback().await?;
            return Ok(Err(Conflict {
                source: None,
                field: "id",
                message: format!(
                    "article {} exists already; replace it with PUT or edit it with PATCH /api/articles/{{id}}",
                    article.id
                ),
            }));
        }
        let submission = Submission { article, source: Some(API_SOURCE) };
        let saved = match apply(&mut tx, &submission, activities, now).await? {
            Applied::Refused(conflict) => {
                tx.rollback().await?;
                return Ok(Err(conflict));
            }
            Applied::Unchanged => Saved::Unchanged,
            Applied::Created => Saved::Created,
            Applied::Scheduled(_) if !existed => Saved::Created,
            Applied::Updated | Applied::Retracted | Applied::Scheduled(_) => Saved::Updated,
        };
        write_markdown(&mut tx, &article.id, markdown, token, now).await?;
        if saved != Saved::Unchanged {
            bump_site(&mut tx, now).await?;
        }
        tx.commit().await?;
        Ok(Ok(saved))
    }

    /// An article with its Markdown (API articles) and revision.
    pub async fn stored_article(&self, id: &ArticleId) -> Result<Option<StoredArticle>, StoreError> {
        let sql = format!("{DETAIL} WHERE a.id = $1");
        let row: Option<DetailRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(pool).await?
        });
        row.map(DetailRow::decode).transpose()
    }

    /// One page of articles, newest first (by `published`, then id), as
    /// `filter` says; at most `limit`.
    pub async fn list_articles(&self, filter: &ListFilter, limit: usize) -> Result<Vec<StoredArticle>, StoreError> {
        let sql = format!(
            "{DETAIL} WHERE ($1 IS NULL OR a.state = $1) AND ($6 IS NULL OR a.held = $6) \
             AND ($2 IS NULL OR a.id IN (SELECT article_id FROM article_tags WHERE tag = $2)) \
             AND ($3 IS NULL OR a.published < $3 OR (a.published = $3 AND a.id < $4)) \
             ORDER BY a.published DESC, a.id DESC LIMIT $5"
        );
        let (after, after_id) = match &filter.after {
            Some((published, id)) => (Some(Time(*published)), Some(id.as_str())),
            None => (None, None),
        };
        let rows: Vec<DetailRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(filter.state.map(State::as_str))
                .bind(filter.tag.as_ref().map(Tag::as_str))
                .bind(after)
                .bind(after_id)
                .bind(int_param(limit))
                .bind(filter.held.map(i64::from))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(DetailRow::decode).collect()
    }

    /// Every revision of an article, oldest first.
    pub async fn revisions(&self, id: &ArticleId) -> Result<Vec<Revision>, StoreError> {
        let rows: Vec<RevisionRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT revision, data, source, recorded_at, article_id FROM article_revisions \
                 WHERE article_id = $1 ORDER BY revision",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                let article = ArticleRow { id: row.article_id, data: row.data }.decode()?;
                Ok(Revision { revision: row.revision, article, source: row.source, recorded_at: row.recorded_at.0 })
            })
            .collect()
    }

    /// The deliveries of every activity about an article, by state
    /// (`pending`, `delivered`, `failed`): (state, count).
    pub async fn article_deliveries(&self, id: &ArticleId) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.state, COUNT(*) AS n FROM deliveries d JOIN activities a ON a.id = d.activity_id \
                 WHERE a.article_id = $1 GROUP BY d.state ORDER BY d.state",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Claims an Idempotency-Key for a request whose hash is
    /// `request_hash`; a key older than `expired_before` counts as new.
    pub async fn reserve_idempotency_key(
        &self,
        token_id: i64,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let mut tx = self.begin().await?;
        let inserted = reserve(&mut tx, token_id, key, request_hash, now, expired_before).await?;
        let row: Option<KeyRow> = if inserted {
            None
        } else {
            on_tx!(&mut tx, conn => {
                sqlx::query_as(
                    "SELECT request_hash, status, headers, body, created_at FROM idempotency_keys \
                     WHERE token_id = $1 AND key = $2",
                )
                .bind(token_id)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?
            })
        };
        tx.commit().await?;
        Ok(match row {
            None => Reservation::New,
            Some(row) if row.request_hash != request_hash => Reservation::Mismatch,
            Some(KeyRow { status: Some(status), headers, body, .. }) => Reservation::Replay {
                status: u16::try_from(status).unwrap_or(500),
                headers: headers.unwrap_or_default(),
                body: body.unwrap_or_default(),
            },
            Some(KeyRow { created_at, .. }) => {
                tracing::debug!(since = %created_at.0, "idempotency key in progress");
                Reservation::InProgress
            }
        })
    }

    /// Records the response to a request whose key was [`Reservation::New`].
    pub async fn finish_idempotency_key(
        &self,
        token_id: i64,
        key: &str,
        status: u16,
        headers: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE idempotency_keys SET status = $1, headers = $2, body = $3 WHERE token_id = $4 AND key = $5")
                .bind(i64::from(status))
                .bind(headers)
                .bind(body)
                .bind(token_id)
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets a key whose request failed on our side, so a retry runs again.
    pub async fn release_idempotency_key(&self, token_id: i64, key: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2")
                .bind(token_id)
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes the idempotency keys made before `before`; returns how many.
    pub async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(Time(before))
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// Inserts the key unless a live one exists (an expired one is replaced);
/// true when this request now holds it.
async fn reserve(
    tx: &mut Tx,
    token_id: i64,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    expired_before: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 AND created_at < $3")
            .bind(token_id)
            .bind(key)
            .bind(Time(expired_before))
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO idempotency_keys (token_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (token_id, key) DO NOTHING",
        )
        .bind(token_id)
        .bind(key)
        .bind(request_hash)
        .bind(Time(now))
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

async fn write_markdown(
    tx: &mut Tx,
    id: &ArticleId,
    markdown: Option<&str>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO api_articles (article_id, markdown, token, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (article_id) DO UPDATE SET markdown = $2, token = $3, updated_at = $4",
        )
        .bind(id.as_str())
        .bind(markdown)
        .bind(token)
        .bind(Time(now))
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
