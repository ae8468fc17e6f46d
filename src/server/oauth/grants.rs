//! Authorizations: what an app holds once a code is exchanged — a row that every refresh token and access token
//! issued from that exchange refers to. Ending it (the person revokes the app, signs out of the session it lives with,
//! deletes their account; or a used code or refresh token comes back) ends them all at once.

use std::{sync::Arc, time::Instant};

use serde_json::json;

use crate::server::oauth::scopes::Scopes;
use crate::server::{
    people::{session::ClientInfo, users::PersonColumns},
    platform::{
        cache::CachedGrant,
        clock,
        db::{Db, Exec, on},
    },
    security::{
        audit::{self, Event},
        networks::Networks,
    },
    state::AppState,
};

/// A new authorization, as a code or a device approval describes it.
#[derive(Clone, Debug)]
pub struct NewAuthorization<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// The browser session it lives with; `None` with `offline_access`, which outlives signing out.
    pub session_id: Option<&'a str>,
    pub scopes: &'a Scopes,
    pub auth_time: i64,
    pub amr: &'a [String],
}

/// Records an authorization and returns its id.
pub async fn create(tx: Exec<'_>, state: &AppState, new: &NewAuthorization<'_>) -> Result<String, sqlx::Error> {
    let id = clock::new_id();
    let now = clock::now();
    let expires_at = now + state.config.oauth.refresh_token_lifetime.as_secs() as i64;
    let session_id = if new.scopes.contains(crate::server::oauth::scopes::OAuthScope::OfflineAccess) {
        None
    } else {
        new.session_id
    };
    on!(tx, conn => sqlx::query(
        "INSERT INTO oauth_authorizations (id, client_id, user_id, session_id, scopes, auth_time, amr, created_at,
                                           expires_at, last_used_at, granted_in)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10)",
    )
    .bind(&id)
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(session_id)
    .bind(new.scopes.to_string())
    .bind(new.auth_time)
    .bind(new.amr.join(" "))
    .bind(now)
    .bind(expires_at)
    .bind(new.session_id)
    .execute(conn)
    .await
    .map(drop))?;
    Ok(id)
}

/// Marks a single-use credential (a code, a refresh token, a device code) used, in the caller's transaction, with
/// `sql` — an `UPDATE … SET used_at = $1 WHERE <hash> = $2 AND used_at IS NULL`. False when another request used it
/// a moment before: the conditional update, not the earlier read, decides who wins.
pub async fn use_once(tx: Exec<'_>, sql: &'static str, key: &[u8], now: i64) -> Result<bool, sqlx::Error> {
    let claimed = on!(tx, conn => sqlx::query(sql)
        .bind(now)
        .bind(key)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(claimed > 0)
}

/// Ends an authorization because something issued from it came back after it was used (a code, or a rotated
/// refresh token): whoever holds the rest may be a thief. Recorded in the person's security activity.
pub async fn end_after_reuse(
    state: &AppState,
    authorization_id: &str,
    what: &str,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let ended: Option<(String, String)> = on!(tx.as_exec(), conn => sqlx::query_as(
        "DELETE FROM oauth_authorizations WHERE id = $1
         RETURNING user_id, (SELECT c.name FROM oauth_clients c WHERE c.id = oauth_authorizations.client_id)",
    )
    .bind(authorization_id)
    .fetch_optional(conn)
    .await)?;
    if let Some((user_id, name)) = &ended {
        let detail = json!({ "authorization": authorization_id, "name": name, "what": what });
        audit::record(tx.as_exec(), Event::AppTokenReused, Some(user_id), client, detail).await?;
    }
    tx.commit().await?;
    state.cache.forget_grant(authorization_id);
    tracing::warn!(authorization = authorization_id, what, "a used credential came back: the authorization was ended");
    Ok(())
}

/// Ends an authorization at its app's request (`/oauth/revoke`): its refresh tokens at once, its access tokens from
/// their next request.
pub async fn end(state: &AppState, authorization_id: &str) -> Result<(), sqlx::Error> {
    on!(&state.db, pool => sqlx::query("DELETE FROM oauth_authorizations WHERE id = $1")
        .bind(authorization_id)
        .execute(pool)
        .await
        .map(drop))?;
    state.cache.forget_grant(authorization_id);
    Ok(())
}

/// Why an access token's authorization does not stand.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("the authorization was revoked or has ended")]
    Ended,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    session_id: Option<String>,
    allowed_networks: Option<String>,
    #[sqlx(flatten)]
    person: PersonColumns,
}

