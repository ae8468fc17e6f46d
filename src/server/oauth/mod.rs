//! Gatehouse as an OAuth 2.1 and OpenID Connect provider: apps registered here sign people in with Gatehouse and call
//! its API with the access tokens they get.
//!
//! - [`clients`]: the apps, their redirect URIs and secrets (and `gatehouse clients …`).
//! - [`authorize`]: `GET /oauth/authorize`, the consent page, and the authorization codes it issues.
//! - [`token`]: `POST /oauth/token` (authorization code, refresh token, client credentials).
//! - [`device`]: device authorization (RFC 8628) and the `/device` page.
//! - [`logout`]: RP-initiated logout (`end_session_endpoint`).
//! - [`introspection`]: `POST /oauth/revoke` and `POST /oauth/introspect`; [`userinfo`]: `/oauth/userinfo`.
//! - [`grants`]: what a code was exchanged for (an authorization, the family of its refresh tokens), revocation.
//! - [`jwt`]: access tokens (RFC 9068) and ID tokens, issued and checked.
//! - [`keys`]: the ES256 keys that sign them, sealed at rest, rotated.
//! - [`discovery`]: the metadata documents and the JWKS.
//!
//! Held to OAuth 2.1, RFC 9700 (PKCE S256 for every client, exact redirect URIs, `iss` on every authorization
//! response, single-use codes, refresh token rotation with reuse detection) and OpenID Connect Core.

pub mod authorize;
pub mod clients;
pub mod device;
pub mod discovery;
pub mod grants;
pub mod introspection;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod page;
pub mod token;
pub mod userinfo;

use std::fmt;

use axum::{
    Router,
    http::{HeaderValue, Method, header},
    routing::{get, post},
};
use sha2::{Digest, Sha256};
use tower_http::cors::{Any, CorsLayer};

use super::state::AppState;
use crate::model::tokens::Scope;

pub fn router() -> Router<AppState> {
    // Apps' own pages call these from the browser, with no cookie of ours: any origin may, without credentials.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(3600));
    let machine = Router::new()
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/.well-known/oauth-authorization-server", get(discovery::authorization_server))
        .route("/oauth/jwks.json", get(discovery::jwks))
        .route("/oauth/token", post(token::token))
        .route("/oauth/device_authorization", post(device::device_authorization))
        .route("/oauth/revoke", post(introspection::revoke))
        .route("/oauth/introspect", post(introspection::introspect))
        .route("/oauth/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .layer(cors);
    Router::new()
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/authorize/resume", get(authorize::resume))
        .route("/oauth/authorize/decision", post(authorize::decision))
        .route("/device", get(device::form).post(device::submit))
        .route("/oauth/logout", get(logout::end_session).post(logout::end_session))
        .merge(machine)
}

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
    pub const ALL: [OAuthScope; 10] = [
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

/// What the database keeps of a high-entropy secret (a code, a refresh token, a client secret): its SHA-256. No
/// slow hash is needed for 256 random bits, and a lookup by hash takes the same time however much of a guess was
/// right.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new secret: a prefix that says what it is (so secret scanners and people can tell), then 256 random bits.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", super::clock::random_token(32))
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as RFC 6749 §5.1 asks of every response that carries a token.
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Reads `application/x-www-form-urlencoded` parameters, refusing any that comes twice (RFC 6749 §3.1, §3.2).
pub fn parameters(raw: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut map = std::collections::BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if map.insert(name.to_string(), value.to_string()).is_some() {
            return Err(format!("the parameter \u{201c}{name}\u{201d} is given more than once"));
        }
    }
    // An empty value counts as absent (RFC 6749 §3.1).
    map.retain(|_, value| !value.is_empty());
    Ok(map)
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

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert!(parameters("a=1&a=2").is_err());
        let map = parameters("a=1&b=&c=x%20y").expect("parses");
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        assert_eq!(map.get("b"), None);
        assert_eq!(map.get("c").map(String::as_str), Some("x y"));
    }
}
