//! Step-up: the one gate in front of every sensitive change — anything that changes how a person proves who they
//! are (two-step verification, recovery codes, a password, a linked provider), what may act for them (write tokens,
//! write-scope consent to an app), or deletes their account.
//!
//! A service that makes such a change takes a [`Confirmed`], and the only ways to get one are [`require`] (this
//! session confirmed who is at the keyboard in the last ten minutes) and [`record`] (a confirmation that passed just
//! now). So no entry point — a server function, the JSON API, a plain handler — can reach a sensitive change
//! without it, and a new one cannot forget it: it would not compile. Enrolling an authenticator is never a
//! confirmation; signing in, a password, a code, or a fresh sign-in at the person's provider are.

use serde_json::json;

use crate::model::error::AppError;
use crate::server::{
    people::session::{self, AuthSession, ClientInfo, SecondFactor},
    platform::{clock, db::Db},
    security::audit::{self, Event},
    state::AppState,
};

/// How long a confirmation of identity lets a session make sensitive changes.
pub const CONFIRMATION_SECS: i64 = 600;

/// Proof that this session confirmed who is at the keyboard within [`CONFIRMATION_SECS`]: what every sensitive
/// service asks for. It cannot be made outside this module.
#[derive(Clone, Debug)]
pub struct Confirmed(AuthSession);

impl Confirmed {
    pub fn session(&self) -> &AuthSession {
        &self.0
    }

    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    pub fn session_id(&self) -> &str {
        &self.0.session_id
    }
}

/// How who is at the keyboard just proved it.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    Password,
    Code(SecondFactor),
    /// A fresh sign-in at this provider (one of the person's own).
    Provider(&'a str),
}

impl Proof<'_> {
    fn method(&self) -> &str {
        match self {
            Proof::Password => "password",
            Proof::Code(factor) => factor.as_str(),
            Proof::Provider(provider) => provider,
        }
    }
}

/// This session, if it confirmed who is at the keyboard in the last ten minutes; `ConfirmIdentity` otherwise (the
/// pages send the person to `/confirm`, the API answers 403 `confirm_identity`), `Unauthorized` when it is gone.
pub async fn require(db: &Db, auth: &AuthSession) -> Result<Confirmed, AppError> {
    let assurance = session::Assurance::of(db, &auth.session_id).await?.ok_or(AppError::Unauthorized)?;
    match assurance.confirmed_at {
        Some(at) if at > clock::now() - CONFIRMATION_SECS => Ok(Confirmed(auth.clone())),
        _ => Err(AppError::ConfirmIdentity),
    }
}

/// Records a confirmation of identity that passed just now on this session (audited as `step_up`): it may make
/// sensitive changes for ten minutes.
pub async fn record(
    state: &AppState,
    auth: &AuthSession,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<Confirmed, AppError> {
    let second_factor = match proof {
        Proof::Code(factor) => Some(factor),
        Proof::Password | Proof::Provider(_) => None,
    };
    let mut tx = state.db.begin_write().await?;
    session::confirm(tx.as_exec(), &auth.session_id, second_factor).await?;
    audit::record(tx.as_exec(), Event::StepUp, Some(&auth.user_id), client, json!({ "method": proof.method() }))
        .await?;
    tx.commit().await?;
    Ok(Confirmed(auth.clone()))
}
