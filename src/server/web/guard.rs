//! Who is making the request, worked out once: [`authenticate`] checks the session cookie (through the cache) and
//! puts what it found on the request as a [`Caller`] extension, which pages, server functions, the JSON API and
//! plain handlers read. Nothing else reads the session store or the session's row in the same request.
//!
//! Pages that need a signed-in person are guarded here too: a signed-out request is redirected to `/login?next=…`
//! before any of the page is rendered.

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use crate::server::{
    people::session::{self, Caller},
    state::AppState,
};

/// Path prefixes of the pages that require a session.
pub const PROTECTED_PAGES: [&str; 5] = ["/dashboard", "/profile", "/confirm", "/device", "/apps"];

pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // Probes answer for the process and its database, whoever asks: a cookie that comes along is not checked.
    if crate::server::web::health::PROBES.contains(&path) {
        return next.run(request).await;
    }
    // An API call with a bearer token is that token's, whatever cookie comes with it: the API checks the token.
    let bearer_call = path.starts_with("/api/") && request.headers().contains_key(header::AUTHORIZATION);
    let caller = match request.extensions().get::<Session>() {
        Some(session) if !bearer_call => {
            match session::current(session, &state.db, &state.cache, &state.config.sessions).await {
                Ok(found) => Caller(found),
                Err(error) => return unavailable(path, &error),
            }
        }
        _ => Caller::default(),
    };

    let protected = PROTECTED_PAGES
        .iter()
        .any(|p| path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
    if protected && caller.0.is_none() {
        let wanted = request.uri().path_and_query().map_or(path, |pq| pq.as_str());
        let next = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The session could not be checked (the database is unreachable): 503, as JSON for the API, a page otherwise.
fn unavailable(path: &str, error: &session::SessionError) -> Response {
    tracing::error!(%error, "session check failed");
    if path.starts_with("/api/") {
        return crate::server::api::ApiError::unavailable().into_response();
    }
    let page = crate::server::web::error_page::render(
        "Gatehouse is unavailable",
        "Gatehouse cannot reach its database right now. Please try again in a minute.",
        ("Try again", "/"),
    );
    (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
}
