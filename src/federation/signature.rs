//! HTTP Signatures as Mastodon uses them: the cavage draft
//! (<https://datatracker.ietf.org/doc/html/draft-cavage-http-signatures-12>)
//! with `rsa-sha256` (or `hs2019` with an RSA key), and a
//! `Digest: SHA-256=…` header on bodies.
//!
//! The replay window is Mastodon's (`SignedRequest#matches_time_window?`):
//! a signature is created at `(created)` or `Date`, which may be at most
//! an hour in the future; it expires at `(expires)` when given, else five
//! minutes after its creation, and never later than twelve hours after it;
//! one hour of clock skew is allowed past the expiry.
//!
//! Written here on aws-lc-rs rather than taken from `activitypub_federation`,
//! whose signer uses the `rsa` crate: delivery signs once per inbox, and
//! aws-lc-rs signs about five times faster (see bench/fanout.sh).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use url::Url;

/// A signature without `(expires)` expires this long after its creation.
pub const DEFAULT_VALIDITY: TimeDelta = TimeDelta::minutes(5);
/// `(expires)` is capped at this long after the creation.
pub const MAX_VALIDITY: TimeDelta = TimeDelta::hours(12);
/// Clock skew allowed: creation this far in the future, expiry this far in the past.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::hours(1);

/// Why a request's signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Signature` header.
    #[error("the request is not signed (no Signature header)")]
    Missing,
    /// The header does not parse.
    #[error("malformed Signature header: {0}")]
    Malformed(String),
    /// A header that must be signed is not.
    #[error("the signature does not cover `{0}`")]
    Uncovered(&'static str),
    /// A signed header is absent from the request.
    #[error("signed header `{0}` is missing from the request")]
    MissingHeader(String),
    /// `Date` or `(created)`/`(expires)` is unreadable or outside the window.
    #[error("{0}")]
    Date(String),
    /// The `algorithm` parameter names something other than RSA with SHA-256.
    #[error("algorithm {0:?} is not supported (rsa-sha256, or hs2019 with an RSA key)")]
    Algorithm(String),
    /// `Digest` does not match the body.
    #[error("Digest does not match the body")]
    Digest,
    /// The key is not an RSA public key PEM.
    #[error("the signer's public key is unusable")]
    Key,
    /// The signature does not verify.
    #[error("the signature does not verify with the signer's key")]
    Invalid,
}

/// The parameters of a `Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// The key's URL (usually `actor#main-key`).
    pub key_id: String,
    /// Signed header names, lower case, in order.
    pub headers: Vec<String>,
    /// The raw signature.
    pub signature: Vec<u8>,
    /// The `algorithm` parameter, when given.
    pub algorithm: Option<String>,
    /// The `created` parameter (Unix seconds), when given.
    pub created: Option<i64>,
    /// The `expires` parameter (Unix seconds), when given.
    pub expires: Option<i64>,
}

/// Parses `keyId="…",algorithm="…",headers="…",signature="…"`.
pub fn parse(header: &str) -> Result<SignatureParams, SignatureError> {
    let (mut key_id, mut headers, mut signature) = (None, None, None);
    let (mut algorithm, mut created, mut expires) = (None, None, None);
    let seconds = |name: &str, value: &str| {
        // The draft allows a fractional part; whole seconds are what counts.
        let whole = value.split('.').next().unwrap_or_default();
        whole.parse::<i64>().map_err(|_| SignatureError::Malformed(format!("{name}={value:?} is not a Unix time")))
    };
    for part in split_params(header) {
        let Some((name, value)) = part.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_owned();
        match name.trim() {
            "keyId" => key_id = Some(value),
            "headers" => headers = Some(value.split_whitespace().map(str::to_ascii_lowercase).collect()),
            "signature" => {
                signature = Some(STANDARD.decode(value).map_err(|e| SignatureError::Malformed(e.to_string()))?)
            }
            "algorithm" => algorithm = Some(value),
            "created" => created = Some(seconds("created", &value)?),
            "expires" => expires = Some(seconds("expires", &value)?),
            _ => {}
        }
    }
    Ok(SignatureParams {
        key_id: key_id.ok_or_else(|| SignatureError::Malformed("no keyId".into()))?,
        // The draft's default is `date` alone.
        headers: headers.unwrap_or_else(|| vec!["date".to_owned()]),
        signature: signature.ok_or_else(|| SignatureError::Malformed("no signature".into()))?,
        algorithm,
        created,
        expires,
    })
}

