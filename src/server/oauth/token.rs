//! `POST /oauth/token` (RFC 6749 §3.2, OAuth 2.1 §3.2): codes, refresh tokens and client credentials exchanged for
//! tokens. Never the password grant, never the implicit flow.
//!
//! Codes are single use: a second use is refused and ends what the first one got. Refresh tokens rotate on every
//! use: presenting a used one ends its whole authorization (RFC 9700 §4.14.2). A refreshed token's scope can only
//! shrink.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    OAuthScope, Scopes,
    clients::{self, Client, ClientAuth, ClientAuthError},
    grants::{self, NewAuthorization},
    hash, jwt, new_secret, no_store, parameters,
};
use crate::server::{
    clock,
    db::{Exec, Tx, on},
    metrics::Issued,
    session::ClientInfo,
    state::AppState,
    users::PersonColumns,
};

const REFRESH_PREFIX: &str = "grt_";

/// An error answer (RFC 6749 §5.2): `{"error": "...", "error_description": "..."}`.
#[derive(Debug)]
pub struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `invalid_client` after HTTP Basic: the answer asks for Basic again.
    basic_challenge: bool,
}

impl TokenError {
    pub(super) fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, description: description.into(), basic_challenge: false }
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn server(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "token endpoint failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "Gatehouse could not complete this request; nothing was issued. Try again.".into(),
            basic_challenge: false,
        }
    }
}

impl From<sqlx::Error> for TokenError {
    fn from(error: sqlx::Error) -> Self {
        if crate::server::db::is_unavailable(&error) {
            tracing::error!(%error, "token endpoint: database unavailable");
            return Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "Gatehouse cannot reach its database right now; try again shortly.".into(),
                basic_challenge: false,
            };
        }
        Self::server(&error)
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.basic_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
        }
        response
    }
}

/// A successful answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct Tokens {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

