//! Cross-site request defence for state-changing requests, on top of `SameSite=Lax` cookies: a POST (or PUT, PATCH,
//! DELETE) that carries cookies must come from this site, as its `Origin` (or, failing that, `Sec-Fetch-Site`)
//! header shows. Requests without cookies carry no ambient authority and pass, and so do requests with an
//! `Authorization` header: the API then authenticates that header and never falls back to the cookie.

use axum::{
    Json,
    extract::{Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::state::AppState;

pub async fn same_origin_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if is_safe(request.method()) || !headers.contains_key(header::COOKIE) || headers.contains_key(header::AUTHORIZATION)
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
