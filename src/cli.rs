//! The command line: `serve`, `publish`, `check`, `render`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::article::Tag;
use crate::config::Settings;
use crate::render::{self, Format, Scope};
use crate::startup::{shutdown_signal, Application};
use crate::store::Store;
use crate::{content, publish};

/// herald publishes one article model as RSS 2.0, Atom 1.0 and JSON Feed.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// A TOML file overriding the built-in configuration (see config/default.toml).
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site and its feeds (publishes the content directory first unless disabled).
    Serve {
        /// Republish whenever a file in the content directory changes.
        #[arg(long)]
        watch: bool,
        /// Do not publish the content directory at start.
        #[arg(long)]
        no_publish: bool,
    },
    /// Store the article files of DIR (default: content.dir): new, changed and retracted articles.
    Publish {
        /// Content directory; defaults to content.dir.
        dir: Option<PathBuf>,
        /// Retract articles whose file has disappeared (they are kept, not deleted).
        #[arg(long)]
        prune: bool,
    },
    /// Validate the article files of DIR and print every problem as path:line: field: message.
    Check {
        /// Content directory; defaults to content.dir.
        dir: Option<PathBuf>,
    },
    /// Print a feed of the published articles to stdout (for static hosting).
    Render {
        /// Feed format.
        #[arg(long, short, value_enum)]
        format: FormatArg,
        /// Only articles with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// RSS 2.0
    Rss,
    /// Atom 1.0
    Atom,
    /// JSON Feed 1.1
    Json,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Rss => Format::Rss,
            FormatArg::Atom => Format::Atom,
            FormatArg::Json => Format::Json,
        }
    }
}

/// Runs a parsed command line. Problems in the user's files are printed and
/// give exit status 1; failures (configuration, database) are returned.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { watch, no_publish } => {
            if no_publish {
                settings.content.publish_on_start = false;
            }
            let app = Application::build(settings).await?;
            let app = if watch { app.watch_content()? } else { app };
            let addr = app.local_addr().context("reading the bound address")?;
            tracing::info!("serving on http://{addr}/");
            app.run_until(shutdown_signal()).await.context("serving")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { dir, prune } => {
            let dir = dir.unwrap_or_else(|| settings.content.dir.clone());
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let outcome =
                publish::publish_dir(&store, &settings.channel, &settings.account, &dir, prune, chrono::Utc::now())
                    .await
                    .with_context(|| format!("publishing {}", dir.display()))?;
            store.close().await;
            print!("{outcome}");
            Ok(if outcome.skipped_anything() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Check { dir } => {
            let dir = dir.unwrap_or_else(|| settings.content.dir.clone());
            let loaded = content::load_dir(&dir, &settings.channel);
            for error in &loaded.errors {
                println!("{error}");
            }
            println!(
                "checked {} files in {}: {} valid, {} problems",
                loaded.files.len(),
                dir.display(),
                loaded.articles.len(),
                loaded.errors.len()
            );
            Ok(if loaded.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Render { format, tag } => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let items = settings.feeds.items;
            let (scope, articles) = match tag {
                Some(raw) => {
                    let tag = Tag::parse(&raw).map_err(|e| anyhow::anyhow!("--tag: {e}"))?;
                    let articles = store.latest_published_with_tag(&tag, items).await?;
                    (Scope::Tag(tag), articles)
                }
                None => (Scope::All, store.latest_published(items).await?),
            };
            store.close().await;
            let bytes = render::feed(format.into(), &settings.channel, &scope, &articles);
            std::io::stdout().lock().write_all(&bytes).context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
