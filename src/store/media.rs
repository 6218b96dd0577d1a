//! The `media` table: the files published beside the articles, bytes and
//! all, so that every instance on a shared database serves the same ones.
//!
//! This is the store API the publishing paths use: `herald publish` (and
//! `serve --watch`) write the files of the content directory through
//! [`Store::put_media`], and so does the HTTP upload (`POST /api/media`):
//!
//! ```ignore
//! let media = NewMedia::parse(MediaPath::parse(name)?, body)?; // 4xx on Err
//! let written = store.put_media(&media, Utc::now()).await?;   // 5xx on Err
//! let url = written.row.path.url(&channel.base_url, &written.row.sha256);
//! ```

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};

use super::{on_pool, on_tx, Store, Time};
use crate::error::StoreError;
use crate::media::{MediaInfo, MediaPath, NewMedia};

/// A stored media file, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRow {
    /// Where it is served, under `/media/`.
    pub path: MediaPath,
    /// The media type served.
    pub content_type: String,
    /// SHA-256 of the bytes (hex): the strong ETag, and the `?v=` of its URLs.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Width in pixels (images only).
    pub width: Option<u32>,
    /// Height in pixels (images only).
    pub height: Option<u32>,
    /// When the path was first stored.
    pub created_at: DateTime<Utc>,
    /// When its bytes last changed (`Last-Modified`).
    pub updated_at: DateTime<Utc>,
}

impl MediaRow {
    /// What an article naming this file learns of it.
    pub fn info(&self) -> MediaInfo {
        MediaInfo {
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            width: self.width,
            height: self.height,
        }
    }
}

/// A stored media file with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// What it is.
    pub row: MediaRow,
    /// The content.
    pub bytes: Bytes,
}

/// Who stores a media file; see [`Store::put_media`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSource {
    /// A file of the content directory, by `herald publish`.
    File,
    /// An upload to `POST /api/media`.
    Api,
}

impl MediaSource {
    /// As stored in `media.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaSource::File => "file",
            MediaSource::Api => "api",
        }
    }
}

/// What [`Store::put_media`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaWrite {
    /// The file as stored now.
    pub row: MediaRow,
    /// Whether anything was written: `false` when the stored file already
    /// had these bytes and this type.
    pub changed: bool,
}

/// The columns of [`MediaRow`], in the table's order.
const ROW_COLUMNS: &str = "path, content_type, sha256, size, width, height, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct DbMediaRow {
    path: String,
    content_type: String,
    sha256: String,
    size: i64,
    width: Option<i64>,
    height: Option<i64>,
    created_at: Time,
    updated_at: Time,
}

#[derive(sqlx::FromRow)]
struct DbMediaSourced {
    #[sqlx(flatten)]
    row: DbMediaRow,
    source: String,
}

#[derive(sqlx::FromRow)]
struct DbMedia {
    #[sqlx(flatten)]
    row: DbMediaRow,
    bytes: Vec<u8>,
}

