//! The rendered site, cached in memory and rebuilt only when the store's
//! revision moves (a publish by this process or by any other).
//!
//! A request for an unchanged feed neither queries the database nor
//! renders: the main feeds and the front page are built with the snapshot;
//! tag feeds and article pages are built on first request and kept until the
//! next revision. Documents that change without a publish (the followers
//! collection, a Note's counts) are dropped one by one when the store
//! records an invalidation, in every process: on PostgreSQL as soon as the
//! notification arrives, on SQLite within a poll interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use super::representation::Representation;
use crate::article::{Article, ArticleId, AuthorKey, Slug, Tag};
use crate::config::Settings;
use crate::error::StoreError;
use crate::federation::client::Client;
use crate::federation::{self, discovery, ACTIVITY_JSON};
use crate::render::note;
use crate::render::{self, FeedView, Format, Page, Scope};
use crate::store::{Invalidation, SiteState, Store};

const HTML: &str = "text/html; charset=utf-8";
/// OPML has no registered media type; `text/x-opml` is what readers expect.
const OPML: &str = "text/x-opml; charset=utf-8";

/// A page or feed that is built on demand and then kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `/tags/{tag}/feed.{ext}`
    TagFeed(Tag, Format),
    /// `/tags/{tag}`
    TagPage(Tag),
    /// `/authors/{key}/feed.{ext}`
    AuthorFeed(AuthorKey, Format),
    /// `/authors/{key}`
    AuthorPage(AuthorKey),
    /// `/archive/{n}.{ext}`: page n (1 the oldest) of the main feed's archive.
    Archive(usize, Format),
    /// `/articles/{slug}`
    Article(Slug),
    /// `/articles/{slug}` asked for as ActivityStreams: the article's Note.
    ArticleNote(Slug),
    /// `/notes/{key}`
    Note(ArticleId),
    /// `/notes/{key}/likes`, `/shares`, `/replies`: the name is one of
    /// [`note::COLLECTIONS`].
    NoteCollection(ArticleId, &'static str),
    /// `/users/{account}` as ActivityStreams.
    Actor,
    /// `/users/{account}` as HTML.
    Profile,
    /// `/users/{account}/outbox`, `None` for the collection, `Some(n)` for page n.
    Outbox(Option<usize>),
    /// `/users/{account}/followers`
    Followers,
    /// `/users/{account}/following`
    Following,
    /// `/nodeinfo/2.1`
    NodeInfo,
}

/// Everything rendered for one store revision.
pub struct Snapshot {
    /// The store revision this was built from.
    pub revision: i64,
    changed_at: DateTime<Utc>,
    /// Complete archive pages of the main feed.
    archives: usize,
    feeds: HashMap<Format, Arc<Representation>>,
    front: Arc<Representation>,
    not_found: Arc<Representation>,
    license: Arc<Representation>,
    opml: Arc<Representation>,
    subscribe: Arc<Representation>,
    lazy: Mutex<Lazy>,
}

/// Documents built on demand, and which article each article-page Note is.
#[derive(Default)]
struct Lazy {
    built: HashMap<Key, Arc<Representation>>,
    /// Article id → slug of the `ArticleNote` built for it.
    note_slugs: HashMap<ArticleId, Slug>,
}

/// The current snapshot, swapped atomically when the store changes.
pub struct SiteCache {
    current: ArcSwap<Snapshot>,
    rebuild: tokio::sync::Mutex<()>,
    /// The last invalidation row applied (see [`SiteCache::refresh`]).
    invalidated: AtomicI64,
    /// Bumped by every eviction, so that a document built meanwhile is not kept.
    generation: AtomicU64,
    /// The actor document, with the public key it shows: always the key
    /// the client signs with, so that a server fetching the key to check a
    /// delivery (after `herald key rotate`, say) finds the one that signed it.
    actor: Mutex<Option<(String, Arc<Representation>)>>,
    client: Client,
    store: Store,
    settings: Arc<Settings>,
}

