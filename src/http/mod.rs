//! HTTP: axum routes over the cached site. Handlers only extract, ask the
//! cache (which asks the store on a miss) and map the result.

pub mod cache;
mod error;
pub mod media;
pub mod ops;
pub mod representation;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE};
use axum::http::Uri;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::AppError;

use self::cache::{Key, SiteCache};
use crate::article::{AuthorKey, Slug, Tag};
use crate::config::Settings;
use crate::federation::client::Client;
use crate::federation::inbox::{Inbox, InboxError};
use crate::federation::{self, discovery};
use crate::render::{note, Format};
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The rendered site.
    pub cache: Arc<SiteCache>,
    /// Signed outbound requests as the account.
    pub client: Client,
    /// Wakes the delivery workers when something is queued.
    pub deliveries: Arc<Notify>,
    /// Wakes the scheduler when the site changed (a new schedule may be sooner).
    pub schedule: Arc<Notify>,
    /// The media files served lately.
    pub media: Arc<media::MediaCache>,
}

impl AppState {
    fn inbox(&self) -> Inbox {
        Inbox {
            store: self.store.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            notify: self.deliveries.clone(),
        }
    }
}

/// How long a request may wait on the database or the network.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// All routes; those that may wait on the database or the network with
/// tracing and a request timeout.
pub fn router(state: AppState) -> Router {
    let cache = state.cache.clone();
    Router::new()
        .route("/notes/{key}", get(note))
        .route("/notes/{key}/{collection}", get(note_collection))
        .route("/users/{account}", get(actor))
        .route("/users/{account}/outbox", get(outbox))
        .route("/users/{account}/followers", get(followers))
        .route("/users/{account}/following", get(following))
        .route("/.well-known/webfinger", get(webfinger))
        .route("/.well-known/host-meta", get(host_meta))
        .route("/.well-known/nodeinfo", get(nodeinfo_links))
        .route("/nodeinfo/2.1", get(nodeinfo))
        .route("/inbox", post(inbox).layer(DefaultBodyLimit::max(INBOX_BODY_LIMIT)))
        .route("/users/{account}/inbox", post(inbox).layer(DefaultBodyLimit::max(INBOX_BODY_LIMIT)))
        .route("/healthz", get(healthz))
        .route("/readyz", get(ops::readyz))
        .route("/websub", post(websub).layer(DefaultBodyLimit::max(WEBSUB_BODY_LIMIT)))
        .nest("/api", crate::api::router())
        .route("/media/{*path}", get(media::serve))
        // Routes that may reach the database or the network get request
        // tracing and a timeout. The cached site (`cached`) does not: it
        // serves prebuilt bytes from memory, the snapshot's, or those `lazy`
        // keeps, whose one build per publish is the only step that waits on
        // the store and has the same timeout there (a failed build is still
        // logged, by `AppError`). The two layers would cost a cached 304
        // about 9% more CPU (bench/serve.sh's us/req on an archive page),
        // the margin that keeps these routes ahead of nginx.
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .with_state(state)
        .merge(cached().with_state(cache))
        .layer(ops::TrackRequests)
}

/// The cached site, with the cache as its whole state: axum clones a
/// route's state for every request (once more per layer around the
/// route), and an `AppState` clone is a reference count per field and a
/// `String`, where this one is a single reference count.
fn cached() -> Router<Arc<SiteCache>> {
    Router::new()
        .route("/articles/{slug}", get(article))
        .route("/tags/{tag}", get(tag_page))
        .route("/tags/{tag}/{file}", get(tag_feed))
        .route("/authors/{key}", get(author_page))
        .route("/authors/{key}/{file}", get(author_feed))
        .route("/archive/{file}", get(archive))
        .route("/", get(front))
        .route("/feed.rss", get(|cache: State<Arc<SiteCache>>, headers: HeaderMap| feed(cache, headers, Format::Rss)))
        .route("/feed.atom", get(|cache: State<Arc<SiteCache>>, headers: HeaderMap| feed(cache, headers, Format::Atom)))
        .route("/feed.json", get(|cache: State<Arc<SiteCache>>, headers: HeaderMap| feed(cache, headers, Format::Json)))
        .route("/license", get(license))
        .route("/feeds.opml", get(opml))
        .route("/subscribe", get(subscribe))
        .fallback(not_found)
}

