//! The command line: `serve`, `publish`, `check`, `render`, `import`, and
//! the operator's commands `followers`, `interactions`, `queue`, `key
//! rotate`, `token`, `copy`, `block` and `backup`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::article::Tag;
use crate::config::Settings;
use crate::render::{self, FeedView, Format, Scope};
use crate::startup::{shutdown_signal, Application};
use crate::store::Store;
use crate::{content, publish};

mod copy;
mod import;
mod ops;
mod queue;
mod token;

pub use ops::BlockAction;

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
    /// List the account's followers, with a count per server.
    Followers,
    /// Likes, boosts and replies received from the fediverse, per article.
    Interactions,
    /// Show the delivery queue: pending, delivered, failed, per inbox.
    Queue {
        /// Make every pending delivery due now instead of waiting for its backoff.
        #[arg(long)]
        retry_now: bool,
        /// Show the jobs of this one inbox instead of the summary.
        #[arg(long, value_name = "URL")]
        inbox: Option<String>,
    },
    /// Manage the account's keypair.
    Key {
        /// What to do with it.
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Copy the whole database (database.url, or --from) into another one,
    /// e.g. from SQLite to PostgreSQL: articles with every revision, keys,
    /// followers, interactions and the delivery queue. Stop every herald
    /// using the source first.
    Copy {
        /// The target database: "postgres://user:password@host/db" or "sqlite://path/to/herald.db".
        #[arg(long, value_name = "URL")]
        to: String,
        /// The source database, when not database.url.
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// Delete what the target holds first (otherwise a non-empty target is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Block a domain (and its subdomains), lift a block, or list them.
    Block {
        /// What to do.
        #[command(subcommand)]
        action: BlockAction,
    },
    /// Write a consistent copy of the SQLite database to FILE, safe while
    /// herald serves (on PostgreSQL, use pg_dump).
    Backup {
        /// The backup file to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write one article file per entry of an RSS, Atom or JSON feed (and of
    /// every page of its RFC 5005 archive) into DIR (default: content.dir).
    /// Entries imported before are left alone; no file is ever overwritten.
    Import {
        /// The feed: a file, or an http(s) URL (fetched like federation
        /// requests: private addresses need federation.allow_private_addresses).
        #[arg(value_name = "FILE|URL")]
        source: String,
        /// Where to write the files; defaults to content.dir.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Manage the bearer tokens of the publishing API (/api/).
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
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

/// `herald key` actions.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Replace the account's RSA keypair with a new one. Remote servers pick
    /// the new key up when a signature fails with the old one; use it when the
    /// private key may have leaked.
    Rotate,
}

/// `herald token` actions.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token and print it (once: only its hash is stored).
    Create {
        /// A name for the token (who uses it), e.g. cms.
        #[arg(long)]
        name: String,
        /// The token may read but not write.
        #[arg(long)]
        read_only: bool,
    },
    /// List the tokens: names, access, dates (never the secrets).
    List,
    /// Revoke the token called NAME: it stops working at once.
    Revoke {
        /// The token's name.
        name: String,
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
            let bar = ops::publish_bar();
            let progress = ops::on_publish_progress(bar.clone());
            let now = chrono::Utc::now();
            let outcome = publish::publish_dir_with_progress(
                &store,
                &settings.channel,
                &settings.account,
                &dir,
                prune,
                now,
                progress,
            )
            .await
            .with_context(|| format!("publishing {}", dir.display()));
            bar.finish_and_clear();
            let outcome = outcome?;
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
            let now = chrono::Utc::now();
            for sourced in loaded.articles.iter().filter(|a| a.article.is_published() && a.article.published > now) {
                println!(
                    "{}: {} is scheduled: held until {}, then published by a running `herald serve`",
                    sourced.path.display(),
                    sourced.article.slug,
                    sourced.article.published.to_rfc3339()
                );
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
        Command::Followers => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let followers = store.followers().await?;
            store.close().await;
            let mut by_server: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
            for (actor, inbox) in &followers {
                println!("{actor}\t{inbox}");
                let host =
                    url::Url::parse(actor).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                *by_server.entry(host).or_default() += 1;
            }
            for (server, count) in &by_server {
                println!("{count:>8}  {server}");
            }
            println!("{} followers on {} servers", followers.len(), by_server.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Interactions => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let summary = store.interaction_summary().await?;
            store.close().await;
            println!("{:>7} {:>7} {:>7}  article", "likes", "boosts", "replies");
            for (slug, likes, boosts, replies) in &summary {
                println!("{likes:>7} {boosts:>7} {replies:>7}  {slug}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue { retry_now, inbox } => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let now = chrono::Utc::now();
            if retry_now {
                let bar = ops::spinner("making every pending delivery due");
                let due = store.retry_all_now(now).await;
                bar.finish_and_clear();
                let due = due?;
                println!("{due} pending deliveries are due now");
            }
            if let Some(inbox) = inbox {
                let jobs = store.inbox_jobs(&inbox, 200).await?;
                store.close().await;
                print!("{}", queue::inbox_report(&inbox, &jobs));
                return Ok(ExitCode::SUCCESS);
            }
            let status = store.queue_status(now).await?;
            store.close().await;
            print!("{}", queue::summary(&status, now));
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { action: KeyAction::Rotate } => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let key = tokio::task::spawn_blocking(crate::federation::keys::generate)
                .await
                .context("generating a key")?
                .context("generating a key")?;
            let now = chrono::Utc::now();
            let retired = store.rotate_actor_key(&key, now).await?;
            let announced = crate::federation::profile::announce_changes(&store, &settings, retired, now).await?;
            store.close().await;
            println!(
                "rotated the key of {}; running servers sign with the new key within a second; \
                 an Update of the actor, signed with the retired key, is queued to {} follower inboxes",
                settings.account.acct(),
                announced.update
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Copy { to, from, replace } => {
            let mut source = settings.database.clone();
            if let Some(from) = from {
                source.url = from;
            }
            copy::run(&source, &to, replace).await
        }
        Command::Block { action } => ops::block(&settings, action).await,
        Command::Backup { file, force } => ops::backup(&settings, &file, force).await,
        Command::Import { source, dir } => {
            let dir = dir.unwrap_or_else(|| settings.content.dir.clone());
            import::run(&settings, &source, &dir).await
        }
        Command::Token { action } => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let status = match action {
                TokenAction::Create { name, read_only } => token::create(&store, &name, read_only).await?,
                TokenAction::List => {
                    print!("{}", token::list(&store.tokens().await?));
                    ExitCode::SUCCESS
                }
                TokenAction::Revoke { name } => {
                    if store.revoke_token(&name, chrono::Utc::now()).await? {
                        println!("revoked the token {name:?}");
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("no live token is called {name:?} (herald token list shows them)");
                        ExitCode::FAILURE
                    }
                }
            };
            store.close().await;
            Ok(status)
        }
        Command::Render { format, tag } => {
            let store = Store::connect(&settings.database).await.context("opening the database")?;
            let (scope, articles) = match tag {
                Some(raw) => {
                    let tag = Tag::parse(&raw).map_err(|e| anyhow::anyhow!("--tag: {e}"))?;
                    let articles = store.latest_published_with_tag(&tag, settings.feeds.tag_items).await?;
                    (Scope::Tag(tag), articles)
                }
                None => (Scope::All, store.latest_published(settings.feeds.items).await?),
            };
            store.close().await;
            let view = FeedView::current(scope.clone(), settings.feeds.of(&scope).1);
            let bytes = render::feed(format.into(), &settings.channel, &view, &articles);
            std::io::stdout().lock().write_all(&bytes).context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
