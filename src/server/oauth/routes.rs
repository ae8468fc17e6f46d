//! The provider's routes: the pages a browser visits (authorize, consent, device, logout) and the machine endpoints
//! (discovery, JWKS, token, device authorization, revocation, introspection, userinfo) that apps' own pages may call
//! from any origin.

use axum::{
    Router,
    http::{Method, header},
    routing::{get, post},
};
use tower_http::cors::{Any, CorsLayer};

use crate::server::oauth::{authorize, device, discovery, introspection, logout, token, userinfo};
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
        .route("/oauth/par", post(authorize::push))
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
