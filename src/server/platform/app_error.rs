//! The server's side of the wire error (`model::error::AppError`): the HTTP status each kind answers with, the
//! logged cause behind an opaque `Internal`, and how a database error is told apart from a bug.

use axum::http::StatusCode;

use crate::model::error::AppError;

impl AppError {
    /// Logs `cause` and returns the opaque error the caller sees.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "server function failed");
        AppError::Internal
    }

    /// The HTTP status a server function answers with when it fails this way.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Invalid(_) | AppError::Transport(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Credentials(_) => StatusCode::UNAUTHORIZED,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::ConfirmIdentity | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if crate::server::platform::db::is_unavailable(&error) {
            tracing::error!(%error, "database unavailable");
            AppError::Unavailable
        } else {
            AppError::internal(error)
        }
    }
}
