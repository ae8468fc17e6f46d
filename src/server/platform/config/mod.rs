//! Configuration: read once at start-up from the environment into typed values, failing fast with the variable's
//! name. This file is the index: the whole [`Config`], and the order areas are read in. Each area parses and checks
//! its own settings, one type each:
//!
//! - [`site`]: `APP_URL` and the Leptos options; [`database`]; [`log`]; [`sessions`];
//! - [`providers`]: the sign-in providers; [`mail`]: outgoing mail and password accounts; [`passkeys`]: `PASSKEYS`;
//!   [`secrets`]: `SECRET_KEY`;
//! - [`oauth`]: the tokens issued to apps; [`api`]: personal access tokens and the JSON API;
//! - [`security`]: rate limits, trusted proxies, operators, audit retention; [`transport`]: timeouts and concurrency;
//! - [`vars`]: reading a variable, and the error that names it.

pub mod api;
pub mod database;
pub mod log;
pub mod mail;
pub mod oauth;
pub mod passkeys;
pub mod providers;
pub mod secrets;
pub mod security;
pub mod sessions;
pub mod site;
pub mod transport;
pub mod vars;

use std::{fmt, time::Duration};

use leptos::config::LeptosOptions;

use self::vars::Vars;
pub use self::{
    api::{ApiSettings, TokenSettings},
    database::{DEFAULT_DATABASE_URL, DatabaseKind, DatabaseSettings},
    log::{AccessLog, DEFAULT_LOG_FILTER, LogFormat, LogSettings},
    mail::MailSettings,
    oauth::OAuthSettings,
    passkeys::PasskeySettings,
    providers::{DEV_IDP_CLIENT_ID, DEV_IDP_CLIENT_SECRET, Protocol, ProviderSettings, parse_provider_url},
    secrets::SecretKeySetting,
    security::{LONGEST_BLOCK, OperatorSettings, Rate, RateLimitSettings, TrustedProxies},
    sessions::SessionSettings,
    site::{AppUrl, DEFAULT_APP_URL},
    transport::TransportSettings,
    vars::{ConfigError, parse_duration},
};

/// Everything the server needs to start, parsed and validated.
#[derive(Clone)]
pub struct Config {
    /// The public base URL people reach Gatehouse at; redirect URIs and cookie security derive from it.
    pub app_url: AppUrl,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub leptos: LeptosOptions,
    pub sessions: SessionSettings,
    /// How long to wait for a provider's endpoints (`PROVIDER_TIMEOUT`, at most 10 s).
    pub provider_timeout: Duration,
    /// The sign-in providers that are configured, in the order the login page shows them.
    pub providers: Vec<ProviderSettings>,
    /// The origins of their sign-in pages, for the page CSP's `form-action`: the "Link" buttons post to us, and our
    /// answer redirects the form submission to the provider.
    pub provider_origins: Vec<String>,
    pub tokens: TokenSettings,
    pub api: ApiSettings,
    /// Email and password accounts (`PASSWORD_LOGIN`): on by default when mail can be sent.
    pub password_login: bool,
    pub passkeys: PasskeySettings,
    /// Outgoing mail (`SMTP_URL`, `MAIL_FROM`); `None` when no SMTP server is configured.
    pub mail: Option<MailSettings>,
    /// `SECRET_KEY` and `SECRET_KEY_PREVIOUS`: what data at rest is sealed with.
    pub secret_key: SecretKeySetting,
    /// Gatehouse as an OAuth 2.1 / OpenID Connect provider to other apps.
    pub oauth: OAuthSettings,
    /// `TRUSTED_PROXIES`: the reverse proxies whose forwarded headers say who the client is (none by default).
    pub trusted_proxies: TrustedProxies,
    pub transport: TransportSettings,
    pub rate_limits: RateLimitSettings,
    /// How long security activity is kept (`AUDIT_RETENTION`, default 365d; `off` keeps it for ever). Older events
    /// are purged, leaving a checkpoint the hash chain continues from.
    pub audit_retention: Option<Duration>,
    /// Who runs this Gatehouse: the admin area and `/metrics`.
    pub operators: OperatorSettings,
}

impl Config {
    /// Reads the process environment (after loading `.env` if there is one).
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", format!("cannot be read: {e}"))),
        }
        Self::from_lookup(|key| match std::env::var(key) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(key, "is not valid UTF-8")),
        })
    }

    /// Reads configuration through `lookup`, so tests can pass a map instead of mutating the process environment.
    /// Blank values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let app_url = AppUrl::read(&vars)?;
        let database = DatabaseSettings::read(&vars)?;
        let log = LogSettings::read(&vars)?;
        let leptos = site::leptos_options(&vars, &app_url)?;
        let sessions = SessionSettings::read(&vars)?;
        let oauth = OAuthSettings::read(&vars, &app_url)?;
        let transport = TransportSettings::read(&vars)?;
        let rate_limits = RateLimitSettings::read(&vars)?;
        let audit_retention = security::audit_retention(&vars)?;
        let trusted_proxies = security::trusted_proxies(&vars)?;
        let operators = OperatorSettings::read(&vars)?;
        let provider_timeout = providers::timeout(&vars)?;
        let providers = providers::read(&vars, &app_url)?;
        let provider_origins = providers::origins(&providers);
        let tokens = TokenSettings::read(&vars)?;
        let api = ApiSettings::read(&vars)?;
        let mail = MailSettings::read(&vars, &app_url)?;
        let password_login = mail::password_login(&vars, mail.is_some())?;
        let secret_key = SecretKeySetting::read(&vars, &app_url)?;
        let passkeys = PasskeySettings::read(&vars, &app_url)?;
        Ok(Self {
            app_url,
            database,
            log,
            leptos,
            sessions,
            provider_timeout,
            providers,
            provider_origins,
            tokens,
            api,
            password_login,
            passkeys,
            mail,
            secret_key,
            oauth,
            trusted_proxies,
            transport,
            rate_limits,
            audit_retention,
            operators,
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_url", &self.app_url)
            .field("database", &self.database)
            .field("log", &self.log)
            .field("site_addr", &self.leptos.site_addr)
            .field("site_root", &self.leptos.site_root)
            .field("sessions", &self.sessions)
            .field("providers", &self.providers)
            .field("operators", &self.operators)
            .finish()
    }
}

#[cfg(test)]
mod tests;