pub async fn token(State(state): State<AppState>, who: ClientInfo, headers: HeaderMap, body: String) -> Response {
    match exchange(&state, &who, &headers, &body).await {
        Ok(tokens) => {
            state.metrics.issued(Issued::AccessToken);
            if tokens.refresh_token.is_some() {
                state.metrics.issued(Issued::RefreshToken);
            }
            if tokens.id_token.is_some() {
                state.metrics.issued(Issued::IdToken);
            }
            (StatusCode::OK, no_store(), Json(tokens)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn exchange(state: &AppState, who: &ClientInfo, headers: &HeaderMap, body: &str) -> Result<Tokens, TokenError> {
    let (params, client) = client_request(state, who, headers, body).await?;
    let get = |name: &str| params.get(name).map(String::as_str);
    match get("grant_type") {
        Some("authorization_code") => {
            authorization_code(state, &client, get("code"), get("redirect_uri"), get("code_verifier")).await
        }
        Some("refresh_token") => refresh(state, &client, get("refresh_token"), get("scope"), who).await,
        Some("client_credentials") => client_credentials(state, &client, get("scope")),
        Some(super::device::GRANT_TYPE) => super::device::redeem(state, &client, get("device_code")).await,
        Some("password") => Err(TokenError::new(
            "unsupported_grant_type",
            "The password grant is not supported: send the person to /oauth/authorize, or use the device flow.",
        )),
        Some(other) => Err(TokenError::new("unsupported_grant_type", format!("grant_type {other} is not supported."))),
        None => Err(TokenError::invalid_request("grant_type is missing.")),
    }
}

/// A form body's parameters (RFC 6749 §3.2: `application/x-www-form-urlencoded`, none repeated).
pub(super) fn form_parameters(
    headers: &HeaderMap,
    body: &str,
) -> Result<std::collections::BTreeMap<String, String>, TokenError> {
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err(TokenError::invalid_request("Send the parameters as application/x-www-form-urlencoded."));
    }
    parameters(body).map_err(TokenError::invalid_request)
}

/// A form request from a client to an endpoint it authenticates at: its parameters, and the client. A client with an
/// allow-list is refused (403 `unauthorized_client`) from any other address, after it proved who it is.
pub(super) async fn client_request(
    state: &AppState,
    who: &ClientInfo,
    headers: &HeaderMap,
    body: &str,
) -> Result<(std::collections::BTreeMap<String, String>, Client), TokenError> {
    let params = form_parameters(headers, body)?;
    let get = |name: &str| params.get(name).map(String::as_str);
    let client = authenticate(state, headers, get("client_id"), get("client_secret")).await?;
    if !client.allowed.permits(who.ip.as_deref()) {
        let detail = async { json!({ "client": client.id, "name": client.name }) };
        crate::server::rate_limit::not_allowed(state, who, client.owner_id.as_deref(), detail).await;
        return Err(TokenError {
            status: StatusCode::FORBIDDEN,
            ..TokenError::new(
                "unauthorized_client",
                "This app may not call Gatehouse from this address: its allow-list does not include it.",
            )
        });
    }
    Ok((params, client))
}

/// The client, authenticated by `client_secret_basic`, `client_secret_post`, or (a public client) its id alone.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    body_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<Client, TokenError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(basic_credentials(value).ok_or_else(|| TokenError {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge: true,
            ..TokenError::new(
                "invalid_client",
                "The Authorization header must be HTTP Basic with the client's id and secret.",
            )
        })?),
    };
    let invalid_client = |basic_used: bool| TokenError {
        status: StatusCode::UNAUTHORIZED,
        basic_challenge: basic_used,
        ..TokenError::new("invalid_client", "Client authentication failed.")
    };
    let auth = match (&basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(TokenError::invalid_request("Authenticate the client one way only (Basic or the body)."));
        }
        (Some((id, _)), Some(body_id), None) if body_id != id => return Err(invalid_client(true)),
        (Some((id, secret)), _, None) => ClientAuth::Secret { client_id: id, secret },
        (None, Some(id), Some(secret)) => ClientAuth::Secret { client_id: id, secret },
        (None, Some(id), None) => ClientAuth::None { client_id: id },
        (None, None, _) => return Err(TokenError { status: StatusCode::UNAUTHORIZED, ..invalid_client(false) }),
    };
    match clients::authenticate(&state.db, &auth).await {
        Ok(client) => Ok(client),
        Err(ClientAuthError::Database(error)) => Err(error.into()),
        Err(reason) => {
            tracing::info!(%reason, "client authentication failed");
            Err(invalid_client(basic.is_some()))
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    client_id: String,
    user_id: String,
    session_id: Option<String>,
    redirect_uri: String,
    scopes: String,
    nonce: Option<String>,
    code_challenge: String,
    auth_time: i64,
    amr: String,
    expires_at: i64,
    used_at: Option<i64>,
    authorization_id: Option<String>,
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Tokens, TokenError> {
    let code = code.ok_or_else(|| TokenError::invalid_request("code is missing."))?;
    let redirect_uri = redirect_uri.ok_or_else(|| TokenError::invalid_request("redirect_uri is missing."))?;
    let verifier =
        verifier.ok_or_else(|| TokenError::invalid_request("code_verifier is missing (PKCE is required)."))?;
    let code_hash = hash(code);
    let row: Option<CodeRow> = on!(&state.db, pool => sqlx::query_as(
        "SELECT client_id, user_id, session_id, redirect_uri, scopes, nonce, code_challenge, auth_time, amr, expires_at,
                used_at, authorization_id
         FROM oauth_codes WHERE code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(pool)
    .await)?;
    let row = row.ok_or_else(|| TokenError::invalid_grant("The code is unknown, used or expired."))?;
    if row.client_id != client.id {
        tracing::warn!(client = %client.id, "a code issued to another client was presented");
        return Err(TokenError::invalid_grant("The code was issued to another client."));
    }
    if row.used_at.is_some() {
        if let Some(authorization) = &row.authorization_id {
            grants::end_after_reuse(state, authorization, "authorization_code", &ClientInfo::default()).await?;
        }
        return Err(TokenError::invalid_grant("The code was already used; what it gave has been revoked."));
    }
    if row.expires_at <= clock::now() {
        return Err(TokenError::invalid_grant("The code has expired."));
    }
    if row.redirect_uri != redirect_uri {
        return Err(TokenError::invalid_grant("redirect_uri does not match the authorization request."));
    }
    if !pkce_matches(verifier, &row.code_challenge) {
        return Err(TokenError::invalid_grant("code_verifier does not match the code_challenge."));
    }
    let scopes = Scopes::from_stored(&row.scopes);
    let amr: Vec<String> = row.amr.split_whitespace().map(str::to_owned).collect();
    let mut tx = state.db.begin_write().await?;
    let sql = "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL";
    if !grants::use_once(tx.as_exec(), sql, &code_hash, clock::now()).await? {
        // Another request redeemed it a moment ago.
        return Err(TokenError::invalid_grant("The code was already used."));
    }
    let new = NewAuthorization {
        client_id: &client.id,
        user_id: &row.user_id,
        session_id: row.session_id.as_deref(),
        scopes: &scopes,
        auth_time: row.auth_time,
        amr: &amr,
    };
    let link = Exchanged { sql: "UPDATE oauth_codes SET authorization_id = $1 WHERE code_hash = $2", key: &code_hash };
    complete(state, tx, client, &new, link, row.nonce).await
}

/// What was exchanged (a code, a device code): the statement that notes the authorization it became on its row, so a
/// second use can end it.
pub(super) struct Exchanged<'a> {
    pub sql: &'static str,
    pub key: &'a [u8],
}

/// The end of every exchange that starts an authorization: the authorization, its first refresh token, and the
/// tokens, all in the caller's transaction.
pub(super) async fn complete(
    state: &AppState,
    mut tx: Tx,
    client: &Client,
    new: &NewAuthorization<'_>,
    exchanged: Exchanged<'_>,
    nonce: Option<String>,
) -> Result<Tokens, TokenError> {
    let authorization = match grants::create(tx.as_exec(), state, new).await {
        Ok(id) => id,
        // The session or the person ended between the approval and now.
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            return Err(TokenError::invalid_grant("The sign-in behind this grant has ended."));
        }
        Err(error) => return Err(error.into()),
    };
    on!(tx.as_exec(), conn => sqlx::query(exchanged.sql)
        .bind(&authorization)
        .bind(exchanged.key)
        .execute(conn)
        .await
        .map(drop))?;
    let refresh_token = insert_refresh_token(tx.as_exec(), &authorization, new.scopes).await?;
    let person = person(tx.as_exec(), new.user_id).await?;
    tx.commit().await?;
    let issued =
        IssuedFor { authorization: &authorization, user_id: new.user_id, auth_time: new.auth_time, amr: new.amr };
    Ok(issue(state, client, new.scopes, &issued, person.as_ref(), nonce, Some(refresh_token)))
}

/// Whether `BASE64URL(SHA256(verifier))` is the challenge (RFC 7636 §4.6). The verifier must be 43–128 of its
/// characters.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

pub(super) async fn insert_refresh_token(
    tx: Exec<'_>,
    authorization: &str,
    scopes: &Scopes,
) -> Result<String, sqlx::Error> {
    let token = new_secret(REFRESH_PREFIX);
    on!(tx, conn => sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, authorization_id, scopes, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash(&token))
    .bind(authorization)
    .bind(scopes.to_string())
    .bind(clock::now())
    .execute(conn)
    .await
    .map(drop))?;
    Ok(token)
}

