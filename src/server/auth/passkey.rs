//! The passkey routes, JSON both ways, for the login page's script and the profile's:
//!
//! - `POST /auth/passkey/options` `{"for": "sign_in" | "second_step" | "confirm", "email"?}`: a ceremony's options
//!   (`{"publicKey": …, "ceremony": "…"}`) for `navigator.credentials.get`;
//! - `POST /auth/passkey/finish` `{"ceremony", "credential", "next"?, "remember"?}`: the answer; signs in, passes
//!   the second step or confirms it is you, and says where to go (`{"redirect": "/…"}`);
//! - `POST /auth/passkey/register/options` and `POST /auth/passkey/register` `{"ceremony", "credential", "name"?}`:
//!   adding a passkey to the signed-in person's account (after a recent confirmation of identity);
//! - `POST /auth/passkey/sign-up/options` `{"link"}` and `POST /auth/passkey/sign-up` `{"ceremony", "credential",
//!   "remember"?}`: creating an account with a passkey, from the link mailed by the sign-up form (signs it in);
//! - `POST /auth/passkey/recover/options` `{"link", "code"?}` and `POST /auth/passkey/recover` `{"link",
//!   "ceremony", "credential"}`: adding a new passkey from a reset link; 400 `code_needed` first when the account
//!   has two-step verification on and no code was given.
//!
//! Errors are the API's shape (`{"error", "message"}`) with its statuses. Each handler authenticates, calls one
//! service in `people::passkeys`, and maps the outcome.

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use crate::model::error::AppError;
use crate::server::{
    api::ApiError,
    auth::redirect::RedirectTarget,
    people::{
        local_accounts,
        passkeys::{self, Who},
        session::{self, Caller, ClientInfo, Keep, PASSKEY},
        step_up::{self, Proof},
    },
    state::AppState,
};

/// The largest request these routes read: an answer with its attestation is a few kilobytes.
const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/passkey/options", post(options))
        .route("/auth/passkey/finish", post(finish))
        .route("/auth/passkey/register/options", post(register_options))
        .route("/auth/passkey/register", post(register))
        .route("/auth/passkey/sign-up/options", post(sign_up_options))
        .route("/auth/passkey/sign-up", post(sign_up))
        .route("/auth/passkey/recover/options", post(recover_options))
        .route("/auth/passkey/recover", post(recover))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// What a ceremony is for.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum For {
    #[default]
    SignIn,
    SecondStep,
    Confirm,
}

#[derive(Debug, Default, Deserialize)]
struct OptionsRequest {
    #[serde(rename = "for", default)]
    purpose: For,
    /// For a sign-in: the address typed first, if any (then only that account's passkeys may answer).
    #[serde(default)]
    email: Option<String>,
}

/// The longest address read (RFC 5321's limit on a path).
const MAX_EMAIL: usize = 254;

async fn options(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
    body: Option<Json<OptionsRequest>>,
) -> Result<Json<passkeys::Options>, ApiError> {
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let who = match request.purpose {
        For::SignIn => match request.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => Who::Anyone,
            Some(email) if email.len() > MAX_EMAIL => {
                return Err(AppError::Invalid("That email address is too long.".into()).into());
            }
            Some(email) => return Ok(Json(passkeys::start_for_address(&state, email).await?)),
        },
        For::SecondStep => {
            let challenge = session::challenge(&session).await.map_err(ApiError::internal)?;
            let challenge = challenge.ok_or_else(|| AppError::Invalid(SIGN_IN_EXPIRED.into()))?;
            Who::SecondStep { user_id: challenge.user_id }
        }
        For::Confirm => {
            let signed_in = caller.signed_in().ok_or(AppError::Unauthorized)?;
            Who::Confirm {
                user_id: signed_in.session.user_id.clone(),
                session_id: signed_in.session.session_id.clone(),
            }
        }
    };
    Ok(Json(passkeys::start_authentication(&state, who).await?))
}

const SIGN_IN_EXPIRED: &str = "This sign-in has expired or was already finished. Please sign in again.";

#[derive(Debug, Deserialize)]
struct FinishRequest {
    ceremony: String,
    credential: Value,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    remember: bool,
}

