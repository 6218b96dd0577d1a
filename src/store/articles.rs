//! The `articles`, `article_tags`, `article_authors` and `article_revisions` tables.

use super::api::API_SOURCE;
use super::deliveries::Outgoing;
use super::{int_param, on_pool, on_tx, Event, Store, Time, Tx};
use crate::article::{Article, ArticleId, AuthorKey, Slug, State, Tag};
use crate::error::StoreError;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sha2::{Digest, Sha256};

/// An article submitted for publication, with the file it came from.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The article as written.
    pub article: &'a Article,
    /// Its file, `None` when it came from elsewhere.
    pub source: Option<&'a str>,
}

/// A submission refused because it contradicts what is already published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The file at fault, if any.
    pub source: Option<String>,
    /// The front-matter field at fault.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Slugs of new articles.
    pub created: Vec<String>,
    /// Slugs of changed articles (a new revision each).
    pub updated: Vec<String>,
    /// Slugs of articles that went from published to retracted.
    pub retracted: Vec<String>,
    /// Slugs of articles stored but held until their `published` time, with it.
    pub scheduled: Vec<(String, DateTime<Utc>)>,
    /// Number of submissions identical to what is stored.
    pub unchanged: usize,
    /// Submissions refused, with the reason.
    pub conflicts: Vec<Conflict>,
}

impl SyncReport {
    /// Whether anything stored changed.
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.retracted.is_empty() && self.scheduled.is_empty())
    }
}

/// A published article that was last published from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedFile {
    /// The article.
    pub id: ArticleId,
    /// Its slug.
    pub slug: String,
    /// The file it came from, as given to `publish`.
    pub source: String,
}

pub(super) struct StoredRow {
    pub(super) article: Article,
    fingerprint: String,
    pub(super) revision: i64,
    pub(super) source: Option<String>,
    /// Scheduled: stored, not shown yet.
    pub(super) held: bool,
}

/// What `write_article` stores beside the article.
struct RowMeta<'a> {
    source: Option<&'a str>,
    fingerprint: &'a str,
    revision: i64,
    held: bool,
}

/// An article as its JSON document.
#[derive(sqlx::FromRow)]
pub(super) struct ArticleRow {
    pub(super) id: String,
    pub(super) data: String,
}

impl ArticleRow {
    pub(super) fn decode(self) -> Result<Article, StoreError> {
        serde_json::from_str(&self.data).map_err(|e| StoreError::Corrupt { id: self.id, message: e.to_string() })
    }
}

#[derive(sqlx::FromRow)]
struct SliceRow {
    id: String,
    data: String,
    changed_at: Time,
}

#[derive(sqlx::FromRow)]
struct FullRow {
    id: String,
    data: String,
    fingerprint: String,
    revision: i64,
    source: Option<String>,
    held: i64,
}

#[derive(sqlx::FromRow)]
struct TrackedRow {
    id: String,
    slug: String,
    source: String,
}

pub(super) fn article_id(id: String) -> Result<ArticleId, StoreError> {
    ArticleId::parse(&id).map_err(|message| StoreError::Corrupt { id, message })
}

/// Decodes a list of article rows.
fn articles(rows: Vec<ArticleRow>) -> Result<Vec<Article>, StoreError> {
    rows.into_iter().map(ArticleRow::decode).collect()
}

