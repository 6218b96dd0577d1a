//! The operator's endpoints: `/readyz` beside `/healthz` on the site, and
//! `/metrics` on a listener of its own (`server.metrics_bind`), so that the
//! public site never exposes it; plus the middleware that counts requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower::{Layer, Service};

use super::AppState;
use crate::metrics;
use crate::store::Store;

/// Counts every answered request by its matched route (`/articles/{slug}`,
/// never the raw URL, so that probes of random paths cannot create series)
/// and status; requests no route matched count as `unmatched`.
///
/// A plain [`Layer`] rather than `middleware::from_fn`, which boxes the
/// future and the rest of the stack on every request: it wraps each route,
/// so it runs on every request of the site, the cached 304s included.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackRequests;

impl<S> Layer<S> for TrackRequests {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked { inner }
    }
}

/// A route's service, counting its answers ([`TrackRequests`]).
#[derive(Clone, Debug)]
pub struct Tracked<S> {
    inner: S,
}

impl<S> Service<Request> for Tracked<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        let route = metrics::route(route);
        TrackedFuture { inner: self.inner.call(request), route: Some(route) }
    }
}

/// The response of a [`Tracked`] route, counted when it is ready.
#[derive(Debug)]
pub struct TrackedFuture<F> {
    inner: F,
    /// Taken when counted.
    route: Option<metrics::RouteRequests>,
}

impl<F, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answered = ready!(Pin::new(&mut self.inner).poll(cx));
        if let (Ok(response), Some(route)) = (&answered, self.route.take()) {
            route.count(response.status().as_u16());
        }
        Poll::Ready(answered)
    }
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
