//! The security activity log: every authentication event, with time, person, address, browser and details, each
//! linked to the one before by a hash chain ([`chain`]).

use serde_json::Value;

pub mod chain;
pub mod watch;

use crate::server::{
    people::session::ClientInfo,
    platform::{
        clock,
        db::{Db, Exec},
    },
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
    AllTokensRevoked,
    AddressBlocked,
    AddressNotAllowed,
    AuditPurged,
    AccountDisabled,
    AccountEnabled,
    BlockLifted,
    AuditExported,
    NewSignIn,
    SignInDisowned,
}

impl Event {
    /// Every kind, for the admin area's filter.
    pub const ALL: [Event; 39] = [
        Event::SignIn,
        Event::SignInFailed,
        Event::SignOut,
        Event::AccountCreated,
        Event::AccountDeleted,
        Event::IdentityLinked,
        Event::IdentityUnlinked,
        Event::LinkFailed,
        Event::ProfileUpdated,
        Event::SessionRevoked,
        Event::OtherSessionsRevoked,
        Event::TokenCreated,
        Event::TokenUsed,
        Event::TokenRevoked,
        Event::PasswordSet,
        Event::PasswordChanged,
        Event::PasswordReset,
        Event::EmailVerified,
        Event::AccountLocked,
        Event::MfaEnabled,
        Event::MfaDisabled,
        Event::MfaFailed,
        Event::RecoveryCodesRegenerated,
        Event::StepUp,
        Event::AppRegistered,
        Event::AppRemoved,
        Event::AppAuthorized,
        Event::AppRevoked,
        Event::AppTokenReused,
        Event::AllTokensRevoked,
        Event::AddressBlocked,
        Event::AddressNotAllowed,
        Event::AuditPurged,
        Event::AccountDisabled,
        Event::AccountEnabled,
        Event::BlockLifted,
        Event::AuditExported,
        Event::NewSignIn,
        Event::SignInDisowned,
    ];

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
            Event::AllTokensRevoked => "all_tokens_revoked",
            Event::AddressBlocked => "address_blocked",
            Event::AddressNotAllowed => "address_not_allowed",
            Event::AuditPurged => "audit_purged",
            Event::AccountDisabled => "account_disabled",
            Event::AccountEnabled => "account_enabled",
            Event::BlockLifted => "block_lifted",
            Event::AuditExported => "audit_exported",
            Event::NewSignIn => "new_sign_in",
            Event::SignInDisowned => "sign_in_disowned",
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
    let detail = bounded(&detail);
    let event = chain::NewEvent {
        at: clock::now(),
        user_id,
        kind: event.as_str(),
        ip: client.ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
        detail: &detail,
    };
    chain::append(db, event).await
}

/// The longest a detail may be, as stored.
const MAX_DETAIL_BYTES: usize = 2048;
/// The longest a text value in a detail may be: longer ones are cut (with `…`).
const MAX_TEXT_CHARS: usize = 256;

/// A detail as stored: text values cut to a few hundred characters, and the whole to 2 KB. Details hold ids, names
/// and reasons; anything longer came from somewhere it should not have, and is not worth keeping whole.
fn bounded(detail: &Value) -> String {
    fn cut(value: &Value) -> Value {
        match value {
            Value::String(text) if text.chars().count() > MAX_TEXT_CHARS => {
                Value::String(text.chars().take(MAX_TEXT_CHARS).chain(std::iter::once('…')).collect())
            }
            Value::Array(items) => Value::Array(items.iter().take(32).map(cut).collect()),
            Value::Object(fields) => Value::Object(fields.iter().take(32).map(|(k, v)| (k.clone(), cut(v))).collect()),
            other => other.clone(),
        }
    }
    let text = cut(detail).to_string();
    if text.len() <= MAX_DETAIL_BYTES { text } else { serde_json::json!({ "truncated": true }).to_string() }
}

/// [`record`] in a transaction of its own, for an event that is not part of another: the chain is extended by one
/// writer at a time, under a lock held to the end of a transaction.
pub async fn record_on(
    db: &Db,
    event: Event,
    user_id: Option<&str>,
    client: &ClientInfo,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    record(tx.as_exec(), event, user_id, client, detail).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let mut kinds: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), Event::ALL.len());
    }

    #[test]
    fn details_are_kept_small_whatever_they_are_given() {
        let small = json!({ "provider": "github", "reason": "invalid_state" });
        assert_eq!(bounded(&small), small.to_string(), "ordinary details are kept as they are");
        let long = bounded(&json!({ "provider": "x".repeat(60_000) }));
        assert!(long.len() < 300 && long.contains('…'), "{long}");
        let many =
            json!((0..1000).map(|i| (format!("k{i}"), json!("v".repeat(200)))).collect::<serde_json::Map<_, _>>());
        assert!(bounded(&many).len() <= MAX_DETAIL_BYTES);
    }
}
