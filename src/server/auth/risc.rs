//! `POST /auth/risc/google`: Google's Cross-Account Protection (RISC). Google pushes Security Event Tokens (RFC 8417,
//! push delivery RFC 8935) when something happens to a Google account that signs in here: its sessions or tokens were
//! revoked, it was disabled (perhaps because it was hijacked), its owner must change their credentials.
//!
//! A token is checked against Google's RISC configuration (`{GOOGLE_ISSUER_URL}/.well-known/risc-configuration`,
//! fetched once and kept, with the keys it names; an unknown `kid` refetches them, at most once a minute): an
//! asymmetric signature by one of those keys, `iss` the configuration's issuer, `aud` our Google client id, `iat` not
//! in the future and at most a week old, a `jti` (used once, on every instance), and events. Then each event acts, in
//! one transaction with the `jti`:
//! - `sessions-revoked`, `tokens-revoked`: the person's Gatehouse sessions from Google end (and the app
//!   authorizations bound to them, with back-channel logout to those apps);
//! - `account-disabled` with reason `hijacking`: everything of the person ends — every session, personal access
//!   token and app authorization — the account is marked for an administrator's attention, and the owner is mailed;
//! - `account-credential-change-required`: the person's sessions from Google lose their recent confirmation (the
//!   next sensitive change asks them to sign in at Google again), and the owner is mailed;
//! - `token-revoked` (a refresh token Gatehouse keeps, named by its prefix or its hash): the kept tokens go;
//! - `account-disabled` (another reason), `account-enabled`: recorded;
//! - `verification`: answered.
//!
//! Every event about a person is in their activity and the audit chain (`provider_security_event`). Answers (RFC 8935
//! §2.2–2.3): 202 for a token accepted, or one already received (Google sends again what it did not see accepted);
//! 400 with `{"err": …, "description": …}` otherwise; never cached. On with `GOOGLE_RISC=true`.

use std::time::Duration;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::{
    auth::{
        capped, connections,
        logout_token::MAX_TOKEN_LEN,
        transmitter::{LEEWAY_SECS, MAX_AGE_SECS, Refusal, Set},
    },
    oauth::wire::no_store,
    people::{
        revocation::{self, Which},
        security_mail::{self, Change},
        session::{self, ClientInfo},
    },
    platform::{
        clock,
        db::on,
        single_use::{self, Kind},
    },
    security::audit::{self, Event},
    state::AppState,
};

/// The provider whose events these are.
pub const GOOGLE: &str = "google";

const SESSIONS_REVOKED: &str = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
const TOKENS_REVOKED: &str = "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
const TOKEN_REVOKED: &str = "https://schemas.openid.net/secevent/oauth/event-type/token-revoked";
const ACCOUNT_DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const ACCOUNT_ENABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
const CREDENTIAL_CHANGE_REQUIRED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/risc/event-type/verification";

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/risc/google", post(receive)).layer(DefaultBodyLimit::max(MAX_TOKEN_LEN + 1024))
}

