//! The `/api/v1` router: the routes, the fallbacks in the API's error shape, the body limit, `no-store`, and CORS
//! for the origins `API_CORS_ORIGINS` names.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Method, StatusCode, header},
    routing::get,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::server::api::error::ApiError;
use crate::server::api::extract::MAX_BODY_BYTES;
use crate::server::api::handlers::{
    audit, connection_token, create_token, list_connections, list_sessions, list_tokens, me, revoke_all_tokens,
    revoke_session, revoke_token, update_me,
};
use crate::server::api::openapi;
use crate::server::state::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/me", get(me).patch(update_me))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", axum::routing::delete(revoke_session))
        .route("/audit", get(audit))
        .route("/tokens", get(list_tokens).post(create_token).delete(revoke_all_tokens))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/connections", get(list_connections))
        .route("/connections/{provider}/token", axum::routing::post(connection_token))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This route does not take that method.")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Answers carry a person's data or a token: no cache, shared or private, may keep them.
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let api = match cors(&state.config.api.cors_origins) {
        Some(cors) => api.layer(cors),
        None => api,
    };
    Router::new().nest("/api/v1", api)
}

/// CORS for the API only, from `API_CORS_ORIGINS`. Browsers from those origins call it with bearer tokens, never
/// with our cookies (no credentials).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::WWW_AUTHENTICATE])
            .max_age(std::time::Duration::from_secs(3600))
    })
}