async fn front(State(cache): State<Arc<SiteCache>>, headers: HeaderMap) -> Response {
    cache.front().respond(&headers)
}

async fn feed(State(cache): State<Arc<SiteCache>>, headers: HeaderMap, format: Format) -> Response {
    cache.feed(format).respond(&headers)
}

async fn license(State(cache): State<Arc<SiteCache>>, headers: HeaderMap) -> Response {
    cache.license().respond(&headers)
}

async fn opml(State(cache): State<Arc<SiteCache>>, headers: HeaderMap) -> Response {
    cache.opml().respond(&headers)
}

async fn subscribe(State(cache): State<Arc<SiteCache>>, headers: HeaderMap) -> Response {
    cache.subscribe().respond(&headers)
}

async fn not_found(State(cache): State<Arc<SiteCache>>, headers: HeaderMap) -> Response {
    cache.not_found().respond(&headers)
}

async fn article(
    State(cache): State<Arc<SiteCache>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(slug) = Slug::parse(&slug) else {
        return Ok(cache.not_found().respond(&headers));
    };
    let key = if wants_as2(&headers) { Key::ArticleNote(slug) } else { Key::Article(slug) };
    lazy(&cache, key, &headers).await
}

async fn note(State(app): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let Some(id) = note::article_id_of(&key) else { return Ok(app.cache.not_found().respond(&headers)) };
    lazy(&app.cache, Key::Note(id), &headers).await
}

/// `/notes/{key}/likes` (`shares`, `replies`): the size of a Note's collection.
async fn note_collection(
    State(app): State<AppState>,
    Path((key, collection)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = note::article_id_of(&key);
    let name = note::COLLECTIONS.into_iter().find(|c| *c == collection);
    let (Some(id), Some(name)) = (id, name) else { return Ok(app.cache.not_found().respond(&headers)) };
    lazy(&app.cache, Key::NoteCollection(id, name), &headers).await
}

/// `/users/{account}`: the actor for ActivityPub clients, a profile page for browsers.
async fn actor(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let key = if wants_as2(&headers) { Key::Actor } else { Key::Profile };
    account_lazy(&app, &name, key, &headers).await
}

#[derive(serde::Deserialize)]
struct PageQuery {
    page: Option<usize>,
}

async fn outbox(
    State(app): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(Query(query)) = query else { return Ok(app.cache.not_found().respond(&headers)) };
    account_lazy(&app, &name, Key::Outbox(query.page), &headers).await
}

async fn followers(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    account_lazy(&app, &name, Key::Followers, &headers).await
}

async fn following(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    account_lazy(&app, &name, Key::Following, &headers).await
}

async fn account_lazy(app: &AppState, name: &str, key: Key, headers: &HeaderMap) -> Result<Response, AppError> {
    if name != app.settings.account.name.as_str() {
        return Ok(app.cache.not_found().respond(headers));
    }
    lazy(&app.cache, key, headers).await
}

#[derive(serde::Deserialize)]
struct WebFingerQuery {
    resource: Option<String>,
}

/// RFC 7033 §4.2: no `resource` is a bad request; an unknown one is 404.
async fn webfinger(State(app): State<AppState>, query: Result<Query<WebFingerQuery>, QueryRejection>) -> Response {
    let Some(resource) = query.ok().and_then(|Query(q)| q.resource).filter(|r| !r.trim().is_empty()) else {
        return (StatusCode::BAD_REQUEST, "the query needs resource=acct:name@host\n").into_response();
    };
    if !discovery::is_account(&app.settings.account, &resource) {
        return (StatusCode::NOT_FOUND, "no such account here\n").into_response();
    }
    let body = discovery::webfinger(&app.settings.channel, &app.settings.account);
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(discovery::JRD)),
        (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    ];
    (headers, body.to_string()).into_response()
}

async fn host_meta(State(app): State<AppState>) -> Response {
    ([(CONTENT_TYPE, "application/xrd+xml; charset=utf-8")], discovery::host_meta(&app.settings.channel))
        .into_response()
}

async fn nodeinfo_links(State(app): State<AppState>) -> Response {
    Json(discovery::nodeinfo_links(&app.settings.channel)).into_response()
}