impl SiteCache {
    /// Builds the first snapshot.
    pub async fn build(store: Store, settings: Arc<Settings>, client: Client) -> Result<Self, StoreError> {
        let invalidated = AtomicI64::new(store.last_invalidation().await?);
        let state = store.site_state().await?;
        let snapshot = build_snapshot(&store, &settings, state).await?;
        Ok(Self {
            current: ArcSwap::from_pointee(snapshot),
            rebuild: tokio::sync::Mutex::new(()),
            invalidated,
            generation: AtomicU64::new(0),
            actor: Mutex::new(None),
            client,
            store,
            settings,
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Rebuilds when the store's revision differs from the snapshot's, and
    /// drops exactly the documents invalidated since the last call (a
    /// follower came or went, a Note was liked): two tiny queries when
    /// nothing changed. Returns whether it rebuilt.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        self.refresh_unless_current(true).await
    }

    /// Rebuilds everything from the store, whatever the revision (after
    /// notifications may have been missed).
    pub async fn rebuild(&self) -> Result<(), StoreError> {
        self.refresh_unless_current(false).await.map(|_| ())
    }

    /// [`SiteCache::refresh`]; with `skip_current` false it rebuilds even
    /// when the revision has not moved.
    #[tracing::instrument(skip(self), err)]
    async fn refresh_unless_current(&self, skip_current: bool) -> Result<bool, StoreError> {
        let _one_at_a_time = self.rebuild.lock().await;
        let seen = self.invalidated.load(Ordering::Acquire);
        let invalidations = self.store.invalidations_since(seen).await?;
        if let Some((last, _)) = invalidations.last() {
            self.evict(invalidations.iter().map(|(_, i)| i));
            self.invalidated.store(*last, Ordering::Release);
        }
        let state = self.store.site_state().await?;
        if skip_current && state.revision == self.current.load().revision {
            return Ok(false);
        }
        let snapshot = build_snapshot(&self.store, &self.settings, state).await?;
        tracing::info!(revision = state.revision, "site rebuilt");
        self.current.store(Arc::new(snapshot));
        Ok(true)
    }

    /// Drops the document `invalidation` names (an invalidation another
    /// instance announced on PostgreSQL).
    pub fn apply(&self, invalidation: &Invalidation) {
        self.evict(std::iter::once(invalidation));
    }

    /// The actor, showing the key the client signs with right now.
    async fn actor(&self) -> Result<Option<Arc<Representation>>, StoreError> {
        let pem = self.client.public_pem();
        if let Some((shown, rep)) = self.actor.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *shown == pem {
                return Ok(Some(rep.clone()));
            }
        }
        let Some(created) = self.store.account_created().await? else { return Ok(None) };
        let (channel, account) = (&self.settings.channel, &self.settings.account);
        let doc = federation::actor::actor(channel, account, &pem, created);
        let changed_at = self.current.load().changed_at;
        let rep = Arc::new(
            Representation::new(StatusCode::OK, ACTIVITY_JSON, json(&doc), changed_at, self.settings.feeds.max_age)
                .negotiated(),
        );
        *self.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some((pem, rep.clone()));
        Ok(Some(rep))
    }

    fn evict<'a>(&self, invalidations: impl Iterator<Item = &'a Invalidation>) {
        let snapshot = self.current.load();
        let mut lazy = snapshot.lazy.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for invalidation in invalidations {
            match invalidation {
                Invalidation::Followers => {
                    lazy.built.remove(&Key::Followers);
                }
                Invalidation::Note(raw) => {
                    let Ok(id) = ArticleId::parse(raw) else { continue };
                    for name in note::COLLECTIONS {
                        lazy.built.remove(&Key::NoteCollection(id.clone(), name));
                    }
                    if let Some(slug) = lazy.note_slugs.remove(&id) {
                        lazy.built.remove(&Key::ArticleNote(slug));
                    }
                    lazy.built.remove(&Key::Note(id));
                }
            }
        }
    }

    /// A main feed.
    pub fn feed(&self, format: Format) -> Arc<Representation> {
        let snapshot = self.current.load();
        snapshot.feeds.get(&format).cloned().unwrap_or_else(|| snapshot.not_found.clone())
    }

    /// The front page.
    pub fn front(&self) -> Arc<Representation> {
        self.current.load().front.clone()
    }

    /// The 404 page.
    pub fn not_found(&self) -> Arc<Representation> {
        self.current.load().not_found.clone()
    }

    /// The licence page.
    pub fn license(&self) -> Arc<Representation> {
        self.current.load().license.clone()
    }

    /// `/feeds.opml`.
    pub fn opml(&self) -> Arc<Representation> {
        self.current.load().opml.clone()
    }

    /// `/subscribe`.
    pub fn subscribe(&self) -> Arc<Representation> {
        self.current.load().subscribe.clone()
    }

    /// The feed herald serves at `topic` (a WebSub topic: a main, tag,
    /// author or archive feed, in any format), from the same cached
    /// representations the routes serve; `None` for any other URL.
    pub async fn topic(&self, topic: &url::Url) -> Result<Option<Arc<Representation>>, StoreError> {
        let Some(path) = topic.as_str().strip_prefix(self.settings.channel.base_url.as_str()) else {
            return Ok(None);
        };
        if topic.query().is_some() || topic.fragment().is_some() {
            return Ok(None);
        }
        match feed_path(path) {
            Some(FeedPath::Main(format)) => Ok(Some(self.feed(format))),
            Some(FeedPath::Lazy(key)) => self.lazy(key).await,
            None => Ok(None),
        }
    }

