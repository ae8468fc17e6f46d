//! Pages that need a signed-in person: a signed-out request is redirected to `/login?next=…` by the server, before
//! any of the page is rendered.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{session, state::AppState};

/// Path prefixes of the pages that require a session.
pub const PROTECTED_PAGES: [&str; 2] = ["/dashboard", "/profile"];

pub async fn require_session_for_pages(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let protected = PROTECTED_PAGES.iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if !protected {
        return next.run(request).await;
    }
    match session::current(&session, &state.db, &state.config.sessions).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => {
            let wanted = request.uri().path_and_query().map_or(path, |pq| pq.as_str());
            let next = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        Err(error) => super::api::ApiError::internal(error).into_response(),
    }
}
