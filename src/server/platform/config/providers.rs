//! The sign-in providers: generic OpenID Connect (`OIDC_*`), Google, GitHub, and the Dev IdP (`DEV_IDP_URL`), with
//! how long to wait for them (`PROVIDER_TIMEOUT`).

use std::{fmt, time::Duration};

use secrecy::SecretString;
use url::Url;

use crate::server::platform::config::{
    site::{AppUrl, is_loopback},
    vars::{ConfigError, Vars, invalid},
};

/// One configured sign-in provider.
#[derive(Clone)]
pub struct ProviderSettings {
    /// Stable id used in URLs: `oidc`, `google`, `github` or `dev`.
    pub id: &'static str,
    /// The button label on the login page.
    pub label: String,
    pub protocol: Protocol,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Whether the provider's back-channel logout tokens are received (`POST /auth/backchannel-logout/{id}`):
    /// `OIDC_BACKCHANNEL_LOGOUT`, `DEV_IDP_BACKCHANNEL_LOGOUT`; never for GitHub, which has no such thing, nor
    /// Google, which signals through Cross-Account Protection instead.
    pub backchannel_logout: bool,
    /// Whether Google's Cross-Account Protection events are received (`POST /auth/risc/google`): `GOOGLE_RISC`.
    pub risc: bool,
    /// Whether the person's tokens at this provider are kept for their own programs (`PROVIDER_TOKENS=keep`).
    pub keep_tokens: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect, configured by discovery from the issuer.
    OpenIdConnect { issuer: Url, scopes: Vec<String> },
    /// GitHub's OAuth 2.0 (no ID token): the web URL serves authorize and token, the API URL the person's data.
    GitHub { web_url: Url, api_url: Url },
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("backchannel_logout", &self.backchannel_logout)
            .field("risc", &self.risc)
            .field("keep_tokens", &self.keep_tokens)
            .finish()
    }
}

/// The Dev IdP's client credentials: public on purpose, it only ever runs on a developer's loopback interface.
pub const DEV_IDP_CLIENT_ID: &str = "gatehouse-dev";
pub const DEV_IDP_CLIENT_SECRET: &str = "gatehouse-dev-secret-not-for-production";

/// Parses an issuer or endpoint URL: https, or http only on a loopback host (`localhost`, `127.0.0.1`, `[::1]`).
pub fn parse_provider_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e}): {raw:?}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must not have a query or fragment: {raw:?}"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!("must use https (plain http is allowed only for localhost), got {raw:?}")),
        _ => Err(format!("must be an https URL, got {raw:?}")),
    }
}

