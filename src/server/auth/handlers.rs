//! The `/auth/*` handlers: `GET /auth/login/{provider}` (or a `POST` of the login page's password form),
//! `GET /auth/callback/{provider}`, `POST /auth/link/{provider}`, `GET /auth/confirm/{provider}` and
//! `POST /auth/logout`. Every failure creates no session and no user, answers 4xx with a page that says what went
//! wrong, and logs why (never a code or a token).

use axum::{
    Extension, Router,
    extract::{Form, Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::server::auth::{
    attempt::{self, LoginAttempt},
    connections,
    flow::{Answer, CallbackError},
    providers::ProviderError,
    redirect::RedirectTarget,
};
use crate::server::{
    people::{
        notices,
        security_mail::{self, Change},
        session::{self, Caller, ClientInfo},
        step_up::{self, Proof},
        users::{self, SignIn},
    },
    platform::{clock, metrics::Outcome},
    security::{
        audit::{self, Event},
        client_addr::ClientAddr,
        rate_limit,
    },
    state::AppState,
    web::error_page,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login/{provider}", get(login).post(login_form))
        .route("/auth/callback/{provider}", get(callback))
        .route("/auth/link/{provider}", post(link))
        .route("/auth/confirm/{provider}", get(confirm))
        .route("/auth/logout", post(logout))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    /// "Keep me signed in" (the login page's checkbox).
    remember: Option<String>,
}

/// Starts a sign-in: a fresh attempt in this browser's session, then 303 to the provider.
async fn login(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<LoginQuery>,
    session: Session,
) -> Response {
    let next = RedirectTarget::parse_or_default(query.next.as_deref());
    start(&state, provider, next, Mode::SignIn(session::Keep::chosen(query.remember.as_deref())), &session).await
}

/// The same from the login page's password form, whose provider buttons post it: the "Keep me signed in" box is
/// the form's one. Only `next` and `remember` are read; anything typed into the form's other fields is dropped.
async fn login_form(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    session: Session,
    Form(form): Form<LoginQuery>,
) -> Response {
    let next = RedirectTarget::parse_or_default(form.next.as_deref());
    start(&state, provider, next, Mode::SignIn(session::Keep::chosen(form.remember.as_deref())), &session).await
}

/// What a started attempt is for.
enum Mode {
    /// Sign in, for as long as chosen.
    SignIn(session::Keep),
    /// Attach the identity to this signed-in person.
    Link(String),
    /// This signed-in person confirms it is them by signing in at the provider again.
    Confirm(String),
}

/// Starts linking another provider to the signed-in person (a POST from the profile page, so another site cannot
/// start it). The callback attaches the identity instead of signing in.
async fn link(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    caller: Caller,
    session: Session,
) -> Response {
    if state.providers.label(&provider).is_none() {
        return unknown_provider();
    }
    match caller.signed_in() {
        Some(signed_in) => {
            // Adding a way into the account is a sensitive change.
            match step_up::require(&state.db, &signed_in.session).await {
                Ok(_) => {}
                Err(crate::model::error::AppError::ConfirmIdentity) => {
                    return Redirect::to("/confirm?next=%2Fprofile").into_response();
                }
                Err(error) => return failure_page(&CallbackError::Internal(error.to_string()), "Gatehouse"),
            }
            let next = RedirectTarget::parse_or_default(Some("/profile"));
            start(&state, provider, next, Mode::Link(signed_in.session.user_id.clone()), &session).await
        }
        None => Redirect::to("/login?next=%2Fprofile").into_response(),
    }
}

/// Starts confirming it is the signed-in person by signing in again at one of their providers (`/confirm`'s
/// buttons), asking the provider to check again (`prompt=login`). The callback records the confirmation.
async fn confirm(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<LoginQuery>,
    caller: Caller,
    session: Session,
) -> Response {
    let next = RedirectTarget::parse_or_default(query.next.as_deref().or(Some("/profile")));
    match caller.signed_in() {
        Some(signed_in) => {
            start(&state, provider, next, Mode::Confirm(signed_in.session.user_id.clone()), &session).await
        }
        None => Redirect::to("/login").into_response(),
    }
}

async fn start(state: &AppState, provider: String, next: RedirectTarget, mode: Mode, session: &Session) -> Response {
    let label = state.providers.label(&provider).unwrap_or("This provider").to_owned();
    let client = match state.providers.get(&provider).await {
        Ok(client) => client,
        Err(ProviderError::Unknown) => return failure_page(&CallbackError::UnknownProvider, &label),
        Err(ProviderError::Unavailable) => return failure_page(&CallbackError::ProviderUnavailable, &label),
    };
    let (link_to, confirm_for, keep) = match mode {
        Mode::SignIn(keep) => (None, None, keep),
        Mode::Link(user_id) => (Some(user_id), None, session::Keep::default()),
        Mode::Confirm(user_id) => (None, Some(user_id), session::Keep::default()),
    };
    let request = client.authorization_request(confirm_for.is_some());
    let attempt = LoginAttempt {
        provider,
        issuer: request.issuer,
        state: request.state,
        pkce_verifier: request.pkce_verifier,
        nonce: request.nonce,
        next,
        expires_at: clock::now() + state.config.sessions.login_attempt_lifetime.as_secs() as i64,
        link_to,
        confirm_for,
        started_at: clock::now(),
        keep,
    };
    if let Err(error) = attempt::store(session, attempt).await {
        return failure_page(&CallbackError::Internal(error.to_string()), &label);
    }
    Redirect::to(&request.url).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Finishes a sign-in. Only a response that passes every check creates a session.
async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    caller: Caller,
    session: Session,
    client: ClientInfo,
    addr: Option<Extension<ClientAddr>>,
) -> Response {
    // A provider that is not configured here is a 404 before anything is written or logged: the path segment is
    // the caller's, of any length, and nothing of it is worth keeping.
    let Some(label) = state.providers.label(&provider).map(str::to_owned) else { return unknown_provider() };
    match finish(&state, &provider, query, &caller, &session, &client).await {
        Ok(next) => Redirect::to(next.as_str()).into_response(),
        Err(Failed { error, user_id, linking }) => {
            tracing::warn!(provider, reason = %error, linking, "sign-in failed");
            if !linking {
                state.metrics.sign_in_failed(&provider, error.kind());
            }
            // A failure the caller caused counts against their address (enough of them block it). One nobody's
            // account is involved in is recorded only as the 1st, 2nd, 4th, 8th… from that address in the window,
            // with its number: a flood of forged callbacks adds a handful of rows, and still shows how many.
            let failures = match addr {
                Some(Extension(ClientAddr(ip))) if error.is_callers() => {
                    rate_limit::failed(&state.limiter, &state.db, ip, &client).await
                }
                _ => 0,
            };
            if user_id.is_some() || failures <= 1 || failures.is_power_of_two() {
                let mut detail = json!({ "provider": provider, "reason": error.kind() });
                if failures > 1 {
                    detail["repeated"] = json!(failures);
                }
                let event = if linking { Event::LinkFailed } else { Event::SignInFailed };
                if let Err(error) = audit::record_on(&state.db, event, user_id.as_deref(), &client, detail).await {
                    tracing::error!(%error, "could not record a failed sign-in");
                }
            }
            failure_page(&error, &label)
        }
    }
}

/// A failed callback, and whose account it concerns when that is known: the person linking, or the owner of the
/// email a new identity claimed. Their security activity shows it.
struct Failed {
    error: CallbackError,
    user_id: Option<String>,
    linking: bool,
}

impl From<CallbackError> for Failed {
    fn from(error: CallbackError) -> Self {
        Self { error, user_id: None, linking: false }
    }
}

async fn finish(
    state: &AppState,
    provider: &str,
    query: CallbackQuery,
    caller: &Caller,
    session: &Session,
    client_info: &ClientInfo,
) -> Result<RedirectTarget, Failed> {
    let internal = |e: &dyn std::fmt::Display| CallbackError::Internal(e.to_string());

    // 0. A provider that is not configured here: nothing to match, and this browser's attempts stay untouched.
    if state.providers.label(provider).is_none() {
        return Err(CallbackError::UnknownProvider.into());
    }
    // 1. This browser started this sign-in, recently, and it has not been used.
    let state_param = query.state.ok_or(CallbackError::MissingState)?;
    let attempt = attempt::take(session, provider, &state_param)
        .await
        .map_err(|e| internal(&e))?
        .map_err(CallbackError::Attempt)?;
    let linking = attempt.link_to.clone();
    let on_behalf = |error: CallbackError| Failed { error, user_id: linking.clone(), linking: linking.is_some() };
    let client = state.providers.get(provider).await.map_err(|_| on_behalf(CallbackError::ProviderUnavailable))?;

    // 2. The response comes from the issuer the attempt was sent to (RFC 9207), before anything in it is believed.
    match query.iss {
        Some(iss) if iss != attempt.issuer => return Err(CallbackError::IssuerMismatch { found: iss }.into()),
        None if client.requires_iss_parameter() => return Err(CallbackError::IssuerMissing.into()),
        _ => {}
    }

    // 3. The provider's own answer.
    if let Some(error) = query.error {
        return Err(on_behalf(CallbackError::Provider { error, description: query.error_description }));
    }
    let code = query.code.ok_or(CallbackError::MissingCode).map_err(on_behalf)?;
    let answer = client.finish(&code, &attempt).await.map_err(on_behalf)?;
    let identity = &answer.identity;

    // 4a. Link mode: attach the identity to the person who started linking, if they are still signed in here.
    if let Some(user_id) = &attempt.link_to {
        if caller.signed_in().is_none_or(|signed_in| &signed_in.session.user_id != user_id) {
            return Err(on_behalf(CallbackError::LinkSessionEnded));
        }
        let link = users::link(&state.db, user_id, identity).await.map_err(|e| internal(&e))?;
        if !matches!(link, users::Link::BelongsToAnother) {
            keep_tokens(state, user_id, provider, &answer).await;
        }
        match link {
            users::Link::Linked => {
                state.cache.forget_user(user_id);
                audit::record_on(
                    &state.db,
                    Event::IdentityLinked,
                    Some(user_id),
                    client_info,
                    json!({ "provider": provider }),
                )
                .await
                .map_err(|e| internal(&e))?;
                tracing::info!(provider, %user_id, "identity linked");
                let label = state.providers.label(provider).unwrap_or(provider).to_owned();
                security_mail::tell_owner(state, user_id, Change::ProviderLinked(label)).await;
            }
            users::Link::AlreadyLinked => {}
            users::Link::BelongsToAnother => return Err(on_behalf(CallbackError::LinkedElsewhere)),
        }
        return Ok(attempt.next);
    }

    // 4b. Confirm mode: the identity must be the signed-in person's own; then this session may make sensitive
    // changes for ten minutes.
    if let Some(user_id) = &attempt.confirm_for {
        let signed_in = caller.signed_in().filter(|s| &s.session.user_id == user_id);
        let Some(signed_in) = signed_in else { return Err(CallbackError::LinkSessionEnded.into()) };
        let owner = users::owner(&state.db, identity).await.map_err(|e| internal(&e))?;
        if owner.as_deref() != Some(user_id.as_str()) {
            return Err(Failed { error: CallbackError::NotYours, user_id: Some(user_id.clone()), linking: false });
        }
        step_up::record(state, &signed_in.session, Proof::Provider(provider), client_info)
            .await
            .map_err(|e| internal(&e))?;
        return Ok(attempt.next);
    }

    // 4c. The person, found or created, a session and the audit trail: written together or not at all. Then the
    // browser's cookie gets a fresh id that carries the session.
    let mut tx = state.db.begin_write().await.map_err(|e| internal(&e))?;
    let (user, created, two_step) = match users::sign_in(tx.as_exec(), identity).await.map_err(|e| internal(&e))? {
        SignIn::Existing { user, disabled: true, .. } => {
            return Err(Failed { error: CallbackError::AccountDisabled, user_id: Some(user.id), linking: false });
        }
        SignIn::Existing { user, two_step, .. } => (user, false, two_step),
        SignIn::Created(user) => (user, true, false),
        SignIn::EmailInUse { owner } => {
            return Err(Failed { error: CallbackError::EmailInUse, user_id: Some(owner), linking: false });
        }
    };
    // Two-step verification on: the provider's answer is only the first step. The browser gets a challenge (and no
    // session) until a code passes at /login/mfa.
    if two_step {
        tx.commit().await.map_err(|e| internal(&e))?;
        keep_tokens(state, &user.id, provider, &answer).await;
        let challenge = session::Challenge {
            user_id: user.id.clone(),
            provider: provider.to_owned(),
            at_provider: Some(answer.at_provider()),
            next: attempt.next.as_str().to_owned(),
            expires_at: clock::now() + state.config.sessions.login_attempt_lifetime.as_secs() as i64,
            keep: attempt.keep,
        };
        session::begin_challenge(session, &state.cache, challenge).await.map_err(|e| internal(&e))?;
        tracing::info!(provider, user_id = %user.id, "first step passed; asking for the second");
        state.metrics.sign_in(provider, Outcome::SecondStep);
        return Ok(RedirectTarget::parse_or_default(Some("/login/mfa")));
    }
    let at_provider = answer.at_provider();
    let first_step = session::FirstStep { method: provider, at_provider: Some(&at_provider) };
    let auth =
        session::record(tx.as_exec(), &state.config.sessions, &user.id, first_step, None, client_info, attempt.keep)
            .await
            .map_err(|e| internal(&e))?;
    if created {
        audit::record(
            tx.as_exec(),
            Event::AccountCreated,
            Some(&user.id),
            client_info,
            json!({ "provider": provider }),
        )
        .await
        .map_err(|e| internal(&e))?;
    }
    audit::record(tx.as_exec(), Event::SignIn, Some(&user.id), client_info, json!({ "provider": provider }))
        .await
        .map_err(|e| internal(&e))?;
    tx.commit().await.map_err(|e| internal(&e))?;
    state.metrics.sign_in(provider, Outcome::Success);
    keep_tokens(state, &user.id, provider, &answer).await;
    notices::after_sign_in(state, &user.id, &auth.session_id, client_info).await;
    session::start(session, &state.cache, &state.config.sessions, &auth, attempt.keep)
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(provider, user_id = %user.id, created, "signed in");
    Ok(attempt.next)
}

/// Keeps the person's tokens at the provider, when they are kept (`PROVIDER_TOKENS=keep`). A failure is logged: the
/// sign-in stands, and the connection shows as it was.
async fn keep_tokens(state: &AppState, user_id: &str, provider: &str, answer: &Answer) {
    let Some(tokens) = &answer.tokens else { return };
    if let Err(error) = connections::keep(state, user_id, provider, tokens).await {
        tracing::error!(%error, provider, %user_id, "could not keep the provider's tokens");
    }
}

/// Signs out: the session is deleted on the server, the cookie cleared, and the browser sent home.
async fn logout(State(state): State<AppState>, session: Session, client: ClientInfo) -> Response {
    match session::logout(&session, &state.db, &state.cache).await {
        Ok(user_id) => {
            if let Some(user_id) = user_id {
                let _ = audit::record_on(&state.db, Event::SignOut, Some(&user_id), &client, json!({})).await;
            }
            Redirect::to("/").into_response()
        }
        Err(error) => {
            tracing::error!(%error, "sign-out failed");
            failure_page(&CallbackError::Internal(error.to_string()), "Gatehouse")
        }
    }
}

fn unknown_provider() -> Response {
    failure_page(&CallbackError::UnknownProvider, "Gatehouse")
}

fn failure_page(failure: &CallbackError, label: &str) -> Response {
    let (title, message) = failure.explain(label);
    (failure.status(), error_page::render(&title, &message, ("Try again", "/login"))).into_response()
}
