//! Apps and Gatehouse: the apps a person has let in ("Apps you allowed") and the apps they registered to sign people
//! in with Gatehouse ("Your developer apps"), as `/apps` shows them. Shared by the server and the browser.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `/apps` page's data, read in one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppsView {
    /// The server's clock, so relative times render the same on the server and after hydration.
    pub now: i64,
    pub authorized: Vec<AuthorizedApp>,
    pub registered: Vec<RegisteredApp>,
    /// A confidential app's secret, just made: shown until the person says they have copied it (ten minutes at most).
    pub fresh: Option<FreshSecret>,
    /// The scopes an app may ask for: (name, what it allows).
    pub scopes: Vec<(String, String)>,
}

/// An app the person let in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizedApp {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub authorized_at: i64,
    pub last_used_at: Option<i64>,
}

/// An app the person registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredApp {
    pub client_id: String,
    pub name: String,
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// The networks it may call from; empty: anywhere.
    pub allowed_ips: Vec<String>,
    pub backchannel_logout: Option<AppBackchannelLogout>,
    pub created_at: i64,
}

/// Where an app hears of ended sign-ins, and the newest delivery: when, and `delivered` or what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppBackchannelLogout {
    pub uri: String,
    pub last_delivery: Option<(i64, String)>,
}

/// A client secret, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshSecret {
    pub client_id: String,
    pub name: String,
    pub secret: String,
}

impl fmt::Debug for FreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreshSecret").field("client_id", &self.client_id).field("secret", &"[redacted]").finish()
    }
}
