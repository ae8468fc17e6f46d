//! The steps of `web::front` that read the shared state: who the client is, and whether its address may ask at all.
//! What each one decides lives with its subject (`client_addr`, `rate_limit`); these functions only carry the
//! request through it.

use std::net::IpAddr;

use axum::{
    Json,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::server::{
    people::session::ClientInfo,
    security::{
        client_addr::{ClientAddr, client_addr, forwarded_for},
        csrf,
        networks::canonical,
        rate_limit::{self, Limit, Refusal, Subject},
    },
    state::AppState,
    web::error_page,
};

/// Works out the client's address once, for everything after it (a [`ClientAddr`] extension).
pub fn identify(state: &AppState, peer: IpAddr, request: &mut Request) {
    let trusted = &state.config.trusted_proxies;
    if canonical(peer).is_loopback() && !trusted.contains(peer) && !forwarded_for(request.headers()).is_empty() {
        warn_of_untrusted_local_proxy(state);
    }
    let client = client_addr(peer, request.headers(), trusted);
    request.extensions_mut().insert(ClientAddr(client));
}

/// A proxy on this machine forwards to us, and `TRUSTED_PROXIES` does not name it: every client then looks like the
/// loopback address, which `ADMIN_ALLOWED_IPS` (and `/metrics`) trust by default and the rate limits count as one.
/// Said once per process, loudly, and shown in the admin area.
fn warn_of_untrusted_local_proxy(state: &AppState) {
    if !state.untrusted_local_proxy.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "requests arrive from a proxy on this machine (127.0.0.1 with X-Forwarded-For or Forwarded), but \
             TRUSTED_PROXIES does not name it: every client looks like 127.0.0.1, so ADMIN_ALLOWED_IPS and /metrics \
             trust everyone and the rate limits count everyone as one. Set TRUSTED_PROXIES=127.0.0.1/32"
        );
    }
}

/// Which limit a path falls under at the address layer, and whether its 401s count as failures.
fn limit_for(path: &str) -> Option<(Option<Limit>, bool)> {
    let under = |prefix: &str| path.starts_with(prefix);
    if under("/auth/login/")
        || under("/auth/callback/")
        || under("/auth/link/")
        || under("/auth/confirm/")
        || under("/auth/passkey/")
    {
        return Some((Some(Limit::SignIn), false));
    }
    // Server functions of the sign-in forms: password sign-in and sign-up, resets, the second step.
    if under("/api/auth/") {
        return Some((Some(Limit::SignIn), false));
    }
    if under("/oauth/") || path == "/device" {
        return Some((Some(Limit::OAuth), true));
    }
    // The API is limited per credential once the caller is known; here only blocks apply.
    if under("/api/v1/") {
        return Some((None, true));
    }
    None
}

/// Limits requests by client address (see the module's documentation), then runs the rest (`inner`); counts refused
/// credentials as failures.
pub async fn limit_by_address<F: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    inner: impl FnOnce(Request) -> F,
) -> F::Output {
    let path = request.uri().path();
    let Some((limit, counts_failures)) = limit_for(path) else { return inner(request).await };
    let Some(&ClientAddr(ip)) = request.extensions().get::<ClientAddr>() else { return inner(request).await };
    let subject = Subject::of(ip);
    if let Err(refusal) = state.limiter.check(Some(&subject), limit.map(|l| (l, subject.as_str()))).await {
        tracing::info!(address = subject.as_str(), path, code = refusal.code(), "request refused by the rate limits");
        state.metrics.refused(limit.map_or("block", Limit::name), refusal.code());
        return refused(refusal, path, request.headers());
    }
    if !counts_failures {
        return inner(request).await;
    }
    let client = ClientInfo::from_headers(Some(ip), request.headers());
    let response = inner(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        rate_limit::failed(&state.limiter, &state.db, ip, &client).await;
    }
    response
}

/// The answer to a refused request: the API's JSON error, OAuth's for the endpoints apps call, or a page for a
/// browser; always 429 with `Retry-After`.
pub fn refused(refusal: Refusal, path: &str, headers: &HeaderMap) -> Response {
    let wants_page =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    // The OAuth endpoints apps call answer in OAuth's error shape.
    let mut response = if csrf::COOKIELESS_ENDPOINTS.contains(&path) {
        let body = json!({ "error": refusal.code(), "error_description": refusal.message() });
        (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
    } else if path.starts_with("/api/v1/") || !wants_page {
        let body = json!({ "error": refusal.code(), "message": refusal.message() });
        (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
    } else {
        let title = match refusal {
            Refusal::Limited(_) => "Too many requests",
            Refusal::Blocked(_) => "Your address is blocked for a while",
        };
        let page = error_page::render(title, &refusal.message(), ("Back to Gatehouse", "/"));
        (StatusCode::TOO_MANY_REQUESTS, page).into_response()
    };
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after()));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