impl Store {
    /// The newest published articles, newest first.
    #[tracing::instrument(skip(self), err)]
    pub async fn latest_published(&self, limit: usize) -> Result<Vec<Article>, StoreError> {
        articles(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, data FROM articles WHERE state = 'published' AND held = 0 ORDER BY published DESC, id DESC LIMIT $1",
            )
            .bind(int_param(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// One page of published articles, newest first.
    pub async fn published_page(&self, limit: usize, offset: usize) -> Result<Vec<Article>, StoreError> {
        articles(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, data FROM articles WHERE state = 'published' AND held = 0 ORDER BY published DESC, id DESC \
                 LIMIT $1 OFFSET $2",
            )
            .bind(int_param(limit))
            .bind(int_param(offset))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Number of published articles.
    pub async fn published_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM articles WHERE state = 'published' AND held = 0").await
    }

    /// The article with this id, published or retracted.
    pub async fn article_by_id(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let row: Option<ArticleRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, data FROM articles WHERE id = $1 AND held = 0")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(ArticleRow::decode).transpose()
    }

    /// The newest published articles carrying `tag`, newest first.
    #[tracing::instrument(skip(self), fields(tag = %tag), err)]
    pub async fn latest_published_with_tag(&self, tag: &Tag, limit: usize) -> Result<Vec<Article>, StoreError> {
        articles(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.id, a.data FROM articles a JOIN article_tags t ON t.article_id = a.id \
                 WHERE t.tag = $1 AND a.state = 'published' AND a.held = 0 ORDER BY a.published DESC, a.id DESC LIMIT $2",
            )
            .bind(tag.as_str())
            .bind(int_param(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// The newest published articles by the author whose key is `key`,
    /// newest first. `byline` is the channel author's key: articles that
    /// name no author are theirs.
    #[tracing::instrument(skip(self), fields(author = %key), err)]
    pub async fn latest_published_by(
        &self,
        key: &AuthorKey,
        byline: Option<&AuthorKey>,
        limit: usize,
    ) -> Result<Vec<Article>, StoreError> {
        let also_unsigned = if byline == Some(key) { "" } else { key.as_str() };
        articles(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.id, a.data FROM articles a WHERE a.state = 'published' AND a.held = 0 AND a.id IN \
                 (SELECT article_id FROM article_authors WHERE author_key = $1 OR author_key = $2) \
                 ORDER BY a.published DESC, a.id DESC LIMIT $3",
            )
            .bind(key.as_str())
            .bind(also_unsigned)
            .bind(int_param(limit))
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every author of a published article: key and byline as written
    /// (the first in alphabetical order when bylines differ only in case
    /// or punctuation), by key. Articles that name none count for
    /// `byline`, the channel's author.
    pub async fn authors(&self, byline: &str) -> Result<Vec<(AuthorKey, String)>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT w.author_key, MIN(w.name) FROM article_authors w JOIN articles a ON a.id = w.article_id \
                 WHERE a.state = 'published' AND a.held = 0 GROUP BY w.author_key ORDER BY w.author_key",
            )
            .fetch_all(pool)
            .await?
        });
        let mut authors: std::collections::BTreeMap<AuthorKey, String> = std::collections::BTreeMap::new();
        for (key, name) in rows {
            let (key, name) = if key.is_empty() {
                let Some(key) = AuthorKey::of(byline) else { continue };
                (key, byline.to_owned())
            } else {
                let Some(key) = AuthorKey::parse(&key) else { continue };
                (key, name)
            };
            authors.entry(key).or_insert(name);
        }
        Ok(authors.into_iter().collect())
    }

    /// Every tag of a published article, in order.
    pub async fn tags(&self) -> Result<Vec<Tag>, StoreError> {
        let rows: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT t.tag FROM article_tags t JOIN articles a ON a.id = t.article_id \
                 WHERE a.state = 'published' AND a.held = 0 ORDER BY t.tag",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().filter_map(|t| Tag::parse(&t).ok()).collect())
    }

    /// Number of articles ever stored, published or retracted: the archive
    /// pages are slices of them, so that a retraction empties a slot of its
    /// page instead of moving every later article to another page.
    pub async fn archived_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM articles WHERE held = 0").await
    }

    /// The articles of one archive slice, oldest first by publication (the
    /// retracted ones too: renderers leave them out), and when the last of
    /// them was written (a retraction leaves `updated` as it was).
    pub async fn archive_slice(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Article>, Option<DateTime<Utc>>), StoreError> {
        let rows: Vec<SliceRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, data, changed_at FROM articles WHERE held = 0 ORDER BY published, id LIMIT $1 OFFSET $2",
            )
                .bind(int_param(limit))
                .bind(int_param(offset))
                .fetch_all(pool)
                .await?
        });
        let changed = rows.iter().map(|r| r.changed_at.0).max();
        let rows = rows.into_iter().map(|r| ArticleRow { id: r.id, data: r.data }).collect();
        Ok((articles(rows)?, changed))
    }

    /// Adds the `article_authors` rows of articles stored before that table
    /// existed (run at connect; a no-op once every article has its rows).
    pub(super) async fn backfill_authors(&self) -> Result<usize, StoreError> {
        let rows: Vec<ArticleRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, data FROM articles WHERE NOT EXISTS \
                 (SELECT 1 FROM article_authors w WHERE w.article_id = articles.id)",
            )
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            return Ok(0);
        }
        let articles = articles(rows)?;
        let mut tx = self.begin().await?;
        for article in &articles {
            for (key, name) in bylines(article) {
                on_tx!(&mut tx, conn => {
                    sqlx::query(
                        "INSERT INTO article_authors (article_id, author_key, name) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(article.id.as_str())
                    .bind(key.as_str())
                    .bind(name)
                    .execute(&mut *conn)
                    .await?;
                });
            }
        }
        tx.commit().await?;
        Ok(articles.len())
    }

    /// The article with this slug, published or retracted.
    #[tracing::instrument(skip(self), fields(slug = %slug), err)]
    pub async fn article_by_slug(&self, slug: &Slug) -> Result<Option<Article>, StoreError> {
        let row: Option<ArticleRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, data FROM articles WHERE slug = $1 AND held = 0")
                .bind(slug.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(ArticleRow::decode).transpose()
    }

    /// Published articles that came from files, to find files that
    /// disappeared. Articles made through the API are not files, so
    /// `publish --prune` never retracts them (a file's source always ends
    /// in `.md`, which [`API_SOURCE`] does not).
    pub async fn tracked_files(&self) -> Result<Vec<TrackedFile>, StoreError> {
        let rows: Vec<TrackedRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, slug, source FROM articles WHERE source IS NOT NULL AND source <> $1 AND state = 'published' \
                 ORDER BY source",
            )
            .bind(API_SOURCE)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| Ok(TrackedFile { id: article_id(row.id)?, slug: row.slug, source: row.source }))
            .collect()
    }

    /// Stores a batch of submissions in one transaction: new articles are
    /// created, changed ones get a new revision, identical ones are left
    /// alone. A submission that contradicts what is stored (a slug owned by
    /// another article, a `published` time that moved) is refused and
    /// reported; the others still go in.
    ///
    /// An edit whose `updated` is not after the stored one gets `updated =
    /// now`, so readers see the change; `published` never moves.
    #[tracing::instrument(skip_all, fields(submissions = submissions.len()), err)]
    pub async fn sync(
        &self,
        submissions: &[Submission<'_>],
        activities: &Activities<'_>,
        now: DateTime<Utc>,
    ) -> Result<SyncReport, StoreError> {
        let now = now.trunc_subsecs(0);
        let mut tx = self.begin().await?;
        take_write_lock(&mut tx).await?;
        let mut report = SyncReport::default();
        for submission in submissions {
            let slug = submission.article.slug.to_string();
            match apply(&mut tx, submission, activities, now).await? {
                Applied::Created => report.created.push(slug),
                Applied::Updated => report.updated.push(slug),
                Applied::Retracted => report.retracted.push(slug),
                Applied::Scheduled(at) => report.scheduled.push((slug, at)),
                Applied::Unchanged => report.unchanged += 1,
                Applied::Refused(conflict) => report.conflicts.push(conflict),
            }
        }
        if report.changed() {
            bump_site(&mut tx, now).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Releases the held articles whose time has come: each is shown from
    /// now on and its Create is queued, in one transaction under the write
    /// lock, so that with several instances (or a restart in the middle)
    /// each goes out exactly once. Returns the slugs released.
    #[tracing::instrument(skip_all, err)]
    pub async fn release_due(
        &self,
        activities: &Activities<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        // Most calls find nothing: ask without the lock first.
        if self.next_release().await?.is_none_or(|at| at > now) {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        take_write_lock(&mut tx).await?;
        let due: Vec<FullRow> = on_tx!(&mut tx, conn => {
            sqlx::query_as(
                "SELECT id, data, fingerprint, revision, source, held FROM articles \
                 WHERE held = 1 AND published <= $1 ORDER BY published, id",
            )
            .bind(Time(now))
            .fetch_all(&mut *conn)
            .await?
        });
        let mut released = Vec::new();
        for row in due {
            let (id, revision) = (row.id.clone(), row.revision);
            let article = ArticleRow { id: row.id, data: row.data }.decode()?;
            on_tx!(&mut tx, conn => {
                sqlx::query("UPDATE articles SET held = 0, changed_at = $1 WHERE id = $2")
                    .bind(Time(now))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            });
            federate(&mut tx, activities, Change::Created, &article, revision, now).await?;
            released.push(article.slug.to_string());
        }
        if !released.is_empty() {
            bump_site(&mut tx, now).await?;
        }
        tx.commit().await?;
        Ok(released)
    }

    /// When the next held article is due, if any.
    pub async fn next_release(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<Time> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(published) FROM articles WHERE held = 1").fetch_one(pool).await?
        });
        Ok(at.map(|t| t.0))
    }

    /// The held articles, soonest first: (slug, when it goes out).
    pub async fn scheduled(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, Time)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT slug, published FROM articles WHERE held = 1 ORDER BY published, id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(slug, at)| (slug, at.0)).collect())
    }

    /// Retracts the given published articles (used by `publish --prune`).
    /// Returns the slugs retracted.
    #[tracing::instrument(skip_all, fields(count = ids.len()), err)]
    pub async fn retract(
        &self,
        ids: &[ArticleId],
        activities: &Activities<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let now = now.trunc_subsecs(0);
        let mut tx = self.begin().await?;
        take_write_lock(&mut tx).await?;
        let mut retracted = Vec::new();
        for id in ids {
            let Some(stored) = fetch_row(&mut tx, id).await? else {
                continue;
            };
            if stored.article.state == State::Retracted {
                continue;
            }
            let mut article = stored.article;
            article.state = State::Retracted;
            // The retracted article's own fingerprint: its file, restored
            // unchanged, then differs and publishes it again.
            let revision = stored.revision + 1;
            let fingerprint = fingerprint(&article);
            let meta = RowMeta { source: stored.source.as_deref(), fingerprint: &fingerprint, revision, held: false };
            write_article(&mut tx, &article, &meta, now, false).await?;
            // A held article was never sent: nothing to delete.
            if !stored.held {
                federate(&mut tx, activities, Change::Retracted, &article, revision, now).await?;
            }
            retracted.push(article.slug.to_string());
        }
        if !retracted.is_empty() {
            bump_site(&mut tx, now).await?;
        }
        tx.commit().await?;
        Ok(retracted)
    }
}

