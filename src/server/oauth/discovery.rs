//! The metadata apps configure themselves from — `/.well-known/openid-configuration` (OpenID Connect Discovery) and
//! `/.well-known/oauth-authorization-server` (RFC 8414) — and the public keys at `/oauth/jwks.json`. Each lists only
//! what is implemented.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::server::oauth::{jwt, scopes::OAuthScope};
use crate::server::state::AppState;

fn metadata(state: &AppState) -> Value {
    let url = |path: &str| state.config.app_url.join(path);
    let scopes: Vec<&str> = OAuthScope::ALL.iter().map(|s| s.as_str()).collect();
    json!({
        "issuer": jwt::issuer(state),
        "authorization_endpoint": url("/oauth/authorize"),
        "token_endpoint": url("/oauth/token"),
        "pushed_authorization_request_endpoint": url("/oauth/par"),
        "require_pushed_authorization_requests": false,
        "jwks_uri": url("/oauth/jwks.json"),
        "userinfo_endpoint": url("/oauth/userinfo"),
        "end_session_endpoint": url("/oauth/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint": url("/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": url("/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", crate::server::oauth::wire::DEVICE_CODE_GRANT],
        "device_authorization_endpoint": url("/oauth/device_authorization"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "sid", "name",
            "picture", "email", "email_verified"],
        "acr_values_supported": [
            crate::server::people::session::ACR_ONE_FACTOR,
            crate::server::people::session::ACR_TWO_FACTORS
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

/// Discovery documents change only with the configuration: caches may keep them for an hour.
fn cacheable(body: Value, max_age: &'static str) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    response
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cacheable(metadata(&state), "public, max-age=3600")
}

pub async fn authorization_server(State(state): State<AppState>) -> Response {
    cacheable(metadata(&state), "public, max-age=3600")
}

/// The public keys. Kept briefly in caches: a new key signs at once after a rotation, and apps fetch the set again
/// when a token names a key they do not have.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = cacheable(state.keys.jwks(), "public, max-age=300");
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
    response
}
