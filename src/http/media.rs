//! `/media/{path}`: the files published beside the articles, served from a
//! small in-memory cache in front of the database (every instance on a
//! shared database serves the same bytes).
//!
//! Caching: the URLs herald writes into feeds, pages and Notes carry the
//! content's version (`/media/img/carte.jpg?v=3f1c…`, see
//! [`MediaPath::url`]), so the bytes behind such a URL never change and it
//! is served `immutable` for a year. A request without the current version
//! (a hand-written link, an old URL after the file was replaced) gets the
//! current bytes with the site's short `max-age`, revalidated by ETag.
//!
//! Freshness across instances without notifications: a request for the
//! current version is answered from memory with no query; any other asks
//! the database for the row's hash (one primary-key look-up, no bytes) and
//! reuses the bytes held in memory when the hash matches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::{Arc, PoisonError};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    LAST_MODIFIED, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;

use super::{AppError, AppState};
use crate::error::StoreError;
use crate::media::{self, MediaPath};
use crate::store::{Media, Store};

/// Bytes of media one instance keeps in memory, least recently used
/// dropped first. Files are at most [`media::MAX_BYTES`], so several of
/// the largest fit.
pub const CACHE_BYTES: usize = 128 * 1024 * 1024;

/// `GET /media/{*path}`.
pub async fn serve(
    State(app): State<AppState>,
    Path(path): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Ok(path) = MediaPath::parse(&path) else { return Ok(app.cache.not_found().respond(&headers)) };
    Ok(match app.media.get(&app.store, &path, version_of(uri.query())).await? {
        Some((blob, versioned)) => blob.respond(&headers, cache_control(versioned, app.settings.feeds.max_age)),
        None => app.cache.not_found().respond(&headers),
    })
}

/// `Cache-Control` of a versioned URL: its bytes never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A media file ready to serve.
pub struct Blob {
    bytes: Bytes,
    /// The start of the content hash that versioned URLs carry.
    version: String,
    etag: HeaderValue,
    content_type: HeaderValue,
    last_modified: HeaderValue,
    modified: std::time::SystemTime,
}

