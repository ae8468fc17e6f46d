//! The API's one error shape, `{"error": "...", "message": "..."}`, with RFC 6750 `WWW-Authenticate` challenges on
//! 401 and 403.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::model::{error::AppError, tokens::Scope};

/// The body of every API error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `invalid_token`, `insufficient_scope`, `address_not_allowed`, `not_found`,
    /// `invalid_body`, …
    pub error: String,
    /// A sentence for people.
    pub message: String,
}

/// An API failure: a status, a stable machine-readable code, a sentence for people, and for 401/403 the
/// `WWW-Authenticate` challenge.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
    challenge: Option<String>,
    /// Seconds, for `Retry-After` (429).
    retry_after: Option<u64>,
}

const REALM: &str = "Bearer realm=\"gatehouse\"";

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), challenge: None, retry_after: None }
    }

    /// No credentials, or an `Authorization` header that is not `Bearer <token>`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self { challenge: Some(REALM.into()), ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message) }
    }

    /// A bearer token that is unknown, revoked, expired or not ours.
    pub fn invalid_token() -> Self {
        let message = "The access token is invalid, expired or revoked.";
        Self {
            challenge: Some(format!("{REALM}, error=\"invalid_token\", error_description=\"{message}\"")),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
        }
    }

    /// A bearer token that was good, and has expired: get a new one (refresh, or sign in again).
    pub fn expired_token() -> Self {
        let message = "The access token expired.";
        Self {
            challenge: Some(format!("{REALM}, error=\"invalid_token\", error_description=\"token expired\"")),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
        }
    }

    pub fn insufficient_scope(scope: Scope) -> Self {
        Self {
            challenge: Some(format!("{REALM}, error=\"insufficient_scope\", scope=\"{scope}\"")),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("This token does not have the \u{201c}{scope}\u{201d} scope this request needs."),
            )
        }
    }

    /// 429: this credential (or address) is over its rate limit, or the address is blocked.
    pub fn refused(refusal: crate::server::security::rate_limit::Refusal) -> Self {
        Self {
            retry_after: Some(refusal.retry_after()),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, refusal.code(), refusal.message())
        }
    }

    /// 403: a good credential, from an address its allow-list does not name.
    pub fn address_not_allowed(what: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "address_not_allowed",
            format!("This {what} may not be used from your address; its allow-list does not include it."),
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "There is nothing here.")
    }

    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
    }
}

/// The account services speak `AppError`; the API maps each to its status and code.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Unauthorized => Self::unauthorized("Sign in, or send a valid token."),
            AppError::NotFound => Self::not_found(),
            AppError::Invalid(message) => Self::invalid_body(message),
            AppError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            AppError::Credentials(message) => Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message),
            error @ AppError::Throttled { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", error.to_string())
            }
            AppError::ConfirmIdentity => {
                Self::new(StatusCode::FORBIDDEN, "confirm_identity", AppError::ConfirmIdentity.to_string())
            }
            AppError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AppError::Unavailable => Self::unavailable(),
            // Already logged where it happened.
            AppError::Internal | AppError::Transport(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        AppError::from(error).into()
    }
}

impl ApiError {
    /// 503: the database did not answer. Nothing was changed.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Gatehouse cannot reach its database. Nothing was changed; please try again in a minute.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(ErrorBody { error: self.error.to_owned(), message: self.message })).into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
