//! Outbound HTTP: signed GETs of remote actors and signed POSTs to inboxes.
//!
//! Mastodon's limits: 5 s to connect, 10 s to read; responses are capped at
//! 1 MiB; redirects are not followed; private, loopback and link-local
//! addresses are refused (after DNS resolution too) unless
//! `federation.allow_private_addresses` is set. [`DocumentClient`] fetches
//! feeds for `herald import` under the same guards (16 MiB, redirects
//! followed one checked hop at a time).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rsa::KeyPair;
use bytes::Bytes;
use chrono::Utc;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::keys::{self, KeyError, StoredKey};
use super::signature::{self, SignError};
use super::ACTIVITY_JSON;

/// Idle connections kept per host, at most (and never more than the
/// requests a host may have in flight, `per_host_in_flight`). A fan-out
/// sends a host's inboxes in bursts of that many: with fewer idle
/// connections, each burst would open new ones (a TLS handshake each; on
/// loopback the 10,000-inbox benchmark opened 4,469 connections with one
/// idle per host, 791 with four). Idle connections close after 30 s, so a
/// fan-out to thousands of hosts holds their buffers only briefly.
pub const IDLE_PER_HOST: usize = 4;

/// Largest response body read.
pub const MAX_BODY: usize = 1 << 20;

/// A remote actor as herald needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteActor {
    /// Its id.
    pub id: Url,
    /// Personal inbox.
    pub inbox: Url,
    /// Shared inbox, if it has one.
    pub shared_inbox: Option<Url>,
    /// The id of its public key.
    pub key_id: String,
    /// Its public key, PEM.
    pub public_pem: String,
}

/// Why an outbound request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The destination is private and private addresses are not allowed.
    #[error("{0} is a private, loopback or link-local address; refused (federation.allow_private_addresses)")]
    Private(String),
    /// Not an http(s) URL.
    #[error("{0} is not an http(s) URL")]
    Scheme(Url),
    /// Network failure or timeout.
    #[error("request to {url} failed: {source}")]
    Network {
        /// The URL.
        url: Url,
        /// The cause.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: Url,
        /// The status.
        status: StatusCode,
    },
    /// The body is too large or not the expected document.
    #[error("{url}: {message}")]
    Document {
        /// The URL.
        url: Url,
        /// What is wrong.
        message: String,
    },
}

/// The outcome of one delivery POST.
#[derive(Debug)]
pub enum Delivered {
    /// The inbox answered with this status (and `Retry-After`, if any).
    Status(StatusCode, Option<Duration>),
    /// No answer within the request timeout.
    Timeout,
    /// No answer: connection refused or reset, DNS, TLS.
    Network(String),
    /// Not sent: the address is private or not http(s).
    Refused(String),
}

/// The account's key, parsed for signing, with its public half.
struct SigningKey {
    pair: KeyPair,
    public_pem: String,
}

