//! Subscription requests (WebSub §5.1) and the verification of the
//! subscriber's intent (§5.3).
//!
//! A request is parsed into a [`Request`] (every field checked, each
//! problem naming its field), its topic must be a feed herald serves, and
//! it is answered 202 Accepted at once. Verification happens afterwards, in
//! the background: a GET of the callback with a random challenge, which
//! the subscriber must echo in a 2xx answer. Only then is the subscription
//! stored (or renewed, or deleted for `unsubscribe`). Nothing is stored for
//! a request that fails verification, and nothing durable is kept while it
//! is pending: a subscriber whose verification was cut off by a restart
//! asks again, as it does when it gets no verification at all.

use std::sync::{Arc, LazyLock};

use axum::http::{HeaderValue, StatusCode};
use chrono::{TimeDelta, Utc};
use tokio::sync::Semaphore;
use url::Url;

use super::FORM;
use crate::config::Settings;
use crate::error::StoreError;
use crate::federation::client::{Client, FetchError};
use crate::http::cache::SiteCache;
use crate::store::{Store, Subscription};

/// `hub.secret` must be less than 200 bytes (§5.1).
pub const MAX_SECRET: usize = 199;

/// Largest verification answer read: the challenge is 64 characters.
pub const MAX_VERIFICATION_BODY: usize = 4096;

/// Verifications in flight at once in this process; more wait their turn.
const VERIFICATIONS_IN_FLIGHT: usize = 256;

static VERIFICATIONS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(VERIFICATIONS_IN_FLIGHT)));

/// `hub.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Start or renew a subscription.
    Subscribe,
    /// End one.
    Unsubscribe,
}

