//! bob's instance: an in-memory "database", the crate's `FederationConfig`
//! in debug mode (plain http, loopback), and a real axum server for bob's
//! actor, WebFinger and inbox, as in the crate's `examples/local_federation`.

use std::fmt::{Debug, Display, Formatter};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activitypub_federation::activity_sending::SendActivityTask;
use activitypub_federation::axum::inbox::{receive_activity, ActivityData};
use activitypub_federation::axum::json::FederationJson;
use activitypub_federation::config::{Data, FederationConfig, FederationMiddleware};
use activitypub_federation::fetch::webfinger::{build_webfinger_response, extract_webfinger_name, Webfinger};
use activitypub_federation::protocol::context::WithContext;
use activitypub_federation::traits::{Activity, Actor, Object};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Query, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest_middleware::{ClientBuilder, Middleware, Next};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::activities::Inbound;
use super::person::{DbUser, Person};

/// How long bob waits for something herald does.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Any failure in bob's code, as the crate's examples have it.
#[derive(Debug)]
pub struct Error(pub anyhow::Error);

impl Display for Error {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&self.0, f)
    }
}

impl<T: Into<anyhow::Error>> From<T> for Error {
    fn from(error: T) -> Self {
        Error(error.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, format!("{}\n", self.0)).into_response()
    }
}

pub type Handle = Arc<Database>;

/// Everything bob's instance knows.
pub struct Database {
    pub bob: DbUser,
    /// Remote actors fetched so far (herald's account).
    pub actors: Mutex<Vec<DbUser>>,
    /// Activities that passed the crate's checks and bob's `verify`, in order.
    pub received: Mutex<Vec<Inbound>>,
    /// Why each refused POST to bob's inbox was refused, with its body.
    pub rejected: Mutex<Vec<String>>,
}

impl Database {
    pub fn record(&self, activity: Inbound) {
        self.received.lock().unwrap().push(activity);
    }
}

/// bob's running instance.
pub struct Peer {
    pub config: FederationConfig<Handle>,
    /// Non-2xx answers to bob's POSTs. The crate's sender treats a 4xx as
    /// final and returns `Ok`, so this is where herald's refusals show.
    refused: Refused,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Peer {
    pub async fn start() -> Peer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // The crate refuses URLs whose host is an IP address ("Url must have
        // a domain"), so bob is `localhost`, which /etc/hosts maps to 127.0.0.1.
        let domain = format!("localhost:{}", listener.local_addr().unwrap().port());
        let database = Arc::new(Database {
            bob: DbUser::local("bob", &domain).unwrap(),
            actors: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            rejected: Mutex::new(Vec::new()),
        });
        let refused = Refused::default();
        // The crate's own defaults (no redirects, 10 s), plus the recorder.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let config = FederationConfig::builder()
            .domain(domain)
            .app_data(database)
            .client(ClientBuilder::new(http).with(refused.clone()).build())
            .debug(true)
            .build()
            .await
            .unwrap();
        let router = Router::new()
            .route("/bob", get(http_get_user))
            .route("/bob/inbox", post(http_post_user_inbox))
            .route("/.well-known/webfinger", get(webfinger))
            .layer(FederationMiddleware::new(config.clone()));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Peer { config, refused, server }
    }

    pub fn data(&self) -> Data<Handle> {
        self.config.to_request_data()
    }

    pub fn bob(&self) -> &DbUser {
        &self.config.bob
    }

    /// A fresh id on bob's server, e.g. `http://localhost:PORT/activities/{uuid}`.
    pub fn new_id(&self, kind: &str) -> Url {
        Url::parse(&format!("http://{}/{kind}/{}", self.config.domain(), uuid::Uuid::new_v4())).unwrap()
    }

