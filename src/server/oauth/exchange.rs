//! What each grant at the token endpoint is exchanged for: a code (its PKCE verifier checked, used once: a second use
//! ends what the first one got), a refresh token (rotated on every use; a used one presented again ends its whole
//! authorization, RFC 9700 §4.14.2; the scope can only shrink), and client credentials (the app's own token).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::server::oauth::{
    clients::Client,
    grants::{self, NewAuthorization},
    issue::{self, Exchanged, IssuedFor, OAuthError, Tokens, complete, insert_refresh_token, person},
    jwt,
    scopes::Scopes,
    wire::hash,
};
use crate::server::{
    people::session::ClientInfo,
    platform::{clock, db::on},
    state::AppState,
};

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

pub(super) async fn authorization_code(
    state: &AppState,
    client: &Client,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Tokens, OAuthError> {
    let code = code.ok_or_else(|| OAuthError::invalid_request("code is missing."))?;
    let redirect_uri = redirect_uri.ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing."))?;
    let verifier =
        verifier.ok_or_else(|| OAuthError::invalid_request("code_verifier is missing (PKCE is required)."))?;
    let code_hash = hash(code);
    let row: Option<CodeRow> = on!(&state.db, pool => sqlx::query_as(
        "SELECT client_id, user_id, session_id, redirect_uri, scopes, nonce, code_challenge, auth_time, amr, expires_at,
                used_at, authorization_id
         FROM oauth_codes WHERE code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(pool)
    .await)?;
    let row = row.ok_or_else(|| OAuthError::invalid_grant("The code is unknown, used or expired."))?;
    if row.client_id != client.id {
        tracing::warn!(client = %client.id, "a code issued to another client was presented");
        return Err(OAuthError::invalid_grant("The code was issued to another client."));
    }
    if row.used_at.is_some() {
        if let Some(authorization) = &row.authorization_id {
            grants::end_after_reuse(state, authorization, "authorization_code", &ClientInfo::default()).await?;
        }
        return Err(OAuthError::invalid_grant("The code was already used; what it gave has been revoked."));
    }
    if row.expires_at <= clock::now() {
        return Err(OAuthError::invalid_grant("The code has expired."));
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request."));
    }
    if !pkce_matches(verifier, &row.code_challenge) {
        return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge."));
    }
    let scopes = Scopes::from_stored(&row.scopes);
    let amr: Vec<String> = row.amr.split_whitespace().map(str::to_owned).collect();
    let mut tx = state.db.begin_write().await?;
    let sql = "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL";
    if !grants::use_once(tx.as_exec(), sql, &code_hash, clock::now()).await? {
        // Another request redeemed it a moment ago.
        return Err(OAuthError::invalid_grant("The code was already used."));
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

/// Whether `BASE64URL(SHA256(verifier))` is the challenge (RFC 7636 §4.6). The verifier must be 43–128 of its
/// characters.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
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

pub(super) async fn refresh(
    state: &AppState,
    client: &Client,
    token: Option<&str>,
    scope: Option<&str>,
    who: &ClientInfo,
) -> Result<Tokens, OAuthError> {
    let token = token.ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
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
    let row = row.ok_or_else(|| OAuthError::invalid_grant("The refresh token is unknown, revoked or expired."))?;
    if row.client_id != client.id {
        tracing::warn!(client = %client.id, "a refresh token issued to another client was presented");
        return Err(OAuthError::invalid_grant("The refresh token was issued to another client."));
    }
    if row.used_at.is_some() {
        grants::end_after_reuse(state, &row.authorization_id, "refresh_token", who).await?;
        return Err(OAuthError::invalid_grant(
            "The refresh token was already used; its authorization has been revoked.",
        ));
    }
    if row.expires_at <= clock::now() {
        return Err(OAuthError::invalid_grant("The authorization has expired: sign in again."));
    }
    let held = Scopes::from_stored(&row.scopes);
    let scopes = match scope {
        None => held.clone(),
        Some(raw) => {
            let asked = Scopes::parse(raw).map_err(|e| OAuthError::new("invalid_scope", e))?;
            if !asked.is_subset_of(&held) || asked.is_empty() {
                return Err(OAuthError::new(
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
        return Err(OAuthError::invalid_grant(
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
    Ok(issue::issue(state, client, &scopes, &session, person.as_ref(), None, Some(refresh_token)))
}

/// Client credentials: an app acting for itself. Confidential apps only; API scopes only; no refresh token; `sub` is
/// the app.
pub(super) fn client_credentials(state: &AppState, client: &Client, scope: Option<&str>) -> Result<Tokens, OAuthError> {
    if !client.is_confidential() {
        return Err(OAuthError::new("unauthorized_client", "Only a confidential client may use client_credentials."));
    }
    let allowed = Scopes::from(client.scopes.iter().filter(|s| s.is_for_clients()).collect::<Vec<_>>());
    let scopes = match scope {
        None => allowed,
        Some(raw) => {
            let asked = Scopes::parse(raw).map_err(|e| OAuthError::new("invalid_scope", e))?;
            if let Some(s) = asked.iter().find(|s| !allowed.contains(*s)) {
                return Err(OAuthError::new(
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
}