pub(super) async fn person(tx: Exec<'_>, user_id: &str) -> Result<Option<PersonColumns>, sqlx::Error> {
    let query = format!("SELECT {} FROM users u WHERE u.id = $1", PersonColumns::SELECT);
    on!(tx, conn => sqlx::query_as(&query).bind(user_id).fetch_optional(conn).await)
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    authorization_id: String,
    scopes: String,
    used_at: Option<i64>,
    client_id: String,
    user_id: String,
    auth_time: i64,
    amr: String,
    expires_at: i64,
}

async fn refresh(
    state: &AppState,
    client: &Client,
    token: Option<&str>,
    scope: Option<&str>,
    who: &ClientInfo,
) -> Result<Tokens, TokenError> {
    let token = token.ok_or_else(|| TokenError::invalid_request("refresh_token is missing."))?;
    let token_hash = hash(token);
    // An authorization that lives with a browser session ends when that session passes its idle or absolute limit,
    // not only once housekeeping deletes its row.
    let now = clock::now();
    let row: Option<RefreshRow> = on!(&state.db, pool => sqlx::query_as(
        "SELECT r.authorization_id, r.scopes, r.used_at, a.client_id, a.user_id, a.auth_time, a.amr, a.expires_at
         FROM oauth_refresh_tokens r JOIN oauth_authorizations a ON a.id = r.authorization_id
         WHERE r.token_hash = $1
           AND (a.session_id IS NULL OR EXISTS (
                SELECT 1 FROM user_sessions s WHERE s.id = a.session_id AND s.expires_at > $2 AND s.last_seen_at > $3))",
    )
    .bind(&token_hash)
    .bind(now)
    .bind(now - state.config.sessions.idle_timeout.as_secs() as i64)
    .fetch_optional(pool)
    .await)?;
    let row = row.ok_or_else(|| TokenError::invalid_grant("The refresh token is unknown, revoked or expired."))?;
    if row.client_id != client.id {
        tracing::warn!(client = %client.id, "a refresh token issued to another client was presented");
        return Err(TokenError::invalid_grant("The refresh token was issued to another client."));
    }
    if row.used_at.is_some() {
        grants::end_after_reuse(state, &row.authorization_id, "refresh_token", who).await?;
        return Err(TokenError::invalid_grant(
            "The refresh token was already used; its authorization has been revoked.",
        ));
    }
    if row.expires_at <= clock::now() {
        return Err(TokenError::invalid_grant("The authorization has expired: sign in again."));
    }
    let held = Scopes::from_stored(&row.scopes);
    let scopes = match scope {
        None => held.clone(),
        Some(raw) => {
            let asked = Scopes::parse(raw).map_err(|e| TokenError::new("invalid_scope", e))?;
            if !asked.is_subset_of(&held) || asked.is_empty() {
                return Err(TokenError::new(
                    "invalid_scope",
                    "A refresh can keep or narrow the scope, never widen it.",
                ));
            }
            asked
        }
    };
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    let sql = "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL";
    if !grants::use_once(tx.as_exec(), sql, &token_hash, now).await? {
        drop(tx);
        grants::end_after_reuse(state, &row.authorization_id, "refresh_token", who).await?;
        return Err(TokenError::invalid_grant(
            "The refresh token was already used; its authorization has been revoked.",
        ));
    }
    on!(tx.as_exec(), conn => sqlx::query("UPDATE oauth_authorizations SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&row.authorization_id)
        .execute(conn)
        .await
        .map(drop))?;
    let refresh_token = insert_refresh_token(tx.as_exec(), &row.authorization_id, &scopes).await?;
    let person = person(tx.as_exec(), &row.user_id).await?;
    tx.commit().await?;
    let amr: Vec<String> = row.amr.split_whitespace().map(str::to_owned).collect();
    let session =
        IssuedFor { authorization: &row.authorization_id, user_id: &row.user_id, auth_time: row.auth_time, amr: &amr };
    Ok(issue(state, client, &scopes, &session, person.as_ref(), None, Some(refresh_token)))
}

/// Client credentials: an app acting for itself. Confidential apps only; API scopes only; no refresh token; `sub` is
/// the app.
fn client_credentials(state: &AppState, client: &Client, scope: Option<&str>) -> Result<Tokens, TokenError> {
    if !client.is_confidential() {
        return Err(TokenError::new("unauthorized_client", "Only a confidential client may use client_credentials."));
    }
    let allowed = Scopes::from(client.scopes.iter().filter(|s| s.is_for_clients()).collect::<Vec<_>>());
    let scopes = match scope {
        None => allowed,
        Some(raw) => {
            let asked = Scopes::parse(raw).map_err(|e| TokenError::new("invalid_scope", e))?;
            if let Some(s) = asked.iter().find(|s| !allowed.contains(*s)) {
                return Err(TokenError::new(
                    "invalid_scope",
                    format!("\u{201c}{}\u{201d} cannot be granted to a client acting for itself.", s.as_str()),
                ));
            }
            asked
        }
    };
    let (access_token, expires_in) = jwt::access_token(state, &client.id, &client.id, &scopes, None, None);
    tracing::info!(client = %client.id, scope = %scopes, "client credentials token issued");
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scopes.to_string(),
        refresh_token: None,
        id_token: None,
    })
}

