//! Gatehouse as an OAuth 2.1 and OpenID Connect provider: apps registered here sign people in with Gatehouse and call
//! its API with the access tokens they get.
//!
//! - [`apps`]: `/apps`, the apps a person allowed and the ones they registered (plain forms over [`registered`]:
//!   registering, re-keying and deleting one's own apps).
//! - [`clients`]: the apps, their redirect URIs and secrets (and `gatehouse clients …`).
//! - [`authorize`]: `GET /oauth/authorize`, the consent page, and the authorization codes it issues.
//! - [`token`]: `POST /oauth/token`, over [`exchange`] (authorization code, refresh token, client credentials).
//! - [`device`]: device authorization (RFC 8628) and the `/device` page.
//! - [`logout`]: RP-initiated logout (`end_session_endpoint`).
//! - [`introspection`]: `POST /oauth/revoke` and `POST /oauth/introspect`; [`userinfo`]: `/oauth/userinfo`.
//! - [`issue`]: the client's request and authentication, the error answer, the tokens issued for a grant.
//! - [`grants`]: what a code was exchanged for (an authorization, the family of its refresh tokens), revocation.
//! - [`jwt`]: access tokens (RFC 9068) and ID tokens, issued and checked.
//! - [`keys`]: the ES256 keys that sign them, sealed at rest, rotated.
//! - [`discovery`]: the metadata documents and the JWKS.
//! - [`scopes`]: what an app may ask for; [`wire`]: hashed secrets, form parameters, `no-store`.
//!
//! Held to OAuth 2.1, RFC 9700 (PKCE S256 for every client, exact redirect URIs, `iss` on every authorization
//! response, single-use codes, refresh token rotation with reuse detection) and OpenID Connect Core.

pub mod apps;
pub mod authorize;
pub mod clients;
pub mod device;
pub mod discovery;
pub mod exchange;
pub mod grants;
pub mod introspection;
pub mod issue;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod page;
pub mod registered;
pub mod scopes;
pub mod token;
pub mod userinfo;
pub mod wire;

use axum::{
    Router,
    http::{Method, header},
    routing::{get, post},
};
use tower_http::cors::{Any, CorsLayer};

use crate::server::state::AppState;

pub fn router() -> Router<AppState> {
    // Apps' own pages call these from the browser, with no cookie of ours: any origin may, without credentials.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(3600));
    let machine = Router::new()
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/.well-known/oauth-authorization-server", get(discovery::authorization_server))
        .route("/oauth/jwks.json", get(discovery::jwks))
        .route("/oauth/token", post(token::token))
        .route("/oauth/device_authorization", post(device::device_authorization))
        .route("/oauth/revoke", post(introspection::revoke))
        .route("/oauth/introspect", post(introspection::introspect))
        .route("/oauth/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .layer(cors);
    Router::new()
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/authorize/resume", get(authorize::resume))
        .route("/oauth/authorize/decision", post(authorize::decision))
        .route("/device", get(device::form).post(device::submit))
        .route("/oauth/logout", get(logout::end_session).post(logout::end_session))
        .merge(machine)
}
