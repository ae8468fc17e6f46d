//! The JSON API under `/api/v1`. Errors have one shape: `{"error": "...", "message": "..."}`.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tower_sessions::Session;

use super::{context, session, state::AppState};
use crate::auth::SignedInUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/me", get(me))
}

/// An API failure: a status, a stable machine-readable code, and a sentence for people.
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl ApiError {
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            message: "Sign in, or send a valid token.".into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "API request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal_error",
            message: "Something went wrong on our side.".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.error, "message": self.message }))).into_response()
    }
}

/// `GET /api/v1/me`: the signed-in person.
async fn me(State(state): State<AppState>, session: Session) -> Result<Json<SignedInUser>, ApiError> {
    let auth = session::current(&session, &state.db, &state.config.sessions)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::unauthorized)?;
    let user = context::current_user(&state, &auth.user_id)
        .await
        .map_err(|_| ApiError::internal("loading the user failed"))?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(user))
}