/// Splits on commas outside quotes.
fn split_params(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in header.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts
}

/// Verifies a request to this server: the algorithm is RSA with SHA-256, the
/// `Signature` covers `(request-target)`, `host` and `date` or `(created)`
/// (and `digest` when there is a body), the signature is inside its time
/// window, `Digest` matches `body`, and the signature verifies with
/// `public_pem`. Returns the parameters so the caller can check `keyId`.
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    public_pem: &str,
    now: DateTime<Utc>,
) -> Result<SignatureParams, SignatureError> {
    let params = signature_params(headers)?;
    if let Some(algorithm) = &params.algorithm {
        if !matches!(algorithm.to_ascii_lowercase().as_str(), "rsa-sha256" | "hs2019") {
            return Err(SignatureError::Algorithm(algorithm.clone()));
        }
    }
    let mut required = vec!["(request-target)", "host"];
    if body.is_some() {
        required.push("digest");
    }
    for name in required {
        if !params.headers.iter().any(|h| h == name) {
            return Err(SignatureError::Uncovered(name));
        }
    }
    check_window(&params, headers, now)?;
    if let Some(body) = body {
        let expected = digest(body);
        let matches =
            headers.get_all("digest").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|d| {
                d.trim().strip_prefix("SHA-256=").or_else(|| d.trim().strip_prefix("sha-256="))
                    == expected.strip_prefix("SHA-256=")
            });
        if !matches {
            return Err(SignatureError::Digest);
        }
    }
    let signed = signing_string(&params.headers, method, path_and_query, |name| match name {
        "(created)" => params.created.map(|t| t.to_string()),
        "(expires)" => params.expires.map(|t| t.to_string()),
        _ => {
            let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            (!values.is_empty()).then(|| values.join(", "))
        }
    })?;
    let der = pem_body(public_pem).ok_or(SignatureError::Key)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
        .verify(signed.as_bytes(), &params.signature)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(params)
}

/// The parsed `Signature` header of a request.
pub fn signature_params(headers: &HeaderMap) -> Result<SignatureParams, SignatureError> {
    let header = headers.get("signature").ok_or(SignatureError::Missing)?;
    parse(header.to_str().map_err(|_| SignatureError::Malformed("not ASCII".into()))?)
}

/// Mastodon's `matches_time_window?`, see the module documentation.
fn check_window(params: &SignatureParams, headers: &HeaderMap, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let covers = |name: &str| params.headers.iter().any(|h| h == name);
    let at = |seconds: i64, name: &str| {
        DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| SignatureError::Date(format!("{name} {seconds} is out of range")))
    };
    let created = if covers("(created)") {
        let seconds =
            params.created.ok_or_else(|| SignatureError::Malformed("(created) is signed but has no value".into()))?;
        at(seconds, "(created)")?
    } else if covers("date") {
        let raw = headers.get("date").and_then(|v| v.to_str().ok()).unwrap_or_default();
        httpdate::parse_http_date(raw)
            .map_err(|_| SignatureError::Date(format!("Date {raw:?} is not an HTTP date")))?
            .into()
    } else {
        return Err(SignatureError::Uncovered("date"));
    };
    let expires = if covers("(expires)") {
        let seconds =
            params.expires.ok_or_else(|| SignatureError::Malformed("(expires) is signed but has no value".into()))?;
        at(seconds, "(expires)")?
    } else {
        created + DEFAULT_VALIDITY
    };
    let expires = expires.min(created + MAX_VALIDITY);
    if created > now + CLOCK_SKEW {
        return Err(SignatureError::Date(format!("the signature was created in the future ({created})")));
    }
    if now > expires + CLOCK_SKEW {
        return Err(SignatureError::Date(format!("the signature expired at {expires} (created {created}); a replay?")));
    }
    Ok(())
}