/// Reads the provider sections. A provider is configured when its client id is set; then its secret is required.
pub(super) fn read(vars: &Vars<'_>, app_url: &AppUrl) -> Result<Vec<ProviderSettings>, ConfigError> {
    let keep_tokens = match vars.get("PROVIDER_TOKENS")?.as_deref() {
        None | Some("discard") => false,
        Some("keep") => true,
        Some(other) => {
            return Err(ConfigError::new("PROVIDER_TOKENS", format!("must be \"keep\" or \"discard\", got {other:?}")));
        }
    };
    let get = |key: &'static str| vars.get(key);
    let url = |key: &'static str, default: Option<&str>| -> Result<Option<Url>, ConfigError> {
        match get(key)?.as_deref().or(default) {
            None => Ok(None),
            Some(raw) => parse_provider_url(raw).map(Some).map_err(|problem| ConfigError::new(key, problem)),
        }
    };
    let credentials =
        |id_key: &'static str, secret_key: &'static str| -> Result<Option<(String, SecretString)>, ConfigError> {
            match (get(id_key)?, get(secret_key)?) {
                (None, None) => Ok(None),
                (Some(id), Some(secret)) => Ok(Some((id, SecretString::from(secret)))),
                (Some(_), None) => Err(ConfigError::new(secret_key, format!("is required when {id_key} is set"))),
                (None, Some(_)) => Err(ConfigError::new(id_key, format!("is required when {secret_key} is set"))),
            }
        };
    let scopes = |raw: Option<String>| -> Vec<String> {
        let raw = raw.unwrap_or_else(|| "openid email profile".into());
        let mut scopes: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        scopes
    };

    let mut providers = Vec::new();
    if let Some((client_id, client_secret)) = credentials("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")? {
        let issuer = url("OIDC_ISSUER_URL", None)?
            .ok_or_else(|| ConfigError::new("OIDC_ISSUER_URL", "is required when OIDC_CLIENT_ID is set"))?;
        providers.push(ProviderSettings {
            id: "oidc",
            label: get("OIDC_PROVIDER_NAME")?.unwrap_or_else(|| "Single sign-on".into()),
            protocol: Protocol::OpenIdConnect { issuer, scopes: scopes(get("OIDC_SCOPES")?) },
            client_id,
            client_secret,
            backchannel_logout: vars.flag("OIDC_BACKCHANNEL_LOGOUT")?,
            risc: false,
            keep_tokens,
        });
    }
    // Google's and GitHub's addresses are fixed; overriding them is for tests, which run their stand-ins on this
    // machine. Anywhere else it would send sign-ins to whoever controls the variable, so it takes a second setting.
    let overrides_allowed = vars.flag("ALLOW_PROVIDER_URL_OVERRIDES")?;
    let overridable = |key: &'static str, default: &str| -> Result<Url, ConfigError> {
        let chosen = url(key, Some(default))?.expect("a default is given");
        if get(key)?.is_some() && !is_loopback(&chosen) && !overrides_allowed {
            return Err(ConfigError::new(
                key,
                "overrides a provider's address, which is for tests on this machine (a loopback URL); set \
                 ALLOW_PROVIDER_URL_OVERRIDES=true to point it elsewhere on purpose",
            ));
        }
        Ok(chosen)
    };
    if let Some((client_id, client_secret)) = credentials("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")? {
        let issuer = overridable("GOOGLE_ISSUER_URL", "https://accounts.google.com")?;
        providers.push(ProviderSettings {
            id: "google",
            label: "Google".into(),
            protocol: Protocol::OpenIdConnect { issuer, scopes: scopes(None) },
            client_id,
            client_secret,
            backchannel_logout: false,
            risc: vars.flag("GOOGLE_RISC")?,
            keep_tokens,
        });
    }
    if let Some((client_id, client_secret)) = credentials("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")? {
        let web_url = overridable("GITHUB_URL", "https://github.com")?;
        let api_url = overridable("GITHUB_API_URL", "https://api.github.com")?;
        providers.push(ProviderSettings {
            id: "github",
            label: "GitHub".into(),
            protocol: Protocol::GitHub { web_url, api_url },
            client_id,
            client_secret,
            backchannel_logout: false,
            risc: false,
            keep_tokens,
        });
    }
    if let Some(issuer) = url("DEV_IDP_URL", None)? {
        if app_url.is_https() {
            return Err(ConfigError::new(
                "DEV_IDP_URL",
                "the Dev IdP is for local testing only and cannot be used when APP_URL is https",
            ));
        }
        if !is_loopback(&issuer) {
            return Err(ConfigError::new("DEV_IDP_URL", "must be a localhost URL: the Dev IdP runs on this machine"));
        }
        providers.push(ProviderSettings {
            id: "dev",
            label: "Dev IdP (local testing only)".into(),
            protocol: Protocol::OpenIdConnect {
                issuer,
                scopes: scopes(keep_tokens.then(|| "openid email profile offline_access".to_owned())),
            },
            client_id: DEV_IDP_CLIENT_ID.into(),
            client_secret: SecretString::from(DEV_IDP_CLIENT_SECRET),
            // The Dev IdP sends them (to `/auth/backchannel-logout/dev`), so they are on unless switched off.
            backchannel_logout: vars.flag_or("DEV_IDP_BACKCHANNEL_LOGOUT", true)?,
            risc: false,
            keep_tokens,
        });
    }
    Ok(providers)
}

/// `PROVIDER_TIMEOUT`: at most 10 s.
pub(super) fn timeout(vars: &Vars<'_>) -> Result<Duration, ConfigError> {
    let timeout = vars.duration("PROVIDER_TIMEOUT", "10s")?;
    if timeout > Duration::from_secs(10) {
        return Err(invalid("PROVIDER_TIMEOUT")("must be at most 10s".into()));
    }
    Ok(timeout)
}

/// The origins of the providers' sign-in pages, for the page CSP's `form-action`.
pub(super) fn origins(providers: &[ProviderSettings]) -> Vec<String> {
    let mut origins: Vec<String> = providers
        .iter()
        .map(|p| match &p.protocol {
            Protocol::OpenIdConnect { issuer, .. } => issuer.origin().ascii_serialization(),
            Protocol::GitHub { web_url, .. } => web_url.origin().ascii_serialization(),
        })
        .collect();
    origins.sort();
    origins.dedup();
    origins
}
