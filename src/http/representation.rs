//! A rendered page or feed, ready to serve: its bytes in identity, gzip and
//! brotli encodings (compressed once, when built, not per request), its
//! validators and its headers. Serving one is a lookup and a clone of `Bytes`.

use std::io::Write;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, LINK, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESS: usize = 512;

/// A content coding herald can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip.
    Gzip,
    /// Brotli.
    Brotli,
}

struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

/// A cached response body with precomputed headers.
pub struct Representation {
    status: StatusCode,
    vary: HeaderValue,
    content_type: HeaderValue,
    cache_control: HeaderValue,
    /// `None` for documents validated by their ETag only.
    last_modified: Option<HeaderValue>,
    /// `Link` (a feed's hub and self URL).
    links: Option<HeaderValue>,
    modified: Option<std::time::SystemTime>,
    /// ETag without quotes or suffix; every variant's ETag starts with it.
    tag: String,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

impl Representation {
    /// Builds a representation, compressing `body` with gzip and brotli.
    ///
    /// Each encoding has its own strong ETag (`"h"`, `"h-gz"`, `"h-br"`,
    /// RFC 9110 §8.8.3: a strong validator changes with the bytes), and a
    /// conditional request with any of them matches, since they name the same
    /// content.
    pub fn new(
        status: StatusCode,
        content_type: &'static str,
        body: Vec<u8>,
        last_modified: DateTime<Utc>,
        max_age: u32,
    ) -> Self {
        let digest = Sha256::digest(&body);
        let tag = hex::encode(&digest[..16]);
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\"")).expect("hex digits are a valid header value")
        };
        let compressible = body.len() >= MIN_COMPRESS;
        let gzip = compressible.then(|| Variant { body: gzip(&body).into(), etag: etag("-gz") });
        let brotli = compressible.then(|| Variant { body: brotli(&body).into(), etag: etag("-br") });
        let modified: std::time::SystemTime = last_modified.into();
        let cache_control = if status.is_success() {
            HeaderValue::from_str(&format!("public, max-age={max_age}")).expect("digits are a valid header value")
        } else {
            HeaderValue::from_static("public, max-age=60")
        };
        Self {
            status,
            vary: HeaderValue::from_static("Accept-Encoding"),
            content_type: HeaderValue::from_static(content_type),
            cache_control,
            last_modified: Some(
                HeaderValue::from_str(&httpdate::fmt_http_date(modified))
                    .expect("an HTTP date is a valid header value"),
            ),
            modified: Some(modified),
            links: None,
            identity: Variant { body: body.into(), etag: etag("") },
            tag,
            gzip,
            brotli,
        }
    }

    /// Drops `Last-Modified`: for documents that change without a publish
    /// (counts), whose whole-second dates could not tell two versions of
    /// one second apart. Their ETag validates them.
    pub fn etag_only(mut self) -> Self {
        self.last_modified = None;
        self.modified = None;
        self
    }

    /// Adds a `Link` header to every response (200 and 304).
    pub fn with_links(mut self, links: HeaderValue) -> Self {
        self.links = Some(links);
        self
    }

    /// Marks a representation chosen by `Accept` (HTML or ActivityStreams at
    /// one URL), so that caches keep the variants apart.
    pub fn negotiated(mut self) -> Self {
        self.vary = HeaderValue::from_static("Accept, Accept-Encoding");
        self
    }

    /// The media type served.
    pub fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }

    /// The strong validator of the content, without quotes or encoding
    /// suffix: equal tags mean equal bytes.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The uncompressed body.
    pub fn body(&self) -> &Bytes {
        &self.identity.body
    }

    /// The response to a GET or HEAD with these request headers: 304 when a
    /// validator matches, otherwise the body in the best encoding the client
    /// accepts. 200 and 304 carry the same ETag, Cache-Control and Vary.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let encoding = negotiate(request.get(ACCEPT_ENCODING));
        let variant = match encoding {
            Encoding::Brotli => self.brotli.as_ref(),
            Encoding::Gzip => self.gzip.as_ref(),
            Encoding::Identity => None,
        };
        let (variant, coding) = match variant {
            Some(v) => (v, Some(encoding)),
            None => (&self.identity, None),
        };
        let not_modified = self.status == StatusCode::OK && self.not_modified(request);
        let mut response =
            if not_modified { Response::new(Body::empty()) } else { Response::new(Body::from(variant.body.clone())) };
        *response.status_mut() = if not_modified { StatusCode::NOT_MODIFIED } else { self.status };
        let headers = response.headers_mut();
        headers.insert(ETAG, variant.etag.clone());
        headers.insert(CACHE_CONTROL, self.cache_control.clone());
        if let Some(last_modified) = &self.last_modified {
            headers.insert(LAST_MODIFIED, last_modified.clone());
        }
        headers.insert(VARY, self.vary.clone());
        if let Some(links) = &self.links {
            headers.insert(LINK, links.clone());
        }
        if !not_modified {
            headers.insert(CONTENT_TYPE, self.content_type.clone());
            match coding {
                Some(Encoding::Gzip) => {
                    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                Some(Encoding::Brotli) => {
                    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
                }
                _ => {}
            }
        }
        response
    }

    /// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since; a GET
    /// compares entity tags weakly.
    fn not_modified(&self, request: &HeaderMap) -> bool {
        if let Some(inm) = request.get(IF_NONE_MATCH) {
            let Ok(inm) = inm.to_str() else { return false };
            return inm.split(',').map(str::trim).any(|candidate| {
                if candidate == "*" {
                    return true;
                }
                let opaque = candidate.strip_prefix("W/").unwrap_or(candidate);
                let Some(inner) = opaque.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
                    return false;
                };
                let suffix = inner.strip_prefix(self.tag.as_str());
                matches!(suffix, Some("" | "-gz" | "-br"))
            });
        }
        if let (Some(since), Some(modified)) =
            (request.get(IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()), self.modified)
        {
            if let Ok(since) = httpdate::parse_http_date(since) {
                // HTTP dates have whole seconds; compare at that precision.
                let modified = httpdate::HttpDate::from(modified);
                return std::time::SystemTime::from(modified) <= since;
            }
        }
        false
    }
}

