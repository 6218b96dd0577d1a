//! The publishing API under `/api/`, for a newsroom's CMS: articles in and
//! out as JSON with the front matter's field names, bearer tokens, RFC 9457
//! problem details, `Idempotency-Key` on POST and PATCH, and the OpenAPI 3.1
//! document that describes it all (`openapi/herald.json`, served at
//! `/api/openapi.json`). Media files are uploaded with `POST /api/media`.
//!
//! Articles are validated by `content` exactly as files are, and stored by
//! the same store step as `herald publish` (one transaction with their
//! revision, their activities to followers and the site revision). The API
//! edits only the articles it made (`articles.source = 'api'`); files own
//! theirs. Nothing here speaks SQL.

mod articles;
mod idempotency;
mod media;
mod problem;
pub mod token;
mod wire;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::Router;

pub use idempotency::KEYS_EXPIRE as IDEMPOTENCY_KEYS_EXPIRE;
pub use problem::{FieldError, Problem, PROBLEM_JSON};

use crate::http::AppState;

/// The OpenAPI 3.1 document of this API, compiled in.
pub const OPENAPI: &str = include_str!("../../openapi/herald.json");

/// Every route, as (method, path under `/api`, handler): the router is
/// built from this list, and a test holds the OpenAPI document to it.
fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/articles", get(articles::list)),
        ("post", "/articles", post(articles::create)),
        ("get", "/articles/{id}", get(articles::show)),
        ("put", "/articles/{id}", put(articles::replace)),
        ("patch", "/articles/{id}", patch(articles::patch)),
        ("delete", "/articles/{id}", delete(articles::retract)),
        ("post", "/media", post(media::upload).layer(DefaultBodyLimit::max(media::BODY_LIMIT))),
        ("get", "/openapi.json", get(openapi)),
    ]
}

/// The API's routes, to nest under `/api`.
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .fallback(|| async { Problem::not_found("no such API endpoint; see /api/openapi.json") })
        .layer(axum::middleware::map_response(no_store))
}

/// API answers depend on the token and change with every write: no cache
/// (a reverse proxy's included) may keep them.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"].as_str().unwrap().get(..4), Some("3.1."));
        let paths = doc["paths"].as_object().unwrap();
        let mut routed = Vec::new();
        for (method, path, _) in routes() {
            let full = format!("/api{path}");
            assert!(paths.get(&full).and_then(|p| p.get(method)).is_some(), "{method} {full} is not documented");
            routed.push((method.to_owned(), full));
        }
        for (path, operations) in paths {
            for method in operations.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                assert!(
                    routed.contains(&(method.clone(), path.clone())),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
}