impl Blob {
    fn new(media: Media) -> Option<Self> {
        let row = media.row;
        let modified: std::time::SystemTime = row.updated_at.into();
        Some(Self {
            // RFC 9110 §8.8.3: a strong validator, as it changes with the bytes.
            etag: HeaderValue::from_str(&format!("\"{}\"", row.sha256.get(..32).unwrap_or(&row.sha256))).ok()?,
            content_type: HeaderValue::from_str(&row.content_type).ok()?,
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified)).ok()?,
            modified,
            version: media::version(&row.sha256).to_owned(),
            bytes: media.bytes,
        })
    }

    /// The response to a GET or HEAD: 304 when a validator matches (RFC
    /// 9110 §13.2.2: before any range), then the one range asked for (206,
    /// or 416 when it lies past the end), else the whole file.
    pub fn respond(&self, request: &HeaderMap, cache_control: HeaderValue) -> Response {
        let len = self.bytes.len() as u64;
        let (status, body, content_range) = if self.not_modified(request) {
            (StatusCode::NOT_MODIFIED, Body::empty(), None)
        } else {
            let range = request
                .get(RANGE)
                .filter(|_| self.if_range(request))
                .and_then(|value| value.to_str().ok())
                .and_then(|value| byte_range(value, len));
            match range {
                None => (StatusCode::OK, Body::from(self.bytes.clone()), None),
                Some(Err(Unsatisfiable)) => {
                    (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty(), Some(format!("bytes */{len}")))
                }
                Some(Ok((first, last))) => {
                    // first <= last < len, so both fit in usize.
                    let slice =
                        self.bytes.slice(usize::try_from(first).unwrap_or(0)..=usize::try_from(last).unwrap_or(0));
                    (StatusCode::PARTIAL_CONTENT, Body::from(slice), Some(format!("bytes {first}-{last}/{len}")))
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(ETAG, self.etag.clone());
        headers.insert(LAST_MODIFIED, self.last_modified.clone());
        headers.insert(CACHE_CONTROL, cache_control);
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status != StatusCode::NOT_MODIFIED {
            headers.insert(CONTENT_TYPE, self.content_type.clone());
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        }
        if let Some(content_range) = content_range {
            headers.insert(CONTENT_RANGE, header(&content_range));
        }
        response
    }

    /// If-None-Match (weak comparison, RFC 9110 §13.1.2), else If-Modified-Since.
    fn not_modified(&self, request: &HeaderMap) -> bool {
        if let Some(inm) = request.get(IF_NONE_MATCH) {
            let Ok(inm) = inm.to_str() else { return false };
            let ours = self.etag.as_bytes();
            return inm.split(',').map(str::trim).any(|candidate| {
                candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == ours
            });
        }
        request
            .get(IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|since| httpdate::parse_http_date(since).ok())
            .is_some_and(|since| {
                // HTTP dates have whole seconds; compare at that precision.
                std::time::SystemTime::from(httpdate::HttpDate::from(self.modified)) <= since
            })
    }

    /// RFC 9110 §13.1.5: a range applies only if the `If-Range` validator
    /// (when there is one) is current: the same strong ETag, or exactly
    /// the Last-Modified date.
    fn if_range(&self, request: &HeaderMap) -> bool {
        match request.get(IF_RANGE) {
            None => true,
            Some(value) => value == self.etag || value == self.last_modified,
        }
    }
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A range that starts past the end of the file.
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// The first and last byte (inclusive) of a single-range `Range: bytes=…`
/// for a file of `len` bytes (RFC 9110 §14.1.2): `a-b`, `a-` or the suffix
/// `-n`, `b` and `n` clamped to the file. `None` means "ignore the header
/// and send the whole file", as RFC 9110 §14.2 allows for a header that
/// does not parse, another unit or several ranges.
///
/// Not `headers::Range::satisfiable_ranges`: it refuses a suffix longer
/// than the file instead of clamping it, and passes a start past the end as
/// satisfiable.
fn byte_range(value: &str, len: u64) -> Option<Result<(u64, u64), Unsatisfiable>> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    if first.is_empty() {
        let suffix = number(last)?;
        if suffix == 0 || len == 0 {
            return Some(Err(Unsatisfiable));
        }
        return Some(Ok((len - suffix.min(len), len - 1)));
    }
    let first = number(first)?;
    let last = if last.is_empty() { None } else { Some(number(last)?) };
    if last.is_some_and(|last| last < first) {
        return None;
    }
    if first >= len {
        return Some(Err(Unsatisfiable));
    }
    Some(Ok((first, last.map_or(len - 1, |last| last.min(len - 1)))))
}

/// The media files this instance has served lately, by path.
pub struct MediaCache {
    entries: Mutex<Entries>,
    capacity: usize,
}

#[derive(Default)]
struct Entries {
    by_path: HashMap<MediaPath, (Arc<Blob>, u64)>,
    /// Sum of the cached files' sizes.
    bytes: usize,
    /// Bumped on every use, to find the least recently used entry.
    clock: u64,
}

impl Default for MediaCache {
    fn default() -> Self {
        Self::new(CACHE_BYTES)
    }
}

impl MediaCache {
    /// A cache holding at most `capacity` bytes of files.
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(Entries::default()), capacity }
    }

    /// The file at `path` and whether `version` is its current version
    /// (then the URL is immutable); `None` when there is no such file.
    pub async fn get(
        &self,
        store: &Store,
        path: &MediaPath,
        version: Option<&str>,
    ) -> Result<Option<(Arc<Blob>, bool)>, StoreError> {
        let cached = self.lookup(path);
        if let (Some(blob), Some(version)) = (&cached, version) {
            if blob.version == version {
                return Ok(Some((blob.clone(), true)));
            }
        }
        let Some(row) = store.media_row(path).await? else {
            self.remove(path);
            return Ok(None);
        };
        let current = |blob: &Blob| version == Some(blob.version.as_str());
        if let Some(blob) = cached.filter(|blob| blob.version == media::version(&row.sha256)) {
            let fresh = current(&blob);
            return Ok(Some((blob, fresh)));
        }
        let Some(blob) = store.media(path).await?.and_then(Blob::new).map(Arc::new) else {
            return Ok(None);
        };
        self.insert(path, blob.clone());
        let fresh = current(&blob);
        Ok(Some((blob, fresh)))
    }

    fn lookup(&self, path: &MediaPath) -> Option<Arc<Blob>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.clock += 1;
        let now = entries.clock;
        entries.by_path.get_mut(path).map(|(blob, used)| {
            *used = now;
            blob.clone()
        })
    }

    fn remove(&self, path: &MediaPath) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((blob, _)) = entries.by_path.remove(path) {
            entries.bytes -= blob.bytes.len();
        }
    }

    fn insert(&self, path: &MediaPath, blob: Arc<Blob>) {
        if blob.bytes.len() > self.capacity {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((old, _)) = entries.by_path.remove(path) {
            entries.bytes -= old.bytes.len();
        }
        while entries.bytes + blob.bytes.len() > self.capacity {
            // A linear scan: the cache holds at most a few thousand files,
            // and inserts happen only on a miss, which reads the database.
            let Some(oldest) = entries.by_path.iter().min_by_key(|(_, (_, used))| *used).map(|(p, _)| p.clone()) else {
                break;
            };
            if let Some((old, _)) = entries.by_path.remove(&oldest) {
                entries.bytes -= old.bytes.len();
            }
        }
        entries.clock += 1;
        let now = entries.clock;
        entries.bytes += blob.bytes.len();
        entries.by_path.insert(path.clone(), (blob, now));
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).bytes
    }
}

