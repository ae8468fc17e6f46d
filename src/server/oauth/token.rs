//! `POST /oauth/token` (RFC 6749 §3.2, OAuth 2.1 §3.2): codes, refresh tokens and client credentials exchanged for
//! tokens. Never the password grant, never the implicit flow.
//!
//! Codes are single use: a second use is refused and ends what the first one got. Refresh tokens rotate on every
//! use: presenting a used one ends its whole authorization (RFC 9700 §4.14.2). A refreshed token's scope can only
//! shrink.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::server::{
    oauth::{
        device, exchange,
        issue::{OAuthError, Tokens, client_request},
        wire::{DEVICE_CODE_GRANT, no_store},
    },
    people::session::ClientInfo,
    platform::metrics::Issued,
    state::AppState,
};

pub async fn token(State(state): State<AppState>, who: ClientInfo, headers: HeaderMap, body: String) -> Response {
    match answer(&state, &who, &headers, &body).await {
        Ok(tokens) => {
            state.metrics.issued(Issued::AccessToken);
            if tokens.refresh_token.is_some() {
                state.metrics.issued(Issued::RefreshToken);
            }
            if tokens.id_token.is_some() {
                state.metrics.issued(Issued::IdToken);
            }
            (StatusCode::OK, no_store(), Json(tokens)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// The tokens a grant is exchanged for, once the client has proved who it is.
async fn answer(state: &AppState, who: &ClientInfo, headers: &HeaderMap, body: &str) -> Result<Tokens, OAuthError> {
    let (params, client) = client_request(state, who, headers, body).await?;
    let get = |name: &str| params.get(name).map(String::as_str);
    match get("grant_type") {
        Some("authorization_code") => {
            exchange::authorization_code(state, &client, get("code"), get("redirect_uri"), get("code_verifier")).await
        }
        Some("refresh_token") => exchange::refresh(state, &client, get("refresh_token"), get("scope"), who).await,
        Some("client_credentials") => exchange::client_credentials(state, &client, get("scope")),
        Some(DEVICE_CODE_GRANT) => device::redeem(state, &client, get("device_code")).await,
        Some("password") => Err(OAuthError::new(
            "unsupported_grant_type",
            "The password grant is not supported: send the person to /oauth/authorize, or use the device flow.",
        )),
        Some(other) => Err(OAuthError::new("unsupported_grant_type", format!("grant_type {other} is not supported."))),
        None => Err(OAuthError::invalid_request("grant_type is missing.")),
    }
}
