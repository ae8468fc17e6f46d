//! Back-channel logout, sent (OpenID Connect Back-Channel Logout 1.0, as the provider): an app that registered a
//! `backchannel_logout_uri` is told, server to server, each time a person's authorization with it ends.
//!
//! **One mechanism for every way an authorization ends.** The database writes the outbox row itself: a trigger on
//! `oauth_authorizations` (migration `20261208000002`) adds one to `backchannel_logouts` for every deleted
//! authorization of an app with a URI, in the transaction that deletes it — signing out (the session's row goes and
//! the authorizations bound to it with it), a session revoked or past its limits, "sign out all other sessions",
//! "this wasn't me", an account disabled or deleted, the app's access revoked, a refresh token used twice. No code
//! path can end an authorization and forget to tell the app, and a crash after the commit loses nothing.
//!
//! **Delivery.** Every instance runs [`run`]: once a second it claims the rows that are due with a lease (a
//! conditional `UPDATE`, so two instances never send one row at once), signs a fresh logout token for each (ES256,
//! `typ: logout+jwt`, the `sid` of the ID tokens that authorization gave, a new `jti` per attempt, two minutes of
//! life) and POSTs it through [`Outbound`]: public addresses only (see there), no redirects, short deadlines. A 2xx
//! answer delivers it; a network error or a 5xx is tried again after 1, 5 and 25 seconds; anything else, or the
//! fourth failure, gives up. Each outcome is kept on the app (`/apps` shows it to its developer) and counted in
//! `/metrics` (`gatehouse_backchannel_logout_deliveries_total{client, outcome}`).

use std::time::Duration;

use serde_json::json;

use crate::server::{
    oauth::{clients, jwt},
    platform::{
        clock,
        db::{Db, on},
        outbound::{Outbound, OutboundError},
    },
    state::AppState,
};

/// How often each instance looks for logout tokens to send.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a claimed row is left to the instance that claimed it: three times as long as a delivery may take (the
/// outbound request's 5 s), and no longer, since a row its instance crashed holding waits this long for another.
const LEASE_SECS: i64 = 15;
/// The waits before the second, third and fourth attempts; there is no fifth.
const BACKOFF_SECS: [i64; 3] = [1, 5, 25];
/// How many rows one pass claims.
const BATCH: i64 = 16;
/// A logout token's life.
const TOKEN_LIFETIME_SECS: i64 = 120;
/// The event a logout token carries.
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Sends what is due, once a second, for as long as the server runs.
pub async fn run(state: AppState) {
    let outbound = Outbound::new(state.config.oauth.outbound);
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = deliver_due(&state, &outbound).await {
            tracing::warn!(%error, "back-channel logout delivery pass failed");
        }
    }
}

/// One row of the outbox, claimed.
#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    client_id: String,
    subject: String,
    sid: String,
    attempts: i32,
}

/// Claims what is due and sends it; returns how many rows were handled.
pub async fn deliver_due(state: &AppState, outbound: &Outbound) -> Result<usize, sqlx::Error> {
    let due = claim(&state.db, clock::now()).await?;
    let count = due.len();
    // At once: one slow app does not hold up the others.
    let mut sending = tokio::task::JoinSet::new();
    for due in due {
        let (state, outbound) = (state.clone(), outbound.clone());
        sending.spawn(async move { deliver(&state, &outbound, due).await });
    }
    while sending.join_next().await.is_some() {}
    Ok(count)
}

async fn claim(db: &Db, now: i64) -> Result<Vec<Due>, sqlx::Error> {
    // Most passes find nothing: a read says so without taking SQLite's write lock every second.
    let due: Option<i64> = on!(db, pool => sqlx::query_scalar(
        "SELECT id FROM backchannel_logouts WHERE next_attempt_at <= $1 AND leased_until <= $1 LIMIT 1",
    )
    .bind(now)
    .fetch_optional(pool)
    .await)?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    // The lease condition is checked again on each row as it is updated, so of two instances claiming at once
    // only one gets a row.
    on!(db, pool => sqlx::query_as(
        "UPDATE backchannel_logouts SET leased_until = $1, attempts = attempts + 1
         WHERE id IN (SELECT id FROM backchannel_logouts WHERE next_attempt_at <= $2 AND leased_until <= $2
                      ORDER BY id LIMIT $3)
           AND leased_until <= $2
         RETURNING id, client_id, subject, sid, attempts",
    )
    .bind(now + LEASE_SECS)
    .bind(now)
    .bind(BATCH)
    .fetch_all(pool)
    .await)
}

