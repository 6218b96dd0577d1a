//! The library's error types. Each one says where the problem is and, where
//! it can, what to do about it.

use std::path::PathBuf;

/// A problem with an article file.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A front-matter field (or the body) is missing or invalid.
    #[error("{path}:{line}: {field}: {message}", path = .path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line of the field (of the opening `+++` for a missing field).
        line: usize,
        /// The field's name, `body` for the Markdown part.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The file is not a front matter block followed by Markdown, or its TOML
    /// does not parse.
    #[error("{path}:{line}: {message}", path = .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A media file beside the articles cannot be published.
    #[error("{path}: {message}", path = .path.display())]
    Media {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The file or directory cannot be read.
    #[error("{path}: cannot read: {source}", path = .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A configuration problem; each string starts with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One or more keys are invalid.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// A database problem.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be turned back into an article.
    #[error("stored article {id} is unreadable: {message}")]
    Corrupt {
        /// The article id (or slug) of the row.
        id: String,
        /// What could not be decoded.
        message: String,
    },
    /// `herald copy` refused to start.
    #[error(transparent)]
    Copy(#[from] crate::store::CopyRefused),
    /// The data directory cannot be created.
    #[error("cannot create data directory {path}: {source}", path = .path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether SQLite answered "database is locked" (SQLITE_BUSY and its
    /// extended codes): another process held the write lock too long, and
    /// the whole transaction may be retried.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                e.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5)
            }
            _ => false,
        }
    }
}