/// The `Cache-Control` of a response: immutable for a versioned URL of the
/// current bytes, `max_age` seconds otherwise.
pub fn cache_control(versioned: bool, max_age: u32) -> HeaderValue {
    if versioned {
        HeaderValue::from_static(IMMUTABLE)
    } else {
        header(&format!("public, max-age={max_age}"))
    }
}

/// The `v` parameter of a query string.
pub fn version_of(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| pair.strip_prefix("v="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=90-1000", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-1000", 100), Some(Ok((0, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Some(Err(Unsatisfiable)));
        assert_eq!(byte_range("bytes=-0", 100), Some(Err(Unsatisfiable)));
        for ignored in ["bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=a-b", "bytes=-", "bytes=+1-2"] {
            assert_eq!(byte_range(ignored, 100), None, "{ignored}");
        }
    }

    fn blob(size: usize) -> Arc<Blob> {
        let at = chrono::DateTime::from_timestamp(1_722_844_800, 0).unwrap();
        let row = crate::store::MediaRow {
            path: MediaPath::parse("a.png").unwrap(),
            content_type: "image/png".into(),
            sha256: format!("{size:064}"),
            size: size as u64,
            width: Some(1),
            height: Some(1),
            created_at: at,
            updated_at: at,
        };
        Arc::new(Blob::new(Media { row, bytes: Bytes::from(vec![0; size]) }).unwrap())
    }

    #[test]
    fn the_cache_stays_within_its_bytes_dropping_the_least_recently_used() {
        let cache = MediaCache::new(10);
        let path = |name: &str| MediaPath::parse(name).unwrap();
        cache.insert(&path("a.png"), blob(6));
        cache.insert(&path("b.png"), blob(4));
        assert!(cache.lookup(&path("a.png")).is_some());
        cache.insert(&path("c.png"), blob(3));
        assert!(cache.lookup(&path("b.png")).is_none(), "b was the least recently used");
        assert!(cache.lookup(&path("a.png")).is_some());
        assert_eq!(cache.held(), 9);
        cache.insert(&path("d.png"), blob(11));
        assert!(cache.lookup(&path("d.png")).is_none(), "larger than the whole cache");
        cache.insert(&path("a.png"), blob(1));
        assert_eq!(cache.held(), 4);
    }

    #[test]
    fn validators_come_before_ranges_and_if_range_guards_them() {
        let blob = blob(100);
        let request = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            headers
        };
        let etag = blob.etag.to_str().unwrap().to_owned();
        let cc = || cache_control(false, 60);
        let response = blob.respond(&request(&[("range", "bytes=0-9"), ("if-none-match", &etag)]), cc());
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response =
            blob.respond(&request(&[("range", "bytes=0-9"), ("if-range", "Mon, 05 Aug 2024 08:00:00 GMT")]), cc());
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let response = blob.respond(&request(&[("if-modified-since", "Mon, 05 Aug 2024 08:00:00 GMT")]), cc());
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = blob.respond(&request(&[("if-modified-since", "Mon, 05 Aug 2024 07:59:59 GMT")]), cc());
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn versions_are_read_from_the_query() {
        assert_eq!(version_of(Some("v=abc")), Some("abc"));
        assert_eq!(version_of(Some("x=1&v=abc")), Some("abc"));
        assert_eq!(version_of(Some("x=1")), None);
        assert_eq!(version_of(None), None);
    }
}
