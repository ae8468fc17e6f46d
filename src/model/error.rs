//! The one error type server functions return: what the person may be told. Causes are logged on the server.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("That was not found.")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but conflicts with the account's state (unlinking the last sign-in method).
    #[error("{0}")]
    Conflict(String),
    /// A sign-in with a password or a code that did not match (401). One message whatever was wrong, so it tells
    /// nobody whether an account exists.
    #[error("{0}")]
    Credentials(String),
    /// Too many failed attempts: refused without checking, for `retry_after` seconds (429 with `Retry-After`).
    #[error("Too many failed attempts. For your security, please wait {} and try again, or reset your password by email.", wait(*retry_after))]
    Throttled { retry_after: i64 },
    /// A sensitive change needs the person to confirm who they are first — a password, a code, or their provider —
    /// when they have not in the last ten minutes (403).
    #[error("For your security, please confirm it's you first.")]
    ConfirmIdentity,
    /// Signed in, and still not allowed: a disabled account, an admin page without two-step verification (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The database did not answer (down, unreachable, overloaded): nothing was changed; trying later will do.
    #[error("Gatehouse cannot reach its database right now. Nothing was changed; please try again in a minute.")]
    Unavailable,
    /// The request did not reach the server function, or its answer could not be read.
    #[error("Could not reach Gatehouse. Check your connection and try again.")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

/// "a minute", "5 minutes", "an hour": how long to wait, rounded up to whole minutes.
fn wait(seconds: i64) -> String {
    match (seconds.max(1) + 59) / 60 {
        1 => "a minute".into(),
        60 => "an hour".into(),
        minutes => format!("{minutes} minutes"),
    }
}
