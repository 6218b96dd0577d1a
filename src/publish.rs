//! Publishing a content directory: read the files (`content`), store what
//! changed (`store`), and report everything that was skipped.
//!
//! Media files go first, each written only when its hash changed, so an
//! article never names an image the database does not have yet.
//!
//! A broken file is reported and skipped while the valid ones still publish;
//! a file that disappeared is reported and left alone unless `prune` is set,
//! in which case its article is retracted (never deleted: nothing stored is lost).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::{Account, Channel};
use crate::content::{self, Loaded, MediaFile};
use crate::error::{ContentError, StoreError};
use crate::federation::outbox;
use crate::store::{Conflict, MediaSource, Store, Submission, SyncReport, TrackedFile};

/// Everything a publish did and refused.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What the store did.
    pub report: SyncReport,
    /// Problems in files, each of which caused the file to be skipped.
    pub content_errors: Vec<ContentError>,
    /// Articles whose file is gone and that are still published.
    pub missing: Vec<TrackedFile>,
    /// Slugs retracted because their file is gone (`prune`).
    pub pruned: Vec<String>,
    /// Media files stored because they are new or their bytes changed.
    pub media: Vec<String>,
}

impl Outcome {
    /// Whether anything was skipped (broken files or refused changes):
    /// the exit status of `herald publish` is non-zero then.
    pub fn skipped_anything(&self) -> bool {
        !self.content_errors.is_empty() || !self.report.conflicts.is_empty()
    }

    /// Whether anything stored changed.
    pub fn changed(&self) -> bool {
        self.report.changed() || !self.pruned.is_empty()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.content_errors {
            writeln!(f, "{error}")?;
        }
        for Conflict { source, field, message } in &self.report.conflicts {
            writeln!(f, "{}:1: {field}: {message}", source.as_deref().unwrap_or("(submission)"))?;
        }
        for file in &self.missing {
            if self.pruned.contains(&file.slug) {
                writeln!(f, "{}: file is gone; article {} retracted (--prune)", file.source, file.slug)?;
            } else {
                writeln!(
                    f,
                    "{}: file is gone; article {} left published (restore the file, set state = \"retracted\", or use --prune)",
                    file.source, file.slug
                )?;
            }
        }
        if !self.media.is_empty() {
            writeln!(f, "media: {} stored ({})", self.media.len(), self.media.join(", "))?;
        }
        let r = &self.report;
        for (slug, at) in &r.scheduled {
            writeln!(
                f,
                "{slug}: scheduled; held until {} (a running `herald serve` publishes it then)",
                at.to_rfc3339()
            )?;
        }
        let list = |slugs: &[String]| {
            if slugs.is_empty() {
                String::new()
            } else {
                format!(" ({})", slugs.join(", "))
            }
        };
        writeln!(
            f,
            "published: {} new{}, {} updated{}, {} retracted{}{}, {} unchanged, {} skipped",
            r.created.len(),
            list(&r.created),
            r.updated.len(),
            list(&r.updated),
            r.retracted.len() + self.pruned.len(),
            list(&[r.retracted.clone(), self.pruned.clone()].concat()),
            match r.scheduled.len() {
                0 => String::new(),
                n => format!(", {n} scheduled"),
            },
            r.unchanged,
            self.skipped_files(),
        )
    }
}

impl Outcome {
    fn skipped_files(&self) -> usize {
        let mut files: HashSet<String> = HashSet::new();
        for error in &self.content_errors {
            files.insert(error_path(error).display().to_string());
        }
        for conflict in &self.report.conflicts {
            files.insert(conflict.source.clone().unwrap_or_default());
        }
        files.len()
    }
}

fn error_path(error: &ContentError) -> &Path {
    match error {
        ContentError::Field { path, .. }
        | ContentError::Syntax { path, .. }
        | ContentError::Media { path, .. }
        | ContentError::Read { path, .. } => path,
    }
}

/// Where a publish is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading and parsing the files: `done` of `total`.
    Reading {
        /// Files read.
        done: usize,
        /// Files found.
        total: usize,
    },
    /// Storing what changed, in one transaction.
    Storing,
}

/// Publishes every article file under `dir`.
pub async fn publish_dir(
    store: &Store,
    channel: &Channel,
    account: &Account,
    dir: &Path,
    prune: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    publish_dir_with_progress(store, channel, account, dir, prune, now, |_| {}).await
}

