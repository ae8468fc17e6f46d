//! `GET /oauth/authorize`: an app sends a person here to sign in and agree to what it asks for; they go back with a
//! single-use code (OAuth 2.1 §4.1, OpenID Connect Core §3.1.2).
//!
//! The request is checked in two stages. Until the app and its redirect URI are known to match, nothing is
//! redirected anywhere: the person gets an error page here (RFC 9700 §4.1). After that, every error goes back to the
//! app, with `state` and `iss` (RFC 9207). A valid request is kept in the browser's session while the person signs
//! in, confirms who they are (`prompt=login`, `max_age`) or answers the consent page; `/oauth/authorize/resume`
//! picks it up again.
//!
//! **Pushed authorization requests** (RFC 9126): an app may first POST its request to `/oauth/par`, authenticated as
//! at the token endpoint; it is checked here exactly as a browser's would be, kept 60 s, and the app gets a one-time
//! `request_uri` to send the browser with (`client_id` + `request_uri`, nothing else counts). An app registered with
//! `require_pushed_authorization_requests` may only come that way.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{Query, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use url::Url;

use crate::model::error::AppError;
use crate::server::oauth::{
    clients, jwt, page,
    scopes::Scopes,
    wire::{hash, new_secret, parameters},
};
use crate::server::{
    auth::redirect::MAX_LEN,
    people::{
        session::{self, AuthSession, Caller, ClientInfo, SignedIn},
        step_up,
    },
    platform::{clock, db::on, secret_key::Purpose},
    security::audit::{self, Event},
    state::AppState,
    web::error_page::{self, escape},
};

/// Authorization codes live this long (OAuth 2.1 recommends at most a minute or so).
pub const CODE_LIFETIME_SECS: i64 = 60;
/// A request waiting for sign-in or consent is kept this long.
const PENDING_LIFETIME_SECS: i64 = 600;
/// Requests kept per browser at once; the oldest goes first.
const MAX_PENDING: usize = 5;
const PENDING_KEY: &str = "oauth.pending";
const CODE_PREFIX: &str = "gac_";
/// A pushed request's reference (RFC 9126 §2.2): this prefix, then a secret only the app was told.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for the browser.
pub const PUSHED_LIFETIME_SECS: i64 = 60;
/// Pushed requests one app may have waiting at once.
const MAX_PUSHED_PER_CLIENT: i64 = 100;

/// A checked authorization request, waiting in the browser's session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    scopes: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    /// `prompt=login`: the person must prove who they are after the request arrived.
    prompt_login: bool,
    /// `prompt=consent`: ask again even if they agreed before.
    prompt_consent: bool,
    prompt_none: bool,
    max_age: Option<i64>,
    created_at: i64,
    /// The person was sent to sign in or confirm for this request: a sign-in since it arrived satisfies `prompt=login`
    /// and `max_age` (however many seconds it then took).
    #[serde(default)]
    login_asked: bool,
    /// `login_hint`: whom the app expects, an email address to fill in on the login page.
    #[serde(default)]
    login_hint: Option<String>,
    /// Registered by this site's operators (not by a Gatehouse user): its errors may go back to it before sign-in.
    #[serde(default)]
    operator_app: bool,
}

/// Whether an error may be sent back to the app (RFC 9700 §4.11.2: an authorization server must not become an open
/// redirector). It may once the person has signed in here, or when the site's operators registered the app; a
/// stranger's request for an app any user could register is answered with a page here instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    App,
    NotYet,
}

impl Trust {
    fn new(operator_app: bool, caller: &Caller) -> Self {
        if operator_app || caller.signed_in().is_some() { Trust::App } else { Trust::NotYet }
    }
}

