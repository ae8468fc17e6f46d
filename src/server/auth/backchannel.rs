//! `POST /auth/backchannel-logout/{provider}`: a sign-in provider says, server to server, that someone signed out
//! there (OpenID Connect Back-Channel Logout 1.0, as a relying party). The logout token is checked like an ID token
//! and then as a logout token ([`logout_token`](super::logout_token)); its `jti` is used once, on every instance
//! ([`single_use`]); and the Gatehouse sessions that came from that provider session — or, when the token names only
//! the person (`sub`), every session of that identity — end as signing out ends them: the row goes, the app
//! authorizations bound to it with it, and every instance forgets it at once (the cache bus).
//!
//! Answers, as §2.8 asks: 200 with an empty body when the token was valid (whether or not a session matched: the
//! provider cannot tell which of its relying parties had one), 400 with an OAuth-style JSON error otherwise; never
//! cached. Switched on per provider (`OIDC_BACKCHANNEL_LOGOUT`, `DEV_IDP_BACKCHANNEL_LOGOUT`).

use axum::{
    Form, Json, Router,
    extract::{DefaultBodyLimit, Path, State, rejection::FormRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::json;

use crate::server::{
    auth::logout_token::{LogoutClaims, MAX_TOKEN_LEN},
    oauth::wire::no_store,
    people::session::{self, ClientInfo},
    platform::single_use::{self, Kind},
    security::audit::{self, Event},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/backchannel-logout/{provider}", post(receive))
        // A form with one token: anything much larger is not a logout token.
        .layer(DefaultBodyLimit::max(MAX_TOKEN_LEN + 1024))
}

#[derive(Deserialize)]
struct LogoutRequest {
    logout_token: Option<String>,
}

async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    client: ClientInfo,
    form: Result<Form<LogoutRequest>, FormRejection>,
) -> Response {
    if !state.providers.backchannel_logout(&provider) {
        let (status, reason) = match state.providers.label(&provider) {
            None => (StatusCode::NOT_FOUND, "no such sign-in provider"),
            Some(_) => (StatusCode::BAD_REQUEST, "back-channel logout is not switched on for this provider"),
        };
        return refused(status, reason);
    }
    let Some(token) = form.ok().and_then(|Form(form)| form.logout_token) else {
        return refused(StatusCode::BAD_REQUEST, "a form with a logout_token is required");
    };
    let Some(oidc) = state.providers.get(&provider).await.ok() else {
        // The provider could not be set up (its discovery document or keys are unreachable): nothing can be checked.
        return refused(StatusCode::BAD_REQUEST, "the provider's keys cannot be fetched right now");
    };
    let Some(oidc) = oidc.oidc() else {
        return refused(StatusCode::BAD_REQUEST, "this provider does not use OpenID Connect");
    };
    let claims = match oidc.verify_logout_token(&token).await {
        Ok(claims) => claims,
        Err(error) => {
            tracing::warn!(provider, %error, "back-channel logout token refused");
            state.metrics.backchannel_logout(&provider, "refused");
            return refused(StatusCode::BAD_REQUEST, &error.to_string());
        }
    };
    match end_sessions(&state, &provider, &claims, &client).await {
        Ok(Some(ended)) => {
            tracing::info!(provider, ended, "signed out at the provider: sessions ended");
            state.metrics.backchannel_logout(&provider, "accepted");
            (StatusCode::OK, no_store()).into_response()
        }
        Ok(None) => {
            tracing::warn!(provider, "back-channel logout token replayed");
            state.metrics.backchannel_logout(&provider, "refused");
            refused(StatusCode::BAD_REQUEST, "this logout token was already used")
        }
        Err(error) => {
            tracing::error!(provider, %error, "back-channel logout failed");
            // 5xx: the provider may try again (§2.8); the `jti` is spent only with the change, in one transaction.
            (StatusCode::SERVICE_UNAVAILABLE, no_store(), Json(json!({ "error": "temporarily_unavailable" })))
                .into_response()
        }
    }
}

/// Spends the token's `jti`, then ends the sessions it names, with one `signed_out_at_provider` event per person.
/// `None` when the `jti` was used before.
async fn end_sessions(
    state: &AppState,
    provider: &str,
    claims: &LogoutClaims,
    client: &ClientInfo,
) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let kind = Kind::LogoutToken(provider);
    if !single_use::first_use_in(tx.as_exec(), kind, &claims.jti, claims.remember_until).await? {
        return Ok(None);
    }
    let ended =
        session::end_from_provider(tx.as_exec(), provider, claims.subject.as_deref(), claims.sid.as_deref()).await?;
    let mut people: Vec<&str> = ended.iter().map(|(_, user_id)| user_id.as_str()).collect();
    people.sort_unstable();
    people.dedup();
    for user_id in &people {
        let sessions = ended.iter().filter(|(_, owner)| owner == user_id).count();
        let detail = json!({ "provider": provider, "sessions": sessions });
        audit::record(tx.as_exec(), Event::SignedOutAtProvider, Some(user_id), client, detail).await?;
    }
    tx.commit().await?;
    for (session_id, _) in &ended {
        state.cache.forget_session(session_id);
    }
    Ok(Some(ended.len()))
}

fn refused(status: StatusCode, reason: &str) -> Response {
    let error = if status == StatusCode::NOT_FOUND { "not_found" } else { "invalid_request" };
    (status, no_store(), Json(json!({ "error": error, "error_description": reason }))).into_response()
}
