//! Settings: `config/default.toml` (compiled in) < `--config FILE` < `HERALD_*`
//! environment variables, deserialized once and validated once.
//!
//! Every problem names its key and the expected form, and all of them are
//! reported together, so an operator fixes a configuration in one pass.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::article::Language;
use crate::error::ConfigError;
use crate::render::Content;

/// The built-in configuration, every key commented.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[content]`
    pub content: ContentSettings,
    /// `[feeds]`
    pub feeds: FeedSettings,
    /// `[channel]`: the metadata every renderer receives.
    pub channel: Channel,
    /// `[federation]`: the publication's ActivityPub account.
    pub account: Account,
    /// `[federation]`: how activities are delivered.
    pub delivery: DeliverySettings,
    /// `[websub]`: herald's own WebSub hub.
    pub websub: WebSubSettings,
}

/// `[websub]`: leases granted by herald's hub, and external hubs to ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSubSettings {
    /// The lease granted when a subscriber asks for none, in seconds.
    pub lease_seconds: i64,
    /// The shortest lease granted (shorter requests are raised to it).
    pub min_lease_seconds: i64,
    /// The longest lease granted (longer requests are cut to it).
    pub max_lease_seconds: i64,
    /// External hubs told (`hub.mode=publish`) when a main feed changes.
    pub hubs: Vec<Url>,
}

impl WebSubSettings {
    /// The lease granted for a request of `requested` seconds (none: the default).
    pub fn grant(&self, requested: Option<i64>) -> i64 {
        requested.unwrap_or(self.lease_seconds).clamp(self.min_lease_seconds, self.max_lease_seconds)
    }
}

/// Outbound federation traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Allow private, loopback and link-local destinations (tests only).
    pub allow_private_addresses: bool,
    /// Delivery requests in flight at once in this process, all hosts together.
    pub max_in_flight: usize,
    /// Delivery requests in flight at once to one host (once it has answered;
    /// a host that has not answered yet gets one probe at a time).
    pub per_host: usize,
    /// Whole-request timeout of a delivery (connect, send, answer).
    pub request_timeout: std::time::Duration,
    /// How long a host's circuit stays open after a timeout or network error
    /// before one probe is sent; doubles while the probes fail, up to an hour.
    pub circuit_open: chrono::TimeDelta,
    /// Attempts before a job is given up.
    pub max_attempts: u32,
    /// How long a claimed job stays locked to its process.
    pub lock: chrono::TimeDelta,
    /// Delivered jobs are deleted after this long.
    pub keep_delivered: chrono::TimeDelta,
    /// Failed jobs are deleted after this long.
    pub keep_failed: chrono::TimeDelta,
    /// At shutdown, how long deliveries in flight may take to finish.
    pub shutdown_grace: Duration,
}

/// `[server]`
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// How often `serve` looks for publishes made by other processes.
    pub poll_interval: Duration,
    /// Where `/metrics` is served; `None` when disabled.
    pub metrics_bind: Option<SocketAddr>,
    /// How log lines are written.
    pub log_format: LogFormat,
}

/// `server.log_format`: how log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// Parses `text` or `json`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not a log format: use \"text\" or \"json\"")),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The database URL, with the SQLite default resolved.
    pub url: String,
    /// herald's data directory.
    pub data_dir: PathBuf,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// `[content]`
#[derive(Debug, Clone)]
pub struct ContentSettings {
    /// Directory of `*.md` article files.
    pub dir: PathBuf,
    /// Publish the directory when `serve` starts.
    pub publish_on_start: bool,
}

/// `[feeds]`
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Items in the main feeds.
    pub items: usize,
    /// Full text or summaries in the main feeds.
    pub content: Content,
    /// Items in each tag feed.
    pub tag_items: usize,
    /// Full text or summaries in the tag feeds.
    pub tag_content: Content,
    /// Items in each author feed.
    pub author_items: usize,
    /// Full text or summaries in the author feeds.
    pub author_content: Content,
    /// Articles per archive page (RFC 5005); at most `items`.
    pub archive_page_size: usize,
    /// `Cache-Control: max-age` in seconds.
    pub max_age: u32,
    /// `Cache-Control: max-age` of archive pages, in seconds.
    pub archive_max_age: u32,
}