impl DbMediaRow {
    fn decode(self) -> Result<MediaRow, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt { id: format!("media {}", self.path), message };
        let dimension = |value: Option<i64>| value.map(u32::try_from).transpose();
        Ok(MediaRow {
            path: MediaPath::parse(&self.path).map_err(corrupt)?,
            size: u64::try_from(self.size).map_err(|e| corrupt(e.to_string()))?,
            width: dimension(self.width).map_err(|e| corrupt(e.to_string()))?,
            height: dimension(self.height).map_err(|e| corrupt(e.to_string()))?,
            content_type: self.content_type,
            sha256: self.sha256,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

impl Store {
    /// Stores `media` at its path from `source`, in one transaction.
    ///
    /// The same bytes (and type) as stored are `Ok` with `changed: false`
    /// and nothing written, whoever stored them: a retried upload or an
    /// unchanged file is harmless. Other bytes replace the stored ones only
    /// when a publish (`MediaSource::File`) replaces a file it published
    /// itself: then `updated_at` moves to `now`. An upload never replaces
    /// anything and a publish never replaces an upload: `Err` with the
    /// stored file, and nothing written. A new path is stored with
    /// `created_at` and `updated_at` at `now`.
    ///
    /// Files are never deleted by herald, so an article or a feed entry
    /// already out there keeps its image.
    #[tracing::instrument(skip_all, fields(path = %media.path, size = media.info.size, ?source), err)]
    pub async fn put_media(
        &self,
        media: &NewMedia,
        source: MediaSource,
        now: DateTime<Utc>,
    ) -> Result<Result<MediaWrite, MediaRow>, StoreError> {
        let now = Time(now.trunc_subsecs(6));
        let info = &media.info;
        let select = format!("SELECT {ROW_COLUMNS}, source FROM media WHERE path = $1");
        let mut tx = self.begin().await?;
        super::articles::take_write_lock(&mut tx).await?;
        let stored: Option<DbMediaSourced> = on_tx!(&mut tx, conn => {
            sqlx::query_as(&select).bind(media.path.as_str()).fetch_optional(&mut *conn).await?
        });
        if let Some(DbMediaSourced { row: stored, source: stored_source }) = stored {
            if stored.sha256 == info.sha256 && stored.content_type == info.content_type {
                tx.rollback().await?;
                return Ok(Ok(MediaWrite { row: stored.decode()?, changed: false }));
            }
            if source != MediaSource::File || stored_source != MediaSource::File.as_str() {
                tx.rollback().await?;
                return Ok(Err(stored.decode()?));
            }
        }
        let size = i64::try_from(info.size).unwrap_or(i64::MAX);
        on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO media \
                 (path, content_type, sha256, size, width, height, created_at, updated_at, bytes, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) \
                 ON CONFLICT (path) DO UPDATE SET content_type = excluded.content_type, sha256 = excluded.sha256, \
                 size = excluded.size, width = excluded.width, height = excluded.height, \
                 updated_at = excluded.updated_at, bytes = excluded.bytes",
            )
            .bind(media.path.as_str())
            .bind(&info.content_type)
            .bind(&info.sha256)
            .bind(size)
            .bind(info.width.map(i64::from))
            .bind(info.height.map(i64::from))
            .bind(now)
            .bind(media.bytes.as_ref())
            .bind(source.as_str())
            .execute(&mut *conn)
            .await?;
        });
        let written: DbMediaSourced = on_tx!(&mut tx, conn => {
            sqlx::query_as(&select).bind(media.path.as_str()).fetch_one(&mut *conn).await?
        });
        tx.commit().await?;
        Ok(Ok(MediaWrite { row: written.row.decode()?, changed: true }))
    }

    /// The media file at `path`, bytes included; `None` when there is none.
    #[tracing::instrument(skip(self), fields(path = %path), err)]
    pub async fn media(&self, path: &MediaPath) -> Result<Option<Media>, StoreError> {
        let sql = format!("SELECT {ROW_COLUMNS}, bytes FROM media WHERE path = $1");
        let found: Option<DbMedia> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(path.as_str()).fetch_optional(pool).await?
        });
        found.map(|m| Ok(Media { row: m.row.decode()?, bytes: Bytes::from(m.bytes) })).transpose()
    }

    /// The media file at `path` without its bytes: what a server asks on
    /// each request to check that the bytes it holds in memory are current.
    pub async fn media_row(&self, path: &MediaPath) -> Result<Option<MediaRow>, StoreError> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM media WHERE path = $1");
        let found: Option<DbMediaRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(path.as_str()).fetch_optional(pool).await?
        });
        found.map(DbMediaRow::decode).transpose()
    }

    /// The SHA-256 of every stored media file, by path: a publish compares
    /// them with the files' to read and write only the changed ones.
    pub async fn media_hashes(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT path, sha256 FROM media").fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }
}
