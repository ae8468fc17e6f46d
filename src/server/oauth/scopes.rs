//! What an app may ask for: the OpenID Connect scopes and the API's own, parsed once into a sorted set.

use std::fmt;

use crate::model::tokens::Scope;

/// What an app may ask for: the OpenID Connect scopes, and the API's own (but `tokens:write`: an app must not be able
/// to mint personal access tokens, which would outlive its revocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OAuthScope {
    OpenId,
    Profile,
    Email,
    OfflineAccess,
    Api(Scope),
}

impl OAuthScope {
    pub const ALL: [OAuthScope; 11] = [
        OAuthScope::OpenId,
        OAuthScope::Profile,
        OAuthScope::Email,
        OAuthScope::OfflineAccess,
        OAuthScope::Api(Scope::ProfileRead),
        OAuthScope::Api(Scope::ProfileWrite),
        OAuthScope::Api(Scope::SessionsRead),
        OAuthScope::Api(Scope::SessionsWrite),
        OAuthScope::Api(Scope::AuditRead),
        OAuthScope::Api(Scope::TokensRead),
        OAuthScope::Api(Scope::ConnectionsToken),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OAuthScope::OpenId => "openid",
            OAuthScope::Profile => "profile",
            OAuthScope::Email => "email",
            OAuthScope::OfflineAccess => "offline_access",
            OAuthScope::Api(scope) => scope.as_str(),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// What the consent page says the scope lets the app do.
    pub fn description(self) -> &'static str {
        match self {
            OAuthScope::OpenId => "Know who you are on Gatehouse",
            OAuthScope::Profile => "See your name and picture",
            OAuthScope::Email => "See your email address",
            OAuthScope::OfflineAccess => "Stay connected when you are signed out of Gatehouse",
            OAuthScope::Api(scope) => scope.description(),
        }
    }

    /// Whether an app holding it can change things for the person (its consent needs a recent confirmation).
    pub fn writes(self) -> bool {
        matches!(self, OAuthScope::Api(scope) if scope.writes())
    }

    /// Scopes a token for an app alone (client credentials) may carry: none that speak for a person.
    pub fn is_for_clients(self) -> bool {
        matches!(self, OAuthScope::Api(_))
    }
}

/// A set of scopes, kept sorted and without repeats; written space-separated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<OAuthScope>);

impl Scopes {
    /// Parses a space-separated list; the error names the first unknown scope.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut scopes = Vec::new();
        for name in raw.split(' ').filter(|s| !s.is_empty()) {
            scopes.push(OAuthScope::parse(name).ok_or_else(|| format!("unknown scope \u{201c}{name}\u{201d}"))?);
        }
        Ok(Self::from(scopes))
    }

    /// Scopes as stored: an unknown name (from a newer version, say) is dropped, so nothing gains by it.
    pub fn from_stored(raw: &str) -> Self {
        Self::from(raw.split_whitespace().filter_map(OAuthScope::parse).collect::<Vec<_>>())
    }

    pub fn contains(&self, scope: OAuthScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(*s))
    }

    pub fn union(&self, other: &Scopes) -> Scopes {
        Self::from(self.0.iter().chain(&other.0).copied().collect::<Vec<_>>())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = OAuthScope> + '_ {
        self.0.iter().copied()
    }

    /// The API scopes among them, for the API's `Principal`.
    pub fn api(&self) -> Vec<Scope> {
        self.0.iter().filter_map(|s| if let OAuthScope::Api(s) = s { Some(*s) } else { None }).collect()
    }
}

impl From<Vec<OAuthScope>> for Scopes {
    fn from(mut scopes: Vec<OAuthScope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_sort_and_refuse_unknown_names() {
        let scopes = Scopes::parse("profile:read openid  openid email").expect("parses");
        assert_eq!(scopes.to_string(), "openid email profile:read");
        assert_eq!(scopes.api(), [Scope::ProfileRead]);
        assert!(Scopes::parse("openid tokens:write").is_err(), "apps cannot mint personal tokens");
        assert!(Scopes::parse("openid admin").unwrap_err().contains("admin"));
        assert!(Scopes::parse("openid").unwrap().is_subset_of(&scopes));
        assert!(!scopes.is_subset_of(&Scopes::parse("openid").unwrap()));
    }
}