    /// The document `key` names if the current snapshot has built it
    /// already: no store, no await, so a handler can answer a hit without
    /// the timeout that guards a build ([`SiteCache::lazy`]).
    pub fn built(&self, key: &Key) -> Option<Arc<Representation>> {
        // A guard, not `load_full`: no reference count to bump on the
        // snapshot that every request of every worker reads.
        let snapshot = self.current.load();
        let lazy = snapshot.lazy.lock().unwrap_or_else(|p| p.into_inner());
        let hit = lazy.built.get(key).cloned();
        if hit.is_some() {
            crate::metrics::cache_hit();
        }
        hit
    }

    /// A tag feed, tag page or article page: from the snapshot when built
    /// already, else built now from the store and kept. `None` when nothing
    /// is there (unknown slug, tag without articles); such misses are not
    /// kept, so probing random URLs cannot fill memory.
    pub async fn lazy(&self, key: Key) -> Result<Option<Arc<Representation>>, StoreError> {
        if key == Key::Actor {
            return self.actor().await;
        }
        if let Some(hit) = self.built(&key) {
            return Ok(Some(hit));
        }
        crate::metrics::cache_miss();
        let snapshot = self.current.load_full();
        // An invalidation read while this builds would be lost: remember
        // where we were and do not keep the document if it moved.
        let seen = self.generation.load(Ordering::Acquire);
        let built = build_lazy(&self.store, &self.settings, &snapshot, &key).await?;
        if let Some((rep, article)) = &built {
            let mut lazy = snapshot.lazy.lock().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(Ordering::Acquire) == seen {
                if let (Key::ArticleNote(slug), Some(id)) = (&key, article) {
                    lazy.note_slugs.insert(id.clone(), slug.clone());
                }
                lazy.built.insert(key, rep.clone());
            }
        }
        Ok(built.map(|(rep, _)| rep))
    }
}

/// A feed URL's path, relative to the base URL.
enum FeedPath {
    /// `feed.{ext}`: in the snapshot.
    Main(Format),
    /// Any other feed: built on demand.
    Lazy(Key),
}

/// Which feed `path` (relative to the base URL, no query) names.
fn feed_path(path: &str) -> Option<FeedPath> {
    let format_of = |file: &str| file.strip_prefix("feed.").and_then(Format::parse);
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [file] => format_of(file).map(FeedPath::Main),
        ["tags", tag, file] => Some(FeedPath::Lazy(Key::TagFeed(Tag::parse(tag).ok()?, format_of(file)?))),
        ["authors", key, file] => {
            let key = percent_encoding::percent_decode_str(key).decode_utf8().ok()?;
            Some(FeedPath::Lazy(Key::AuthorFeed(AuthorKey::parse(&key)?, format_of(file)?)))
        }
        ["archive", file] => archive_file(file).map(|(n, format)| FeedPath::Lazy(Key::Archive(n, format))),
        _ => None,
    }
}

/// `{n}.{ext}` of an archive page: a page number without leading zeros, so
/// that each page has one URL.
pub fn archive_file(file: &str) -> Option<(usize, Format)> {
    let (number, extension) = file.split_once('.')?;
    if number.starts_with('0') || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((number.parse().ok()?, Format::parse(extension)?))
}

/// The `Link` header of a feed (WebSub §4: the hub and the topic's
/// canonical URL, also in HTTP so that a subscriber need not parse the body).
fn feed_links(channel: &crate::config::Channel, self_url: &url::Url) -> Option<axum::http::HeaderValue> {
    let value = format!("<{}>; rel=\"hub\", <{self_url}>; rel=\"self\"", render::hub_url(channel));
    axum::http::HeaderValue::from_str(&value).ok()
}

/// A rendered feed document, with its `Link` header.
fn feed_representation(
    settings: &Settings,
    view: &FeedView,
    format: Format,
    articles: &[Article],
    modified: DateTime<Utc>,
    max_age: u32,
) -> Representation {
    let channel = &settings.channel;
    let body = render::feed(format, channel, view, articles);
    let rep = Representation::new(StatusCode::OK, format.content_type(), body, modified, max_age);
    match feed_links(channel, &view.self_url(channel, format)) {
        Some(links) => rep.with_links(links),
        None => rep,
    }
}

