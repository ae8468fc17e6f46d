//! Login attempts: what a sign-in started with (state, PKCE verifier, nonce, where to go next), kept server-side in
//! this browser's session for ten minutes and usable once.

use std::fmt;

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::server::auth::redirect::RedirectTarget;
use crate::server::{people::session, platform::clock};

/// Attempts kept per browser; starting more (many tabs) forgets the oldest.
const MAX_PENDING: usize = 4;
const SESSION_KEY: &str = "login.attempts";
/// How long a session that only holds login attempts lives.
const ANONYMOUS_LIFETIME: tower_sessions::cookie::time::Duration = tower_sessions::cookie::time::Duration::minutes(15);

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginAttempt {
    pub provider: String,
    /// The issuer the attempt was sent to; the callback's `iss` parameter must name it.
    pub issuer: String,
    pub state: String,
    pub pkce_verifier: String,
    /// For OpenID Connect: the ID token must carry it back.
    pub nonce: Option<String>,
    pub next: RedirectTarget,
    pub expires_at: i64,
    /// Link mode: the signed-in person the new identity is to be attached to, instead of signing in.
    #[serde(default)]
    pub link_to: Option<String>,
    /// Confirm mode: the signed-in person confirming it is them (step-up) by signing in at the provider again.
    #[serde(default)]
    pub confirm_for: Option<String>,
    /// When the attempt started: in confirm mode, the provider's sign-in must be no older.
    #[serde(default)]
    pub started_at: i64,
    /// Whether "Keep me signed in" was chosen.
    #[serde(default)]
    pub keep: crate::server::people::session::Keep,
}

impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("provider", &self.provider)
            .field("issuer", &self.issuer)
            .field("next", &self.next)
            .field("expires_at", &self.expires_at)
            .field("link_to", &self.link_to)
            .field("confirm_for", &self.confirm_for)
            .finish_non_exhaustive()
    }
}

/// Why a callback's attempt was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum AttemptError {
    /// No attempt with this state in this browser: forged, from another browser, or already used.
    Unknown,
    Expired,
    /// The attempt was started for another provider than the callback names.
    WrongProvider,
}

/// Remembers `attempt` in the session (creating the session if this browser has none).
pub async fn store(session: &Session, attempt: LoginAttempt) -> Result<(), tower_sessions::session::Error> {
    if !session::is_signed_in(session).await? {
        // Only attempts in this session: give it a short life, so abandoned attempts do not linger.
        session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(ANONYMOUS_LIFETIME)));
    }
    let now = clock::now();
    let mut pending: Vec<LoginAttempt> = session.get(SESSION_KEY).await?.unwrap_or_default();
    pending.retain(|a| a.expires_at > now);
    if pending.len() >= MAX_PENDING {
        pending.remove(0);
    }
    pending.push(attempt);
    session.insert(SESSION_KEY, pending).await
}

/// Removes and returns the attempt with this `state`. It is gone whatever happens next: an attempt is used once.
pub async fn take(
    session: &Session,
    provider: &str,
    state: &str,
) -> Result<Result<LoginAttempt, AttemptError>, tower_sessions::session::Error> {
    let mut pending: Vec<LoginAttempt> = session.get(SESSION_KEY).await?.unwrap_or_default();
    let Some(index) = pending.iter().position(|a| constant_time_eq(a.state.as_bytes(), state.as_bytes())) else {
        return Ok(Err(AttemptError::Unknown));
    };
    let attempt = pending.remove(index);
    // Persist the removal now, whatever the response turns out to be: an emptied session is deleted from the store
    // (the middleware would only drop the cookie, leaving the attempt readable by a replayed cookie).
    if pending.is_empty() {
        session.remove_value(SESSION_KEY).await?;
    } else {
        session.insert(SESSION_KEY, pending).await?;
    }
    if session.is_empty().await {
        session.flush().await?;
    } else {
        session.save().await?;
    }
    Ok(if attempt.expires_at <= clock::now() {
        Err(AttemptError::Expired)
    } else if attempt.provider != provider {
        Err(AttemptError::WrongProvider)
    } else {
        Ok(attempt)
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
