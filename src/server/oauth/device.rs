//! Device authorization (RFC 8628), for command-line tools and devices without a browser: the tool gets a device
//! code and a short user code, the person types the user code at `/device` in a browser where they are signed in and
//! approves, and the tool, polling the token endpoint, gets its tokens.

use axum::{
    Form, Json,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::server::oauth::{
    authorize::{SessionFacts, remember_consent},
    clients::{self, Client},
    grants::{self, NewAuthorization},
    issue::{self, Exchanged, OAuthError, Tokens, client_request},
    page,
    scopes::Scopes,
    wire::{hash, new_secret, no_store},
};
use crate::server::{
    people::session::{Caller, ClientInfo},
    platform::{clock, db::on},
    security::lockout::{self, Key},
    state::AppState,
    web::error_page::{self, escape},
};

/// A device code lives this long: time to find a browser and type the code.
const LIFETIME_SECS: i64 = 600;
/// Polling faster than this (seconds) is answered `slow_down`, and the interval grows by five seconds each time.
const INTERVAL_SECS: i64 = 5;
/// User codes: eight letters without vowels (no words) or look-alikes, shown as `BCDF-GHJK`: 20^8 ≈ 2^34.6, and
/// guesses are throttled per person.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const DEVICE_CODE_PREFIX: &str = "gdc_";

fn user_code() -> String {
    let mut code = String::with_capacity(9);
    let mut buffer = [0u8; 32];
    getrandom::fill(&mut buffer).expect("the operating system's random source is available");
    // 240 = 12 × 20: rejection sampling keeps every letter equally likely.
    for byte in buffer.iter().filter(|b| **b < 240).take(8) {
        if code.len() == 4 {
            code.push('-');
        }
        code.push(USER_CODE_ALPHABET[usize::from(*byte % 20)] as char);
    }
    if code.len() < 9 { user_code() } else { code }
}

/// A typed user code, as stored: upper case, dash in the middle; spaces and dashes where people put them ignored.
fn normalize(typed: &str) -> Option<String> {
    let letters: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (letters.len() == 8 && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then(|| format!("{}-{}", &letters[..4], &letters[4..]))
}

/// `POST /oauth/device_authorization`: a device code for the tool, a user code for the person.
pub async fn device_authorization(
    State(state): State<AppState>,
    who: ClientInfo,
    headers: HeaderMap,
    body: String,
) -> Response {
    let result = async {
        let (params, client) = client_request(&state, &who, &headers, &body).await?;
        let get = |name: &str| params.get(name).map(String::as_str);
        let scopes =
            Scopes::parse(get("scope").unwrap_or_default()).map_err(|e| OAuthError::new("invalid_scope", e))?;
        if scopes.is_empty() {
            return Err(OAuthError::new("invalid_scope", "Ask for at least one scope."));
        }
        if let Some(scope) = scopes.iter().find(|s| !clients::allows(&client, *s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("This app may not ask for \u{201c}{}\u{201d}.", scope.as_str()),
            ));
        }
        let device_code = new_secret(DEVICE_CODE_PREFIX);
        let now = clock::now();
        // A clash of user codes (one in billions while few are pending) gets a fresh one.
        let mut code = user_code();
        for attempt in 0.. {
            let inserted = on!(&state.db, pool => sqlx::query(
                "INSERT INTO oauth_device_codes (device_code_hash, user_code, client_id, scopes, created_at, expires_at,
                                                 poll_interval)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(hash(&device_code))
            .bind(&code)
            .bind(&client.id)
            .bind(scopes.to_string())
            .bind(now)
            .bind(now + LIFETIME_SECS)
            .bind(INTERVAL_SECS)
            .execute(pool)
            .await
            .map(drop));
            match inserted {
                Ok(()) => break,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < 3 => code = user_code(),
                Err(error) => return Err(error.into()),
            }
        }
        let verification_uri = state.config.app_url.join("/device");
        Ok(json!({
            "device_code": device_code,
            "user_code": code,
            "verification_uri": verification_uri,
            "verification_uri_complete": format!("{verification_uri}?user_code={code}"),
            "expires_in": LIFETIME_SECS,
            "interval": INTERVAL_SECS,
        }))
    }
    .await;
    match result {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    client_id: String,
    scopes: String,
    expires_at: i64,
    poll_interval: i64,
    last_polled_at: Option<i64>,
    approved_by: Option<String>,
    session_id: Option<String>,
    auth_time: Option<i64>,
    amr: Option<String>,
    denied_at: Option<i64>,
    used_at: Option<i64>,
    authorization_id: Option<String>,
}

/// The token endpoint's device-code grant: `authorization_pending` until the person answers, `slow_down` when
/// polled too fast, `access_denied`, `expired_token`, or the tokens (once).
pub(super) async fn redeem(state: &AppState, client: &Client, device_code: Option<&str>) -> Result<Tokens, OAuthError> {
    let device_code = device_code.ok_or_else(|| OAuthError::invalid_request("device_code is missing."))?;
    let code_hash = hash(device_code);
    let row: Option<DeviceRow> = on!(&state.db, pool => sqlx::query_as(
        "SELECT client_id, scopes, expires_at, poll_interval, last_polled_at, approved_by, session_id, auth_time, amr,
                denied_at, used_at, authorization_id
         FROM oauth_device_codes WHERE device_code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(pool)
    .await)?;
    let row = row.ok_or_else(|| OAuthError::invalid_grant("The device code is unknown."))?;
    if row.client_id != client.id {
        return Err(OAuthError::invalid_grant("The device code was issued to another client."));
    }
    if row.used_at.is_some() {
        if let Some(authorization) = &row.authorization_id {
            grants::end_after_reuse(state, authorization, "device_code", &ClientInfo::default()).await?;
        }
        return Err(OAuthError::invalid_grant("The device code was already used; what it gave has been revoked."));
    }
    let now = clock::now();
    if row.expires_at <= now {
        return Err(OAuthError::new("expired_token", "The device code has expired: start again."));
    }
    if row.denied_at.is_some() {
        return Err(OAuthError::new("access_denied", "The person did not allow the device in."));
    }
    let (Some(user_id), Some(auth_time)) = (row.approved_by.as_deref(), row.auth_time) else {
        let too_fast = row.last_polled_at.is_some_and(|at| now - at < row.poll_interval);
        on!(&state.db, pool => sqlx::query(
            "UPDATE oauth_device_codes SET last_polled_at = $1, poll_interval = poll_interval + $2
             WHERE device_code_hash = $3",
        )
        .bind(now)
        .bind(if too_fast { INTERVAL_SECS } else { 0 })
        .bind(&code_hash)
        .execute(pool)
        .await
        .map(drop))?;
        return Err(if too_fast {
            OAuthError::new("slow_down", "Polling too fast: wait five seconds more between requests.")
        } else {
            OAuthError::new("authorization_pending", "The person has not answered yet.")
        });
    };
    let scopes = Scopes::from_stored(&row.scopes);
    let amr: Vec<String> = row.amr.as_deref().unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let mut tx = state.db.begin_write().await?;
    let sql = "UPDATE oauth_device_codes SET used_at = $1 WHERE device_code_hash = $2 AND used_at IS NULL";
    if !grants::use_once(tx.as_exec(), sql, &code_hash, now).await? {
        return Err(OAuthError::invalid_grant("The device code was already used."));
    }
    let new = NewAuthorization {
        client_id: &client.id,
        user_id,
        session_id: row.session_id.as_deref(),
        scopes: &scopes,
        auth_time,
        amr: &amr,
    };
    let exchanged = Exchanged {
        sql: "UPDATE oauth_device_codes SET authorization_id = $1 WHERE device_code_hash = $2",
        key: &code_hash,
    };
    issue::complete(state, tx, client, &new, exchanged, None).await
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// `GET /device`: the form for the user code (filled in from `?user_code=`). Behind sign-in, like every account page.
pub async fn form(Query(query): Query<DeviceQuery>) -> Response {
    code_form(query.user_code.as_deref().and_then(normalize).as_deref(), None)
}

fn code_form(code: Option<&str>, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!(r#"<p class="field-error" role="alert" data-testid="device-error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<section class="card narrow" aria-labelledby="device-title">
<h1 id="device-title">Connect a device</h1>
<p>Type the code your device or command-line tool shows.</p>
<form method="post" action="/device" class="stacked-form">
<label for="user-code">Code</label>
<input id="user-code" name="user_code" value="{code}" autocomplete="off" autocapitalize="characters" spellcheck="false"
 inputmode="text" required maxlength="16" placeholder="BCDF-GHJK" data-testid="device-code">
{error}
<button type="submit" class="button" data-testid="device-continue">Continue</button>
</form>
</section>"#,
        code = escape(code.unwrap_or_default()),
    );
    let mut response = error_page::page("Connect a device", &body, None);
    if !error.is_empty() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

#[derive(Deserialize)]
pub struct CodeForm {
    user_code: String,
    /// `allow` or `deny` once the person has seen what the device asks for; absent when they typed the code.
    decision: Option<String>,
}

/// `POST /device`: the typed code, then the person's answer. Wrong codes count against the person (five in fifteen
/// minutes, then a pause), so the eight letters cannot be guessed from here.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    who: ClientInfo,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(signed_in) = caller.signed_in() else {
        return axum::response::Redirect::to("/login?next=%2Fdevice").into_response();
    };
    let user_id = &signed_in.session.user_id;
    let key = Key::DeviceCode(user_id.clone());
    let guess = match lockout::admit(&state.db, std::slice::from_ref(&key)).await {
        Ok(Ok(guess)) => guess,
        Ok(Err(locked)) => {
            let message = format!("Too many wrong codes. Wait {} seconds and try again.", locked.retry_after);
            let mut response = code_form(None, Some(&message));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            return response;
        }
        Err(error) => return failed(&error),
    };
    let pending = match pending(&state, &form.user_code).await {
        Ok(pending) => pending,
        Err(error) => return failed(&error),
    };
    let Some((code, client, scopes)) = pending else {
        // Counted already: a wrong code's failure stands.
        let _ = guess.failed();
        return code_form(
            Some(form.user_code.trim()).filter(|c| c.len() <= 16),
            Some("That code is not valid or has expired. Check it against your device."),
        );
    };
    // A right code: it no longer counts against the person.
    if let Err(error) = guess.succeeded(&state.db).await {
        return failed(&error);
    }
    // Letting an app change things needs a recent confirmation: asked for before the question, not after.
    if crate::server::oauth::authorize::needs_confirmation(&scopes) {
        match crate::server::people::step_up::require(&state.db, &signed_in.session).await {
            Ok(_) => {}
            Err(crate::model::error::AppError::ConfirmIdentity) => {
                let back: String =
                    url::form_urlencoded::byte_serialize(format!("/device?user_code={code}").as_bytes()).collect();
                return axum::response::Redirect::to(&format!("/confirm?next={back}")).into_response();
            }
            Err(error) => return failed(&error),
        }
    }
    match form.decision.as_deref() {
        None => approval_page(&code, &client, &scopes),
        Some("allow") => {
            let facts = match SessionFacts::read(&state, signed_in).await {
                Ok(facts) => facts,
                Err(error) => return failed(&error),
            };
            let approved = on!(&state.db, pool => sqlx::query(
                "UPDATE oauth_device_codes SET approved_by = $1, session_id = $2, auth_time = $3, amr = $4
                 WHERE user_code = $5 AND approved_by IS NULL AND denied_at IS NULL",
            )
            .bind(user_id)
            .bind(&signed_in.session.session_id)
            .bind(facts.auth_time)
            .bind(facts.amr.join(" "))
            .bind(&code)
            .execute(pool)
            .await
            .map(drop));
            if let Err(error) = approved {
                return failed(&error);
            }
            if let Err(error) = remember_consent(&state, &signed_in.session, &client.id, &scopes, &who).await {
                return failed(&error);
            }
            done(
                "Device connected",
                &format!("{} is connected to your account. You can go back to it now.", client.name),
            )
        }
        Some(_) => {
            let denied = on!(&state.db, pool => sqlx::query(
                "UPDATE oauth_device_codes SET denied_at = $1 WHERE user_code = $2 AND approved_by IS NULL",
            )
            .bind(clock::now())
            .bind(&code)
            .execute(pool)
            .await
            .map(drop));
            if let Err(error) = denied {
                return failed(&error);
            }
            done("Device not connected", &format!("{} was not given access.", client.name))
        }
    }
}

/// The unanswered, unexpired device request with this user code: the code as stored, its app and its scopes.
async fn pending(state: &AppState, typed: &str) -> Result<Option<(String, Client, Scopes)>, sqlx::Error> {
    let Some(code) = normalize(typed) else { return Ok(None) };
    let row: Option<(String, String)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT client_id, scopes FROM oauth_device_codes
         WHERE user_code = $1 AND expires_at > $2 AND approved_by IS NULL AND denied_at IS NULL",
    )
    .bind(&code)
    .bind(clock::now())
    .fetch_optional(pool)
    .await)?;
    let Some((client_id, scopes)) = row else { return Ok(None) };
    let Some(client) = clients::find(&state.db, &client_id).await? else { return Ok(None) };
    Ok(Some((code, client, Scopes::from_stored(&scopes))))
}

fn approval_page(code: &str, client: &Client, scopes: &Scopes) -> Response {
    let body = format!(
        r#"<section class="card narrow" aria-labelledby="device-title">
<h1 id="device-title">Connect <span data-testid="consent-app">{name}</span> to your Gatehouse account?</h1>
{unverified}
<p>Only continue if your device shows the code <strong data-testid="device-shown-code">{code}</strong> and you started this yourself.</p>
<p>It will be able to:</p>
{scopes}
<form method="post" action="/device" class="button-row">
<input type="hidden" name="user_code" value="{code}">
{buttons}
</form>
</section>"#,
        name = escape(&client.name),
        unverified = page::unverified_notice(client),
        code = escape(code),
        scopes = page::scope_list(scopes),
        buttons = page::DECISION_BUTTONS,
    );
    error_page::page(&format!("Connect {}?", client.name), &body, None)
}

fn done(title: &str, message: &str) -> Response {
    let body = format!(
        r#"<section class="notice" aria-labelledby="device-title">
<h1 id="device-title">{title}</h1>
<p data-testid="device-result">{message}</p>
<a class="button" href="/dashboard">Go to your dashboard</a>
</section>"#,
        title = escape(title),
        message = escape(message),
    );
    error_page::page(title, &body, None)
}

fn failed(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "device approval failed");
    let mut response = done("Something went wrong", "Nothing was connected. Please try again.");
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_and_typing_is_forgiven() {
        let code = user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(normalize(&code), Some(code.clone()));
        assert_eq!(normalize(&code.to_lowercase().replace('-', " ")), Some(code.clone()));
        assert_eq!(normalize("BCDF-GHJ"), None);
        assert_eq!(normalize("ABCD-EFGH"), None, "no vowels");
        assert_ne!(user_code(), user_code());
    }
}