async fn build_snapshot(store: &Store, settings: &Arc<Settings>, state: SiteState) -> Result<Snapshot, StoreError> {
    crate::metrics::snapshot_render();
    let (items, content) = settings.feeds.of(&Scope::All);
    let articles = store.latest_published(items).await?;
    let archives = usize::try_from(store.archived_count().await?).unwrap_or(0) / settings.feeds.archive_page_size;
    let mut scopes = vec![Scope::All];
    scopes.extend(store.tags().await?.into_iter().map(Scope::Tag));
    scopes
        .extend(store.authors(&settings.channel.author).await?.into_iter().map(|(key, name)| Scope::Author(key, name)));
    let settings = settings.clone();
    let build = move || {
        let channel = &settings.channel;
        let max_age = settings.feeds.max_age;
        let rep = |status, content_type, body| {
            Arc::new(Representation::new(status, content_type, body, state.changed_at, max_age))
        };
        let view = FeedView { scope: Scope::All, page: Page::Current { archives }, content };
        let feeds = Format::ALL
            .into_iter()
            .map(|format| {
                let rep = feed_representation(&settings, &view, format, &articles, state.changed_at, max_age);
                (format, Arc::new(rep))
            })
            .collect();
        Snapshot {
            revision: state.revision,
            changed_at: state.changed_at,
            archives,
            feeds,
            front: rep(StatusCode::OK, HTML, render::html::index(channel, &Scope::All, &articles)),
            not_found: rep(StatusCode::NOT_FOUND, HTML, render::html::not_found(channel)),
            license: rep(StatusCode::OK, HTML, render::html::license(channel)),
            opml: rep(StatusCode::OK, OPML, render::opml::feeds(channel, &scopes, state.changed_at)),
            subscribe: rep(StatusCode::OK, HTML, render::html::subscribe(channel, &settings.account)),
            lazy: Mutex::new(Lazy::default()),
        }
    };
    // Rendering and compressing a thousand items is CPU work: keep it off the reactor.
    tokio::task::spawn_blocking(build)
        .await
        .map_err(|e| StoreError::Corrupt { id: "snapshot".into(), message: e.to_string() })
}

fn json(doc: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(doc).expect("serializing a JSON value to memory cannot fail")
}

/// A Note with its counts (200) or, once its article is retracted, its
/// Tombstone (410 Gone).
async fn note_or_tombstone(
    store: &Store,
    settings: &Settings,
    article: &Article,
    negotiated: bool,
) -> Result<Representation, StoreError> {
    let (status, doc) = if article.is_published() {
        let counts = counts(store, &article.id).await?;
        (StatusCode::OK, json(&note::note_with_counts(&settings.channel, &settings.account, article, &counts)))
    } else {
        (StatusCode::GONE, json(&note::tombstone(&settings.channel, article)))
    };
    let rep = live(status, doc);
    Ok(if negotiated { rep.negotiated() } else { rep })
}

/// A document that changes without a publish (counts): validated by its
/// ETag only and revalidated by caches on every use (the ETag keeps that
/// cheap), so that no cache serves an old count.
fn live(status: StatusCode, body: Vec<u8>) -> Representation {
    Representation::new(status, ACTIVITY_JSON, body, Utc::now(), 0).etag_only()
}

async fn counts(store: &Store, id: &ArticleId) -> Result<note::Counts, StoreError> {
    let totals = store.interaction_totals(id.as_str()).await?;
    Ok(note::Counts { likes: totals.likes, shares: totals.shares, replies: totals.replies })
}

/// The scope and newest published articles of an author; `None` when
/// there are none.
async fn by_author(
    store: &Store,
    settings: &Settings,
    key: &AuthorKey,
) -> Result<Option<(Scope, Vec<Article>)>, StoreError> {
    let byline = AuthorKey::of(&settings.channel.author);
    let articles = store.latest_published_by(key, byline.as_ref(), settings.feeds.author_items).await?;
    if articles.is_empty() {
        return Ok(None);
    }
    // The byline as written in the newest article that names it.
    let name = articles
        .iter()
        .flat_map(|a| a.authors.iter())
        .find(|name| AuthorKey::of(name).as_ref() == Some(key))
        .cloned()
        .unwrap_or_else(|| settings.channel.author.clone());
    Ok(Some((Scope::Author(key.clone(), name), articles)))
}

