//! RFC 9457 problem details: every error the API answers.

use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::content::fields;
use crate::error::StoreError;
use crate::store::Conflict;

/// The media type of problem documents (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of the submitted article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (front-matter name, or `body`).
    pub field: String,
    /// What is wrong and how to fix it.
    pub detail: String,
}

/// A problem details document (RFC 9457), with herald's `errors` extension.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem (RFC 9457 §3.1.1):
    /// `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// One entry per bad field, for invalid articles and conflicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The `type` of an article that fails validation.
pub const INVALID_ARTICLE: &str = "/api/problems/invalid-article";
/// The `type` of an uploaded file herald cannot publish.
pub const INVALID_MEDIA: &str = "/api/problems/invalid-media";
/// The `type` of a change that contradicts what is stored.
pub const CONFLICT: &str = "/api/problems/conflict";
/// The `type` of an Idempotency-Key reused for a different request.
pub const KEY_REUSED: &str = "/api/problems/idempotency-key-reused";
/// The `type` of an Idempotency-Key whose first request is still running.
pub const KEY_IN_PROGRESS: &str = "/api/problems/idempotency-key-in-progress";

impl Problem {
    fn plain(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// 400: the request cannot be read (malformed JSON, a bad query).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no token, an unknown one or a revoked one.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: a read-only token asked to write.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such article.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::NOT_FOUND, detail)
    }

    /// 413: an upload larger than herald stores.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// 415: an upload whose type herald cannot tell or does not publish.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }

    /// 422: the article fails validation; one entry per problem.
    pub fn invalid(problems: Vec<fields::Problem>) -> Self {
        Self::unprocessable(INVALID_ARTICLE, "The article is invalid", problems)
    }

    /// 422: an uploaded file herald cannot publish; one entry per problem
    /// (`path`, `file`).
    pub fn invalid_media(problems: Vec<fields::Problem>) -> Self {
        Self::unprocessable(INVALID_MEDIA, "The file cannot be published", problems)
    }

    fn unprocessable(kind: &'static str, title: &'static str, problems: Vec<fields::Problem>) -> Self {
        let errors: Vec<FieldError> =
            problems.into_iter().map(|p| FieldError { field: p.field, detail: p.message }).collect();
        Problem {
            kind,
            title,
            status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
            detail: format!("{} problem(s); nothing was stored", errors.len()),
            errors,
        }
    }

    /// 409: the change contradicts what is stored.
    pub fn conflict(conflict: Conflict) -> Self {
        Problem {
            kind: CONFLICT,
            title: "The change conflicts with what is stored",
            status: StatusCode::CONFLICT.as_u16(),
            detail: format!("{}: {}", conflict.field, conflict.message),
            errors: vec![FieldError { field: conflict.field.to_owned(), detail: conflict.message }],
        }
    }

    /// 422: an Idempotency-Key sent again with a different request.
    pub fn key_reused() -> Self {
        Problem {
            kind: KEY_REUSED,
            title: "The Idempotency-Key was used for another request",
            status: StatusCode::UNPROCESSABLE_ENTITY.as_u16(),
            detail: "this Idempotency-Key was first sent with a different method, path or body; \
                     use a new key for a new request"
                .to_owned(),
            errors: Vec::new(),
        }
    }

    /// 409: the first request with this Idempotency-Key is still running.
    pub fn key_in_progress() -> Self {
        Problem {
            kind: KEY_IN_PROGRESS,
            title: "A request with this Idempotency-Key is in progress",
            status: StatusCode::CONFLICT.as_u16(),
            detail: "the first request with this Idempotency-Key has not finished; retry in a moment".to_owned(),
            errors: Vec::new(),
        }
    }

    /// 500, with no details (the error is logged, not sent).
    pub fn internal() -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error; it was logged")
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "API request failed");
        Problem::internal()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut response = (status, [(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the challenge names the scheme.
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"herald\""));
        }
        response
    }
}