async fn finish(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    session: Session,
    Json(request): Json<FinishRequest>,
) -> Result<Json<Value>, ApiError> {
    let (who, user_id, passed) =
        passkeys::finish_authentication(&state, &request.ceremony, request.credential, &client).await?;
    let internal = |e: session::SessionError| ApiError::internal(e);
    let next = match who {
        Who::Anyone | Who::Named { .. } => {
            // A user-verifying passkey is two factors on its own: no second step is asked.
            let keep = Keep::remembered(request.remember);
            let auth = local_accounts::record_sign_in(
                &state,
                &user_id,
                session::FirstStep::local(PASSKEY),
                Some(passed.factor()),
                &client,
                keep,
            )
            .await?;
            session::start(&session, &state.cache, &state.config.sessions, &auth, keep).await.map_err(internal)?;
            tracing::info!(%user_id, "signed in with a passkey");
            RedirectTarget::parse_or_default(request.next.as_deref())
        }
        Who::SecondStep { user_id } => {
            let challenge = session::challenge(&session).await.map_err(internal)?;
            let challenge =
                challenge.filter(|c| c.user_id == user_id).ok_or_else(|| AppError::Invalid(SIGN_IN_EXPIRED.into()))?;
            let auth = local_accounts::record_sign_in(
                &state,
                &challenge.user_id,
                challenge.first_step(),
                Some(passed.factor()),
                &client,
                challenge.keep,
            )
            .await?;
            session::start(&session, &state.cache, &state.config.sessions, &auth, challenge.keep)
                .await
                .map_err(internal)?;
            RedirectTarget::parse_or_default(Some(&challenge.next))
        }
        Who::Confirm { session_id, .. } => {
            let signed_in = caller.signed_in().ok_or(AppError::Unauthorized)?;
            if signed_in.session.session_id != session_id {
                return Err(AppError::Invalid("This confirmation was started in another session.".into()).into());
            }
            step_up::record(&state, &signed_in.session, Proof::Code(passed.factor()), &client).await?;
            RedirectTarget::parse_or_default(request.next.as_deref().or(Some("/profile")))
        }
    };
    Ok(Json(json!({ "redirect": next.as_str() })))
}

/// Options to add a passkey; 403 `confirm_identity` when the session has not confirmed it is you lately.
async fn register_options(State(state): State<AppState>, caller: Caller) -> Result<Json<passkeys::Options>, ApiError> {
    let signed_in = caller.signed_in().ok_or(AppError::Unauthorized)?;
    let confirmed = step_up::require(&state.db, &signed_in.session).await?;
    Ok(Json(passkeys::start_registration(&state, &confirmed).await?))
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    ceremony: String,
    credential: Value,
    #[serde(default)]
    name: String,
}

/// Adds the passkey: 201 with it as the profile lists it.
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Json(request): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let signed_in = caller.signed_in().ok_or(AppError::Unauthorized)?;
    let confirmed = step_up::require(&state.db, &signed_in.session).await?;
    let added = passkeys::finish_registration(
        &state,
        &confirmed,
        &request.ceremony,
        request.credential,
        &request.name,
        &client,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// The longest emailed link token read back (a reset link's is 43 characters, a sign-up link's a few hundred).
const MAX_LINK: usize = 2048;

fn link_of(link: &str) -> Result<&str, ApiError> {
    match link.len() {
        0 => Err(AppError::Invalid("This page needs the link from your email.".into()).into()),
        n if n > MAX_LINK => Err(AppError::Invalid("This link does not work.".into()).into()),
        _ => Ok(link),
    }
}

#[derive(Debug, Deserialize)]
struct SignUpOptionsRequest {
    #[serde(default)]
    link: String,
}

/// Options to make the passkey of the account a sign-up link asks for.
async fn sign_up_options(
    State(state): State<AppState>,
    Json(request): Json<SignUpOptionsRequest>,
) -> Result<Json<passkeys::Options>, ApiError> {
    Ok(Json(local_accounts::start_passkey_sign_up(&state, link_of(&request.link)?).await?))
}

#[derive(Debug, Deserialize)]
struct SignUpRequest {
    ceremony: String,
    credential: Value,
    #[serde(default)]
    remember: bool,
}

/// Creates the account with its passkey, signs it in, and sends the person to their profile (where a second
/// passkey, on another device, is one button away).
async fn sign_up(
    State(state): State<AppState>,
    client: ClientInfo,
    session: Session,
    Json(request): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    let keep = Keep::remembered(request.remember);
    let auth =
        local_accounts::finish_passkey_sign_up(&state, &request.ceremony, request.credential, &client, keep).await?;
    session::start(&session, &state.cache, &state.config.sessions, &auth, keep).await.map_err(ApiError::internal)?;
    let body = json!({ "redirect": "/profile?passkey=created#passkeys-title" });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
struct RecoverOptionsRequest {
    #[serde(default)]
    link: String,
    #[serde(default)]
    code: Option<String>,
}

/// Options to add a passkey from a reset link; 400 `code_needed` when the account has two-step verification on and
/// no code came with the request.
async fn recover_options(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<RecoverOptionsRequest>,
) -> Result<Json<passkeys::Options>, ApiError> {
    let link = link_of(&request.link)?;
    match local_accounts::start_passkey_recovery(&state, link, request.code.as_deref(), &client).await? {
        local_accounts::Recovery::Options(options) => Ok(Json(options)),
        local_accounts::Recovery::CodeNeeded => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "code_needed",
            "Your account has two-step verification: enter a code from your authenticator app, or one of your \
             recovery codes, then add the passkey.",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct RecoverRequest {
    #[serde(default)]
    link: String,
    ceremony: String,
    credential: Value,
}

/// Adds the new passkey; everything else of the person's ends, and they sign in with it.
async fn recover(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<RecoverRequest>,
) -> Result<Json<Value>, ApiError> {
    let link = link_of(&request.link)?;
    local_accounts::finish_passkey_recovery(&state, link, &request.ceremony, request.credential, &client).await?;
    Ok(Json(json!({ "redirect": "/login?recovered=1" })))
}