/// What one submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Applied {
    /// A new article.
    Created,
    /// A new revision.
    Updated,
    /// A new revision that took it out of the feeds.
    Retracted,
    /// Stored but held until this time (a new or edited scheduled article).
    Scheduled(DateTime<Utc>),
    /// Identical to what is stored.
    Unchanged,
    /// Contradicts what is stored; nothing was written.
    Refused(Conflict),
}

/// Stores one submission inside `tx` (see [`Store::sync`]), queueing its
/// activity to followers.
///
/// Articles made through the API and articles from files do not cross:
/// a file cannot take over an API article's id, and the API cannot write
/// over a file's article (its next publish would undo the change).
pub(super) async fn apply(
    tx: &mut Tx,
    submission: &Submission<'_>,
    activities: &Activities<'_>,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let article = submission.article;
    let fingerprint = fingerprint(article);
    let refuse =
        |field, message| Applied::Refused(Conflict { source: submission.source.map(str::to_owned), field, message });
    let stored = fetch_row(tx, &article.id).await?;
    if let Some(stored) = &stored {
        let from_api = submission.source == Some(API_SOURCE);
        match stored.source.as_deref() {
            Some(API_SOURCE) if !from_api => {
                return Ok(refuse(
                    "id",
                    format!(
                        "{} belongs to an article made through the API; give this file a new id \
                         (e.g. \"urn:uuid:{}\" from `uuidgen`), or edit the article with PUT or PATCH \
                         /api/articles/{{id}}",
                        article.id,
                        uuid::Uuid::new_v4()
                    ),
                ));
            }
            Some(file) if from_api && file != API_SOURCE => {
                return Ok(refuse(
                    "id",
                    format!(
                        "{} is published from the file {file}; edit that file and run `herald publish`: \
                         the API edits only the articles it created",
                        article.id
                    ),
                ));
            }
            None if from_api => {
                return Ok(refuse(
                    "id",
                    format!("{} was not made through the API, which edits only the articles it created", article.id),
                ));
            }
            _ => {}
        }
    }
    if let Some(owner) = slug_owner(tx, &article.slug).await?.filter(|owner| owner != &article.id) {
        return Ok(refuse(
            "slug",
            format!(
                "{:?} already belongs to article {owner}; slugs are not reused, choose another",
                article.slug.as_str()
            ),
        ));
    }
    let Some(stored) = stored else {
        let held = article.is_published() && article.published > now;
        let meta = RowMeta { source: submission.source, fingerprint: &fingerprint, revision: 1, held };
        write_article(tx, article, &meta, now, true).await?;
        if held {
            return Ok(Applied::Scheduled(article.published));
        }
        if article.is_published() {
            federate(tx, activities, Change::Created, article, 1, now).await?;
        }
        return Ok(Applied::Created);
    };
    if stored.fingerprint == fingerprint {
        if stored.source.as_deref() != submission.source {
            set_source(tx, &article.id, submission.source).await?;
        }
        return Ok(Applied::Unchanged);
    }
    let old = &stored.article;
    // A held article was never shown: its time may still move.
    if article.published != old.published && !stored.held {
        return Ok(refuse(
            "published",
            format!(
                "was {} and is now {}; the publication time never moves once published \
                 (readers sort and deduplicate on it): restore it and change `updated` instead",
                old.published.to_rfc3339(),
                article.published.to_rfc3339()
            ),
        ));
    }
    let mut new = article.clone();
    let mut comparable = new.clone();
    comparable.state = old.state;
    comparable.updated = old.updated;
    let content_changed = comparable != *old;
    // Readers see the change of a shown article; a held one goes out as it
    // is when its time comes.
    if new.updated <= old.updated && !stored.held {
        new.updated = if content_changed { now.max(old.updated + TimeDelta::seconds(1)) } else { old.updated };
    }
    let held = stored.held && new.is_published() && new.published > now;
    let revision = stored.revision + 1;
    let meta = RowMeta { source: submission.source, fingerprint: &fingerprint, revision, held };
    write_article(tx, &new, &meta, now, false).await?;
    let change = match (old.state, new.state) {
        // Followers never saw it: it goes out now if its time came.
        _ if stored.held => (new.is_published() && !held).then_some(Change::Created),
        (State::Published, State::Retracted) => Some(Change::Retracted),
        (State::Retracted, State::Published) => Some(Change::Created),
        (State::Published, State::Published) if content_changed => Some(Change::Updated),
        _ => None,
    };
    if let Some(change) = change {
        federate(tx, activities, change, &new, revision, now).await?;
    }
    Ok(if held {
        Applied::Scheduled(new.published)
    } else if stored.held && new.is_published() {
        Applied::Created
    } else if old.state == State::Published && new.state == State::Retracted {
        Applied::Retracted
    } else {
        Applied::Updated
    })
}

