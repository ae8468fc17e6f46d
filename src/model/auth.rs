//! What the pages know about signing in: the signed-in person and the providers. Shared by the server and the
//! browser.

use serde::{Deserialize, Serialize};

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
