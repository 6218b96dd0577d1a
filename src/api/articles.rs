//! `/api/articles`: create, replace, patch, retract, list and read.
//!
//! Handlers extract, call `content` (validation, the same as files') and
//! the store, and map the outcome; every error is a [`Problem`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::idempotency::idempotent;
use super::problem::Problem;
use super::token::Caller;
use super::wire::{self, ArticleDocument, DeliveryCounts, Detail, InteractionCounts, Listed, Page};
use crate::article::{ArticleId, State as ArticleState, Tag};
use crate::content::document::{media_named, merge_patch, no_such_media, parse_document};
use crate::content::fields;
use crate::federation::outbox;
use crate::http::AppState;
use crate::media::MediaPath;
use crate::store::{ListFilter, Saved, StoredArticle};

/// Largest page of a listing.
const MAX_LIMIT: usize = 100;
/// Default page size.
const DEFAULT_LIMIT: usize = 20;

/// `POST /api/articles`: a new article (its `id` is made when absent).
pub async fn create(State(app): State<AppState>, caller: Caller, headers: HeaderMap, body: Bytes) -> Response {
    let key = (Method::POST, "/api/articles".to_owned());
    idempotent(&app, &caller, &headers, key, &body, || async {
        caller.may_write()?;
        let mut doc = json_object(&body)?;
        if !doc.contains_key("id") {
            doc.insert("id".to_owned(), Value::String(format!("urn:uuid:{}", uuid::Uuid::new_v4())));
        }
        save(&app, &caller, &doc, None, true).await
    })
    .await
}

/// `PUT /api/articles/{id}`: the whole article, created when new.
pub async fn replace(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    caller.may_write()?;
    let id = path_id(&raw)?;
    let mut doc = json_object(&body)?;
    doc.entry("id").or_insert_with(|| Value::String(id.to_string()));
    save(&app, &caller, &doc, Some(&id), false).await
}

/// `PATCH /api/articles/{id}`: a JSON Merge Patch (RFC 7396) of the article.
pub async fn patch(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let key = (Method::PATCH, format!("/api/articles/{raw}"));
    idempotent(&app, &caller, &headers, key, &body, || async {
        caller.may_write()?;
        let id = path_id(&raw)?;
        let patch = serde_json::from_slice::<Value>(&body).map_err(malformed)?;
        let stored = editable(&app, &id).await?;
        let mut doc = current(&app, &stored)?;
        merge_patch(&mut doc, &patch);
        let Value::Object(doc) = doc else {
            return Err(Problem::bad_request("a merge patch of an article must be a JSON object"));
        };
        save(&app, &caller, &doc, Some(&id), false).await
    })
    .await
}

/// `DELETE /api/articles/{id}`: retracts the article (`state = "retracted"`);
/// it is kept, with its history, and can be published again.
pub async fn retract(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, Problem> {
    caller.may_write()?;
    let id = path_id(&raw)?;
    let stored = editable(&app, &id).await?;
    let Value::Object(mut doc) = current(&app, &stored)? else { return Err(Problem::internal()) };
    doc.insert("state".to_owned(), Value::String(ArticleState::Retracted.as_str().to_owned()));
    save(&app, &caller, &doc, Some(&id), false).await
}

/// `GET /api/articles/{id}`.
pub async fn show(State(app): State<AppState>, _caller: Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let id = path_id(&raw)?;
    let stored = app.store.stored_article(&id).await?.ok_or_else(|| no_such(&id))?;
    detail(&app, &stored, StatusCode::OK).await
}

/// The query of `GET /api/articles`.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    tag: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/articles?state=&tag=&limit=&cursor=`: newest first.
pub async fn list(
    State(app): State<AppState>,
    _caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    // `scheduled` is a published article held until its time; `published`
    // means shown now.
    let (state, held) = match query.state.as_deref() {
        None => (None, None),
        Some("scheduled") => (Some(ArticleState::Published), Some(true)),
        Some(raw) => {
            let state =
                ArticleState::parse(raw).map_err(|e| Problem::bad_request(format!("state: {e}, or \"scheduled\"")))?;
            (Some(state), (state == ArticleState::Published).then_some(false))
        }
    };
    let tag =
        query.tag.as_deref().map(Tag::parse).transpose().map_err(|e| Problem::bad_request(format!("tag: {e}")))?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = ListFilter { state, held, tag, after };
    let mut rows = app.store.list_articles(&filter, limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|last| encode_cursor(&last.article)) } else { None };
    let items = rows.iter().map(|row| Listed::new(row, &app.settings.channel)).collect();
    Ok(Json(Page { items, next_cursor }).into_response())
}