impl SigningKey {
    fn parse(key: &StoredKey) -> Result<Self, KeyError> {
        Ok(Self { pair: keys::signing_key(key)?, public_pem: key.public_pem.clone() })
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The stored key does not parse.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The HTTP stack could not start (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// An HTTP client that signs as the account.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    allow_private: bool,
    // Swapped by `set_key` when an operator rotates the key.
    key: Arc<arc_swap::ArcSwap<SigningKey>>,
    key_id: String,
}

impl Client {
    /// A client signing with `key` as `key_id`.
    /// Connections are kept alive and reused per host ([`IDLE_PER_HOST`] idle
    /// at most, for 30 s); HTTP/2 is used where the host offers it (ALPN),
    /// and then one connection carries all of a host's requests.
    pub fn new(key: &StoredKey, key_id: String, allow_private: bool, per_host: usize) -> Result<Self, ClientError> {
        let key = SigningKey::parse(key)?;
        let http = guarded_builder(allow_private)
            .pool_max_idle_per_host(per_host.min(IDLE_PER_HOST))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { http, allow_private, key: Arc::new(arc_swap::ArcSwap::from_pointee(key)), key_id })
    }

    /// Signs with `key` from now on (after `herald key rotate`).
    pub fn set_key(&self, key: &StoredKey) -> Result<(), KeyError> {
        self.key.store(Arc::new(SigningKey::parse(key)?));
        Ok(())
    }

    /// The public key (PEM) of the key the client signs with.
    pub fn public_pem(&self) -> String {
        self.key.load().public_pem.clone()
    }

    fn check(&self, url: &Url) -> Result<(), FetchError> {
        check_url(url, self.allow_private)
    }

    /// The same guarded connections, for unsigned GETs of documents.
    pub fn documents(&self) -> DocumentClient {
        DocumentClient { http: self.http.clone(), allow_private: self.allow_private }
    }

    /// Fetches a remote actor with a signed GET (servers in Mastodon's
    /// secure mode refuse unsigned ones).
    pub async fn fetch_actor(&self, url: &Url) -> Result<RemoteActor, FetchError> {
        let mut url = url.clone();
        url.set_fragment(None);
        self.check(&url)?;
        let mut request = self.http.get(url.clone()).header("accept", ACTIVITY_JSON);
        let signed = signature::sign(&self.key.load().pair, &self.key_id, "GET", &url, None, Utc::now())
            .map_err(|e| FetchError::Document { url: url.clone(), message: e.to_string() })?;
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|source| FetchError::Network { url: url.clone(), source })?;
        let body = read_capped(response, &url, MAX_BODY).await?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Document { url: url.clone(), message: format!("not JSON: {e}") })?;
        parse_actor(&url, &doc).map_err(|message| FetchError::Document { url, message })
    }

    /// Signs a delivery of a body whose `Digest` is `digest` to `inbox`
    /// with the current key. CPU work (an RSA signature): the delivery
    /// engine runs it off the async runtime.
    pub fn sign_delivery(&self, inbox: &Url, digest: &str) -> Result<SignedHeaders, SignError> {
        self.sign_delivery_with(None, inbox, digest)
    }

    /// [`Client::sign_delivery`] with `key` (a retired key) instead of the
    /// current one when given.
    pub fn sign_delivery_with(
        &self,
        key: Option<&KeyPair>,
        inbox: &Url,
        digest: &str,
    ) -> Result<SignedHeaders, SignError> {
        let current = self.key.load();
        signature::sign_with_digest(key.unwrap_or(&current.pair), &self.key_id, "POST", inbox, Some(digest), Utc::now())
    }

    /// Sends a delivery signed by [`Client::sign_delivery`], giving up after `timeout`.
    pub async fn send_signed(&self, inbox: &Url, body: Bytes, headers: SignedHeaders, timeout: Duration) -> Delivered {
        self.send(inbox, body, headers, timeout).await
    }

    /// POSTs `body` with `headers` and no signature (a WebSub distribution,
    /// a hub ping), under the same guard, limits and timeout as deliveries.
    pub async fn send(&self, inbox: &Url, body: Bytes, headers: SignedHeaders, timeout: Duration) -> Delivered {
        if let Err(error) = self.check(inbox) {
            return Delivered::Refused(error.to_string());
        }
        let mut request = self.http.post(inbox.clone()).body(body).timeout(timeout);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                Delivered::Status(response.status(), retry_after)
            }
            Err(error) if error.is_timeout() => Delivered::Timeout,
            Err(error) => Delivered::Network(error_chain(&error)),
        }
    }

    /// An unsigned GET of `url` (a WebSub intent verification), under the
    /// same guard as deliveries: its status and at most `limit` bytes of its
    /// body (a longer body is an error).
    pub async fn get_capped(
        &self,
        url: &Url,
        limit: usize,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), FetchError> {
        self.check(url)?;
        let network = |source| FetchError::Network { url: url.clone(), source };
        let mut response = self.http.get(url.clone()).timeout(timeout).send().await.map_err(network)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::Document {
                    url: url.clone(),
                    message: format!("response larger than {limit} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body.into()))
    }

    /// Signs and POSTs an activity to an inbox (one-off requests; fan-outs go
    /// through the delivery engine).
    pub async fn post(&self, inbox: &Url, body: &[u8]) -> Result<Delivered, FetchError> {
        self.check(inbox)?;
        let headers = self
            .sign_delivery(inbox, &signature::digest(body))
            .map_err(|e| FetchError::Document { url: inbox.clone(), message: e.to_string() })?;
        Ok(self.send_signed(inbox, Bytes::copy_from_slice(body), headers, Duration::from_secs(30)).await)
    }
}

/// Largest document read by [`DocumentClient::get_document`]: a feed with
/// full content, or one archive page of it, runs to a few megabytes.
pub const MAX_DOCUMENT: usize = 16 << 20;

/// Redirects [`DocumentClient::get_document`] follows, each target checked
/// like the first URL (feeds move from http to https, or to a new host).
pub const MAX_REDIRECTS: usize = 5;

/// A fetched document and the URL it was read from after redirects, which
/// its relative links resolve against.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where the body was read from.
    pub url: Url,
    /// The body, at most [`MAX_DOCUMENT`] bytes.
    pub body: Bytes,
}

/// Unsigned GETs of public documents (feeds, for `herald import`) with the
/// guards of [`Client`]: private addresses refused unless allowed, before
/// and after DNS resolution, timeouts, a size cap.
#[derive(Clone)]
pub struct DocumentClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl DocumentClient {
    /// A client with no signing key; `allow_private` is
    /// `federation.allow_private_addresses`.
    pub fn new(allow_private: bool) -> Result<Self, ClientError> {
        Ok(Self { http: guarded_builder(allow_private).build()?, allow_private })
    }