impl Mode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// A valid subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `hub.mode`.
    pub mode: Mode,
    /// `hub.topic`.
    pub topic: Url,
    /// `hub.callback`: an absolute http(s) URL.
    pub callback: Url,
    /// `hub.lease_seconds`, when given.
    pub lease_seconds: Option<i64>,
    /// `hub.secret`, when given.
    pub secret: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The body is not a form.
    #[error("the request must be {FORM}")]
    MediaType,
    /// A field is missing or wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field, e.g. `hub.callback`.
        field: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The topic is not a feed herald serves.
    #[error("hub.topic: {0} is not a feed this hub serves (its feeds: feed.rss, feed.atom, feed.json, tags/<tag>/feed.<ext> under the site's address)")]
    UnknownTopic(Url),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refused {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refused::Field { .. } => StatusCode::BAD_REQUEST,
            Refused::UnknownTopic(_) => StatusCode::NOT_FOUND,
            Refused::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn field(field: &'static str, message: impl Into<String>) -> Refused {
    Refused::Field { field, message: message.into() }
}

impl Request {
    /// Parses a form body (`application/x-www-form-urlencoded`). Every
    /// field may appear once; unknown fields are ignored (§5.1 lets
    /// subscribers add their own).
    pub fn parse(body: &[u8]) -> Result<Self, Refused> {
        let mut fields: Vec<(&'static str, Option<String>)> =
            ["hub.mode", "hub.topic", "hub.callback", "hub.lease_seconds", "hub.secret"]
                .into_iter()
                .map(|name| (name, None))
                .collect();
        for (name, value) in url::form_urlencoded::parse(body) {
            if let Some((known, slot)) = fields.iter_mut().find(|(known, _)| *known == name) {
                if slot.is_some() {
                    return Err(field(known, "given more than once"));
                }
                *slot = Some(value.into_owned());
            }
        }
        let take = |name: &str| fields.iter().find(|(known, _)| *known == name).and_then(|(_, v)| v.clone());
        let mode = match take("hub.mode").as_deref() {
            Some("subscribe") => Mode::Subscribe,
            Some("unsubscribe") => Mode::Unsubscribe,
            Some(other) => return Err(field("hub.mode", format!("{other:?} is not \"subscribe\" or \"unsubscribe\""))),
            None => return Err(field("hub.mode", "missing: \"subscribe\" or \"unsubscribe\"")),
        };
        let topic = take("hub.topic").ok_or_else(|| field("hub.topic", "missing: the URL of a feed of this site"))?;
        let topic = Url::parse(&topic).map_err(|e| field("hub.topic", format!("{topic:?} is not a URL ({e})")))?;
        let callback =
            take("hub.callback").ok_or_else(|| field("hub.callback", "missing: the subscriber's callback URL"))?;
        let callback = parse_callback(&callback)?;
        let lease_seconds = match take("hub.lease_seconds") {
            None => None,
            Some(raw) => Some(parse_lease(&raw)?),
        };
        let secret = match take("hub.secret") {
            None => None,
            Some(secret) if secret.is_empty() => return Err(field("hub.secret", "empty; leave it out for none")),
            Some(secret) if secret.len() > MAX_SECRET => {
                return Err(field(
                    "hub.secret",
                    format!("{} bytes long; it must be less than 200 bytes (WebSub §5.1)", secret.len()),
                ))
            }
            Some(secret) => Some(secret),
        };
        Ok(Self { mode, topic, callback, lease_seconds, secret })
    }
}

fn parse_callback(raw: &str) -> Result<Url, Refused> {
    let url = Url::parse(raw).map_err(|e| field("hub.callback", format!("{raw:?} is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(field("hub.callback", format!("{raw:?} is not an absolute http(s) URL")));
    }
    Ok(url)
}

fn parse_lease(raw: &str) -> Result<i64, Refused> {
    match raw.parse::<i64>() {
        Ok(seconds) if seconds > 0 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(seconds),
        _ => Err(field("hub.lease_seconds", format!("{raw:?} is not a positive whole number of seconds"))),
    }
}

/// The hub: what a request needs to be checked, verified and stored.
#[derive(Clone)]
pub struct Hub {
    /// The database.
    pub store: Store,
    /// The guarded HTTP client (private addresses refused unless allowed).
    pub client: Client,
    /// Settings (`[websub]`, the request timeout).
    pub settings: Arc<Settings>,
    /// The feeds served, to resolve topics.
    pub cache: Arc<SiteCache>,
}

/// How a verification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The subscriber confirmed: the subscription was stored with this
    /// lease (seconds), or deleted.
    Confirmed(Option<i64>),
    /// The subscriber did not confirm; nothing was stored.
    Refused(String),
}

impl Hub {
    /// Handles a `POST /websub`: checks the request and its topic, then
    /// verifies the subscriber's intent in the background. `Ok` means 202.
    pub async fn request(&self, content_type: Option<&HeaderValue>, body: &[u8]) -> Result<(), Refused> {
        let is_form = |v: &HeaderValue| {
            v.to_str().ok().and_then(|v| v.split(';').next()).is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM))
        };
        if content_type.is_some_and(|v| !is_form(v)) {
            return Err(Refused::MediaType);
        }
        let request = Request::parse(body)?;
        if request.mode == Mode::Subscribe && super::feed(&self.cache, &request.topic).await?.is_none() {
            return Err(Refused::UnknownTopic(request.topic));
        }
        let hub = self.clone();
        tokio::spawn(async move {
            let _turn = VERIFICATIONS.clone().acquire_owned().await;
            match hub.verify(&request).await {
                Ok(Verified::Confirmed(lease)) => {
                    tracing::info!(mode = request.mode.as_str(), topic = %request.topic, callback = %request.callback, ?lease, "websub intent verified");
                }
                Ok(Verified::Refused(reason)) => {
                    tracing::info!(mode = request.mode.as_str(), topic = %request.topic, callback = %request.callback, %reason, "websub intent not verified");
                }
                Err(error) => tracing::warn!(%error, "storing a verified websub subscription failed"),
            }
        });
        Ok(())
    }

    /// Verifies the subscriber's intent (§5.3) and, when confirmed, stores,
    /// renews or deletes the subscription.
    #[tracing::instrument(skip_all, fields(mode = request.mode.as_str(), topic = %request.topic, callback = %request.callback), err)]
    pub async fn verify(&self, request: &Request) -> Result<Verified, StoreError> {
        let lease = (request.mode == Mode::Subscribe).then(|| self.settings.websub.grant(request.lease_seconds));
        let challenge = challenge();
        let mut url = request.callback.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("hub.mode", request.mode.as_str());
            query.append_pair("hub.topic", request.topic.as_str());
            query.append_pair("hub.challenge", &challenge);
            if let Some(lease) = lease {
                query.append_pair("hub.lease_seconds", &lease.to_string());
            }
        }
        let timeout = self.settings.delivery.request_timeout;
        match self.client.get_capped(&url, MAX_VERIFICATION_BODY, timeout).await {
            Ok((status, body)) if status.is_success() && body.as_ref() == challenge.as_bytes() => {}
            Ok((status, _)) if !status.is_success() => return Ok(Verified::Refused(format!("answered {status}"))),
            Ok(_) => return Ok(Verified::Refused("the answer is not the challenge".into())),
            Err(FetchError::Network { source, .. }) => return Ok(Verified::Refused(source.to_string())),
            Err(error) => return Ok(Verified::Refused(error.to_string())),
        }
        let now = Utc::now();
        let (topic, callback) = (request.topic.as_str(), request.callback.as_str());
        match lease {
            None => {
                self.store.websub_unsubscribe(topic, callback).await?;
            }
            Some(lease) => {
                let subscription = Subscription {
                    topic: topic.to_owned(),
                    callback: callback.to_owned(),
                    secret: request.secret.clone(),
                    lease_seconds: lease,
                    expires_at: now + TimeDelta::seconds(lease),
                };
                let revision = self.cache.snapshot().revision;
                let baseline = super::feed(&self.cache, &request.topic).await?.map(|feed| feed.tag);
                self.store.websub_subscribe(&subscription, baseline.as_deref().map(|tag| (tag, revision)), now).await?;
            }
        }
        Ok(Verified::Confirmed(lease))
    }
}