/// Validates `doc` as files are validated and stores it; answers with the
/// article's detail (201 when created).
async fn save(
    app: &AppState,
    caller: &Caller,
    doc: &Map<String, Value>,
    path: Option<&ArticleId>,
    create: bool,
) -> Result<Response, Problem> {
    let channel = &app.settings.channel;
    // The media files it names, from the store: uploaded or published.
    let mut known = HashMap::new();
    for path in media_named(doc, channel) {
        if let Some(row) = app.store.media_row(&path).await? {
            known.insert(path, row.info());
        }
    }
    let lookup = |path: &MediaPath| known.get(path).cloned().ok_or_else(|| no_such_media(path));
    let article = parse_document(doc, channel, &lookup).map_err(Problem::invalid)?;
    if let Some(path) = path.filter(|path| **path != article.id) {
        return Err(Problem::invalid(vec![fields::Problem {
            field: "id".to_owned(),
            line: None,
            message: format!("{} is not the id in the URL ({path}); an article's id never changes", article.id),
        }]));
    }
    let markdown = doc.get("body").and_then(Value::as_str).filter(|_| article.body_html.is_some());
    let account = &app.settings.account;
    let activities = outbox::activities(channel, account);
    let saved = app
        .store
        .save_api_article(&article, markdown, &caller.0.name, create, &activities, Utc::now())
        .await?
        .map_err(Problem::conflict)?;
    if saved != Saved::Unchanged {
        // Wake the delivery workers: the activity is queued.
        app.deliveries.notify_waiters();
    }
    let stored = app.store.stored_article(&article.id).await?.ok_or_else(Problem::internal)?;
    let status = if saved == Saved::Created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = detail(app, &stored, status).await?;
    if saved == Saved::Created {
        if let Ok(location) = HeaderValue::from_str(&location(&article.id)) {
            response.headers_mut().insert(LOCATION, location);
        }
    }
    Ok(response)
}

async fn detail(app: &AppState, stored: &StoredArticle, status: StatusCode) -> Result<Response, Problem> {
    let id = &stored.article.id;
    let revisions = app.store.revisions(id).await?;
    let mut deliveries = DeliveryCounts::default();
    for (state, n) in app.store.article_deliveries(id).await? {
        match state.as_str() {
            "pending" => deliveries.pending = n,
            "delivered" => deliveries.delivered = n,
            "failed" => deliveries.failed = n,
            _ => {}
        }
    }
    let totals = app.store.interaction_totals(id.as_str()).await?;
    let interactions = InteractionCounts { likes: totals.likes, shares: totals.shares, replies: totals.replies };
    let detail = Detail::new(stored, &revisions, deliveries, interactions, &app.settings.channel);
    Ok((status, Json(detail)).into_response())
}

/// The stored article, if the API may edit it (404, or 409 for a file's).
async fn editable(app: &AppState, id: &ArticleId) -> Result<StoredArticle, Problem> {
    let stored = app.store.stored_article(id).await?.ok_or_else(|| no_such(id))?;
    if !stored.from_api() {
        return Err(Problem::conflict(crate::store::Conflict {
            source: stored.source.clone(),
            field: "id",
            message: format!(
                "{id} is published from the file {}; edit that file and run `herald publish`: \
                 the API edits only the articles it created",
                stored.source.as_deref().unwrap_or("(unknown)")
            ),
        }));
    }
    Ok(stored)
}

/// The stored article as a JSON document, to patch.
fn current(app: &AppState, stored: &StoredArticle) -> Result<Value, Problem> {
    let doc = ArticleDocument::new(&stored.article, stored.markdown.as_deref(), &app.settings.channel);
    serde_json::to_value(doc).map_err(|error| {
        tracing::error!(%error, "serializing an article");
        Problem::internal()
    })
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(body).map_err(malformed)? {
        Value::Object(doc) => Ok(doc),
        _ => Err(Problem::bad_request("the body must be a JSON object: the article's fields and \"body\"")),
    }
}

fn malformed(error: serde_json::Error) -> Problem {
    Problem::bad_request(format!("the body is not JSON: {error}"))
}

/// The id in a path: `urn:uuid:…` percent-encoded, a bare UUID, or a tag URI.
fn path_id(raw: &str) -> Result<ArticleId, Problem> {
    ArticleId::parse(raw).map_err(|_| Problem::not_found(format!("no article has the id {raw:?}")))
}

fn no_such(id: &ArticleId) -> Problem {
    Problem::not_found(format!("no article has the id {id}"))
}

/// RFC 3986 §2.3: everything but the unreserved characters is encoded.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `/api/articles/{id}`, the id percent-encoded.
pub fn location(id: &ArticleId) -> String {
    format!("/api/articles/{}", percent_encoding::utf8_percent_encode(id.as_str(), SEGMENT))
}

/// A cursor is the (published, id) of the last article of a page.
fn encode_cursor(article: &crate::article::Article) -> String {
    URL_SAFE_NO_PAD.encode(format!("{} {}", wire::time(article.published), article.id))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, ArticleId), Problem> {
    let bad = || Problem::bad_request("cursor: not a cursor from next_cursor; start again without one");
    let text = URL_SAFE_NO_PAD.decode(raw).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (time, id) = text.split_once(' ').ok_or_else(bad)?;
    let time = DateTime::parse_from_rfc3339(time).map_err(|_| bad())?.with_timezone(&Utc);
    Ok((time, ArticleId::parse(id).map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = ArticleId::parse("urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8").unwrap();
        let published = DateTime::parse_from_rfc3339("2024-08-05T08:00:00Z").unwrap().with_timezone(&Utc);
        let raw = URL_SAFE_NO_PAD.encode(format!("{} {id}", wire::time(published)));
        assert_eq!(decode_cursor(&raw).unwrap(), (published, id));
        assert!(decode_cursor("nope!").is_err());
    }

    #[test]
    fn locations_percent_encode_the_id() {
        let id = ArticleId::parse("urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8").unwrap();
        assert_eq!(location(&id), "/api/articles/urn%3Auuid%3A86f0943d-b849-48d0-b821-2b97a4c99fe8");
    }
}