/// Whom tokens are issued for, under which authorization.
pub(super) struct IssuedFor<'a> {
    pub authorization: &'a str,
    pub user_id: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
}

pub(super) fn issue(
    state: &AppState,
    client: &Client,
    scopes: &Scopes,
    issued: &IssuedFor<'_>,
    person: Option<&PersonColumns>,
    nonce: Option<String>,
    refresh_token: Option<String>,
) -> Tokens {
    let (access_token, expires_in) = jwt::access_token(
        state,
        issued.user_id,
        &client.id,
        scopes,
        Some(issued.authorization),
        Some(issued.auth_time),
    );
    let id_token = scopes.contains(OAuthScope::OpenId).then(|| {
        let now = clock::now();
        let profile = scopes.contains(OAuthScope::Profile);
        let email = scopes.contains(OAuthScope::Email);
        jwt::id_token(
            state,
            &jwt::IdClaims {
                iss: jwt::issuer(state),
                sub: issued.user_id.to_owned(),
                aud: client.id.clone(),
                iat: now,
                exp: now + expires_in,
                auth_time: issued.auth_time,
                nonce,
                amr: issued.amr.to_vec(),
                acr: crate::server::session::acr(issued.amr),
                sid: issued.authorization.to_owned(),
                name: person.filter(|_| profile).map(|p| p.display_name.clone()),
                picture: person.filter(|_| profile).and_then(|p| p.avatar_url.clone()),
                email: person.filter(|_| email).and_then(|p| p.email.clone()),
                email_verified: person.filter(|p| email && p.email.is_some()).map(|p| p.email_verified),
            },
        )
    });
    Tokens { access_token, token_type: "Bearer", expires_in, scope: scopes.to_string(), refresh_token, id_token }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_accepts_the_rfc_7636_example_and_nothing_else() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge), "plain is not S256");
        assert!(!pkce_matches(&verifier[..42], challenge), "too short");
        assert!(!pkce_matches(&format!("{verifier}!"), challenge), "outside the alphabet");
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("app%3A1:s%20e"))).unwrap();
        assert_eq!(basic_credentials(&value), Some(("app:1".into(), "s e".into())));
        assert_eq!(basic_credentials(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(basic_credentials(&HeaderValue::from_static("Basic !!!")), None);
    }
}
