//! Personal access tokens as the dashboard and the API see them: scopes, names, lifetimes. Secrets are made and
//! checked in `server::tokens`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::error::AppError;

/// What a token may do. A browser session carries every scope but `connections:token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Scope {
    #[serde(rename = "profile:read")]
    ProfileRead,
    #[serde(rename = "profile:write")]
    ProfileWrite,
    #[serde(rename = "sessions:read")]
    SessionsRead,
    #[serde(rename = "sessions:write")]
    SessionsWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "tokens:read")]
    TokensRead,
    #[serde(rename = "tokens:write")]
    TokensWrite,
    /// A current access token at one of the person's sign-in providers (`PROVIDER_TOKENS=keep`). Never carried by a
    /// browser session: only a personal access token or an app's token with it may ask.
    #[serde(rename = "connections:token")]
    ConnectionsToken,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::ProfileRead,
        Scope::ProfileWrite,
        Scope::SessionsRead,
        Scope::SessionsWrite,
        Scope::AuditRead,
        Scope::TokensRead,
        Scope::TokensWrite,
        Scope::ConnectionsToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProfileRead => "profile:read",
            Scope::ProfileWrite => "profile:write",
            Scope::SessionsRead => "sessions:read",
            Scope::SessionsWrite => "sessions:write",
            Scope::AuditRead => "audit:read",
            Scope::TokensRead => "tokens:read",
            Scope::TokensWrite => "tokens:write",
            Scope::ConnectionsToken => "connections:token",
        }
    }

    /// Whether a holder of this scope can change things (what needs a recent confirmation to hand out).
    pub fn writes(self) -> bool {
        matches!(self, Scope::ProfileWrite | Scope::SessionsWrite | Scope::TokensWrite | Scope::ConnectionsToken)
    }

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| AppError::Invalid(format!("\u{201c}{raw}\u{201d} is not a scope.")))
    }

    /// What the scope allows, for the token form.
    pub fn description(self) -> &'static str {
        match self {
            Scope::ProfileRead => "Read your profile",
            Scope::ProfileWrite => "Change your display name",
            Scope::SessionsRead => "List your sessions",
            Scope::SessionsWrite => "Revoke your sessions",
            Scope::AuditRead => "Read your security activity",
            Scope::TokensRead => "List your tokens",
            Scope::TokensWrite => "Create and revoke tokens",
            Scope::ConnectionsToken => "Get access tokens for your sign-in providers (Google, …)",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's name: trimmed, 1–64 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("Give the token a name, so you can recognise it later.".into()));
        }
        if name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AppError::Invalid("Use at most 64 characters, without line breaks.".into()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a new token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenLifetime {
    Days(u32),
    /// Only when the server allows it (`ALLOW_NON_EXPIRING_TOKENS=true`).
    Never,
}

impl TokenLifetime {
    pub const DEFAULT_DAYS: u32 = 30;
    pub const MAX_DAYS: u32 = 365;

    /// `None` means "never expires", which is refused unless `allow_never`.
    pub fn parse(days: Option<u32>, allow_never: bool) -> Result<Self, AppError> {
        match days {
            Some(d) if (1..=Self::MAX_DAYS).contains(&d) => Ok(Self::Days(d)),
            Some(_) => Err(AppError::Invalid(format!("Choose an expiry between 1 and {} days.", Self::MAX_DAYS))),
            None if allow_never => Ok(Self::Never),
            None => {
                Err(AppError::Invalid(format!("Tokens must expire: choose between 1 and {} days.", Self::MAX_DAYS)))
            }
        }
    }
}

/// A token as it is listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Unix seconds.
    pub created_at: i64,
    /// `null` for a token that never expires.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// The networks (CIDR blocks) it may be used from; empty: anywhere.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// The dashboard's token list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    pub now: i64,
    pub tokens: Vec<TokenInfo>,
    pub allow_non_expiring: bool,
}

/// A token just created: the only time its secret is ever shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// `gth_…`: shown once, stored only as a hash.
    pub secret: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken").field("token", &self.token).field("secret", &"[redacted]").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_their_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            assert_eq!(serde_json::to_string(&scope).unwrap(), format!("\"{scope}\""));
        }
        assert!(Scope::parse("admin").is_err());
        assert!(Scope::parse("Profile:Read").is_err());
    }

    #[test]
    fn lifetimes_are_bounded_and_never_needs_permission() {
        assert_eq!(TokenLifetime::parse(Some(30), false), Ok(TokenLifetime::Days(30)));
        assert_eq!(TokenLifetime::parse(Some(365), false), Ok(TokenLifetime::Days(365)));
        assert!(TokenLifetime::parse(Some(0), true).is_err());
        assert!(TokenLifetime::parse(Some(366), true).is_err());
        assert!(TokenLifetime::parse(None, false).is_err());
        assert_eq!(TokenLifetime::parse(None, true), Ok(TokenLifetime::Never));
    }

    #[test]
    fn token_names_are_trimmed_and_bounded() {
        assert_eq!(TokenName::parse(" ci ").unwrap().as_str(), "ci");
        assert!(TokenName::parse(" ").is_err());
        assert!(TokenName::parse(&"x".repeat(65)).is_err());
        assert!(TokenName::parse("a\tb").is_err());
    }

    #[test]
    fn a_created_token_never_prints_its_secret() {
        let created = CreatedToken {
            token: TokenInfo {
                id: "t".into(),
                name: "ci".into(),
                scopes: vec![Scope::ProfileRead],
                created_at: 0,
                expires_at: None,
                last_used_at: None,
                last_used_ip: None,
                allowed_ips: vec!["203.0.113.0/24".into()],
            },
            secret: "gth_supersecret".into(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
    }
}