impl FeedSettings {
    /// Items and content of the subscription document of `scope`.
    pub fn of(&self, scope: &crate::render::Scope) -> (usize, Content) {
        match scope {
            crate::render::Scope::All => (self.items, self.content),
            crate::render::Scope::Tag(_) => (self.tag_items, self.tag_content),
            crate::render::Scope::Author(..) => (self.author_items, self.author_content),
        }
    }
}

/// Publication metadata shared by all renderers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Public base URL, always ending in `/`.
    pub base_url: Url,
    /// Title.
    pub title: String,
    /// Description / subtitle.
    pub description: String,
    /// Language.
    pub language: Language,
    /// Byline used where an article has none.
    pub author: String,
    /// Rights statement.
    pub rights: String,
    /// Licence / republishing terms.
    pub license_url: Url,
    /// Square icon (JSON Feed `icon`; Atom `icon` and the RSS image when
    /// no favicon or logo is set).
    pub icon: Option<Url>,
    /// Wide logo (Atom `logo`, RSS `image`).
    pub logo: Option<Url>,
    /// Small icon (JSON Feed `favicon`, Atom `icon`).
    pub favicon: Option<Url>,
}

impl Channel {
    /// An absolute URL for a site path such as `feed.rss` or `articles/x`.
    pub fn url(&self, path: &str) -> Url {
        // base_url ends in '/', so join appends instead of replacing the last segment.
        self.base_url.join(path.trim_start_matches('/')).unwrap_or_else(|_| self.base_url.clone())
    }

    /// The canonical URL of an article page.
    pub fn article_url(&self, slug: &crate::article::Slug) -> Url {
        self.url(&format!("articles/{slug}"))
    }
}

/// The publication's ActivityPub account: its names and URLs, derived once
/// from `[federation]` and the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `preferredUsername`, the part before the `@`.
    pub name: AccountName,
    /// The host part of `acct:` URIs (host, and port when not the default).
    pub host: String,
    /// Display name.
    pub display_name: String,
    /// Profile text, plain.
    pub summary: String,
    /// Avatar.
    pub icon: Option<Url>,
    /// Header image.
    pub header: Option<Url>,
    /// AS2 actor type.
    pub actor_type: &'static str,
    /// `discoverable`.
    pub discoverable: bool,
    /// `indexable`.
    pub indexable: bool,
    /// `alsoKnownAs`.
    pub also_known_as: Vec<Url>,
    /// `movedTo`.
    pub moved_to: Option<Url>,
    /// HTML template of Notes.
    pub note_template: String,
    /// Items per outbox page.
    pub outbox_page_size: usize,
    /// The actor's id, `{base}users/{name}`.
    pub actor: Url,
    /// Personal inbox.
    pub inbox: Url,
    /// Shared inbox, `{base}inbox`.
    pub shared_inbox: Url,
    /// Outbox.
    pub outbox: Url,
    /// Followers collection.
    pub followers: Url,
    /// Following collection.
    pub following: Url,
}

impl Account {
    /// `acct:name@host`.
    pub fn acct(&self) -> String {
        format!("acct:{}@{}", self.name, self.host)
    }

    /// The id of the actor's public key.
    pub fn key_id(&self) -> String {
        format!("{}#main-key", self.actor)
    }
}

/// An account name: 1 to 30 letters, digits and underscores (Mastodon's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    /// Parses an account name such as `news`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.is_empty() && raw.len() <= 30 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an account name: use 1 to 30 ASCII letters, digits or underscores, e.g. \"news\""
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const ACTOR_TYPES: [&str; 5] = ["Service", "Organization", "Person", "Application", "Group"];