/// An error for the app: sent back to it where it may be (see [`Trust`]), else shown here.
fn answer_error(
    state: &AppState,
    trust: Trust,
    redirect_uri: &str,
    error: &ToApp,
    app_state: Option<&str>,
) -> Response {
    match trust {
        Trust::App => redirect_error(state, redirect_uri, error, app_state),
        Trust::NotYet => refuse_here(&format!(
            "Gatehouse cannot accept the request the app made ({}: {}). Nothing was shared with it.",
            error.error, error.description
        )),
    }
}

/// An error that goes back to the app (RFC 6749 §4.1.2.1).
struct ToApp {
    error: &'static str,
    description: String,
}

fn to_app(error: &'static str, description: impl Into<String>) -> ToApp {
    ToApp { error, description: description.into() }
}

/// The error page shown here instead of redirecting to an app that cannot be trusted with the answer.
fn refuse_here(message: &str) -> Response {
    let mut response = error_page::render("This app's sign-in link is broken", message, ("Go to Gatehouse", "/"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

pub async fn authorize(
    State(state): State<AppState>,
    session: Session,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match parameters(query.as_deref().unwrap_or_default()) {
        Ok(params) => params,
        Err(problem) => return refuse_here(&format!("The request is malformed: {problem}.")),
    };
    let Some(client_id) = params.get("client_id") else {
        return refuse_here("The request names no app (client_id is missing).");
    };
    let client = match clients::find(&state.db, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return refuse_here("The app that sent you here is not registered with Gatehouse."),
        Err(error) => return internal(&error),
    };
    // A pushed request: only what the app pushed counts; whatever else the URL carries is ignored (RFC 9126 §4).
    if let Some(request_uri) = params.get("request_uri") {
        return match take_pushed(&state, &client.id, request_uri).await {
            Ok(Some(pending)) => proceed(&state, &session, &caller, pending).await,
            Ok(None) => refuse_here(
                "This sign-in link has expired or was already used (they last a minute, once). Go back to the app \
                 and start again.",
            ),
            Err(error) => internal(&error),
        };
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return refuse_here("The request does not say where to send you back (redirect_uri is missing).");
    };
    if !clients::redirect_matches(&client.redirect_uris, redirect_uri) {
        tracing::info!(client = %client.id, "authorization request with an unregistered redirect URI");
        return refuse_here(
            "The address this request would send you back to is not one the app registered, so Gatehouse will not \
             send you (or a sign-in code) there.",
        );
    }
    let app_state = params.get("state").cloned();
    let trust = Trust::new(client.owner_id.is_none(), &caller);
    let back = |e: ToApp| answer_error(&state, trust, redirect_uri, &e, app_state.as_deref());
    if client.require_par {
        return back(to_app("invalid_request", "This app must push its authorization requests first (PAR, RFC 9126)."));
    }
    let pending = match check(&client, redirect_uri, &params) {
        Ok(pending) => pending,
        Err(error) => return back(error),
    };
    proceed(&state, &session, &caller, pending).await
}

/// `POST /oauth/par` (RFC 9126): the app, authenticated, pushes its authorization request; it is checked as a
/// browser's would be and kept for [`PUSHED_LIFETIME_SECS`]. `201 {"request_uri", "expires_in"}`, or `400` with the
/// error the browser's request would have gone back with.
pub async fn push(
    State(state): State<AppState>,
    who: ClientInfo,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    use crate::server::oauth::{issue::OAuthError, wire::no_store};
    let result = async {
        let (params, client) = crate::server::oauth::issue::client_request(&state, &who, &headers, &body).await?;
        if params.contains_key("request_uri") {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed: push the request itself."));
        }
        let redirect_uri =
            params.get("redirect_uri").ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing."))?;
        if !clients::redirect_matches(&client.redirect_uris, redirect_uri) {
            return Err(OAuthError::invalid_request("redirect_uri is not one this app registered."));
        }
        let pending = check(&client, redirect_uri, &params).map_err(|e| OAuthError::new(e.error, e.description))?;
        let secret = clock::random_token(32);
        let now = clock::now();
        let mut tx = state.db.begin_write().await?;
        let waiting: i64 = on!(tx.as_exec(), conn => sqlx::query_scalar(
            "SELECT COUNT(*) FROM pushed_authorization_requests WHERE client_id = $1 AND expires_at > $2",
        )
        .bind(&client.id)
        .bind(now)
        .fetch_one(conn)
        .await)?;
        if waiting >= MAX_PUSHED_PER_CLIENT {
            return Err(OAuthError {
                status: StatusCode::TOO_MANY_REQUESTS,
                ..OAuthError::new("temporarily_unavailable", "Too many pushed requests are waiting; use them first.")
            });
        }
        on!(tx.as_exec(), conn => sqlx::query(
            "INSERT INTO pushed_authorization_requests (id, client_id, request, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash(&secret))
        .bind(&client.id)
        .bind(serde_json::to_string(&pending).expect("a request serialises"))
        .bind(now + PUSHED_LIFETIME_SECS)
        .execute(conn)
        .await
        .map(drop))?;
        tx.commit().await?;
        Ok(json!({ "request_uri": format!("{REQUEST_URI_PREFIX}{secret}"), "expires_in": PUSHED_LIFETIME_SECS }))
    }
    .await;
    match result {
        Ok(created) => (StatusCode::CREATED, no_store(), axum::Json(created)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The pushed request `request_uri` names, if it is this app's, unexpired and not used yet; it is deleted as it is
/// read, so a second use finds nothing. Another app's reference finds nothing and uses up nothing.
async fn take_pushed(state: &AppState, client_id: &str, request_uri: &str) -> Result<Option<Pending>, sqlx::Error> {
    let Some(secret) = request_uri.strip_prefix(REQUEST_URI_PREFIX).filter(|s| s.len() <= 64) else {
        return Ok(None);
    };
    let request: Option<String> = on!(&state.db, pool => sqlx::query_scalar(
        "DELETE FROM pushed_authorization_requests WHERE id = $1 AND client_id = $2 AND expires_at > $3
         RETURNING request",
    )
    .bind(hash(secret))
    .bind(client_id)
    .bind(clock::now())
    .fetch_optional(pool)
    .await)?;
    Ok(request.and_then(|r| serde_json::from_str(&r).ok()))
}

/// Everything after the client and redirect URI: what goes wrong here goes back to the app.
fn check(client: &clients::Client, redirect_uri: &str, params: &BTreeMap<String, String>) -> Result<Pending, ToApp> {
    let get = |name: &str| params.get(name).map(String::as_str);
    if get("request").is_some() || get("request_uri").is_some() {
        return Err(to_app("request_not_supported", "Request objects are not supported."));
    }
    match get("response_type") {
        Some("code") => {}
        None => return Err(to_app("invalid_request", "response_type is missing.")),
        Some(_) => {
            return Err(to_app(
                "unsupported_response_type",
                "Only response_type=code is supported (no implicit flow).",
            ));
        }
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(to_app("invalid_request", "Only response_mode=query is supported."));
    }
    let code_challenge = get("code_challenge")
        .ok_or_else(|| to_app("invalid_request", "PKCE is required: send code_challenge with method S256."))?;
    match get("code_challenge_method") {
        Some("S256") => {}
        None | Some("plain") => {
            return Err(to_app("invalid_request", "code_challenge_method must be S256 (plain is not accepted)."));
        }
        Some(_) => return Err(to_app("invalid_request", "code_challenge_method must be S256.")),
    }
    // A base64url SHA-256: 43 characters.
    if code_challenge.len() != 43
        || !code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(to_app("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier."));
    }
    let scopes = Scopes::parse(get("scope").unwrap_or_default()).map_err(|e| to_app("invalid_scope", e))?;
    if scopes.is_empty() {
        return Err(to_app("invalid_scope", "Ask for at least one scope."));
    }
    if let Some(scope) = scopes.iter().find(|s| !clients::allows(client, *s)) {
        return Err(to_app("invalid_scope", format!("This app may not ask for \u{201c}{}\u{201d}.", scope.as_str())));
    }
    let prompts: Vec<&str> = get("prompt").unwrap_or_default().split(' ').filter(|p| !p.is_empty()).collect();
    if let Some(other) = prompts.iter().find(|p| !matches!(**p, "none" | "login" | "consent")) {
        return Err(to_app("invalid_request", format!("prompt={other} is not supported.")));
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(to_app("invalid_request", "prompt=none cannot be combined with another prompt."));
    }
    let max_age = match get("max_age") {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| to_app("invalid_request", "max_age must be a whole number of seconds."))?,
        ),
    };
    let nonce = get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) || get("state").is_some_and(|s| s.len() > 2048) {
        return Err(to_app("invalid_request", "nonce or state is too long."));
    }
    Ok(Pending {
        operator_app: client.owner_id.is_none(),
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes: scopes.to_string(),
        state: get("state").map(str::to_owned),
        nonce,
        code_challenge: code_challenge.to_owned(),
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        prompt_none: prompts.contains(&"none"),
        max_age,
        created_at: clock::now(),
        login_asked: false,
        login_hint: get("login_hint").filter(|h| h.len() <= 254).map(str::to_owned),
    })
}

/// Sign-in, confirmation, consent, then the code: whichever is due next.
async fn proceed(state: &AppState, session: &Session, caller: &Caller, mut pending: Pending) -> Response {
    let trust = Trust::new(pending.operator_app, caller);
    let back = |e: ToApp| answer_error(state, trust, &pending.redirect_uri, &e, pending.state.as_deref());
    let Some(signed_in) = caller.signed_in() else {
        if pending.prompt_none {
            return back(to_app("login_required", "The person is not signed in to Gatehouse."));
        }
        pending.login_asked = true;
        let hint = pending.login_hint.as_deref().map(|h| format!("&login_hint={}", encode(h))).unwrap_or_default();
        // Nothing is stored for a visitor who is not signed in: the request rides through the sign-in sealed in
        // its own URL, and is kept in the session only once there is a signed-in one to keep it in.
        let resume = format!("/oauth/authorize/resume?sealed={}", seal(state, &pending));
        if encode(&resume).len() > MAX_LEN {
            return refuse_here("The request is too long to carry through signing in.");
        }
        return Redirect::to(&format!("/login?next={}{hint}", encode(&resume))).into_response();
    };
    let facts = match SessionFacts::read(state, signed_in).await {
        Ok(facts) => facts,
        Err(error) => return internal(&error),
    };
    let signed_in_since = pending.login_asked && facts.auth_time >= pending.created_at;
    let too_old = pending.max_age.is_some_and(|max| clock::now() - facts.auth_time > max);
    if (pending.prompt_login || too_old) && !signed_in_since {
        if pending.prompt_none {
            return back(to_app("login_required", "The person must sign in again."));
        }
        pending.login_asked = true;
        return match keep(session, &pending).await {
            Ok(id) => Redirect::to(&format!("/confirm?next={}", encode(&resume_path(&id)))).into_response(),
            Err(error) => internal(&error),
        };
    }
    let client = match clients::find(&state.db, &pending.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return refuse_here("The app that sent you here is no longer registered with Gatehouse."),
        Err(error) => return internal(&error),
    };
    let scopes = Scopes::from_stored(&pending.scopes);
    let consented = match consented(state, &signed_in.session.user_id, &client.id).await {
        Ok(consented) => consented,
        Err(error) => return internal(&error),
    };
    // A public client (an app on a device, a single-page app) cannot prove who it is: any program on the machine can
    // use its client id and a loopback redirect on any port. Its remembered consent is never reused silently
    // (RFC 8252 §8.6): the person is asked every time, and `prompt=none` cannot be answered for it.
    let remembered = consented.as_ref().is_some_and(|c| scopes.is_subset_of(c)) && client.is_confidential();
    if pending.prompt_consent || !remembered {
        if pending.prompt_none {
            let why = if client.is_confidential() {
                "The person has not agreed to what the app asks for."
            } else {
                "A public client's sign-in always asks the person."
            };
            return back(to_app("consent_required", why));
        }
        // Letting an app change things needs a recent confirmation: asked for before the question, not after.
        if needs_confirmation(&scopes) {
            match step_up::require(&state.db, &signed_in.session).await {
                Ok(_) => {}
                Err(AppError::ConfirmIdentity) => {
                    return match keep(session, &pending).await {
                        Ok(id) => Redirect::to(&format!("/confirm?next={}", encode(&resume_path(&id)))).into_response(),
                        Err(error) => internal(&error),
                    };
                }
                Err(error) => return internal(&error),
            }
        }
        return match keep(session, &pending).await {
            Ok(id) => consent_page(&client, &scopes, &id, &pending.redirect_uri),
            Err(error) => internal(&error),
        };
    }
    issue_code(state, signed_in, &facts, &pending).await
}

/// What the code and the ID token say about how the person signed in.
pub(super) struct SessionFacts {
    /// When they last proved who they are: signing in, or confirming it since.
    pub auth_time: i64,
    pub amr: Vec<String>,
}

impl SessionFacts {
    /// What the session's row records of how it was authenticated: its own methods (RFC 8176), never whether the
    /// account has an authenticator.
    pub(super) async fn read(state: &AppState, signed_in: &SignedIn) -> Result<Self, sqlx::Error> {
        let assurance = session::Assurance::of(&state.db, &signed_in.session.session_id).await?;
        Ok(assurance.map_or(Self { auth_time: 0, amr: Vec::new() }, |found| Self {
            auth_time: found.auth_time(),
            amr: found.amr,
        }))
    }
}

/// The scopes the person agreed to for this app before, if any.
async fn consented(state: &AppState, user_id: &str, client_id: &str) -> Result<Option<Scopes>, sqlx::Error> {
    let scopes: Option<String> = on!(&state.db, pool => sqlx::query_scalar(
        "SELECT scopes FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await)?;
    Ok(scopes.map(|s| Scopes::from_stored(&s)))
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    /// A request kept in this browser's signed-in session.
    request: Option<String>,
    /// A request carried through sign-in in the URL, sealed.
    sealed: Option<String>,
}

/// `GET /oauth/authorize/resume?request=…` (or `?sealed=…`): back from signing in or confirming.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
    caller: Caller,
    Query(query): Query<ResumeQuery>,
) -> Response {
    let found = match (query.request, query.sealed) {
        (Some(id), _) => take(&session, &id, false).await,
        (None, Some(sealed)) => Ok(unseal(&state, &sealed)),
        (None, None) => Ok(None),
    };
    match found {
        Ok(Some(pending)) => proceed(&state, &session, &caller, pending).await,
        Ok(None) => expired_request(),
        Err(error) => internal(&error),
    }
}

/// What the sealed request is bound to.
const SEALED_FOR: &str = "oauth authorize";

/// A request as the URL carries it: sealed with `SECRET_KEY` (so it can be neither read nor altered), base64url.
fn seal(state: &AppState, pending: &Pending) -> String {
    state.sealer.seal_token(Purpose::PendingAuthorization, SEALED_FOR, pending)
}

/// The request a sealed parameter carries, if it is ours, intact and not expired.
fn unseal(state: &AppState, sealed: &str) -> Option<Pending> {
    let pending: Pending = state.sealer.open_token(Purpose::PendingAuthorization, SEALED_FOR, sealed, MAX_LEN)?;
    (clock::now() - pending.created_at < PENDING_LIFETIME_SECS).then_some(pending)
}

#[derive(Deserialize)]
pub struct Decision {
    request: String,
    decision: String,
}

/// `POST /oauth/authorize/decision`: the consent page's answer.
pub async fn decision(
    State(state): State<AppState>,
    session: Session,
    caller: Caller,
    client_info: ClientInfo,
    Form(form): Form<Decision>,
) -> Response {
    let Some(signed_in) = caller.signed_in() else {
        return Redirect::to("/login").into_response();
    };
    let pending = match take(&session, &form.request, true).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired_request(),
        Err(error) => return internal(&error),
    };
    if form.decision != "allow" {
        let error = to_app("access_denied", "The person did not allow the app in.");
        return redirect_error(&state, &pending.redirect_uri, &error, pending.state.as_deref());
    }
    let facts = match SessionFacts::read(&state, signed_in).await {
        Ok(facts) => facts,
        Err(error) => return internal(&error),
    };
    let scopes = Scopes::from_stored(&pending.scopes);
    match remember_consent(&state, &signed_in.session, &pending.client_id, &scopes, &client_info).await {
        Ok(()) => {}
        // The confirmation ran out while the consent page was open.
        Err(AppError::ConfirmIdentity) => return confirm_again(),
        Err(error) => return internal(&error),
    }
    issue_code(&state, signed_in, &facts, &pending).await
}

/// Whether letting an app have `scopes` needs a recent confirmation of identity: any of them can change things.
pub(super) fn needs_confirmation(scopes: &Scopes) -> bool {
    scopes.iter().any(|s| s.writes())
}

/// Records the consent (widening a remembered one to cover what was just allowed). Scopes that can change things are
/// given only by a session that confirmed who is at the keyboard in the last ten minutes, like write tokens.
pub(super) async fn remember_consent(
    state: &AppState,
    session: &AuthSession,
    client_id: &str,
    allowed: &Scopes,
    who: &ClientInfo,
) -> Result<(), AppError> {
    if needs_confirmation(allowed) {
        step_up::require(&state.db, session).await?;
    }
    let user_id = &session.user_id;
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    let before: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "SELECT scopes FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(conn)
    .await)?;
    let scopes = allowed.union(&Scopes::from_stored(before.as_deref().unwrap_or_default()));
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(scopes.to_string())
    .bind(now)
    .execute(conn)
    .await
    .map(drop))?;
    let name: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar("SELECT name FROM oauth_clients WHERE id = $1")
        .bind(client_id)
        .fetch_optional(conn)
        .await)?;
    let detail = json!({ "client": client_id, "name": name, "scope": allowed.to_string() });
    audit::record(tx.as_exec(), Event::AppAuthorized, Some(user_id), who, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Stores a single-use code and sends the person back to the app with it.
async fn issue_code(state: &AppState, signed_in: &SignedIn, facts: &SessionFacts, pending: &Pending) -> Response {
    let code = new_secret(CODE_PREFIX);
    let now = clock::now();
    let stored = on!(&state.db, pool => sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, session_id, redirect_uri, scopes, nonce, code_challenge,
                                  auth_time, amr, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(hash(&code))
    .bind(&pending.client_id)
    .bind(&signed_in.session.user_id)
    .bind(&signed_in.session.session_id)
    .bind(&pending.redirect_uri)
    .bind(&pending.scopes)
    .bind(&pending.nonce)
    .bind(&pending.code_challenge)
    .bind(facts.auth_time)
    .bind(facts.amr.join(" "))
    .bind(now)
    .bind(now + CODE_LIFETIME_SECS)
    .execute(pool)
    .await
    .map(drop));
    if let Err(error) = stored {
        return internal(&error);
    }
    let mut url = Url::parse(&pending.redirect_uri).expect("registered redirect URIs parse");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(app_state) = &pending.state {
            query.append_pair("state", app_state);
        }
        query.append_pair("iss", &jwt::issuer(state));
    }
    Redirect::to(url.as_str()).into_response()
}

/// Sends an error back to the app: `error`, `error_description`, `state` and `iss` (RFC 9207).
fn redirect_error(state: &AppState, redirect_uri: &str, error: &ToApp, app_state: Option<&str>) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return refuse_here("The app's address cannot be used.");
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("error", error.error);
        query.append_pair("error_description", &error.description);
        if let Some(app_state) = app_state {
            query.append_pair("state", app_state);
        }
        query.append_pair("iss", &jwt::issuer(state));
    }
    Redirect::to(url.as_str()).into_response()
}

