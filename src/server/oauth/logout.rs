//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET`/`POST /oauth/logout`, the
//! `end_session_endpoint`. An app sends the person here to sign out of Gatehouse too, and may ask to have them sent
//! back to one of its registered `post_logout_redirect_uris` (exact match, or an error page here).
//!
//! With an `id_token_hint` that Gatehouse issued to the person signed in here, they are signed out at once. Without
//! one (anyone can link here), they are asked first, so a link on another site cannot sign people out.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;
use tower_sessions::Session;
use url::Url;

use crate::server::oauth::{clients, jwt, wire::parameters};
use crate::server::{
    people::session::{self, Caller, ClientInfo},
    security::audit::{self, Event},
    state::AppState,
    web::error_page::{self, escape},
};

/// A checked logout request: where to send the person afterwards, if anywhere.
struct Checked {
    /// Where to send the person at once (only with a valid `id_token_hint`).
    back_to: Option<String>,
    /// Where the signed-out page links back to, when the app asked without a hint.
    link_back: Option<String>,
    /// Whether the hint names the person signed in here: then no question is asked.
    hint_matches: bool,
    app_name: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn end_session(
    State(state): State<AppState>,
    method: Method,
    session: Session,
    caller: Caller,
    who: ClientInfo,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let form = method == Method::POST
        && headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let raw = if form { body.as_str() } else { query.as_deref().unwrap_or_default() };
    let params = match parameters(raw) {
        Ok(params) => params,
        Err(problem) => return refuse(&format!("The sign-out request is malformed: {problem}.")),
    };
    let checked = match check(&state, &caller, &params).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    // The confirmation form says yes with `confirm=yes`; a hint for the signed-in person needs no question.
    let confirmed = params.get("confirm").is_some_and(|c| c == "yes") && form;
    if caller.signed_in().is_some() && !checked.hint_matches && !confirmed {
        return confirm_page(&params, checked.app_name.as_deref());
    }
    if caller.signed_in().is_some() {
        match session::logout(&session, &state.db, &state.cache).await {
            Ok(Some(user_id)) => {
                let detail = json!({ "via": "app", "app": checked.app_name });
                let _ = audit::record_on(&state.db, Event::SignOut, Some(&user_id), &who, detail).await;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "sign-out at an app's request failed");
                let mut response = error_page::render(
                    "Something went wrong",
                    "You could not be signed out. Please try again.",
                    ("Go to Gatehouse", "/"),
                );
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return response;
            }
        }
    }
    match checked.back_to {
        Some(url) => Redirect::to(&url).into_response(),
        None => signed_out_page(checked.link_back.as_deref().zip(checked.app_name.as_deref())),
    }
}

async fn check(
    state: &AppState,
    caller: &Caller,
    params: &std::collections::BTreeMap<String, String>,
) -> Result<Checked, Response> {
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => Some(
            jwt::verify_id_token_hint(state, token)
                .await
                .ok_or_else(|| refuse("The app sent an ID token that Gatehouse did not issue."))?,
        ),
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(hint)) if *id != hint.aud => {
            return Err(refuse("client_id and the ID token's audience name different apps."));
        }
        (Some(id), _) => Some(id.clone()),
        (None, Some(hint)) => Some(hint.aud.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => match clients::find(&state.db, id).await {
            Ok(Some(client)) => Some(client),
            Ok(None) => return Err(refuse("The app that sent you here is not registered with Gatehouse.")),
            Err(error) => {
                tracing::error!(%error, "logout: reading the client failed");
                return Err(refuse("Gatehouse could not check this request. Please try again."));
            }
        },
        None => None,
    };
    let back_to = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client.as_ref().ok_or_else(|| {
                refuse("The request asks to send you back to an app but does not say which app (client_id or id_token_hint).")
            })?;
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(refuse(
                    "The address this request would send you to after signing out is not one the app registered.",
                ));
            }
            let mut url = Url::parse(uri).map_err(|_| refuse("The app's address cannot be used."))?;
            if let Some(app_state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", app_state);
            }
            Some(url.to_string())
        }
    };
    // Sent on to the app only with an ID token we issued to it (RFC 9700 §4.11.2): a bare client_id is something
    // anyone can write, and would make this an open redirector for every app a user registered. Without one, the
    // signed-out page offers a link back instead.
    let (back_to, link_back) = if hint.is_some() { (back_to, None) } else { (None, back_to) };
    let signed_in_user = caller.signed_in().map(|s| s.session.user_id.clone());
    let hint_matches = hint.as_ref().is_some_and(|h| Some(&h.sub) == signed_in_user.as_ref());
    Ok(Checked { back_to, link_back, hint_matches, app_name: client.map(|c| c.name) })
}

fn refuse(message: &str) -> Response {
    let mut response = error_page::render("This sign-out link is broken", message, ("Go to Gatehouse", "/"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// "Sign out of Gatehouse?", carrying the request's parameters to the answer.
fn confirm_page(params: &std::collections::BTreeMap<String, String>, app: Option<&str>) -> Response {
    let hidden: String = ["client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (name, value)))
        .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value)))
        .collect();
    let asked_by = app.map(|a| format!(" {} asks you to sign out.", escape(a))).unwrap_or_default();
    let body = format!(
        r#"<section class="card narrow" aria-labelledby="logout-title">
<h1 id="logout-title">Sign out of Gatehouse?</h1>
<p>{asked_by} Signing out here also ends what apps you allowed in this browser can do, unless you let them stay connected.</p>
<form method="post" action="/oauth/logout" class="button-row">
{hidden}
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="button" data-testid="logout-confirm">Sign out</button>
<a class="button secondary" href="/dashboard">Stay signed in</a>
</form>
</section>"#
    );
    // The answer may redirect to the app's page: that origin may receive the form's redirect.
    let target = params
        .get("post_logout_redirect_uri")
        .and_then(|u| Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization());
    error_page::page("Sign out?", &body, target.as_deref())
}

/// "You are signed out", with a link back to the app that asked (to an address it registered), if any.
fn signed_out_page(back: Option<(&str, &str)>) -> Response {
    let back = back
        .map(|(url, app)| {
            format!(
                r#"<a class="button secondary" href="{}" data-testid="back-to-app">Back to {}</a>"#,
                escape(url),
                escape(app)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<section class="notice" aria-labelledby="logout-title">
<h1 id="logout-title">You are signed out of Gatehouse</h1>
<p data-testid="signed-out">You can close this page.</p>
<div class="button-row"><a class="button" href="/login">Sign in again</a>{back}</div>
</section>"#
    );
    error_page::page("Signed out", &body, None)
}
