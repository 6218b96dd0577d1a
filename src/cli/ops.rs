//! The operator's commands `herald block` and `herald backup`, and the
//! progress display the long-running commands share.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Settings;
use crate::federation::blocks::Domain;
use crate::store::{Backend, Store};

/// A spinner with `message` and the time elapsed, on stderr when it is a
/// terminal and hidden otherwise, so that logs and tests stay clean.
pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The bar of `herald publish`: files read of files found, then a
/// spinner while what changed is stored.
pub fn publish_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), draw_target());
    if let Ok(style) = ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len} files ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("reading");
    bar
}

/// Moves `bar` as a publish goes.
pub fn on_publish_progress(bar: ProgressBar) -> impl Fn(crate::publish::Progress) + Send + Sync + 'static {
    move |progress| match progress {
        crate::publish::Progress::Reading { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        crate::publish::Progress::Storing => {
            if let Ok(style) = ProgressStyle::with_template("{spinner} storing {len} files ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    }
}

/// stderr when it is a terminal, else nowhere.
pub fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// `herald block` actions.
#[derive(Debug, clap::Subcommand)]
pub enum BlockAction {
    /// Block a domain and its subdomains: remove its followers, refuse its
    /// activities (403), deliver nothing there and fetch none of its actors.
    Add {
        /// The domain, e.g. example.social.
        domain: String,
    },
    /// Lift the block on a domain (its former followers must follow again).
    Remove {
        /// The domain, as blocked.
        domain: String,
    },
    /// List the blocked domains.
    List,
}

/// Runs `herald block …`.
pub async fn block(settings: &Settings, action: BlockAction) -> anyhow::Result<ExitCode> {
    let parse = |raw: &str| Domain::parse(raw).map_err(|e| anyhow::anyhow!("{e}"));
    let store = Store::connect(&settings.database).await.context("opening the database")?;
    match action {
        BlockAction::Add { domain } => {
            let domain = parse(&domain)?;
            let report = store.block_domain(&domain, chrono::Utc::now()).await.context("blocking")?;
            println!(
                "{} {domain} and its subdomains: {} followers removed, {} pending deliveries failed (\"blocked\")",
                if report.added { "blocked" } else { "already blocked:" },
                report.followers_removed,
                report.jobs_failed
            );
        }
        BlockAction::Remove { domain } => {
            let domain = parse(&domain)?;
            if store.unblock_domain(&domain).await.context("unblocking")? {
                println!("unblocked {domain}; its servers' users can follow again");
            } else {
                store.close().await;
                println!("{domain} was not blocked (see herald block list)");
                return Ok(ExitCode::FAILURE);
            }
        }
        BlockAction::List => {
            let blocked = store.blocked_domains().await.context("reading the blocks")?;
            for (domain, since) in &blocked {
                println!("{domain}\tsince {}", since.format("%Y-%m-%d %H:%M UTC"));
            }
            println!("{} blocked domains (each with its subdomains)", blocked.len());
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs `herald backup FILE`: a consistent copy of the SQLite database,
/// safe while herald serves. The copy is written beside `file` and renamed
/// into place, so `file` is whole or absent (with `--force`, the previous
/// backup stays until the new one is complete).
pub async fn backup(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if file.exists() && !force {
        eprintln!("herald: {} exists; pass --force to replace it", file.display());
        return Ok(ExitCode::from(2));
    }
    let store = Store::connect(&settings.database).await.context("opening the database")?;
    if store.backend() == Backend::Postgres {
        store.close().await;
        eprintln!(
            "herald: herald backup copies SQLite databases; this one is on PostgreSQL: back it up with pg_dump, \
             e.g. pg_dump --format=custom --file=herald.dump \"$DATABASE_URL\""
        );
        return Ok(ExitCode::from(2));
    }
    let partial = partial_path(file);
    // A partial file is what a killed backup left behind.
    let _ = std::fs::remove_file(&partial);
    let bar = spinner(&format!("backing up to {}", file.display()));
    let written = store.backup_into(&partial).await;
    bar.finish_and_clear();
    store.close().await;
    written.with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, file).with_context(|| format!("moving {} to {}", partial.display(), file.display()))?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!("backed up the database to {} ({size} bytes)", file.display());
    Ok(ExitCode::SUCCESS)
}

/// `dir/.name.partial` for `dir/name`.
fn partial_path(file: &Path) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".to_owned());
    file.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_sits_beside_the_backup() {
        assert_eq!(partial_path(Path::new("/b/herald.db")), Path::new("/b/.herald.db.partial"));
    }
}