/// A random challenge: 32 bytes, hex.
fn challenge() -> String {
    let mut bytes = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The system RNG failing is not survivable in any useful way; a
        // UUID v4 comes from another source (getrandom).
        return uuid::Uuid::new_v4().simple().to_string();
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Request, String> {
        Request::parse(body.as_bytes()).map_err(|e| e.to_string())
    }

    const OK: &str = "hub.mode=subscribe&hub.topic=https%3A%2F%2Fn.example%2Ffeed.atom&hub.callback=https%3A%2F%2Fs.example%2Fcb%3Fid%3D1";

    #[test]
    fn a_complete_request_parses() {
        let request = parse(&format!("{OK}&hub.lease_seconds=3600&hub.secret=s3cret&extra=1")).unwrap();
        assert_eq!(request.mode, Mode::Subscribe);
        assert_eq!(request.callback.as_str(), "https://s.example/cb?id=1");
        assert_eq!(request.lease_seconds, Some(3600));
        assert_eq!(request.secret.as_deref(), Some("s3cret"));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(parse("hub.topic=x").unwrap_err().starts_with("hub.mode: missing"));
        assert!(parse(&OK.replace("subscribe", "publish")).unwrap_err().starts_with("hub.mode: \"publish\""));
        assert!(parse(&OK.replace("https%3A%2F%2Fs.example", "ftp%3A%2F%2Fs.example"))
            .unwrap_err()
            .starts_with("hub.callback:"));
        assert!(parse(&OK.replace("https%3A%2F%2Fs.example%2Fcb", "%2Fcb")).unwrap_err().starts_with("hub.callback:"));
        assert!(parse(&format!("{OK}&hub.lease_seconds=-5")).unwrap_err().starts_with("hub.lease_seconds:"));
        assert!(parse(&format!("{OK}&hub.lease_seconds=ten")).unwrap_err().starts_with("hub.lease_seconds:"));
        assert!(parse(&format!("{OK}&hub.secret={}", "a".repeat(200)))
            .unwrap_err()
            .starts_with("hub.secret: 200 bytes"));
        assert!(parse(&format!("{OK}&hub.secret={}", "a".repeat(199))).is_ok());
        assert!(parse(&format!("{OK}&hub.mode=subscribe")).unwrap_err().starts_with("hub.mode: given more than once"));
    }

    #[test]
    fn challenges_are_random() {
        assert_ne!(challenge(), challenge());
        assert_eq!(challenge().len(), 64);
    }
}
