//! A person's tokens at their sign-in providers, kept for their own programs (`PROVIDER_TOKENS=keep`): sealed with
//! `SECRET_KEY` (bound to the person, the provider and the column), handed out current, refreshed once.
//!
//! **Refreshed exactly once**, however many requests need it at the same moment, on however many instances: the
//! first to find the access token about to expire claims the refresh with a conditional `UPDATE` (a lease three times
//! as long as a provider request may take, `PROVIDER_TIMEOUT`: a provider slower than the lease has been given up
//! on long before it ends, so two refreshes never run at once); the others wait for it and read what it wrote, or,
//! when it wrote nothing (the provider failed), answer as it did rather than each trying again. No database lock is
//! held while the provider answers. The new pair is written before anyone is answered.
//! A refresh the provider refuses (`invalid_grant`) is read again first — another instance may have just rotated
//! the refresh token — and only then marks the connection "reconnect needed" (the identity stays: signing in with
//! the provider again reconnects it).

use std::time::Duration;

use crate::server::{
    auth::{flow::ProviderTokens, oidc::RefreshError},
    platform::{
        clock,
        db::{Db, on},
        secret_key::Purpose,
    },
    state::AppState,
};

/// How long before its expiry an access token is refreshed rather than handed out.
const EARLY_SECS: i64 = 60;
/// How long a refresh may hold its claim: three times as long as a provider request may take (`PROVIDER_TIMEOUT`),
/// so its holder has given up on the provider well before anyone else may claim it.
fn lease_secs(provider_timeout: Duration) -> i64 {
    (provider_timeout.as_secs_f64() * 3.0).ceil().clamp(3.0, 30.0) as i64
}
/// How often a request waiting for another's refresh looks again, and for how long in all.
const WAIT_STEP: Duration = Duration::from_millis(100);
const WAIT_FOR: Duration = Duration::from_secs(15);

/// A connection's state, as the API and the profile say it.
pub const CONNECTED: &str = "connected";
pub const RECONNECT: &str = "reconnect";

/// One kept connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub provider: String,
    pub state: String,
    pub expires_at: Option<i64>,
    pub scopes: String,
}

/// Why no token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no tokens are kept for this provider")]
    NotConnected,
    #[error("the provider no longer accepts the kept tokens: sign in with it again to reconnect")]
    ReconnectNeeded,
    #[error("the provider could not be reached: {0}")]
    ProviderUnavailable(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn record(user_id: &str, provider: &str, column: &str) -> String {
    format!("{user_id}/{provider}/{column}")
}

/// Keeps the tokens a sign-in or a link just gave, replacing what was kept (and reconnecting).
pub async fn keep(state: &AppState, user_id: &str, provider: &str, tokens: &ProviderTokens) -> Result<(), sqlx::Error> {
    let seal = |column: &str, value: &str| {
        state.sealer.seal(Purpose::ProviderToken, &record(user_id, provider, column), value.as_bytes())
    };
    let access = seal("access_token", &tokens.access_token);
    let refresh = tokens.refresh_token.as_deref().map(|t| seal("refresh_token", t));
    let now = clock::now();
    on!(&state.db, pool => sqlx::query(
        "INSERT INTO provider_tokens (user_id, provider, access_token, refresh_token, expires_at, scopes, state,
                                      lease_until, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'connected', 0, 0, $7)
         ON CONFLICT (user_id, provider) DO UPDATE SET access_token = $3,
             refresh_token = COALESCE($4, provider_tokens.refresh_token), expires_at = $5, scopes = $6,
             state = 'connected', lease_until = 0, version = provider_tokens.version + 1, updated_at = $7",
    )
    .bind(user_id)
    .bind(provider)
    .bind(&access)
    .bind(&refresh)
    .bind(tokens.expires_at)
    .bind(&tokens.scopes)
    .bind(now)
    .execute(pool)
    .await
    .map(drop))
}

