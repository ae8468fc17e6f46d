//! The security activity log: every authentication event, with time, person, address, browser and details.

use serde_json::Value;

use super::{
    clock,
    db::{Db, Exec, on},
    session::ClientInfo,
};

/// What happened. Stored as text; the dashboard turns these into sentences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    SignIn,
    SignInFailed,
    SignOut,
    AccountCreated,
    AccountDeleted,
    IdentityLinked,
    IdentityUnlinked,
    LinkFailed,
    ProfileUpdated,
    SessionRevoked,
    OtherSessionsRevoked,
    TokenCreated,
    TokenUsed,
    TokenRevoked,
    PasswordSet,
    PasswordChanged,
    PasswordReset,
    EmailVerified,
    AccountLocked,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    RecoveryCodesRegenerated,
    StepUp,
    AppRegistered,
    AppRemoved,
    AppAuthorized,
    AppRevoked,
    AppTokenReused,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SignIn => "sign_in",
            Event::SignInFailed => "sign_in_failed",
            Event::SignOut => "sign_out",
            Event::AccountCreated => "account_created",
            Event::AccountDeleted => "account_deleted",
            Event::IdentityLinked => "identity_linked",
            Event::IdentityUnlinked => "identity_unlinked",
            Event::LinkFailed => "link_failed",
            Event::ProfileUpdated => "profile_updated",
            Event::SessionRevoked => "session_revoked",
            Event::OtherSessionsRevoked => "other_sessions_revoked",
            Event::TokenCreated => "token_created",
            Event::TokenUsed => "token_used",
            Event::TokenRevoked => "token_revoked",
            Event::PasswordSet => "password_set",
            Event::PasswordChanged => "password_changed",
            Event::PasswordReset => "password_reset",
            Event::EmailVerified => "email_verified",
            Event::AccountLocked => "account_locked",
            Event::MfaEnabled => "mfa_enabled",
            Event::MfaDisabled => "mfa_disabled",
            Event::MfaFailed => "mfa_failed",
            Event::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Event::StepUp => "step_up",
            Event::AppRegistered => "app_registered",
            Event::AppRemoved => "app_removed",
            Event::AppAuthorized => "app_authorized",
            Event::AppRevoked => "app_revoked",
            Event::AppTokenReused => "app_token_reused",
        }
    }
}

/// Appends an event. `detail` must never hold a secret (codes, tokens, cookies).
pub async fn record(
    db: Exec<'_>,
    event: Event,
    user_id: Option<&str>,
    client: &ClientInfo,
    detail: Value,
) -> Result<(), sqlx::Error> {
    on!(db, conn => sqlx::query(
        "INSERT INTO audit_events (at, user_id, kind, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(clock::now())
    .bind(user_id)
    .bind(event.as_str())
    .bind(&client.ip)
    .bind(&client.user_agent)
    .bind(detail.to_string())
    .execute(conn)
    .await
    .map(drop))?;
    Ok(())
}

/// [`record`] on a connection of its own, for an event that is not part of a transaction.
pub async fn record_on(
    db: &Db,
    event: Event,
    user_id: Option<&str>,
    client: &ClientInfo,
    detail: Value,
) -> Result<(), sqlx::Error> {
    record(db.acquire().await?.as_exec(), event, user_id, client, detail).await
}