/// RFC 8935 §2: the body is the token itself, `application/secevent+jwt`.
async fn receive(State(state): State<AppState>, client: ClientInfo, headers: HeaderMap, body: Bytes) -> Response {
    let Some(transmitter) = state.providers.risc() else {
        return Refusal { status: StatusCode::NOT_FOUND, err: "access_denied", description: "RISC is off".into() }
            .into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("application/secevent+jwt") {
        return Refusal::new("invalid_request", "the body must be application/secevent+jwt").into_response();
    }
    let Ok(token) = std::str::from_utf8(&body) else {
        return Refusal::new("invalid_request", "the body is not a JWT").into_response();
    };
    let set = match transmitter.verify(token.trim()).await {
        Ok(set) => set,
        Err(refusal) => {
            tracing::warn!(err = refusal.err, reason = refusal.description, "security event token refused");
            state.metrics.security_event(GOOGLE, "refused");
            return refusal.into_response();
        }
    };
    match act(&state, &set, &client).await {
        Ok(Acted::New(kinds)) => {
            tracing::info!(events = ?kinds, "Google security event received");
            state.metrics.security_event(GOOGLE, "accepted");
            (StatusCode::ACCEPTED, no_store()).into_response()
        }
        Ok(Acted::Again) => (StatusCode::ACCEPTED, no_store()).into_response(),
        Err(error) => {
            tracing::error!(%error, "acting on a Google security event failed");
            Refusal::unavailable().into_response()
        }
    }
}

enum Acted {
    New(Vec<String>),
    /// The same `jti` was received before: nothing done again.
    Again,
}

/// What happened after the transaction, to be told.
enum Tell {
    Owner(String, Change),
    Forget(String),
    Ended(String, revocation::Ended),
}

async fn act(state: &AppState, set: &Set, client: &ClientInfo) -> Result<Acted, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let remember_until = set.issued_at + MAX_AGE_SECS + LEEWAY_SECS;
    if !single_use::first_use_in(tx.as_exec(), Kind::SecurityEvent(GOOGLE), &set.jti, remember_until).await? {
        return Ok(Acted::Again);
    }
    let mut kinds = Vec::new();
    let mut after = Vec::new();
    for (event_type, event) in &set.events {
        let kind = event_type.rsplit('/').next().unwrap_or(event_type).to_owned();
        kinds.push(kind.clone());
        if event_type == VERIFICATION {
            tracing::info!(state = event["state"].as_str().unwrap_or_default(), "Google RISC verification event");
            continue;
        }
        // A kept refresh token Google revoked: named by the token, not the person.
        if event_type == TOKEN_REVOKED && event["subject"]["subject_type"] == "oauth_token" {
            let (alg, named) = (event["subject"]["token_identifier_alg"].as_str(), event["subject"]["token"].as_str());
            let (Some(alg), Some(named)) = (alg, named) else { continue };
            let holders = connections::holders_of(state, GOOGLE, |token| names_token(alg, named, token)).await?;
            for user_id in holders {
                on!(tx.as_exec(), conn => sqlx::query("DELETE FROM provider_tokens WHERE user_id = $1 AND provider = $2")
                    .bind(&user_id)
                    .bind(GOOGLE)
                    .execute(conn)
                    .await
                    .map(drop))?;
                let detail = json!({ "provider": GOOGLE, "event": kind });
                audit::record(tx.as_exec(), Event::ProviderSecurityEvent, Some(&user_id), client, detail).await?;
            }
            continue;
        }
        // Whose: an `iss-sub` subject (Google's own id for the person).
        let subject = event["subject"]["sub"].as_str().filter(|_| event["subject"]["subject_type"] == "iss-sub");
        let Some(subject) = subject else { continue };
        let owner: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
            "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
        )
        .bind(GOOGLE)
        .bind(subject)
        .fetch_optional(conn)
        .await)?;
        let Some(user_id) = owner else { continue };
        let reason = event["reason"].as_str().unwrap_or_default();
        let mut detail = json!({ "provider": GOOGLE, "event": kind });
        match event_type.as_str() {
            SESSIONS_REVOKED | TOKENS_REVOKED => {
                let ended = session::end_from_provider(tx.as_exec(), GOOGLE, Some(subject), None).await?;
                detail["sessions"] = json!(ended.len());
                after.extend(ended.into_iter().map(|(session_id, _)| Tell::Forget(session_id)));
            }
            ACCOUNT_DISABLED if reason == "hijacking" => {
                let ended = revocation::end(tx.as_exec(), &user_id, Which::Everything).await?;
                on!(tx.as_exec(), conn => sqlx::query(
                    "UPDATE users SET attention = 'google_hijacking', attention_at = $1 WHERE id = $2",
                )
                .bind(clock::now())
                .bind(&user_id)
                .execute(conn)
                .await
                .map(drop))?;
                detail["reason"] = json!(reason);
                detail["sessions"] = json!(ended.sessions);
                after.push(Tell::Ended(user_id.clone(), ended));
                after.push(Tell::Owner(user_id.clone(), Change::ProviderAccountHijacked("Google".into())));
            }
            CREDENTIAL_CHANGE_REQUIRED => {
                on!(tx.as_exec(), conn => sqlx::query(
                    "UPDATE user_sessions SET confirmed_at = 0 WHERE user_id = $1 AND provider = $2",
                )
                .bind(&user_id)
                .bind(GOOGLE)
                .execute(conn)
                .await
                .map(drop))?;
                after.push(Tell::Owner(user_id.clone(), Change::ProviderAsksToReverify("Google".into())));
            }
            ACCOUNT_DISABLED | ACCOUNT_ENABLED | TOKEN_REVOKED => {
                if !reason.is_empty() {
                    detail["reason"] = json!(reason);
                }
            }
            _ => continue,
        }
        audit::record(tx.as_exec(), Event::ProviderSecurityEvent, Some(&user_id), client, detail).await?;
    }
    tx.commit().await?;
    for tell in after {
        match tell {
            Tell::Forget(session_id) => state.cache.forget_session(&session_id),
            Tell::Ended(user_id, ended) => ended.forget(&state.cache, &user_id),
            Tell::Owner(user_id, change) => {
                state.cache.forget_user(&user_id);
                security_mail::tell_owner(state, &user_id, change).await;
            }
        }
    }
    Ok(Acted::New(kinds))
}