async fn nodeinfo(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    lazy(&app.cache, Key::NodeInfo, &headers).await
}

/// Largest activity accepted (413 beyond); Mastodon's own limit is 1 MiB for
/// everything, activities are a few KiB.
const INBOX_BODY_LIMIT: usize = 256 * 1024;

/// Personal and shared inbox alike.
async fn inbox(State(app): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    match federation::inbox::receive(&app.inbox(), uri.path(), &headers, &body).await {
        Ok(status) => Ok(status.into_response()),
        Err(InboxError::Store(error)) => Err(error.into()),
        Err(refused) => Ok((refused.status(), format!("{refused}\n")).into_response()),
    }
}

/// Largest subscription request accepted: five short fields.
const WEBSUB_BODY_LIMIT: usize = 16 * 1024;

/// The WebSub hub: 202 once the request is checked (verification follows).
async fn websub(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let hub = crate::websub::hub::Hub {
        store: app.store.clone(),
        client: app.client.clone(),
        settings: app.settings.clone(),
        cache: app.cache.clone(),
    };
    match hub.request(headers.get(CONTENT_TYPE), &body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(crate::websub::hub::Refused::Store(error)) => AppError::from(error).into_response(),
        Err(refused) => (refused.status(), format!("{refused}\n")).into_response(),
    }
}

fn wants_as2(headers: &HeaderMap) -> bool {
    federation::wants_activity_json(headers.get(ACCEPT).and_then(|v| v.to_str().ok()))
}

async fn tag_page(
    State(cache): State<Arc<SiteCache>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(tag) = Tag::parse(&tag) else {
        return Ok(cache.not_found().respond(&headers));
    };
    lazy(&cache, Key::TagPage(tag), &headers).await
}

async fn tag_feed(
    State(cache): State<Arc<SiteCache>>,
    Path((tag, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let format = file.strip_prefix("feed.").and_then(Format::parse);
    let (Ok(tag), Some(format)) = (Tag::parse(&tag), format) else {
        return Ok(cache.not_found().respond(&headers));
    };
    lazy(&cache, Key::TagFeed(tag, format), &headers).await
}

async fn author_page(
    State(cache): State<Arc<SiteCache>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(key) = AuthorKey::parse(&key) else { return Ok(cache.not_found().respond(&headers)) };
    lazy(&cache, Key::AuthorPage(key), &headers).await
}

async fn author_feed(
    State(cache): State<Arc<SiteCache>>,
    Path((key, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let format = file.strip_prefix("feed.").and_then(Format::parse);
    let (Some(key), Some(format)) = (AuthorKey::parse(&key), format) else {
        return Ok(cache.not_found().respond(&headers));
    };
    lazy(&cache, Key::AuthorFeed(key, format), &headers).await
}

/// `/archive/{n}.{ext}`: a page of the main feed's archive (RFC 5005).
async fn archive(
    State(cache): State<Arc<SiteCache>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some((number, format)) = cache::archive_file(&file) else {
        return Ok(cache.not_found().respond(&headers));
    };
    lazy(&cache, Key::Archive(number, format), &headers).await
}

/// A document built on first request and kept until the next publish: a
/// hit is answered from memory; a miss builds it from the store, within
/// [`REQUEST_TIMEOUT`] (408 after it, as the timeout layer answers).
async fn lazy(cache: &SiteCache, key: Key, headers: &HeaderMap) -> Result<Response, AppError> {
    let rep = match cache.built(&key) {
        Some(hit) => Some(hit),
        None => match tokio::time::timeout(REQUEST_TIMEOUT, cache.lazy(key)).await {
            Ok(built) => built?,
            Err(_elapsed) => return Ok(StatusCode::REQUEST_TIMEOUT.into_response()),
        },
    };
    Ok(match rep {
        Some(rep) => rep.respond(headers),
        None => cache.not_found().respond(headers),
    })
}

/// Liveness: 200 when the database answers, 503 otherwise (`/readyz`
/// also checks the schema).
async fn healthz(State(app): State<AppState>) -> Response {
    let revision = app.cache.snapshot().revision;
    match app.store.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ok", "revision": revision })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable" }))).into_response()
        }
    }
}