/// What happened to an article, for federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Newly published (or published again after a retraction).
    Created,
    /// Its content changed.
    Updated,
    /// Retracted.
    Retracted,
}

/// Renders the activity for a change (`None` to send nothing); given the new
/// revision number. The store queues what it returns to every follower in
/// the same transaction as the change, so no change goes undelivered.
pub type Activities<'a> = dyn Fn(Change, &Article, i64) -> Option<Outgoing> + Send + Sync + 'a;

async fn federate(
    tx: &mut Tx,
    activities: &Activities<'_>,
    change: Change,
    article: &Article,
    revision: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(activity) = activities(change, article, revision) {
        super::deliveries::fan_out(tx, &activity, now).await?;
    }
    Ok(())
}

/// SQLite takes its write lock lazily, and a reader that later writes fails
/// at once if another process wrote meanwhile. Writing first makes a
/// concurrent publish wait (busy_timeout) instead of failing.
///
/// On PostgreSQL the same statement locks the row, so that publishes from
/// several instances go one after the other.
pub(super) async fn take_write_lock(tx: &mut Tx) -> Result<(), StoreError> {
    on_tx!(tx, conn => { sqlx::query("UPDATE site_state SET revision = revision WHERE id = 1").execute(&mut *conn).await?; });
    Ok(())
}

