//! What server functions need from the request: the shared state, the session, who is signed in.

use leptos::prelude::use_context;
use tower_sessions::Session;

use super::{
    session::{self, AuthSession, ClientInfo},
    state::AppState,
    users,
};
use crate::{auth::SignedInUser, error::AppError};

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState missing from the server function context"))
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(AppError::internal)
}

pub async fn client_info() -> ClientInfo {
    leptos_axum::extract::<ClientInfo>().await.unwrap_or_default()
}

/// The checked session, or `None` when signed out (or revoked, or expired).
pub async fn auth_session(state: &AppState) -> Result<Option<AuthSession>, AppError> {
    let session = session().await?;
    session::current(&session, &state.db, &state.config.sessions).await.map_err(AppError::internal)
}

/// The checked session, or `Unauthorized`.
pub async fn require_session(state: &AppState) -> Result<AuthSession, AppError> {
    auth_session(state).await?.ok_or(AppError::Unauthorized)
}

/// The person as pages and the API show them, or `None` if the account is gone.
pub async fn current_user(state: &AppState, user_id: &str) -> Result<Option<SignedInUser>, AppError> {
    let Some(user) = users::find(&state.db, user_id).await.map_err(AppError::internal)? else {
        return Ok(None);
    };
    let providers = users::providers(&state.db, user_id).await.map_err(AppError::internal)?;
    Ok(Some(SignedInUser {
        id: user.id,
        display_name: user.display_name,
        email: user.email,
        email_verified: user.email_verified,
        avatar_url: user.avatar_url,
        providers,
    }))
}