/// The authorization, if it still stands: the person it acts for and where its app may call from. Served from the
/// cache for a second after it was read, and dropped from it at once when the authorization, its session or its
/// person ends.
pub async fn check(state: &AppState, authorization_id: &str) -> Result<CachedGrant, GrantError> {
    if let Some(entry) = state.cache.grant(authorization_id) {
        return Ok(entry);
    }
    let read_at = state.cache.generation();
    let query = format!(
        "SELECT a.id, a.session_id, c.allowed_networks, {} FROM oauth_authorizations a
         JOIN users u ON u.id = a.user_id JOIN oauth_clients c ON c.id = a.client_id WHERE a.id = $1",
        PersonColumns::SELECT
    );
    let row: Option<GrantRow> =
        on!(&state.db, pool => sqlx::query_as(&query).bind(authorization_id).fetch_optional(pool).await)?;
    let row = row.ok_or(GrantError::Ended)?;
    let user = Arc::new(row.person.into_person(&state.db).await?);
    let entry = CachedGrant {
        id: row.id,
        session_id: row.session_id,
        user,
        allowed: Networks::from_stored(row.allowed_networks.as_deref()),
        checked: Instant::now(),
    };
    state.cache.put_grant(entry.clone(), read_at);
    Ok(entry)
}

/// An app a person has let in, as their "Authorized apps" list shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuthorizedApp {
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub authorized_at: i64,
    pub last_used_at: Option<i64>,
}

/// The apps a person has consented to, newest first.
pub async fn authorized_apps(db: &Db, user_id: &str) -> Result<Vec<AuthorizedApp>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64, Option<i64>)> = on!(db, pool => sqlx::query_as(
        "SELECT c.id, c.name, k.scopes, k.updated_at,
                (SELECT MAX(a.last_used_at) FROM oauth_authorizations a WHERE a.user_id = k.user_id AND a.client_id = k.client_id)
         FROM oauth_consents k JOIN oauth_clients c ON c.id = k.client_id
         WHERE k.user_id = $1 ORDER BY k.updated_at DESC, c.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(client_id, name, scopes, authorized_at, last_used_at)| AuthorizedApp {
            client_id,
            name,
            scopes,
            authorized_at,
            last_used_at,
        })
        .collect())
}

/// Revokes an app for a person: the consent, every authorization (so its refresh tokens stop at once and its access
/// tokens are refused from the next request) and every unused code. Returns whether there was anything to revoke.
pub async fn revoke_app(
    state: &AppState,
    user_id: &str,
    client_id: &str,
    who: &ClientInfo,
) -> Result<bool, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let name: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2
         RETURNING (SELECT name FROM oauth_clients WHERE id = $2)",
    )
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(conn)
    .await)?;
    let ended: Vec<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "DELETE FROM oauth_authorizations WHERE user_id = $1 AND client_id = $2 RETURNING id",
    )
    .bind(user_id)
    .bind(client_id)
    .fetch_all(conn)
    .await)?;
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM oauth_codes WHERE user_id = $1 AND client_id = $2")
        .bind(user_id)
        .bind(client_id)
        .execute(conn)
        .await
        .map(drop))?;
    if name.is_none() && ended.is_empty() {
        return Ok(false);
    }
    let detail = json!({ "client": client_id, "name": name, "authorizations": ended.len() });
    audit::record(tx.as_exec(), Event::AppRevoked, Some(user_id), who, detail).await?;
    tx.commit().await?;
    for id in &ended {
        state.cache.forget_grant(id);
    }
    Ok(true)
}

/// How long a used or expired code is kept, so that a late second use is still recognised (and ends what the first
/// got).
const CODE_RETENTION_SECS: i64 = 3600;

/// Deletes codes past their retention and authorizations past their absolute limit (their refresh tokens go with
/// them).
pub async fn purge_expired(db: &Db) -> Result<(), sqlx::Error> {
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM oauth_codes WHERE expires_at <= $1")
        .bind(now - CODE_RETENTION_SECS)
        .execute(conn)
        .await
        .map(drop))?;
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM oauth_authorizations WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    // Pushed authorization requests never used: gone once they expire (a minute).
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM pushed_authorization_requests WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    // Device requests anyone's tool can start: gone an hour after they expire (answered or not), kept that long so
    // a device code used again is still recognised and ends what it gave.
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM oauth_device_codes WHERE expires_at <= $1")
        .bind(now - CODE_RETENTION_SECS)
        .execute(conn)
        .await
        .map(drop))?;
    tx.commit().await
}