    /// GETs `url` with `accept`, following up to [`MAX_REDIRECTS`]
    /// redirects (each target checked as `url` is) and reading at most
    /// [`MAX_DOCUMENT`] bytes.
    pub async fn get_document(&self, url: &Url, accept: &str) -> Result<Document, FetchError> {
        let mut url = url.clone();
        url.set_fragment(None);
        for _ in 0..=MAX_REDIRECTS {
            check_url(&url, self.allow_private)?;
            let response = self
                .http
                .get(url.clone())
                .header("accept", accept)
                .send()
                .await
                .map_err(|source| FetchError::Network { url: url.clone(), source })?;
            if response.status().is_redirection() {
                let location = response.headers().get("location").and_then(|v| v.to_str().ok());
                let Some(next) = location.and_then(|l| url.join(l).ok()) else {
                    return Err(FetchError::Status { url, status: response.status() });
                };
                url = next;
                continue;
            }
            let body = read_capped(response, &url, MAX_DOCUMENT).await?;
            return Ok(Document { url, body });
        }
        Err(FetchError::Document { url, message: format!("more than {MAX_REDIRECTS} redirects") })
    }
}

/// The settings every outbound request shares: Mastodon's timeouts, no
/// automatic redirects, and the resolver that refuses private addresses.
fn guarded_builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
}

/// Refuses what is not http(s), and literal private addresses and
/// `localhost` unless allowed (names are checked again once resolved).
fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Scheme(url.clone()));
    }
    if !allow_private {
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(is_private) || url.host_str() == Some("localhost") {
            return Err(FetchError::Private(url.to_string()));
        }
    }
    Ok(())
}

/// A successful response's body, refused past `max` bytes.
async fn read_capped(mut response: reqwest::Response, url: &Url, max: usize) -> Result<Bytes, FetchError> {
    if !response.status().is_success() {
        return Err(FetchError::Status { url: url.clone(), status: response.status() });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| FetchError::Network { url: url.clone(), source })? {
        if body.len() + chunk.len() > max {
            return Err(FetchError::Document {
                url: url.clone(),
                message: format!("response larger than {} MiB", max >> 20),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// Signed request headers, ready to send.
pub type SignedHeaders = Vec<(&'static str, String)>;

/// An error with its causes ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After`: seconds or an HTTP date.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    if let Ok(seconds) = raw.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(raw.trim()).ok()?;
    at.duration_since(std::time::SystemTime::now()).ok()
}

/// Reads the parts of an actor document herald uses.
pub fn parse_actor(url: &Url, doc: &Value) -> Result<RemoteActor, String> {
    let id = doc["id"].as_str().ok_or("no id")?;
    let id = Url::parse(id).map_err(|e| format!("bad id: {e}"))?;
    if id.host_str() != url.host_str() {
        return Err(format!("id {id} is on another host than {url}"));
    }
    let inbox = doc["inbox"].as_str().and_then(|u| Url::parse(u).ok()).ok_or("no inbox")?;
    let shared_inbox = doc["endpoints"]["sharedInbox"].as_str().and_then(|u| Url::parse(u).ok());
    let key = &doc["publicKey"];
    let key = if key.is_array() { &key[0] } else { key };
    let public_pem = key["publicKeyPem"].as_str().ok_or("no publicKey.publicKeyPem")?.to_owned();
    let key_id = key["id"].as_str().ok_or("no publicKey.id")?.to_owned();
    if key["owner"].as_str().is_some_and(|owner| owner != id.as_str()) {
        return Err("publicKey.owner is not the actor".into());
    }
    Ok(RemoteActor { id, inbox, shared_inbox, key_id, public_pem })
}

/// Loopback, private (RFC 1918, ULA), link-local, unspecified, CGNAT, documentation.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Resolves names and drops private addresses, so a public name pointing
/// into the local network is refused too.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|addr| allow_private || !is_private(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn requests_to_private_addresses_are_refused_unless_allowed() {
        let stored = super::super::keys::generate().unwrap();
        let client = Client::new(&stored, "k".into(), false, 4).unwrap();
        let url = Url::parse("http://127.0.0.1:9/inbox").unwrap();
        assert!(matches!(client.post(&url, b"{}").await, Err(FetchError::Private(_))));
        assert!(matches!(
            client.fetch_actor(&Url::parse("http://localhost:9/a").unwrap()).await,
            Err(FetchError::Private(_))
        ));
        let documents = DocumentClient::new(false).unwrap();
        let feed = Url::parse("http://10.0.0.1/feed.atom").unwrap();
        assert!(matches!(documents.get_document(&feed, "*/*").await, Err(FetchError::Private(_))));
        let file = Url::parse("file:///etc/passwd").unwrap();
        assert!(matches!(client.documents().get_document(&file, "*/*").await, Err(FetchError::Scheme(_))));
    }

    #[test]
    fn actors_need_an_inbox_and_a_key_owned_by_them() {
        let url = Url::parse("https://m.example/users/a").unwrap();
        let doc = serde_json::json!({
            "id": "https://m.example/users/a", "inbox": "https://m.example/users/a/inbox",
            "endpoints": { "sharedInbox": "https://m.example/inbox" },
            "publicKey": { "id": "https://m.example/users/a#main-key", "owner": "https://m.example/users/a", "publicKeyPem": "PEM" }
        });
        let actor = parse_actor(&url, &doc).unwrap();
        assert_eq!(actor.shared_inbox.unwrap().as_str(), "https://m.example/inbox");
        let mut other = doc.clone();
        other["id"] = "https://evil.example/users/a".into();
        assert!(parse_actor(&url, &other).is_err());
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
    }
}
