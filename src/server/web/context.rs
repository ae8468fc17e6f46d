//! What server functions need from the request: the shared state, the session, who is signed in.

use std::sync::Arc;

use axum::http::{HeaderMap, header, request::Parts};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use tower_sessions::Session;

use crate::model::error::AppError;
use crate::server::{
    people::session::{AuthSession, Caller, ClientInfo, SignedIn},
    state::AppState,
};

/// Runs a server function's body and, when it fails, answers with the error's HTTP status (401, 404, …) instead of
/// the default 500. A plain form post (no JavaScript) keeps its redirect back to the page, which shows the error.
pub async fn with_status<T>(body: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let result = body.await;
    if let Err(error) = &result {
        // A form posted without JavaScript: a POST whose browser wants HTML back. (A page's own render asks for HTML
        // too, but with a GET: its data loaders' errors are the page's to show.)
        let posted = leptos_axum::extract::<axum::http::Method>().await.is_ok_and(|m| m == axum::http::Method::POST);
        let form_post = posted
            && leptos_axum::extract::<HeaderMap>()
                .await
                .ok()
                .and_then(|headers| headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned))
                .is_some_and(|accept| accept.contains("text/html"));
        // A sensitive change asked for a confirmation of identity: a form posted without JavaScript goes to the
        // confirmation page, which brings the person back to the page they were on.
        if form_post && *error == AppError::ConfirmIdentity {
            let back = leptos_axum::extract::<HeaderMap>()
                .await
                .ok()
                .and_then(|headers| headers.get(header::REFERER).and_then(|v| v.to_str().ok()).map(str::to_owned))
                .and_then(|referer| url::Url::parse(&referer).ok())
                .map_or_else(|| "/profile".to_owned(), |url| url.path().to_owned());
            let next = url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>();
            leptos_axum::redirect(&format!("/confirm?next={next}"));
        }
        if !form_post {
            answer_with(error);
        }
    }
    result
}

/// The page or answer being made goes out with `error`'s HTTP status (and, when throttled, `Retry-After`): what a
/// server function's failure does to the page it fed, and what a preloaded page's failed read does (`web::preload`).
pub fn answer_with(error: &AppError) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(error.status());
        if let AppError::Throttled { retry_after } = error {
            response.insert_header(header::RETRY_AFTER, (*retry_after).into());
        }
    }
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState missing from the server function context"))
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(AppError::internal)
}

pub async fn client_info() -> ClientInfo {
    leptos_axum::extract::<ClientInfo>().await.unwrap_or_default()
}

/// Who is calling, as [`authenticate`](crate::server::web::guard::authenticate) found it once for this request: no second
/// check, no store read.
pub fn caller() -> Caller {
    use_context::<Parts>().and_then(|parts| parts.extensions.get::<Caller>().cloned()).unwrap_or_default()
}

/// The client's address, as [`identify`](crate::server::security::client_addr::identify) worked it out for this request.
pub fn client_addr() -> Option<std::net::IpAddr> {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<crate::server::security::client_addr::ClientAddr>().map(|a| a.0))
}

/// The shared state and the checked session, or `Unauthorized`: how every account server function begins.
pub fn signed_in() -> Result<(AppState, AuthSession), AppError> {
    let (state, signed_in) = signed_in_person()?;
    Ok((state, signed_in.session.clone()))
}

/// The shared state and this session's proof of a recent confirmation of identity: how every server function that
/// makes a sensitive change begins. `ConfirmIdentity` sends a form to `/confirm` (see [`with_status`]).
pub async fn confirmed() -> Result<(AppState, crate::server::people::step_up::Confirmed), AppError> {
    let (state, auth) = signed_in()?;
    let confirmed = crate::server::people::step_up::require(&state.db, &auth).await?;
    Ok((state, confirmed))
}

/// Like [`signed_in`], with the person as the session check read them (for pages that show them).
pub fn signed_in_person() -> Result<(AppState, Arc<SignedIn>), AppError> {
    Ok((state()?, caller().0.ok_or(AppError::Unauthorized)?))
}
