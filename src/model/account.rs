//! The signed-in person's own account as the pages and the API show it: profile, sign-in methods, sessions and
//! security activity. Shared by the server and the browser.

use serde::{Deserialize, Serialize};

use crate::model::{
    auth::{ProviderSummary, SignedInUser},
    error::AppError,
    mfa::TwoStep,
    tokens::TokenList,
};

/// A display name: trimmed, 1–64 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("Enter a display name.".into()));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(AppError::Invalid(format!("Use at most {} characters.", Self::MAX_CHARS)));
        }
        if name.chars().any(char::is_control) {
            return Err(AppError::Invalid("Use letters, digits, spaces and punctuation only.".into()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The profile page's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileOverview {
    /// The server's clock, so relative times render the same on the server and after hydration.
    pub now: i64,
    pub user: SignedInUser,
    pub member_since: i64,
    pub last_sign_in_at: Option<i64>,
    pub identities: Vec<LinkedIdentity>,
    /// Configured providers this person has not linked yet.
    pub linkable: Vec<ProviderSummary>,
    /// Every configured provider, so the page can offer one again once it is unlinked.
    pub providers: Vec<ProviderSummary>,
    /// The person's password, if they have one.
    pub password: Option<PasswordSummary>,
    /// Whether this site offers passwords (`PASSWORD_LOGIN`): the page offers to add one only then.
    pub password_login: bool,
    /// Two-step verification: on or off, and the recovery codes left.
    pub two_step: TwoStep,
    /// The person's passkeys.
    pub passkeys: crate::model::passkeys::PasskeySection,
}

/// A password sign-in method: the address it signs in with, and whether that address is confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordSummary {
    pub email: String,
    pub verified: bool,
}

/// One way a person signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    pub id: String,
    pub provider: String,
    pub provider_label: String,
    pub email: Option<String>,
    pub linked_at: i64,
    /// When the provider's tokens are kept (`PROVIDER_TOKENS=keep`): whether they still work (`false`: the provider
    /// refused them, reconnect by signing in with it again).
    pub tokens_kept: Option<bool>,
}

/// Everything the dashboard shows, from one server function and one read transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub user: SignedInUser,
    pub summary: DashboardSummary,
    pub sessions: SessionList,
    pub tokens: TokenList,
    /// The activity page the URL asks for (`?before=`), the newest by default.
    pub activity: ActivityPage,
}

/// The dashboard's summary cards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub now: i64,
    pub active_sessions: u32,
    pub linked_providers: u32,
    pub api_tokens: u32,
    /// The sign-in before this session's: when and from where. `None` on a first sign-in.
    pub last_sign_in: Option<SignInRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignInRecord {
    pub at: i64,
    pub ip: Option<String>,
    pub provider: Option<String>,
}

/// A signed-in session, as the sessions list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: String,
    /// "Firefox 133", parsed from the user agent; "Unknown browser" when it cannot be read.
    pub browser: String,
    /// "Linux", "iOS 18", …
    pub os: String,
    pub ip: Option<String>,
    pub provider: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub now: i64,
    pub sessions: Vec<SessionInfo>,
}

/// One entry of the security activity log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivityEvent {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `sign_in`, `sign_in_failed`, `sign_out`, `account_created`, `identity_linked`, `identity_unlinked`,
    /// `profile_updated`, `session_revoked`, `token_created`, `token_used`, `token_revoked`, …
    pub kind: String,
    /// A sentence for people: "Signed in with GitHub".
    pub summary: String,
    pub ip: Option<String>,
    pub browser: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub detail: serde_json::Value,
    /// The event is unchanged since it was recorded, and still where it was recorded in the hash chain of the whole
    /// security activity.
    pub verified: bool,
    /// On the dashboard, for a sign-in from a new browser and network whose notice is unused: its "this wasn't me"
    /// link. Never in the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_me: Option<String>,
}

/// A page of activity, newest first. `next` is the cursor for the following (older) page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActivityPage {
    pub now: i64,
    pub events: Vec<ActivityEvent>,
    pub next: Option<i64>,
}

/// Events per page of security activity.
pub const ACTIVITY_PAGE_SIZE: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada Lovelace  ").unwrap().as_str(), "Ada Lovelace");
        assert_eq!(DisplayName::parse(&"é".repeat(64)).unwrap().as_str().chars().count(), 64);
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("Ada\u{0}").is_err());
        assert!(DisplayName::parse("Ada\nLovelace").is_err());
    }
}