#[derive(Deserialize)]
struct Raw {
    server: RawServer,
    database: RawDatabase,
    content: RawContent,
    feeds: RawFeeds,
    channel: RawChannel,
    federation: RawFederation,
    websub: RawWebSub,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebSub {
    lease_seconds: i64,
    min_lease_seconds: i64,
    max_lease_seconds: i64,
    hubs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFederation {
    account: String,
    display_name: String,
    summary: String,
    icon: String,
    header: String,
    actor_type: String,
    discoverable: bool,
    indexable: bool,
    also_known_as: Vec<String>,
    moved_to: String,
    note_template: String,
    outbox_page_size: i64,
    allow_private_addresses: bool,
    max_in_flight: i64,
    per_host_in_flight: i64,
    request_timeout_ms: i64,
    circuit_open_seconds: i64,
    max_attempts: i64,
    delivery_lock_seconds: i64,
    keep_delivered_days: i64,
    keep_failed_days: i64,
    shutdown_grace_seconds: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    base_url: String,
    poll_interval_ms: u64,
    metrics_bind: String,
    log_format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
    data_dir: PathBuf,
    max_connections: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContent {
    dir: PathBuf,
    publish_on_start: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeds {
    items: i64,
    content: String,
    tag_items: i64,
    tag_content: String,
    author_items: i64,
    author_content: String,
    archive_page_size: i64,
    max_age: i64,
    archive_max_age: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    title: String,
    description: String,
    language: String,
    author: String,
    rights: String,
    license_url: String,
    icon: String,
    logo: String,
    favicon: String,
}

impl Settings {
    /// Loads the layered configuration: defaults, then `file` if given, then
    /// `HERALD_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// [`Settings::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder().add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Invalid(vec![format!("--config {}: no such file", path.display())]));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        let env: config::Map<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with("HERALD_") && k.contains("__")).collect();
        builder = builder.add_source(
            Environment::with_prefix("HERALD")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                // HERALD_WEBSUB__HUBS=https://a.example/,https://b.example/
                .list_separator(",")
                .with_list_parse_key("websub.hubs")
                .source(Some(env)),
        );
        let raw: Raw =
            builder.build().and_then(Config::try_deserialize).map_err(|e| ConfigError::Invalid(vec![e.to_string()]))?;
        raw.validate()
    }
}

impl Raw {
    fn validate(self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let mut check = |key: &str, result: Result<(), String>| {
            if let Err(message) = result {
                problems.push(format!("{key}: {message}"));
            }
        };

        let bind = self.server.bind.parse::<SocketAddr>();
        check(
            "server.bind",
            bind.as_ref()
                .map(|_| ())
                .map_err(|_| format!("{:?} is not an address and port, e.g. \"127.0.0.1:8080\"", self.server.bind)),
        );
        let base_url = parse_base_url(&self.server.base_url);
        check("server.base_url", base_url.as_ref().map(|_| ()).map_err(Clone::clone));
        check("server.poll_interval_ms", in_range(self.server.poll_interval_ms, 10..=60_000));
        let metrics_bind = match self.server.metrics_bind.trim() {
            "" => Ok(None),
            raw => raw.parse::<SocketAddr>().map(Some).map_err(|_| {
                format!(
                    "{raw:?} is not an address and port, e.g. \"127.0.0.1:9464\"; leave it empty to disable /metrics"
                )
            }),
        };
        check("server.metrics_bind", metrics_bind.as_ref().map(|_| ()).map_err(Clone::clone));
        if let (Ok(Some(metrics)), Ok(bind)) = (&metrics_bind, &bind) {
            if metrics == bind && bind.port() != 0 {
                check(
                    "server.metrics_bind",
                    Err(format!("{metrics} is server.bind too: give /metrics its own port, or leave it empty")),
                );
            }
        }
        let log_format = LogFormat::parse(&self.server.log_format);
        check("server.log_format", log_format.as_ref().map(|_| ()).map_err(Clone::clone));

        let db_url = if self.database.url.trim().is_empty() {
            format!("sqlite://{}", self.database.data_dir.join("herald.db").display())
        } else {
            self.database.url.trim().to_owned()
        };
        check(
            "database.url",
            if db_url.starts_with("sqlite:") || crate::store::is_postgres_url(&db_url) {
                Ok(())
            } else {
                Err(format!(
                    "{:?} is not supported: use \"sqlite://path/to/herald.db\", \
                     \"postgres://user:password@host/database\" or leave it empty",
                    crate::store::redact(&db_url)
                ))
            },
        );
        check("database.max_connections", in_range(self.database.max_connections, 1..=1000));

        check("feeds.items", in_range(self.feeds.items, 1..=10_000));
        check("feeds.tag_items", in_range(self.feeds.tag_items, 1..=10_000));
        check("feeds.author_items", in_range(self.feeds.author_items, 1..=10_000));
        // 0: one page per `items`, so that the subscription feed always
        // holds every article that is not archived yet.
        let archive_page_size =
            if self.feeds.archive_page_size == 0 { self.feeds.items } else { self.feeds.archive_page_size };
        check(
            "feeds.archive_page_size",
            in_range(archive_page_size, 1..=self.feeds.items.max(1)).map_err(|_| {
                format!(
                    "{archive_page_size} is more than feeds.items ({}): the subscription feed must hold at least \
                     a page, or articles would fall between it and the archive; use at most {} or 0 (= feeds.items)",
                    self.feeds.items, self.feeds.items
                )
            }),
        );
        check("feeds.max_age", in_range(self.feeds.max_age, 0..=86_400));
        check("feeds.archive_max_age", in_range(self.feeds.archive_max_age, 0..=31_536_000));
        let content_of = |raw: &str| match raw.trim() {
            "full" => Ok(Content::Full),
            "summary" => Ok(Content::Summary),
            other => Err(format!("{other:?} is not a content mode: use \"full\" or \"summary\"")),
        };
        let content = content_of(&self.feeds.content);
        let tag_content = content_of(&self.feeds.tag_content);
        let author_content = content_of(&self.feeds.author_content);
        for (key, result) in [
            ("feeds.content", &content),
            ("feeds.tag_content", &tag_content),
            ("feeds.author_content", &author_content),
        ] {
            check(key, result.as_ref().map(|_| ()).map_err(Clone::clone));
        }

        let language = Language::parse(self.channel.language.trim());
        check("channel.language", language.as_ref().map(|_| ()).map_err(Clone::clone));
        for (key, value) in [
            ("channel.title", &self.channel.title),
            ("channel.description", &self.channel.description),
            ("channel.author", &self.channel.author),
        ] {
            check(key, if value.trim().is_empty() { Err("must not be empty".to_owned()) } else { Ok(()) });
        }
        let license_url = optional_url(&self.channel.license_url);
        check("channel.license_url", license_url.as_ref().map(|_| ()).map_err(Clone::clone));
        let icon = optional_url(&self.channel.icon);
        check("channel.icon", icon.as_ref().map(|_| ()).map_err(Clone::clone));
        let logo = optional_url(&self.channel.logo);
        check("channel.logo", logo.as_ref().map(|_| ()).map_err(Clone::clone));
        let favicon = optional_url(&self.channel.favicon);
        check("channel.favicon", favicon.as_ref().map(|_| ()).map_err(Clone::clone));

        let fed = &self.federation;
        let account_name = AccountName::parse(fed.account.trim());
        check("federation.account", account_name.as_ref().map(|_| ()).map_err(Clone::clone));
        let actor_type = ACTOR_TYPES.into_iter().find(|t| *t == fed.actor_type.trim());
        check(
            "federation.actor_type",
            actor_type
                .map(|_| ())
                .ok_or_else(|| format!("{:?} is not one of {}", fed.actor_type, ACTOR_TYPES.join(", "))),
        );
        let fed_icon = optional_url(&fed.icon);
        check("federation.icon", fed_icon.as_ref().map(|_| ()).map_err(Clone::clone));
        let header = optional_url(&fed.header);
        check("federation.header", header.as_ref().map(|_| ()).map_err(Clone::clone));
        let moved_to = optional_url(&fed.moved_to);
        check("federation.moved_to", moved_to.as_ref().map(|_| ()).map_err(Clone::clone));
        let also_known_as: Vec<Result<Option<Url>, String>> =
            fed.also_known_as.iter().map(|u| optional_url(u)).collect();
        for aka in &also_known_as {
            check("federation.also_known_as", aka.as_ref().map(|_| ()).map_err(Clone::clone));
        }
        check(
            "federation.note_template",
            if fed.note_template.contains("{url}") {
                Ok(())
            } else {
                Err("must contain {url}, so that every Note links to its article".to_owned())
            },
        );
        check("federation.max_in_flight", in_range(fed.max_in_flight, 1..=10_000));
        check("federation.per_host_in_flight", in_range(fed.per_host_in_flight, 1..=64));
        check("federation.request_timeout_ms", in_range(fed.request_timeout_ms, 100..=120_000));
        check("federation.circuit_open_seconds", in_range(fed.circuit_open_seconds, 1..=3600));
        check("federation.keep_delivered_days", in_range(fed.keep_delivered_days, 0..=3650));
        check("federation.keep_failed_days", in_range(fed.keep_failed_days, 0..=3650));
        check("federation.delivery_lock_seconds", in_range(fed.delivery_lock_seconds, 1..=3600));
        check("federation.max_attempts", in_range(fed.max_attempts, 1..=30));
        check("federation.shutdown_grace_seconds", in_range(fed.shutdown_grace_seconds, 0..=600));
        check("federation.outbox_page_size", in_range(fed.outbox_page_size, 1..=200));
        let websub = self.websub.validate(&mut check);

        match (
            (bind, base_url, language, license_url, icon, logo, favicon),
            (account_name, fed_icon, header, moved_to),
            (content, tag_content, author_content),
            (metrics_bind, log_format),
        ) {
            (
                (Ok(bind), Ok(base_url), Ok(language), Ok(license_url), Ok(icon), Ok(logo), Ok(favicon)),
                (Ok(name), Ok(fed_icon), Ok(header), Ok(moved_to)),
                (Ok(content), Ok(tag_content), Ok(author_content)),
                (Ok(metrics_bind), Ok(log_format)),
            ) if problems.is_empty() => {
                let join = |path: String| base_url.join(&path).unwrap_or_else(|_| base_url.clone());
                let actor = join(format!("users/{name}"));
                let account = Account {
                    host: match base_url.port() {
                        Some(port) => format!("{}:{port}", base_url.host_str().unwrap_or_default()),
                        None => base_url.host_str().unwrap_or_default().to_owned(),
                    },
                    display_name: Some(fed.display_name.trim())
                        .filter(|n| !n.is_empty())
                        .unwrap_or(self.channel.title.trim())
                        .to_owned(),
                    summary: Some(fed.summary.trim())
                        .filter(|n| !n.is_empty())
                        .unwrap_or(self.channel.description.trim())
                        .to_owned(),
                    icon: fed_icon.or_else(|| icon.clone()),
                    header,
                    actor_type: actor_type.unwrap_or("Service"),
                    discoverable: fed.discoverable,
                    indexable: fed.indexable,
                    also_known_as: also_known_as.into_iter().filter_map(|u| u.ok().flatten()).collect(),
                    moved_to,
                    note_template: fed.note_template.clone(),
                    outbox_page_size: usize::try_from(fed.outbox_page_size).unwrap_or(20),
                    inbox: join(format!("users/{name}/inbox")),
                    outbox: join(format!("users/{name}/outbox")),
                    followers: join(format!("users/{name}/followers")),
                    following: join(format!("users/{name}/following")),
                    shared_inbox: join("inbox".to_owned()),
                    actor,
                    name,
                };
                let license_url =
                    license_url.unwrap_or_else(|| base_url.join("license").unwrap_or_else(|_| base_url.clone()));
                Ok(Settings {
                    server: ServerSettings {
                        bind,
                        poll_interval: Duration::from_millis(self.server.poll_interval_ms),
                        metrics_bind,
                        log_format,
                    },
                    database: DatabaseSettings {
                        url: db_url,
                        data_dir: self.database.data_dir,
                        max_connections: self.database.max_connections,
                    },
                    content: ContentSettings { dir: self.content.dir, publish_on_start: self.content.publish_on_start },
                    feeds: FeedSettings {
                        items: usize::try_from(self.feeds.items).unwrap_or(50),
                        content,
                        tag_items: usize::try_from(self.feeds.tag_items).unwrap_or(50),
                        tag_content,
                        author_items: usize::try_from(self.feeds.author_items).unwrap_or(50),
                        author_content,
                        archive_page_size: usize::try_from(archive_page_size).unwrap_or(50),
                        max_age: u32::try_from(self.feeds.max_age).unwrap_or(300),
                        archive_max_age: u32::try_from(self.feeds.archive_max_age).unwrap_or(86_400),
                    },
                    channel: Channel {
                        base_url,
                        title: self.channel.title.trim().to_owned(),
                        description: self.channel.description.trim().to_owned(),
                        language,
                        author: self.channel.author.trim().to_owned(),
                        rights: self.channel.rights.trim().to_owned(),
                        license_url,
                        icon,
                        logo,
                        favicon,
                    },
                    account,
                    delivery: DeliverySettings {
                        allow_private_addresses: fed.allow_private_addresses,
                        max_in_flight: usize::try_from(fed.max_in_flight).unwrap_or(1024),
                        per_host: usize::try_from(fed.per_host_in_flight).unwrap_or(4),
                        request_timeout: std::time::Duration::from_millis(
                            u64::try_from(fed.request_timeout_ms).unwrap_or(10_000),
                        ),
                        circuit_open: chrono::TimeDelta::seconds(fed.circuit_open_seconds),
                        max_attempts: u32::try_from(fed.max_attempts).unwrap_or(16),
                        lock: chrono::TimeDelta::seconds(fed.delivery_lock_seconds),
                        keep_delivered: chrono::TimeDelta::days(fed.keep_delivered_days),
                        keep_failed: chrono::TimeDelta::days(fed.keep_failed_days),
                        shutdown_grace: Duration::from_secs(u64::try_from(fed.shutdown_grace_seconds).unwrap_or(10)),
                    },
                    websub,
                })
            }
            _ => Err(ConfigError::Invalid(problems)),
        }
    }
}

impl RawWebSub {
    /// Checks the section, reporting each problem through `check`.
    fn validate(self, check: &mut impl FnMut(&str, Result<(), String>)) -> WebSubSettings {
        // A year at most: a subscriber renews long before, and an abandoned
        // callback should not be pushed to forever.
        const YEAR: i64 = 365 * 86_400;
        check("websub.min_lease_seconds", in_range(self.min_lease_seconds, 60..=YEAR));
        check("websub.max_lease_seconds", in_range(self.max_lease_seconds, 60..=YEAR));
        check(
            "websub.max_lease_seconds",
            if self.max_lease_seconds >= self.min_lease_seconds {
                Ok(())
            } else {
                Err(format!(
                    "{} is below websub.min_lease_seconds ({})",
                    self.max_lease_seconds, self.min_lease_seconds
                ))
            },
        );
        check(
            "websub.lease_seconds",
            in_range(self.lease_seconds, self.min_lease_seconds..=self.max_lease_seconds)
                .map_err(|e| format!("{e} (websub.min_lease_seconds to websub.max_lease_seconds)")),
        );
        let mut hubs = Vec::new();
        for raw in &self.hubs {
            match optional_url(raw) {
                Ok(Some(url)) => hubs.push(url),
                Ok(None) => check("websub.hubs", Err("an empty hub URL".to_owned())),
                Err(message) => check("websub.hubs", Err(message)),
            }
        }
        hubs.dedup();
        WebSubSettings {
            lease_seconds: self.lease_seconds,
            min_lease_seconds: self.min_lease_seconds,
            max_lease_seconds: self.max_lease_seconds,
            hubs,
        }
    }
}

/// `Ok` when `value` lies in `range`, else the message naming the range.
fn in_range<T: PartialOrd + std::fmt::Display>(value: T, range: std::ops::RangeInclusive<T>) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!("{value} is out of range: use {} to {}", range.start(), range.end()))
    }
}