/// Builds a lazy document; for an article's Note, also the article's id.
async fn build_lazy(
    store: &Store,
    settings: &Settings,
    snapshot: &Snapshot,
    key: &Key,
) -> Result<Option<(Arc<Representation>, Option<ArticleId>)>, StoreError> {
    let channel = &settings.channel;
    let account = &settings.account;
    let rep = |status, content_type, body| {
        Some(Representation::new(status, content_type, body, snapshot.changed_at, settings.feeds.max_age))
    };
    let negotiated = Representation::negotiated;
    let built = match key {
        Key::TagFeed(tag, format) => {
            let scope = Scope::Tag(tag.clone());
            let (items, content) = settings.feeds.of(&scope);
            let articles = store.latest_published_with_tag(tag, items).await?;
            if articles.is_empty() {
                return Ok(None);
            }
            let view = FeedView::current(scope, content);
            Some(feed_representation(settings, &view, *format, &articles, snapshot.changed_at, settings.feeds.max_age))
        }
        Key::TagPage(tag) => {
            let articles = store.latest_published_with_tag(tag, settings.feeds.tag_items).await?;
            if articles.is_empty() {
                return Ok(None);
            }
            rep(StatusCode::OK, HTML, render::html::index(channel, &Scope::Tag(tag.clone()), &articles))
        }
        Key::AuthorFeed(key, format) => {
            let Some((scope, articles)) = by_author(store, settings, key).await? else { return Ok(None) };
            let view = FeedView::current(scope, settings.feeds.author_content);
            Some(feed_representation(settings, &view, *format, &articles, snapshot.changed_at, settings.feeds.max_age))
        }
        Key::AuthorPage(key) => {
            let Some((scope, articles)) = by_author(store, settings, key).await? else { return Ok(None) };
            rep(StatusCode::OK, HTML, render::html::index(channel, &scope, &articles))
        }
        Key::Archive(number, format) => {
            let last = snapshot.archives;
            if *number == 0 || *number > last {
                return Ok(None);
            }
            let size = settings.feeds.archive_page_size;
            let (mut articles, changed) = store.archive_slice((number - 1).saturating_mul(size), size).await?;
            // Renderers take articles newest first.
            articles.reverse();
            let modified = changed.unwrap_or(snapshot.changed_at);
            let view = FeedView {
                scope: Scope::All,
                page: Page::Archive { number: *number, last },
                content: settings.feeds.content,
            };
            Some(feed_representation(settings, &view, *format, &articles, modified, settings.feeds.archive_max_age))
        }
        Key::Article(slug) => match store.article_by_slug(slug).await? {
            None => None,
            Some(article) if article.is_published() => {
                rep(StatusCode::OK, HTML, render::html::article(channel, account, &article)).map(negotiated)
            }
            Some(_) => rep(StatusCode::GONE, HTML, render::html::gone(channel)).map(negotiated),
        },
        Key::ArticleNote(slug) => {
            let Some(article) = store.article_by_slug(slug).await? else { return Ok(None) };
            let rep = note_or_tombstone(store, settings, &article, true).await?;
            return Ok(Some((Arc::new(rep), Some(article.id))));
        }
        Key::Note(id) => match store.article_by_id(id).await? {
            Some(article) => Some(note_or_tombstone(store, settings, &article, false).await?),
            None => None,
        },
        Key::NoteCollection(id, name) => match store.article_by_id(id).await? {
            Some(article) if article.is_published() => {
                let total = counts(store, id).await?.get(name).unwrap_or(0);
                let doc = note::interactions(&note::note_id(channel, id), name, total, true);
                Some(live(StatusCode::OK, json(&doc)))
            }
            _ => None,
        },
        // Served by `SiteCache::actor`.
        Key::Actor => None,
        Key::Profile => rep(StatusCode::OK, HTML, render::html::profile(channel, account)).map(negotiated),
        Key::Outbox(None) => {
            let total = store.published_count().await?;
            rep(StatusCode::OK, ACTIVITY_JSON, json(&note::outbox(account, total)))
        }
        Key::Outbox(Some(page)) => {
            let size = account.outbox_page_size;
            let total = store.published_count().await?;
            let articles = store.published_page(size, page.saturating_sub(1).saturating_mul(size)).await?;
            if *page == 0 || (articles.is_empty() && *page > 1) {
                return Ok(None);
            }
            rep(StatusCode::OK, ACTIVITY_JSON, json(&note::outbox_page(channel, account, *page, total, &articles)))
        }
        Key::Followers => {
            let total = store.follower_count().await?;
            Some(live(StatusCode::OK, json(&note::counted_collection(&account.followers, total))))
        }
        Key::Following => rep(StatusCode::OK, ACTIVITY_JSON, json(&note::counted_collection(&account.following, 0))),
        Key::NodeInfo => {
            let total = store.published_count().await?;
            rep(StatusCode::OK, discovery::NODEINFO, json(&discovery::nodeinfo(channel, total)))
        }
    };
    Ok(built.map(|rep| (Arc::new(rep), None)))
}
