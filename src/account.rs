//! The signed-in person's own account: profile, sign-in methods, sessions and security activity. The types are shared
//! by the server and the browser; the server functions are thin adapters over `server::accounts`, and each one
//! checks the session itself and never takes a user id from the caller.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    auth::{ProviderSummary, SignedInUser},
    error::AppError,
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
    pub two_step: crate::mfa::TwoStep,
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

#[server(endpoint = "account/profile")]
pub async fn get_profile() -> Result<ProfileOverview, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        accounts::profile(&state, &signed_in).await
    })
    .await
}

#[server(endpoint = "account/display-name")]
pub async fn update_display_name(display_name: String) -> Result<String, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        let name = DisplayName::parse(&display_name)?;
        accounts::rename(&state, &auth.user_id, &name, &context::client_info().await).await?;
        Ok(name.as_str().to_owned())
    })
    .await
}

/// Removes a sign-in method. Refused while it is the last one.
#[server(endpoint = "account/unlink")]
pub async fn unlink_identity(id: String) -> Result<(), AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        accounts::unlink(&state, &confirmed, &id, &context::client_info().await).await
    })
    .await
}

/// Deletes the account, once `confirm_email` matches its email (or, for an account without one, its display name).
#[server(endpoint = "account/delete")]
pub async fn delete_account(confirm: String) -> Result<(), AppError> {
    use crate::server::{accounts, context, session};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        accounts::delete(&state, &confirmed, &confirm).await?;
        session::logout(&context::session().await?, &state.db, &state.cache).await.map_err(AppError::internal)?;
        leptos_axum::redirect("/?deleted=1");
        Ok(())
    })
    .await
}

/// The whole dashboard for the signed-in person; `before` picks the activity page, as `security_activity` does.
#[server(endpoint = "account/dashboard")]
pub async fn get_dashboard(before: Option<i64>) -> Result<DashboardView, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        accounts::dashboard(&state, &signed_in, before).await
    })
    .await
}

#[server(endpoint = "account/summary")]
pub async fn get_dashboard_summary() -> Result<DashboardSummary, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::summary(state.db.acquire().await?.as_exec(), &auth).await
    })
    .await
}

#[server(endpoint = "account/sessions")]
pub async fn list_sessions() -> Result<SessionList, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::sessions(state.db.acquire().await?.as_exec(), &auth.user_id, Some(&auth.session_id)).await
    })
    .await
}

/// Revokes one of this person's sessions; it is refused on its next request.
#[server(endpoint = "account/sessions/revoke")]
pub async fn revoke_session(id: String) -> Result<(), AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::revoke_session(&state, &auth.user_id, &id, &context::client_info().await).await
    })
    .await
}

/// Revokes every session but this one. Returns how many were ended.
#[server(endpoint = "account/sessions/revoke-others")]
pub async fn revoke_other_sessions() -> Result<u32, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::revoke_other_sessions(&state, &auth, &context::client_info().await).await
    })
    .await
}

/// A page of this person's security activity, newest first; `before` is the previous page's `next`.
#[server(endpoint = "account/activity")]
pub async fn security_activity(before: Option<i64>) -> Result<ActivityPage, AppError> {
    use crate::server::{accounts, context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::activity(&state, state.db.acquire().await?.as_exec(), &auth.user_id, before, ACTIVITY_PAGE_SIZE).await
    })
    .await
}

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
