//! Cross-site request defence for state-changing requests, on top of `SameSite=Lax` cookies: a POST (or PUT, PATCH,
//! DELETE) that carries cookies must come from this site, as its `Origin` (or, failing that, `Sec-Fetch-Site`)
//! header shows. Requests without cookies carry no ambient authority and pass. Two kinds pass with cookies too, as
//! they never read them: an API call with an `Authorization` header (`/api/v1/…` authenticates that header and never
//! falls back to the cookie), and the OAuth endpoints apps call from their own pages (`/oauth/token`, …), which
//! authenticate the app and never look at a session. Everywhere else an `Authorization` header changes nothing: a
//! cookie-only route must not be reachable cross-site by adding one.

use axum::{
    Json,
    extract::{Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::server::state::AppState;

/// The OAuth endpoints apps call from their own pages: they authenticate the app (or a bearer token) and never read
/// a session. A same-site app's page sends our cookies along, so they must pass whatever its origin.
pub const COOKIELESS_ENDPOINTS: [&str; 6] = [
    "/oauth/token",
    "/oauth/par",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/device_authorization",
    "/oauth/userinfo",
];

pub async fn same_origin_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let path = request.uri().path();
    let bearer_api_call = path.starts_with("/api/v1/") && headers.contains_key(header::AUTHORIZATION);
    if is_safe(request.method())
        || !headers.contains_key(header::COOKIE)
        || bearer_api_call
        || COOKIELESS_ENDPOINTS.contains(&path)
    {
        return next.run(request).await;
    }
    // `Origin: null` (sandboxed frames, some privacy settings) says nothing; Sec-Fetch-Site decides then.
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null");
    let fetch_site = request.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let allowed = match (origin, fetch_site) {
        (Some(origin), _) => origin == state.config.app_url.origin(),
        (None, Some(site)) => site == "same-origin",
        // A browser always sends one of the two on a POST; a request with neither did not come from our pages.
        (None, None) => false,
    };
    if allowed {
        next.run(request).await
    } else {
        tracing::warn!(method = %request.method(), path = request.uri().path(), ?origin, ?fetch_site, "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            Json(
                json!({ "error": "cross_site_request", "message": "This request did not come from a Gatehouse page." }),
            ),
        )
            .into_response()
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
