//! What the pages know about signing in: the signed-in person and the providers, through server functions that
//! check the session on the server. Shared by the server and the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in person, as pages and `GET /api/v1/me` show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignedInUser {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
    /// Ids of the providers this person can sign in with (`dev`, `github`, …).
    pub providers: Vec<String>,
}

impl SignedInUser {
    /// Up to two initials, for the avatar when there is no picture.
    pub fn initials(&self) -> String {
        first_letters(&self.display_name).chars().flat_map(char::to_uppercase).collect()
    }
}

/// The first letters of a name's first two words, as written: "Ada lovelace" → "Al".
pub fn first_letters(name: &str) -> String {
    name.split_whitespace().filter_map(|w| w.chars().next()).take(2).collect()
}

/// A provider's name for people, from its id (`dev` → "Dev IdP"). Unknown ids are shown as they are.
pub fn provider_name(id: &str) -> &str {
    match id {
        "google" => "Google",
        "github" => "GitHub",
        "oidc" => "Single sign-on",
        "dev" => "Dev IdP",
        "password" => "Password",
        other => other,
    }
}

/// The provider names of a person's sign-in methods, for sentences ("Google, GitHub").
pub fn provider_names(ids: &[String]) -> String {
    ids.iter().map(|id| provider_name(id)).collect::<Vec<_>>().join(", ")
}

/// A sign-in button on the login page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    pub id: String,
    pub label: String,
}

/// The signed-in person, or `None`: what the request's one session check found (an account deleted under a live
/// session reads as signed out). No query of its own.
#[server]
pub async fn current_user() -> Result<Option<SignedInUser>, AppError> {
    Ok(crate::server::context::caller().0.map(|signed_in| signed_in.user.as_ref().clone()))
}

/// The signed-in person while rendering a page on the server: what the request's one session check found, with no
/// query and no resource. `None` in the browser, where only islands run and they take what they need as props.
pub fn signed_in_user() -> Option<SignedInUser> {
    #[cfg(feature = "ssr")]
    return crate::server::context::caller().0.map(|signed_in| signed_in.user.as_ref().clone());
    #[cfg(not(feature = "ssr"))]
    None
}

/// The configured sign-in providers, in the order the login page shows them.
#[server]
pub async fn login_providers() -> Result<Vec<ProviderSummary>, AppError> {
    let state = crate::server::context::state()?;
    Ok(state.providers.summaries())
}

/// Signs out: deletes the session on the server, clears the cookie, and goes home.
#[server]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::{audit, context, session};
    let state = context::state()?;
    let session = context::session().await?;
    let client = context::client_info().await;
    if let Some(user_id) = session::logout(&session, &state.db, &state.cache).await.map_err(AppError::internal)? {
        audit::record_on(&state.db, audit::Event::SignOut, Some(&user_id), &client, serde_json::json!({}))
            .await
            .map_err(AppError::internal)?;
    }
    leptos_axum::redirect("/");
    Ok(())
}