type PendingMap = BTreeMap<String, Pending>;

/// Keeps a request in the browser's session under a new id (dropping expired ones, and the oldest beyond a few).
async fn keep(session: &Session, pending: &Pending) -> Result<String, tower_sessions::session::Error> {
    let mut map: PendingMap = session.get(PENDING_KEY).await?.unwrap_or_default();
    let now = clock::now();
    map.retain(|_, p| now - p.created_at < PENDING_LIFETIME_SECS);
    while map.len() >= MAX_PENDING {
        let oldest = map.iter().min_by_key(|(_, p)| p.created_at).map(|(id, _)| id.clone());
        if let Some(oldest) = oldest {
            map.remove(&oldest);
        }
    }
    let id = clock::random_token(16);
    map.insert(id.clone(), pending.clone());
    session.insert(PENDING_KEY, map).await?;
    Ok(id)
}

/// The request kept under `id`, if it has not expired; `remove` takes it out (it is answered).
async fn take(session: &Session, id: &str, remove: bool) -> Result<Option<Pending>, tower_sessions::session::Error> {
    let mut map: PendingMap = session.get(PENDING_KEY).await?.unwrap_or_default();
    let found = if remove { map.remove(id) } else { map.get(id).cloned() };
    if remove {
        session.insert(PENDING_KEY, map).await?;
    }
    Ok(found.filter(|p| clock::now() - p.created_at < PENDING_LIFETIME_SECS))
}

