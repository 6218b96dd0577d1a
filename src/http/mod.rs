//! HTTP: axum routes over the cached site. Handlers only extract, ask the
//! cache (which asks the store on a miss) and map the result.

pub mod cache;
mod error;
pub mod representation;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::AppError;

use self::cache::{Key, SiteCache};
use crate::article::{Slug, Tag};
use crate::config::Settings;
use crate::render::Format;
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
}

/// All routes, with tracing and a request timeout.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(front))
        .route("/feed.rss", get(|app: State<AppState>, headers: HeaderMap| feed(app, headers, Format::Rss)))
        .route("/feed.atom", get(|app: State<AppState>, headers: HeaderMap| feed(app, headers, Format::Atom)))
        .route("/feed.json", get(|app: State<AppState>, headers: HeaderMap| feed(app, headers, Format::Json)))
        .route("/articles/{slug}", get(article))
        .route("/tags/{tag}", get(tag_page))
        .route("/tags/{tag}/{file}", get(tag_feed))
        .route("/license", get(license))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .with_state(state)
}

async fn front(State(app): State<AppState>, headers: HeaderMap) -> Response {
    app.cache.front().respond(&headers)
}

async fn feed(State(app): State<AppState>, headers: HeaderMap, format: Format) -> Response {
    app.cache.feed(format).respond(&headers)
}

async fn license(State(app): State<AppState>, headers: HeaderMap) -> Response {
    app.cache.license().respond(&headers)
}

async fn not_found(State(app): State<AppState>, headers: HeaderMap) -> Response {
    app.cache.not_found().respond(&headers)
}

async fn article(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(slug) = Slug::parse(&slug) else {
        return Ok(app.cache.not_found().respond(&headers));
    };
    lazy(&app, Key::Article(slug), &headers).await
}

async fn tag_page(
    State(app): State<AppState>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(tag) = Tag::parse(&tag) else {
        return Ok(app.cache.not_found().respond(&headers));
    };
    lazy(&app, Key::TagPage(tag), &headers).await
}

async fn tag_feed(
    State(app): State<AppState>,
    Path((tag, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let format = file.strip_prefix("feed.").and_then(Format::parse);
    let (Ok(tag), Some(format)) = (Tag::parse(&tag), format) else {
        return Ok(app.cache.not_found().respond(&headers));
    };
    lazy(&app, Key::TagFeed(tag, format), &headers).await
}

async fn lazy(app: &AppState, key: Key, headers: &HeaderMap) -> Result<Response, AppError> {
    Ok(match app.cache.lazy(key).await? {
        Some(rep) => rep.respond(headers),
        None => app.cache.not_found().respond(headers),
    })
}

/// Liveness and readiness: 200 when the database answers, 503 otherwise.
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
