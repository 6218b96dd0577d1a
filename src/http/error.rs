//! The one error type of the HTTP layer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::StoreError;

/// A failed request. Internal errors answer 500 with no details; the error is
/// logged here, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Store(error) => {
                tracing::error!(%error, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }
}