/// The person's kept connections.
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<Connection>, sqlx::Error> {
    let rows: Vec<(String, String, Option<i64>, String)> = on!(db, pool => sqlx::query_as(
        "SELECT provider, state, expires_at, scopes FROM provider_tokens WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(provider, state, expires_at, scopes)| Connection { provider, state, expires_at, scopes })
        .collect())
}

#[derive(sqlx::FromRow)]
struct Kept {
    access_token: Vec<u8>,
    refresh_token: Option<Vec<u8>>,
    expires_at: Option<i64>,
    state: String,
    lease_until: i64,
    version: i64,
}

/// A current access token for `provider`, refreshed first if it is about to expire.
pub async fn current_token(
    state: &AppState,
    user_id: &str,
    provider: &str,
) -> Result<(String, Option<i64>), ConnectionError> {
    let open = |column: &str, sealed: &[u8]| -> Result<String, ConnectionError> {
        let plain = state
            .sealer
            .open(Purpose::ProviderToken, &record(user_id, provider, column), sealed)
            .map_err(|_| ConnectionError::ReconnectNeeded)?;
        String::from_utf8(plain).map_err(|_| ConnectionError::ReconnectNeeded)
    };
    let started = std::time::Instant::now();
    let lease = lease_secs(state.config.provider_timeout);
    // The pair whose refresh another request held while this one waited.
    let mut waited_on = None;
    loop {
        let kept: Option<Kept> = on!(&state.db, pool => sqlx::query_as(
            "SELECT access_token, refresh_token, expires_at, state, lease_until, version
             FROM provider_tokens WHERE user_id = $1 AND provider = $2",
        )
        .bind(user_id)
        .bind(provider)
        .fetch_optional(pool)
        .await)?;
        let Some(kept) = kept else { return Err(ConnectionError::NotConnected) };
        if kept.state != CONNECTED {
            return Err(ConnectionError::ReconnectNeeded);
        }
        let now = clock::now();
        if kept.expires_at.is_none_or(|at| at > now + EARLY_SECS) {
            return Ok((open("access_token", &kept.access_token)?, kept.expires_at));
        }
        let Some(sealed_refresh) = &kept.refresh_token else {
            mark_reconnect(&state.db, user_id, provider, kept.version).await?;
            return Err(ConnectionError::ReconnectNeeded);
        };
        // The refresh this request waited for ended and wrote nothing: the provider failed it (or its instance
        // went). Answer so, rather than every waiting request asking the failing provider in turn.
        if waited_on == Some(kept.version) && kept.lease_until <= now {
            return Err(ConnectionError::ProviderUnavailable("the provider did not complete the refresh".into()));
        }
        // Another request is refreshing it: wait for what it writes.
        if kept.lease_until > now || !claim(&state.db, user_id, provider, kept.version, now, lease).await? {
            waited_on = Some(kept.version);
            if started.elapsed() > WAIT_FOR {
                return Err(ConnectionError::ProviderUnavailable("a refresh in progress did not finish".into()));
            }
            tokio::time::sleep(WAIT_STEP).await;
            continue;
        }
        let Ok(client) = state.providers.get(provider).await else {
            release(&state.db, user_id, provider).await?;
            return Err(ConnectionError::ProviderUnavailable("the provider is not set up".into()));
        };
        match client.refresh(&open("refresh_token", sealed_refresh)?).await {
            Ok(fresh) => {
                keep(state, user_id, provider, &fresh).await?;
                tracing::info!(provider, %user_id, "provider token refreshed");
                return Ok((fresh.access_token, fresh.expires_at));
            }
            Err(RefreshError::InvalidGrant) => {
                // A sibling may have rotated the refresh token since it was read: only if nothing changed is it
                // really refused.
                if mark_reconnect(&state.db, user_id, provider, kept.version).await? {
                    tracing::warn!(provider, %user_id, "the provider refused the refresh token: reconnect needed");
                    return Err(ConnectionError::ReconnectNeeded);
                }
            }
            Err(RefreshError::Other(reason)) => {
                release(&state.db, user_id, provider).await?;
                return Err(ConnectionError::ProviderUnavailable(reason));
            }
        }
    }
}

/// Claims the refresh of the pair at `version`; false when another request has claimed it (or changed the pair).
async fn claim(
    db: &Db,
    user_id: &str,
    provider: &str,
    version: i64,
    now: i64,
    lease: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = on!(db, pool => sqlx::query(
        "UPDATE provider_tokens SET lease_until = $1
         WHERE user_id = $2 AND provider = $3 AND version = $4 AND lease_until <= $5 AND state = 'connected'",
    )
    .bind(now + lease)
    .bind(user_id)
    .bind(provider)
    .bind(version)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(claimed == 1)
}

async fn release(db: &Db, user_id: &str, provider: &str) -> Result<(), sqlx::Error> {
    on!(db, pool => sqlx::query("UPDATE provider_tokens SET lease_until = 0 WHERE user_id = $1 AND provider = $2")
        .bind(user_id)
        .bind(provider)
        .execute(pool)
        .await
        .map(drop))
}

/// Marks the pair at `version` "reconnect needed"; false when it changed meanwhile (a sibling's new pair).
async fn mark_reconnect(db: &Db, user_id: &str, provider: &str, version: i64) -> Result<bool, sqlx::Error> {
    let marked = on!(db, pool => sqlx::query(
        "UPDATE provider_tokens SET state = 'reconnect', lease_until = 0
         WHERE user_id = $1 AND provider = $2 AND version = $3",
    )
    .bind(user_id)
    .bind(provider)
    .bind(version)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(marked == 1)
}

/// The people whose kept refresh token at `provider` `matches` (a provider's "this token was revoked" names the
/// token, not the person). Each refresh token is opened to be compared: such events are rare.
pub async fn holders_of(
    state: &AppState,
    provider: &str,
    matches: impl Fn(&str) -> bool,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT user_id, refresh_token FROM provider_tokens WHERE provider = $1 AND refresh_token IS NOT NULL",
    )
    .bind(provider)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .filter(|(user_id, sealed)| {
            state
                .sealer
                .open(Purpose::ProviderToken, &record(user_id, provider, "refresh_token"), sealed)
                .ok()
                .and_then(|plain| String::from_utf8(plain).ok())
                .is_some_and(|token| matches(&token))
        })
        .map(|(user_id, _)| user_id)
        .collect())
}

/// Revokes at the provider the tokens that were kept for a sign-in method just removed (`sealed`: the access token,
/// and the refresh token if there was one), where it has a revocation endpoint. In the background: the removal is
/// done whatever the provider answers, and a failure is logged.
pub fn revoke_at_provider(state: &AppState, user_id: &str, provider: &str, sealed: (Vec<u8>, Option<Vec<u8>>)) {
    let (state, user_id, provider) = (state.clone(), user_id.to_owned(), provider.to_owned());
    tokio::spawn(async move {
        let open = |column: &str, sealed: &[u8]| {
            let plain = state.sealer.open(Purpose::ProviderToken, &record(&user_id, &provider, column), sealed).ok()?;
            String::from_utf8(plain).ok()
        };
        let Ok(client) = state.providers.get(&provider).await else { return };
        let (access, refresh) = sealed;
        let refresh = refresh.and_then(|r| open("refresh_token", &r));
        for (what, outcome) in client.revoke(open("access_token", &access), refresh).await {
            match outcome {
                Ok(true) => tracing::info!(provider, %user_id, what, "kept token revoked at the provider"),
                Ok(false) => tracing::info!(provider, %user_id, what, "the provider had nothing to revoke"),
                Err(error) => tracing::warn!(provider, %user_id, what, %error, "revoking a kept token failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_the_longest_provider_request_three_times() {
        assert_eq!(lease_secs(Duration::from_secs(10)), 30, "the default and largest PROVIDER_TIMEOUT");
        assert_eq!(lease_secs(Duration::from_secs(4)), 12);
        assert_eq!(lease_secs(Duration::from_millis(1500)), 5, "rounded up");
        assert_eq!(lease_secs(Duration::from_millis(200)), 3, "never under three seconds (timestamps are seconds)");
    }
}