fn resume_path(id: &str) -> String {
    format!("/oauth/authorize/resume?request={id}")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn confirm_again() -> Response {
    let mut response = error_page::render(
        "Please confirm it's you again",
        "Letting an app change things in your account needs a recent confirmation, and yours ran out while the \
         question was open. Nothing was shared with the app: go back to it and start again.",
        ("Go to Gatehouse", "/"),
    );
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

fn expired_request() -> Response {
    let mut response = error_page::render(
        "This sign-in request has expired",
        "Go back to the app and start signing in again.",
        ("Go to Gatehouse", "/"),
    );
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "authorization request failed");
    let mut response = error_page::render(
        "Something went wrong",
        "Gatehouse could not finish this request. Nothing was shared with the app; please try again.",
        ("Go to Gatehouse", "/"),
    );
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// The consent page: the app's name, where it will send the person, and each scope in words. A plain form, so it
/// works without JavaScript; its policy lets that form's answer redirect to the app (Chromium applies `form-action`
/// to every hop of a form's redirects).
fn consent_page(client: &clients::Client, scopes: &Scopes, request: &str, redirect_uri: &str) -> Response {
    let destination = Url::parse(redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let body = format!(
        r#"<section class="card narrow" aria-labelledby="consent-title">
<h1 id="consent-title">Allow <span data-testid="consent-app">{name}</span> to use your Gatehouse account?</h1>
{unverified}
<p>It will be able to:</p>
{scopes}
<p class="muted">You will be sent back to <strong>{destination}</strong>. You can revoke this at any time on your <a href="/apps">Apps</a> page.</p>
<form method="post" action="/oauth/authorize/decision" class="button-row">
<input type="hidden" name="request" value="{request}">
{buttons}
</form>
</section>"#,
        name = escape(&client.name),
        unverified = page::unverified_notice(client),
        scopes = page::scope_list(scopes),
        buttons = page::DECISION_BUTTONS,
        destination = escape(&destination),
        request = escape(request),
    );
    error_page::page(
        &format!("Allow {}?", client.name),
        &body,
        Some(&destination).filter(|d| !d.is_empty()).map(String::as_str),
    )
}