/// [`publish_dir`], telling `progress` where it is.
#[tracing::instrument(skip(store, channel, account, progress), fields(dir = %dir.display()), err)]
pub async fn publish_dir_with_progress(
    store: &Store,
    channel: &Channel,
    account: &Account,
    dir: &Path,
    prune: bool,
    now: DateTime<Utc>,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<Outcome, StoreError> {
    let progress = std::sync::Arc::new(progress);
    let loaded = {
        let (dir, channel, reading) = (dir.to_owned(), channel.clone(), progress.clone());
        let read = move || {
            content::load_dir_with_progress(&dir, &channel, |done, total| reading(Progress::Reading { done, total }))
        };
        tokio::task::spawn_blocking(read).await.unwrap_or_else(|join| {
            // load_dir does not panic on bad input; a panic here is a bug, reported as a read error.
            Loaded {
                errors: vec![ContentError::Read {
                    path: PathBuf::new(),
                    source: std::io::Error::other(join.to_string()),
                }],
                ..Loaded::default()
            }
        })
    };
    let mut content_errors = loaded.errors;
    progress(Progress::Storing);
    let (media, refused) = store_media(store, &loaded.media, &mut content_errors, now).await?;
    let mut articles = loaded.articles;
    skip_articles_naming(&refused, channel, &mut articles, &mut content_errors);
    let sources: Vec<String> = articles.iter().map(|a| a.path.display().to_string()).collect();
    let submissions: Vec<Submission<'_>> = articles
        .iter()
        .zip(&sources)
        .map(|(sourced, source)| Submission { article: &sourced.article, source: Some(source) })
        .collect();
    let activities = outbox::activities(channel, account);
    let mut report = retry_busy(|| store.sync(&submissions, &activities, now)).await?;

    // If the directory itself could not be read, every file would look gone.
    let dir_unreadable = content_errors.iter().any(|e| matches!(e, ContentError::Read { path, .. } if path == dir));
    let mut missing = Vec::new();
    if !dir_unreadable {
        let seen_files: HashSet<String> = loaded.files.iter().map(|p| p.display().to_string()).collect();
        let seen_ids: HashSet<&str> = articles.iter().map(|a| a.article.id.as_str()).collect();
        missing = store
            .tracked_files()
            .await?
            .into_iter()
            .filter(|t| {
                Path::new(&t.source).starts_with(dir)
                    && !seen_files.contains(&t.source)
                    && !seen_ids.contains(t.id.as_str())
            })
            .collect();
    }
    // Held articles whose time came while no server ran go out now.
    report.created.extend(store.release_due(&activities, now).await?);
    let pruned = if prune && !missing.is_empty() {
        let ids: Vec<_> = missing.iter().map(|m| m.id.clone()).collect();
        store.retract(&ids, &activities, now).await?
    } else {
        Vec::new()
    };
    Ok(Outcome { report, content_errors, missing, pruned, media })
}

/// Runs one store transaction, again after SQLite reported the database
/// busy (a long write by a running server): safe, since a transaction
/// that failed left nothing behind.
async fn retry_busy<T, F, Fut>(mut transaction: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        match transaction().await {
            Err(error) if error.is_busy() && attempt < 5 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "database busy; retrying the publish");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            result => return result,
        }
    }
}

/// Leaves out of the publish the articles that name a media file that was
/// refused (its path holds an upload), each reported: published, they
/// would show the upload's bytes in place of their file.
fn skip_articles_naming(
    refused: &[&MediaFile],
    channel: &Channel,
    articles: &mut Vec<content::SourcedArticle>,
    errors: &mut Vec<ContentError>,
) {
    if refused.is_empty() {
        return;
    }
    let urls: Vec<(&crate::media::MediaPath, String)> =
        refused.iter().map(|f| (&f.path, f.path.url(&channel.base_url, &f.info.sha256).to_string())).collect();
    articles.retain(|sourced| {
        let article = &sourced.article;
        let names = |url: &String| {
            article.image.as_ref().is_some_and(|image| image.url.as_str() == url)
                || article.body_html.as_deref().is_some_and(|html| html.contains(url.as_str()))
        };
        let Some((path, _)) = urls.iter().find(|(_, url)| names(url)) else { return true };
        errors.push(ContentError::Media {
            path: sourced.path.clone(),
            message: format!(
                "names the media file {path}, which was not published (see its error); this article waits until \
                 it can be"
            ),
        });
        false
    });
}

/// Stores the media files whose bytes are not in the database yet; returns
/// their paths, and the files refused because their path holds an upload.
/// A file that cannot be read is reported and skipped.
async fn store_media<'a>(
    store: &Store,
    files: &'a [MediaFile],
    errors: &mut Vec<ContentError>,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<&'a MediaFile>), StoreError> {
    let stored = store.media_hashes().await?;
    let mut written = Vec::new();
    let mut refused = Vec::new();
    for file in files.iter().filter(|f| stored.get(f.path.as_str()) != Some(&f.info.sha256)) {
        // One file at a time: at most one file's bytes are in memory.
        let read = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || content::media::read(&file)).await
        };
        let new = match read {
            Ok(Ok(new)) => new,
            Ok(Err(error)) => {
                errors.push(error);
                continue;
            }
            Err(join) => {
                errors.push(ContentError::Read {
                    path: file.file.clone(),
                    source: std::io::Error::other(join.to_string()),
                });
                continue;
            }
        };
        match retry_busy(|| store.put_media(&new, MediaSource::File, now)).await? {
            Ok(put) if put.changed => written.push(file.path.to_string()),
            Ok(_) => {}
            Err(uploaded) => {
                errors.push(ContentError::Media {
                    path: file.file.clone(),
                    message: format!(
                        "/media/{} holds another file, uploaded through the API ({}, {} bytes); \
                         herald does not replace an upload: rename this file",
                        uploaded.path, uploaded.content_type, uploaded.size
                    ),
                });
                refused.push(file);
            }
        }
    }
    Ok((written, refused))
}