    /// Signs `activity` as bob and POSTs it to `to`'s (shared) inbox with the
    /// crate's sender; fails the test if herald answers anything but 2xx.
    pub async fn send<A>(&self, activity: A, to: &DbUser)
    where
        A: Activity + Serialize + Debug + Send + Sync,
    {
        let data = self.data();
        let activity = WithContext::new_default(activity);
        let kind = serde_json::to_value(&activity).unwrap()["type"].as_str().unwrap_or_default().to_owned();
        let tasks =
            SendActivityTask::prepare(&activity, self.bob(), vec![to.shared_inbox_or_inbox()], &data).await.unwrap();
        assert_eq!(tasks.len(), 1, "the crate dropped the inbox {}", to.shared_inbox_or_inbox());
        for task in tasks {
            task.sign_and_send(&data).await.unwrap();
        }
        let refused = std::mem::take(&mut *self.refused.0.lock().unwrap());
        assert!(refused.is_empty(), "herald refused bob's {kind}: {refused:#?}");
    }

    /// The first activity bob accepted for which `pick` is `Some`, waiting for
    /// it at most `PATIENCE`.
    pub async fn await_received<T>(&self, what: &str, pick: impl Fn(&Inbound) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(found) = self.config.received.lock().unwrap().iter().find_map(&pick) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "bob never accepted {what}; accepted: {:#?}; rejected: {:#?}",
                self.config.received.lock().unwrap(),
                self.rejected()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn rejected(&self) -> Vec<String> {
        self.config.rejected.lock().unwrap().clone()
    }
}

async fn http_get_user(data: Data<Handle>) -> Result<FederationJson<WithContext<Person>>, Error> {
    let person = data.bob.clone().into_json(&data).await?;
    Ok(FederationJson(WithContext::new_default(person)))
}

/// The crate verifies the signature and parses the activity; a refusal is
/// recorded before it is answered.
async fn http_post_user_inbox(data: Data<Handle>, request: Request) -> Result<StatusCode, Error> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await?;
    let outcome = receive(&data, parts, body.clone()).await;
    if let Err(error) = &outcome {
        data.rejected.lock().unwrap().push(format!("{error}: {}", String::from_utf8_lossy(&body)));
    }
    outcome.map(|()| StatusCode::ACCEPTED)
}

async fn receive(data: &Data<Handle>, parts: Parts, body: Bytes) -> Result<(), Error> {
    check_digest(&parts.headers, &body)?;
    let activity = ActivityData::from_request(Request::from_parts(parts, Body::from(body)), &())
        .await
        .map_err(|_| anyhow::anyhow!("unreadable request"))?;
    receive_activity::<WithContext<Inbound>, DbUser, Handle>(activity, data).await
}

/// The crate's axum inbox (unlike its actix-web one, which calls
/// `verify_body_hash`) checks that `Digest` is signed but not that it is the
/// body's, so bob does: otherwise a signed request could carry any body.
fn check_digest(headers: &HeaderMap, body: &Bytes) -> Result<(), Error> {
    let expected = format!("SHA-256={}", STANDARD.encode(Sha256::digest(body)));
    match headers.get("digest").and_then(|v| v.to_str().ok()) {
        Some(digest) if digest == expected => Ok(()),
        other => Err(Error(anyhow::anyhow!("Digest {other:?} is not the body's ({expected})"))),
    }
}

#[derive(Deserialize)]
struct WebfingerQuery {
    resource: String,
}

async fn webfinger(Query(query): Query<WebfingerQuery>, data: Data<Handle>) -> Result<Json<Webfinger>, Error> {
    let name = extract_webfinger_name(&query.resource, &data)?;
    if name != data.bob.name {
        return Err(Error(anyhow::anyhow!("no user {name}")));
    }
    Ok(Json(build_webfinger_response(query.resource, data.bob.ap_id.inner().clone())))
}

/// Records every non-2xx answer to a POST, with its body.
#[derive(Clone, Default)]
struct Refused(Arc<Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl Middleware for Refused {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let post = request.method() == reqwest::Method::POST;
        let url = request.url().clone();
        let response = next.run(request, extensions).await?;
        if !post || response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.bytes().await?;
        self.0.lock().unwrap().push(format!("{url}: {status}: {}", String::from_utf8_lossy(&body).trim()));
        Ok(axum::http::Response::builder().status(status).body(body).unwrap().into())
    }
}