fn signing_string(
    names: &[String],
    method: &str,
    path_and_query: &str,
    header: impl Fn(&str) -> Option<String>,
) -> Result<String, SignatureError> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let value = if name == "(request-target)" {
            format!("{} {path_and_query}", method.to_ascii_lowercase())
        } else {
            header(name).ok_or_else(|| SignatureError::MissingHeader(name.clone()))?
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// `SHA-256=<base64>` of a body.
pub fn digest(body: &[u8]) -> String {
    format!("SHA-256={}", STANDARD.encode(Sha256::digest(body)))
}

/// The `Host` header value for a URL, as clients send it.
pub fn host_header(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// Why an outgoing request could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// The URL has no host to sign.
    #[error("{0} has no host")]
    NoHost(String),
    /// The key refused to sign (an unusable key).
    #[error("the account's key could not sign the request")]
    Key,
}

/// The headers to add to an outgoing request, signed with `key`:
/// `Host`, `Date`, (for a body) `Digest` and `Content-Type`, and `Signature`.
/// An error means the request must not be sent: nothing ever leaves with an
/// empty or default signature.
pub fn sign(
    key: &KeyPair,
    key_id: &str,
    method: &str,
    url: &Url,
    body: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<Vec<(&'static str, String)>, SignError> {
    let digest = body.map(digest);
    sign_with_digest(key, key_id, method, url, digest.as_deref(), now)
}

/// [`sign`] for a body whose `Digest` header value is already known (one
/// activity to many inboxes hashes its body once).
pub fn sign_with_digest(
    key: &KeyPair,
    key_id: &str,
    method: &str,
    url: &Url,
    digest: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<(&'static str, String)>, SignError> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SignError::NoHost(url.to_string()));
    }
    let mut headers: Vec<(&'static str, String)> =
        vec![("host", host_header(url)), ("date", httpdate::fmt_http_date(now.into()))];
    if let Some(digest) = digest {
        headers.push(("digest", digest.to_owned()));
        headers.push(("content-type", super::ACTIVITY_JSON.to_owned()));
    }
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let names: Vec<String> =
        std::iter::once("(request-target)".to_owned()).chain(headers.iter().map(|(n, _)| (*n).to_owned())).collect();
    let signed = signing_string(&names, method, &target, |name| {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    })
    .map_err(|_| SignError::Key)?;
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature).map_err(|_| SignError::Key)?;
    headers.push((
        "signature",
        format!(
            "keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
            names.join(" "),
            STANDARD.encode(&signature)
        ),
    ));
    Ok(headers)
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::keys;

    fn request(key: &KeyPair, url: &Url, body: &[u8], now: DateTime<Utc>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in sign(key, "https://a.example/users/a#main-key", "POST", url, Some(body), now).unwrap() {
            map.insert(name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_does_not() {
        let stored = keys::generate().unwrap();
        let key = keys::signing_key(&stored).unwrap();
        let url = Url::parse("http://127.0.0.1:8080/inbox").unwrap();
        let now = Utc::now();
        let body = br#"{"type":"Follow"}"#;
        let headers = request(&key, &url, body, now);
        let params = verify("POST", "/inbox", &headers, Some(body), &stored.public_pem, now).unwrap();
        assert_eq!(params.key_id, "https://a.example/users/a#main-key");
        assert_eq!(params.headers, ["(request-target)", "host", "date", "digest", "content-type"]);

        assert_eq!(
            verify("POST", "/inbox", &headers, Some(b"{}"), &stored.public_pem, now),
            Err(SignatureError::Digest)
        );
        assert_eq!(
            verify("POST", "/users/news/inbox", &headers, Some(body), &stored.public_pem, now),
            Err(SignatureError::Invalid)
        );
        let other = keys::generate().unwrap();
        assert_eq!(
            verify("POST", "/inbox", &headers, Some(body), &other.public_pem, now),
            Err(SignatureError::Invalid)
        );
        let late = now + TimeDelta::minutes(66);
        assert!(matches!(
            verify("POST", "/inbox", &headers, Some(body), &stored.public_pem, late),
            Err(SignatureError::Date(_))
        ));
        assert_eq!(
            verify("POST", "/inbox", &HeaderMap::new(), Some(body), &stored.public_pem, now),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn the_replay_window_is_mastodons() {
        let stored = keys::generate().unwrap();
        let key = keys::signing_key(&stored).unwrap();
        let url = Url::parse("http://127.0.0.1:8080/inbox").unwrap();
        let body = br#"{"type":"Follow"}"#;
        let now = Utc::now();
        let check = |signed_at: DateTime<Utc>| {
            let headers = request(&key, &url, body, signed_at);
            verify("POST", "/inbox", &headers, Some(body), &stored.public_pem, now)
        };
        // 5 minutes of validity plus 1 hour of skew margin.
        assert!(check(now - TimeDelta::minutes(64)).is_ok());
        assert!(matches!(check(now - TimeDelta::minutes(66)), Err(SignatureError::Date(_))));
        assert!(matches!(check(now - TimeDelta::hours(2)), Err(SignatureError::Date(_))));
        // At most an hour in the future.
        assert!(check(now + TimeDelta::minutes(59)).is_ok());
        assert!(matches!(check(now + TimeDelta::minutes(61)), Err(SignatureError::Date(_))));
    }

    /// Signs with `(created)` and `(expires)` as hs2019, as newer servers do.
    fn created_expires(key: &KeyPair, created: i64, expires: i64, algorithm: &str) -> HeaderMap {
        let body = br#"{"type":"Follow"}"#;
        let digest = digest(body);
        let signed = format!(
            "(request-target): post /inbox\nhost: 127.0.0.1:8080\n(created): {created}\n(expires): {expires}\ndigest: {digest}"
        );
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        headers.insert("digest", digest.parse().unwrap());
        headers.insert(
            "signature",
            format!(
                "keyId=\"k\",algorithm=\"{algorithm}\",created={created},expires={expires},\
                 headers=\"(request-target) host (created) (expires) digest\",signature=\"{}\"",
                STANDARD.encode(&signature)
            )
            .parse()
            .unwrap(),
        );
        headers
    }

    #[test]
    fn expires_is_honoured_and_capped_at_twelve_hours() {
        let stored = keys::generate().unwrap();
        let key = keys::signing_key(&stored).unwrap();
        let body = br#"{"type":"Follow"}"#;
        let now = Utc::now();
        let t = |d: TimeDelta| (now + d).timestamp();
        let check = |created, expires, algorithm| {
            let headers = created_expires(&key, created, expires, algorithm);
            verify("POST", "/inbox", &headers, Some(body), &stored.public_pem, now)
        };
        assert!(check(t(-TimeDelta::hours(2)), t(TimeDelta::hours(1)), "hs2019").is_ok());
        assert!(matches!(
            check(t(-TimeDelta::minutes(810)), t(TimeDelta::hours(1)), "hs2019"),
            Err(SignatureError::Date(_))
        ));
        assert!(matches!(
            check(t(-TimeDelta::hours(3)), t(-TimeDelta::minutes(61)), "hs2019"),
            Err(SignatureError::Date(_))
        ));
        assert!(check(t(TimeDelta::zero()), t(TimeDelta::minutes(5)), "rsa-sha256").is_ok());
        assert_eq!(
            check(t(TimeDelta::zero()), t(TimeDelta::minutes(5)), "hmac-sha256"),
            Err(SignatureError::Algorithm("hmac-sha256".into()))
        );
    }

    #[test]
    fn a_url_without_a_host_is_not_signed() {
        let stored = keys::generate().unwrap();
        let key = keys::signing_key(&stored).unwrap();
        let url = Url::parse("data:text/plain,x").unwrap();
        assert!(sign(&key, "k", "POST", &url, Some(b"{}"), Utc::now()).is_err());
    }

    #[test]
    fn a_signature_must_cover_the_digest_of_a_body() {
        let header = r#"keyId="k",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA""#;
        let mut headers = HeaderMap::new();
        headers.insert("signature", header.parse().unwrap());
        assert_eq!(
            verify("POST", "/inbox", &headers, Some(b"{}"), "", Utc::now()),
            Err(SignatureError::Uncovered("digest"))
        );
    }

    #[test]
    fn signature_headers_parse_with_commas_inside_quotes() {
        let params = parse(r#"keyId="https://x/a#k",headers="(request-target) date",signature="YWJj""#).unwrap();
        assert_eq!(params.key_id, "https://x/a#k");
        assert_eq!(params.signature, b"abc");
        assert!(parse("headers=\"date\"").is_err());
    }
}
