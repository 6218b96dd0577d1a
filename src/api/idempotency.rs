//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a client
//! that retries a POST or PATCH after a lost response sends the same key,
//! and gets the first response again instead of a second article.
//!
//! The key is reserved (per token) before the request runs, with a hash of
//! the method, path and body; the response (status, `Location`, body) is
//! recorded when it ends. The same key with another request is refused
//! (422); a retry while the first is still running gets 409. A request that
//! failed on our side (5xx) releases its key, so that a retry runs again.
//! Keys expire after [`KEYS_EXPIRE`]; the maintenance chore deletes them.

use std::future::Future;

use axum::body::{to_bytes, Body, Bytes};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use sha2::{Digest, Sha256};

use super::problem::Problem;
use super::token::Caller;
use crate::http::AppState;
use crate::store::Reservation;

/// How long a key is remembered.
pub const KEYS_EXPIRE: TimeDelta = TimeDelta::hours(24);

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Set on a replayed response.
const REPLAYED: &str = "idempotent-replayed";

/// Longest key accepted.
const MAX_KEY: usize = 255;

/// Largest response recorded (an article's detail, well under it).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// Runs `work` once per Idempotency-Key (when the request has one).
pub async fn idempotent<F, Fut>(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    (method, path): (Method, String),
    body: &Bytes,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, Problem>>,
{
    let Some(key) = headers.get(HEADER) else {
        return work().await.unwrap_or_else(IntoResponse::into_response);
    };
    let key = match key.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY => key.to_owned(),
        _ => {
            return Problem::bad_request(format!("Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"))
                .into_response()
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    let request_hash = hex::encode(hasher.finalize());
    let token = caller.0.id;
    let now = chrono::Utc::now();
    let store = &app.store;
    match store.reserve_idempotency_key(token, &key, &request_hash, now, now - KEYS_EXPIRE).await {
        Err(error) => Problem::from(error).into_response(),
        Ok(Reservation::Mismatch) => Problem::key_reused().into_response(),
        Ok(Reservation::InProgress) => Problem::key_in_progress().into_response(),
        Ok(Reservation::Replay { status, headers, body }) => replay(status, &headers, body),
        Ok(Reservation::New) => {
            let response = work().await.unwrap_or_else(IntoResponse::into_response);
            if response.status().is_server_error() {
                if let Err(error) = store.release_idempotency_key(token, &key).await {
                    tracing::warn!(%error, "could not release an idempotency key");
                }
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, MAX_RESPONSE).await else { return Problem::internal().into_response() };
            let kept: String = [CONTENT_TYPE, LOCATION]
                .iter()
                .filter_map(|name| {
                    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(|v| format!("{name}: {v}\n"))
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Err(error) = store.finish_idempotency_key(token, &key, parts.status.as_u16(), &kept, &text).await {
                tracing::warn!(%error, "could not record a response for its idempotency key");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

fn replay(status: u16, headers: &str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for line in headers.lines() {
        if let Some((name, value)) = line.split_once(": ") {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