/// What became of one delivery.
enum Outcome {
    Delivered,
    /// Tried again later.
    Retry(String),
    /// Given up.
    Failed(String),
}

async fn deliver(state: &AppState, outbound: &Outbound, due: Due) {
    let outcome = match attempt(state, outbound, &due).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(%error, client = due.client_id, "back-channel logout could not be sent");
            Outcome::Retry("Gatehouse could not send it".into())
        }
    };
    let retry_in = BACKOFF_SECS.get(usize::try_from(due.attempts - 1).unwrap_or(usize::MAX)).copied();
    let (label, said, retry) = match outcome {
        Outcome::Delivered => ("delivered", "delivered".to_owned(), None),
        Outcome::Retry(why) if retry_in.is_some() => ("retried", format!("failed ({why}), trying again"), retry_in),
        Outcome::Retry(why) | Outcome::Failed(why) => ("failed", format!("failed ({why})"), None),
    };
    state.metrics.backchannel_logout_delivery(&due.client_id, label);
    if let Err(error) = settle(&state.db, &due, retry, &said).await {
        tracing::warn!(%error, client = due.client_id, "back-channel logout outcome not recorded");
    }
    match label {
        "delivered" => tracing::info!(client = due.client_id, "back-channel logout delivered"),
        _ => tracing::warn!(client = due.client_id, outcome = said, "back-channel logout not delivered"),
    }
}

async fn attempt(state: &AppState, outbound: &Outbound, due: &Due) -> Result<Outcome, sqlx::Error> {
    // An app removed (or suspended) since: nobody to tell.
    let Some(client) = clients::find(&state.db, &due.client_id).await? else {
        return Ok(Outcome::Failed("the app is gone".into()));
    };
    let Some(logout) = client.backchannel_logout else {
        return Ok(Outcome::Failed("the app no longer has a back-channel logout URI".into()));
    };
    let now = clock::now();
    let token = jwt::logout_token(
        state,
        client.id_token_alg,
        &jwt::LogoutClaims {
            iss: jwt::issuer(state),
            sub: due.subject.clone(),
            aud: client.id.clone(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            jti: clock::random_token(16),
            sid: due.sid.clone(),
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        },
    );
    Ok(match outbound.post_form(&logout.uri, &[("logout_token", &token)]).await {
        Ok(answer) if answer.status().is_success() => Outcome::Delivered,
        Ok(answer) if answer.status().is_server_error() => Outcome::Retry(format!("HTTP {}", answer.status().as_u16())),
        Ok(answer) => Outcome::Failed(format!("HTTP {}", answer.status().as_u16())),
        Err(OutboundError::Network(why)) => Outcome::Retry(why),
        Err(refused) => Outcome::Failed(refused.to_string()),
    })
}

/// Deletes the row (delivered, or given up) or sets its next attempt; records the outcome on the app.
async fn settle(db: &Db, due: &Due, retry_in: Option<i64>, said: &str) -> Result<(), sqlx::Error> {
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    on!(tx.as_exec(), conn => {
        match retry_in {
            Some(secs) => sqlx::query(
                "UPDATE backchannel_logouts SET next_attempt_at = $1, leased_until = 0 WHERE id = $2",
            )
            .bind(now + secs)
            .bind(due.id)
            .execute(&mut *conn)
            .await?,
            None => sqlx::query("DELETE FROM backchannel_logouts WHERE id = $1").bind(due.id).execute(&mut *conn).await?,
        };
        sqlx::query("UPDATE oauth_clients SET logout_delivered_at = $1, logout_outcome = $2 WHERE id = $3")
            .bind(now)
            .bind(said)
            .bind(&due.client_id)
            .execute(&mut *conn)
            .await?;
        Ok::<_, sqlx::Error>(())
    })?;
    tx.commit().await
}