/// Picks the encoding from `Accept-Encoding`: brotli, then gzip, then
/// identity, honouring `q=0` and `*` (RFC 9110 §12.5.3).
pub fn negotiate(header: Option<&HeaderValue>) -> Encoding {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return Encoding::Identity;
    };
    let (mut br, mut gzip, mut star) = (None, None, None);
    for item in value.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("br") {
            br = Some(q);
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if name == "*" {
            star = Some(q);
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    if br > 0.0 && br >= gzip {
        Encoding::Brotli
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), flate2::Compression::best());
    encoder.write_all(body).expect("compressing into memory cannot fail");
    encoder.finish().expect("compressing into memory cannot fail")
}

/// Brotli runs once per publish, so it can be thorough; above 256 KiB the
/// quality drops (q10 takes about a second on a 3 MB feed, q7 a tenth of
/// that) so that a publish still shows within a second. `cargo bench
/// --bench render` measures it.
fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 3);
    let quality = if body.len() <= 256 * 1024 { 10 } else { 7 };
    let params = brotli::enc::BrotliEncoderParams { quality, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).expect("compressing into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn representation() -> Representation {
        let body = "<feed>".repeat(200).into_bytes();
        let modified = DateTime::from_timestamp(1_722_844_800, 0).unwrap();
        Representation::new(StatusCode::OK, "application/atom+xml; charset=utf-8", body, modified, 300)
    }

    #[test]
    fn accept_encoding_prefers_brotli_and_honours_q_zero() {
        let value = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(negotiate(None), Encoding::Identity);
        assert_eq!(negotiate(Some(&value("gzip, deflate, br"))), Encoding::Brotli);
        assert_eq!(negotiate(Some(&value("gzip"))), Encoding::Gzip);
        assert_eq!(negotiate(Some(&value("br;q=0, gzip;q=0.5"))), Encoding::Gzip);
        assert_eq!(negotiate(Some(&value("gzip;q=0"))), Encoding::Identity);
        assert_eq!(negotiate(Some(&value("*"))), Encoding::Brotli);
        assert_eq!(negotiate(Some(&value("identity"))), Encoding::Identity);
    }

    #[test]
    fn any_variant_etag_revalidates_and_others_do_not() {
        let rep = representation();
        let etag = rep.respond(&HeaderMap::new()).headers()[ETAG].to_str().unwrap().to_owned();
        let gz = rep.respond(&headers(&[("accept-encoding", "gzip")])).headers()[ETAG].to_str().unwrap().to_owned();
        assert_ne!(etag, gz);
        for candidate in [etag.clone(), gz.clone(), format!("W/{gz}"), format!("\"nope\", {etag}"), "*".to_owned()] {
            let response = rep.respond(&headers(&[("if-none-match", &candidate)]));
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{candidate}");
            assert_eq!(response.headers()[ETAG], etag.as_str());
        }
        let response = rep.respond(&headers(&[("if-none-match", "\"other\"")]));
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn if_modified_since_is_used_only_without_if_none_match() {
        let rep = representation();
        let same = "Mon, 05 Aug 2024 08:00:00 GMT";
        let before = "Mon, 05 Aug 2024 07:59:59 GMT";
        assert_eq!(rep.respond(&headers(&[("if-modified-since", same)])).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(rep.respond(&headers(&[("if-modified-since", before)])).status(), StatusCode::OK);
        let both = headers(&[("if-modified-since", same), ("if-none-match", "\"other\"")]);
        assert_eq!(rep.respond(&both).status(), StatusCode::OK);
    }

    #[test]
    fn compressed_variants_decompress_to_the_body() {
        let rep = representation();
        let gz = &rep.gzip.as_ref().unwrap().body;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, rep.body().as_ref());
        let br = &rep.brotli.as_ref().unwrap().body;
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, rep.body().as_ref());
    }
}
