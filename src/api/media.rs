//! `POST /api/media`: a file the CMS uploads, served under `/media/…` like
//! the files beside the articles, and named by an article's `image.url`
//! (`img/carte.jpg` or `/media/img/carte.jpg`), which then gets its type,
//! length and dimensions from the stored file.
//!
//! The body is the file's bytes. `?path=img/carte.jpg` says where it goes;
//! without it the file goes to `uploads/{version}.{ext}`, named by its
//! content (the extension from `Content-Type`). An upload never replaces a
//! file: other bytes at a taken path are a 409, the same bytes again are a
//! 200, so a retried upload is harmless without an `Idempotency-Key`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;

use super::problem::Problem;
use super::token::Caller;
use super::wire::MediaDocument;
use crate::content::fields;
use crate::media::{self, MediaPath, NewMedia};
use crate::store::{Conflict, MediaSource};

/// The query of `POST /api/media`.
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    path: Option<String>,
}

/// Largest request body the route reads: what herald stores; a larger one
/// is refused while it is read, with herald's own message.
pub const BODY_LIMIT: usize = media::MAX_BYTES as usize;

/// `POST /api/media?path=…`: stores the body as a media file (201, or 200
/// when the same bytes were already there).
pub async fn upload(
    State(app): State<crate::http::AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.may_write()?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(too_large()),
        _ => Problem::bad_request(rejection.body_text()),
    })?;
    if body.is_empty() {
        return Err(invalid("file", "the body is empty: send the file's bytes as the request body".to_owned()));
    }
    let media = match query.path {
        Some(raw) => {
            let path = MediaPath::parse(&raw).map_err(|message| invalid("path", message))?;
            NewMedia::parse(path.clone(), body).map_err(|message| invalid("file", format!("{path}: {message}")))?
        }
        None => named_by_content(&headers, body)?,
    };
    let channel = &app.settings.channel;
    let written = app.store.put_media(&media, MediaSource::Api, Utc::now()).await?.map_err(|stored| {
        Problem::conflict(Conflict {
            source: None,
            field: "path",
            message: format!(
                "{} already holds another file ({}, {} bytes, sha256 {}); upload under a new path: \
                 herald never replaces a file that articles and feeds may show",
                stored.path, stored.content_type, stored.size, stored.sha256
            ),
        })
    })?;
    let document = MediaDocument::new(&written.row, channel);
    let status = if written.changed { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, Json(&document)).into_response();
    if let Ok(location) = HeaderValue::from_str(&document.url) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// A file uploaded without a path goes to `uploads/{version}.{ext}`: the
/// extension from its type (an image's as its content shows it), the name
/// from its content hash, so the same file always lands at the same path.
fn named_by_content(headers: &HeaderMap, body: Bytes) -> Result<NewMedia, Problem> {
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let extension = media::extension_for(declared).ok_or_else(|| {
        Problem::unsupported_media_type(format!(
            "Content-Type {declared:?} is not a type herald publishes; give the file's path with \
             ?path=img/name.ext, or a Content-Type such as image/jpeg (extensions published: {})",
            media::extensions()
        ))
    })?;
    let provisional =
        MediaPath::parse(&format!("uploads/upload.{extension}")).map_err(|message| invalid("path", message))?;
    let mut media = NewMedia::parse(provisional, body).map_err(|message| invalid("file", message))?;
    let extension = media::extension_for(&media.info.content_type).unwrap_or(extension);
    media.path = MediaPath::parse(&format!("uploads/{}.{extension}", media::version(&media.info.sha256)))
        .map_err(|message| invalid("path", message))?;
    Ok(media)
}

fn invalid(field: &str, message: String) -> Problem {
    Problem::invalid_media(vec![fields::Problem { field: field.to_owned(), line: None, message }])
}

fn too_large() -> String {
    media::check_size(media::MAX_BYTES + 1).err().unwrap_or_default()
}