fn parse_base_url(raw: &str) -> Result<Url, String> {
    let hint = "use an absolute http(s) URL, e.g. \"https://news.example.org/\"";
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL ({e}): {hint}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{raw:?} is not an http(s) URL: {hint}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} has a query or fragment: {hint}"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn optional_url(raw: &str) -> Result<Option<Url>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(url)),
        _ => Err(format!("{raw:?} is not an absolute http(s) URL; leave it empty for none")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_built_in_defaults_are_valid() {
        let settings = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.channel.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(settings.database.url, "sqlite://data/herald.db");
        assert_eq!(settings.feeds.items, 50);
        assert_eq!(settings.channel.license_url.as_str(), "http://127.0.0.1:8080/license");
        assert_eq!(settings.account.acct(), "acct:news@127.0.0.1:8080");
        assert_eq!(settings.account.actor.as_str(), "http://127.0.0.1:8080/users/news");
        assert_eq!(settings.account.shared_inbox.as_str(), "http://127.0.0.1:8080/inbox");
        assert_eq!(settings.account.display_name, settings.channel.title);
    }

    #[test]
    fn environment_variables_override_the_defaults() {
        let settings = Settings::load_with_env(
            None,
            env(&[
                ("HERALD_FEEDS__ITEMS", "7"),
                ("HERALD_SERVER__BASE_URL", "https://news.example.org/sub"),
                ("HERALD_UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.feeds.items, 7);
        assert_eq!(settings.channel.base_url.as_str(), "https://news.example.org/sub/");
        assert_eq!(settings.channel.url("feed.rss").as_str(), "https://news.example.org/sub/feed.rss");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_key() {
        let err = Settings::load_with_env(
            None,
            env(&[
                ("HERALD_FEEDS__ITEMS", "0"),
                ("HERALD_CHANNEL__LANGUAGE", "fr_FR"),
                ("HERALD_SERVER__BIND", "localhost"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("feeds.items: 0 is out of range"), "{err}");
        assert!(err.contains("channel.language: \"fr_FR\" is not a BCP 47"), "{err}");
        assert!(err.contains("server.bind: \"localhost\""), "{err}");
    }

    #[test]
    fn the_deploy_example_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/herald.toml");
        let settings = Settings::load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(settings.channel.base_url.as_str(), "https://news.example.org/");
        assert_eq!(settings.database.url, "sqlite:///var/lib/herald/herald.db");
    }

    #[test]
    fn the_operations_keys_are_validated_with_their_names() {
        let defaults = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(defaults.server.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(defaults.server.log_format, LogFormat::Text);
        assert_eq!(defaults.delivery.shutdown_grace, Duration::from_secs(10));
        let off = Settings::load_with_env(None, env(&[("HERALD_SERVER__METRICS_BIND", " ")])).unwrap();
        assert_eq!(off.server.metrics_bind, None);
        let err = Settings::load_with_env(
            None,
            env(&[
                ("HERALD_SERVER__METRICS_BIND", "127.0.0.1:8080"),
                ("HERALD_SERVER__LOG_FORMAT", "xml"),
                ("HERALD_FEDERATION__SHUTDOWN_GRACE_SECONDS", "601"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.metrics_bind: 127.0.0.1:8080 is server.bind too"), "{err}");
        assert!(err.contains("server.log_format: \"xml\" is not a log format"), "{err}");
        assert!(err.contains("federation.shutdown_grace_seconds: 601 is out of range"), "{err}");
    }

    #[test]
    fn websub_leases_are_clamped_and_bad_hubs_named() {
        let settings = Settings::load_with_env(None, env(&[])).unwrap();
        let websub = &settings.websub;
        assert_eq!(websub.grant(None), websub.lease_seconds);
        assert_eq!(websub.grant(Some(1)), websub.min_lease_seconds);
        assert_eq!(websub.grant(Some(i64::MAX)), websub.max_lease_seconds);
        let err = Settings::load_with_env(
            None,
            env(&[("HERALD_WEBSUB__LEASE_SECONDS", "10"), ("HERALD_WEBSUB__MAX_LEASE_SECONDS", "30")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("websub.lease_seconds: 10 is out of range"), "{err}");
        assert!(err.contains("websub.max_lease_seconds: 30 is out of range"), "{err}");
        let settings = Settings::load_with_env(
            None,
            env(&[
                ("HERALD_WEBSUB__HUBS", "https://a.example/hub,https://b.example/"),
                ("HERALD_CHANNEL__TITLE", "A, B"),
            ]),
        )
        .unwrap();
        let hubs: Vec<&str> = settings.websub.hubs.iter().map(Url::as_str).collect();
        assert_eq!(hubs, ["https://a.example/hub", "https://b.example/"]);
        assert_eq!(settings.channel.title, "A, B");
        let path = tempfile_with("[websub]\nhubs = [\"ftp://hub.example/\"]\n");
        let err = Settings::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("websub.hubs: \"ftp://hub.example/\" is not an absolute http(s) URL"), "{err}");
    }

    fn tempfile_with(text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("herald-config-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn unknown_keys_in_a_section_are_refused() {
        let err = Settings::load_with_env(None, env(&[("HERALD_FEEDS__ITEM", "3")])).unwrap_err().to_string();
        assert!(err.contains("item"), "{err}");
    }
}
