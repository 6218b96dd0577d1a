//! The operator's endpoints: `/readyz` beside `/healthz` on the site, and
//! `/metrics` on a listener of its own (`server.metrics_bind`), so that the
//! public site never exposes it; plus the middleware that counts requests.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use crate::metrics;
use crate::store::Store;

/// Counts every answered request by its matched route (`/articles/{slug}`,
/// never the raw URL, so that probes of random paths cannot create series)
/// and status; requests no route matched count as `unmatched`.
pub async fn track_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::request(route.as_deref().unwrap_or("unmatched"), response.status().as_u16());
    response
}

/// Readiness: 200 when the database answers and its schema is exactly the
/// one this binary was built for (every compiled-in migration applied, no
/// other); 503 with the reason otherwise, so that a load balancer keeps
/// traffic away from an instance older or newer than its database.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let unready = |reason: String| {
        tracing::warn!(%reason, "not ready");
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable", "reason": reason })))
            .into_response()
    };
    if let Err(error) = app.store.ping().await {
        tracing::warn!(%error, "readiness: the database does not answer");
        return unready("the database does not answer".to_owned());
    }
    match app.store.migrations_current().await {
        Ok(None) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Ok(Some(difference)) => unready(format!("the schema is not this herald's: {difference}")),
        Err(error) => {
            tracing::warn!(%error, "readiness: cannot read the applied migrations");
            unready("cannot read the applied migrations".to_owned())
        }
    }
}

/// The metrics listener's routes: `/metrics` only.
pub fn metrics_router(store: Store) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(store)
}

/// The counters of this process and the gauges read from the database now.
async fn scrape(State(store): State<Store>) -> Response {
    match store.scrape(chrono::Utc::now()).await {
        Ok(numbers) => ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::encode(&numbers)).into_response(),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the queue and followers");
            (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer\n").into_response()
        }
    }
}