pub(super) async fn bump_site(tx: &mut Tx, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE site_state SET revision = revision + 1, changed_at = $1 WHERE id = 1")
            .bind(Time(now))
            .execute(&mut *conn)
            .await?;
    });
    tx.notify(Event::Site).await
}

pub(super) async fn fetch_row(tx: &mut Tx, id: &ArticleId) -> Result<Option<StoredRow>, StoreError> {
    let row: Option<FullRow> = on_tx!(tx, conn => {
        sqlx::query_as("SELECT id, data, fingerprint, revision, source, held FROM articles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
    });
    row.map(|row| {
        Ok(StoredRow {
            article: ArticleRow { id: row.id, data: row.data }.decode()?,
            fingerprint: row.fingerprint,
            revision: row.revision,
            source: row.source,
            held: row.held != 0,
        })
    })
    .transpose()
}

async fn slug_owner(tx: &mut Tx, slug: &Slug) -> Result<Option<ArticleId>, StoreError> {
    let id: Option<String> = on_tx!(tx, conn => {
        sqlx::query_scalar("SELECT id FROM articles WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(&mut *conn)
            .await?
    });
    id.map(article_id).transpose()
}

async fn set_source(tx: &mut Tx, id: &ArticleId, source: Option<&str>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE articles SET source = $1 WHERE id = $2")
            .bind(source)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

async fn write_article(
    tx: &mut Tx,
    article: &Article,
    meta: &RowMeta<'_>,
    now: DateTime<Utc>,
    insert: bool,
) -> Result<(), StoreError> {
    let RowMeta { source, fingerprint, revision, held } = *meta;
    let data = serde_json::to_string(article)
        .map_err(|e| StoreError::Corrupt { id: article.id.to_string(), message: e.to_string() })?;
    let sql = if insert {
        "INSERT INTO articles \
         (slug, kind, state, published, updated, data, source, fingerprint, revision, changed_at, held, id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "UPDATE articles SET slug = $1, kind = $2, state = $3, published = $4, updated = $5, data = $6, source = $7, \
         fingerprint = $8, revision = $9, changed_at = $10, held = $11 WHERE id = $12"
    };
    on_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(article.slug.as_str())
            .bind(article.kind.as_str())
            .bind(article.state.as_str())
            .bind(Time(article.published))
            .bind(Time(article.updated))
            .bind(&data)
            .bind(source)
            .bind(fingerprint)
            .bind(revision)
            .bind(Time(now))
            .bind(i64::from(held))
            .bind(article.id.as_str())
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM article_tags WHERE article_id = $1")
            .bind(article.id.as_str())
            .execute(&mut *conn)
            .await?;
        for tag in &article.tags {
            sqlx::query("INSERT INTO article_tags (article_id, tag) VALUES ($1, $2)")
                .bind(article.id.as_str())
                .bind(tag.as_str())
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("DELETE FROM article_authors WHERE article_id = $1")
            .bind(article.id.as_str())
            .execute(&mut *conn)
            .await?;
        for (key, name) in bylines(article) {
            sqlx::query(
                "INSERT INTO article_authors (article_id, author_key, name) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(article.id.as_str())
            .bind(key)
            .bind(name)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "INSERT INTO article_revisions (article_id, revision, state, data, source, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(article.id.as_str())
        .bind(revision)
        .bind(article.state.as_str())
        .bind(&data)
        .bind(source)
        .bind(Time(now))
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The `article_authors` rows of an article: each byline's key and name,
/// or one row with an empty key when it names none (the channel's author).
fn bylines(article: &Article) -> Vec<(String, &str)> {
    let rows: Vec<(String, &str)> = article
        .authors
        .iter()
        .filter_map(|name| AuthorKey::of(name).map(|key| (key.as_str().to_owned(), name.as_str())))
        .collect();
    if rows.is_empty() {
        vec![(String::new(), "")]
    } else {
        rows
    }
}

fn fingerprint(article: &Article) -> String {
    let json = serde_json::to_vec(article).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}