/// Whether `named` identifies `token` the way Google's `token-revoked` says (`token_identifier_alg`): its first 16
/// characters (`prefix`), or its SHA-512 hashed twice, base64 (`hash_base64_sha512_sha512`).
fn names_token(alg: &str, named: &str, token: &str) -> bool {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use sha2::{Digest, Sha512};
    match alg {
        "prefix" => named.len() >= 16 && token.starts_with(named),
        "hash_base64_sha512_sha512" => STANDARD.encode(Sha512::digest(Sha512::digest(token.as_bytes()))) == named,
        _ => false,
    }
}

/// Every event type the receiver acts on, as `gatehouse risc register` asks Google for them.
const EVENTS_REQUESTED: [&str; 7] = [
    SESSIONS_REVOKED,
    TOKENS_REVOKED,
    TOKEN_REVOKED,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    CREDENTIAL_CHANGE_REQUIRED,
    VERIFICATION,
];

/// Google's RISC management API.
const RISC_API: &str = "https://risc.googleapis.com/v1beta";
const RISC_API_AUDIENCE: &str = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService";
const PUSH: &str = "https://schemas.openid.net/secevent/risc/delivery-method/push";

/// The parts of a service account's JSON key the registration needs.
#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    private_key_id: String,
}

/// `gatehouse risc register`: asks Google (as the service account in `key_file`) to push every event type the
/// receiver acts on to `{app_url}/auth/risc/google`, then to send a verification event. Needs Google: untested here.
pub async fn register(app_url: &str, key_file: &str) -> Result<String, String> {
    if !app_url.starts_with("https://") {
        return Err(format!("APP_URL must be https for Google to push events to it, got {app_url}"));
    }
    let raw =
        std::fs::read(key_file).map_err(|e| format!("GOOGLE_SERVICE_ACCOUNT_FILE: cannot read {key_file}: {e}"))?;
    let account: ServiceAccount = serde_json::from_slice(&raw)
        .map_err(|e| format!("GOOGLE_SERVICE_ACCOUNT_FILE: not a service account's JSON key: {e}"))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
        .map_err(|e| format!("GOOGLE_SERVICE_ACCOUNT_FILE: its private_key is not an RSA key: {e}"))?;
    let now = clock::now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(account.private_key_id.clone());
    let claims = json!({
        "iss": account.client_email,
        "sub": account.client_email,
        "aud": RISC_API_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    });
    let bearer = jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing failed: {e}"))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let receiver = format!("{}/auth/risc/google", app_url.trim_end_matches('/'));
    let call = |path: &'static str, body: Value| {
        let request = http.post(format!("{RISC_API}/{path}")).bearer_auth(&bearer).json(&body);
        async move {
            let response = request.send().await.map_err(|e| format!("{path}: {}", capped::describe_reqwest(&e)))?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(format!("{path}: HTTP {status}: {}", text.chars().take(500).collect::<String>()));
            }
            Ok(())
        }
    };
    call(
        "stream:update",
        json!({ "delivery": { "delivery_method": PUSH, "url": receiver }, "events_requested": EVENTS_REQUESTED }),
    )
    .await?;
    let state = clock::random_token(12);
    call("stream:verify", json!({ "state": state })).await?;
    Ok(format!(
        "Google will push security events to {receiver}; a verification event with state {state} is on its way \
         (it shows in the log)"
    ))
}
