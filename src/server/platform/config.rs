//! Configuration: read once at startup from the environment into typed values, failing fast with the variable's name.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc, time::Duration};

use leptos::config::{Env, LeptosOptions};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use tracing_subscriber::EnvFilter;
use url::Url;

use crate::server::{platform::secret_key::SecretKey, security::networks::Networks};

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

/// The operators: who may use the admin area, and from where; who may read `/metrics`.
#[derive(Clone, Default)]
pub struct OperatorSettings {
    /// `ADMIN_EMAILS`: the people (by verified email address, in lower case) who may use `/admin`.
    pub admin_emails: Vec<String>,
    /// `ADMIN_ALLOWED_IPS`: where `/admin` and `/metrics` may be reached from (empty: `/admin` from anywhere,
    /// `/metrics` from loopback only).
    pub allowed_ips: crate::server::security::networks::Networks,
    /// `METRICS_TOKEN`: a bearer token that reads `/metrics` from anywhere (at least 32 characters).
    pub metrics_token: Option<SecretString>,
}

impl OperatorSettings {
    /// Whether `/admin` may be reached from `ip`.
    pub fn admin_reachable_from(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_ips.is_empty() || self.allowed_ips.contains(ip)
    }

    /// Whether `/metrics` may be read from `ip` without the metrics token.
    pub fn metrics_readable_from(&self, ip: std::net::IpAddr) -> bool {
        if self.allowed_ips.is_empty() {
            crate::server::security::networks::canonical(ip).is_loopback()
        } else {
            self.allowed_ips.contains(ip)
        }
    }
}

impl fmt::Debug for OperatorSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorSettings")
            .field("admin_emails", &self.admin_emails)
            .field("allowed_ips", &self.allowed_ips)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Request rate limits and address blocks (see `rate_limit`).
#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// Per client address, on starting and finishing sign-ins (`RATE_LIMIT_SIGN_IN`, default 30/1m).
    pub sign_in: Option<Rate>,
    /// Per client address, on `/oauth/…` and `/device` (`RATE_LIMIT_OAUTH`, default 300/1m).
    pub oauth: Option<Rate>,
    /// Per credential, on the JSON API (`RATE_LIMIT_API`, default 600/1m).
    pub api: Option<Rate>,
    /// Failures from one address within 15 minutes that block it (`BLOCK_AFTER_FAILURES`, default 50; 0: never).
    pub block_after: u32,
    /// How long the first block lasts (`BLOCK_DURATION`, default 15m); each further one within a day, twice as long.
    pub block_for: Duration,
    /// Where several instances keep their counts together (`REDIS_URL`; in process without it). A secret: it may
    /// carry a password.
    pub redis_url: Option<SecretString>,
}

/// The longest block; a day without a block also forgets the earlier ones.
pub const LONGEST_BLOCK: Duration = Duration::from_secs(86_400);

/// A rate: `requests` per `per`, as a burst of `requests` refilled evenly over `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    /// `30/1m`, `5/s`, `1000/1h`; `off` for no limit.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let wrong = || format!("must be a rate such as 30/1m, 5/s or 1000/1h (or off), got {raw:?}");
        let (requests, per) = raw.split_once('/').ok_or_else(wrong)?;
        let requests: u32 = requests.trim().parse().ok().filter(|n| *n > 0).ok_or_else(wrong)?;
        let per = per.trim();
        // `5/s` is `5/1s`.
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) { per.to_owned() } else { format!("1{per}") };
        let per = parse_duration(&per).map_err(|_| wrong())?;
        if per > LONGEST_BLOCK {
            return Err(format!("must count over at most a day, got {raw:?}"));
        }
        Ok(Some(Self { requests, per }))
    }
}

/// The reverse proxies whose forwarded headers are believed (`TRUSTED_PROXIES`; see `client_addr`).
pub type TrustedProxies = Networks;

/// How long and how many: what keeps one client from holding the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportSettings {
    /// A connection that has not sent a request's headers within this is closed (`HEADER_READ_TIMEOUT`, default
    /// 10s, at most 60s): the slow-loris defence.
    pub header_read_timeout: Duration,
    /// A request still unanswered after this gets 408 (`REQUEST_TIMEOUT`, default 30s, at most 5m).
    pub request_timeout: Duration,
    /// Requests handled at once; more get 503 (`MAX_CONCURRENT_REQUESTS`, default 1024).
    pub max_concurrent_requests: usize,
}

/// The tokens Gatehouse issues to apps (`/oauth/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OAuthSettings {
    /// How long an access token (and an ID token) is good for (`OAUTH_ACCESS_TOKEN_LIFETIME`, default 10m, at most 1h).
    pub access_token_lifetime: Duration,
    /// The absolute limit of an authorization's refresh tokens, however often they rotate
    /// (`OAUTH_REFRESH_TOKEN_LIFETIME`, default 30d).
    pub refresh_token_lifetime: Duration,
    /// How often the token-signing key is replaced by a new one (`SIGNING_KEY_ROTATION`, default 90d, at least 1h).
    pub signing_key_rotation: Duration,
}

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum SecretKeySetting {
    /// `SECRET_KEY` (and `SECRET_KEY_PREVIOUS`, during a rotation).
    Given { current: SecretKey, previous: Option<SecretKey> },
    /// None given, on an http `APP_URL`: a development key, generated once and kept in a file beside the database
    /// (start-up reads or writes it).
    Development,
}

/// Where mail goes out, and whom it is from. The URL is a secret: it may carry the SMTP password.
#[derive(Clone)]
pub struct MailSettings {
    smtp_url: SecretString,
    /// `MAIL_FROM`, a mailbox such as `Gatehouse <no-reply@login.example.com>`, already checked to parse.
    pub from: String,
}

impl MailSettings {
    /// Checks `SMTP_URL` as lettre reads it: `smtps://host` (TLS from the first byte), `smtp://host?tls=required`
    /// (STARTTLS), `smtp://host` (plain: a local relay or mail catcher only), with `user:password@` when the server
    /// wants them. Only the scheme is ever echoed: the rest may hold credentials.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, ConfigError> {
        let scheme = smtp_url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        let url = Url::parse(smtp_url).map_err(|_| {
            ConfigError::new(
                "SMTP_URL",
                "is not a URL such as smtp://mail.example.com:587 or smtps://user:password@mail.example.com",
            )
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(ConfigError::new(
                "SMTP_URL",
                format!("must start with smtp:// or smtps:// (got a URL with scheme {scheme:?})"),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new("SMTP_URL", "has no host"));
        }
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(smtp_url)
            .map_err(|_| ConfigError::new("SMTP_URL", "is not a valid SMTP URL (see .env.example)"))?;
        lettre::message::Mailbox::from_str(from).map_err(|e| {
            ConfigError::new(
                "MAIL_FROM",
                format!("must be an address such as Gatehouse <no-reply@example.com> ({e}), got {from:?}"),
            )
        })?;
        Ok(Self { smtp_url: SecretString::from(smtp_url.to_owned()), from: from.to_owned() })
    }

    pub fn smtp_url(&self) -> &str {
        self.smtp_url.expose_secret()
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings").field("smtp_url", &"[redacted]").field("from", &self.from).finish()
    }
}

/// Personal access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    /// Whether people may create tokens that never expire (`ALLOW_NON_EXPIRING_TOKENS`, default false).
    pub allow_non_expiring: bool,
    /// How many unexpired tokens one person may hold (`TOKENS_PER_PERSON`, default 50, 1–10000).
    pub per_person: u32,
}

/// The JSON API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    /// Origins whose pages may call the API from a browser (`API_CORS_ORIGINS`, comma-separated; empty = none).
    pub cors_origins: Vec<String>,
}

/// A configuration problem: which variable, and what is wrong with it. Never contains a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self { var, problem: problem.into() }
    }
}

/// The public base URL: http or https, a host, no path, query or fragment. Kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppUrl(Url);

impl AppUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e}): {raw:?}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must start with http:// or https://, got {raw:?}"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("has no host: {raw:?}"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "must be a bare origin such as https://login.example.com (no path, query or fragment), got {raw:?}"
            ));
        }
        Ok(Self(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The origin as browsers send it in the `Origin` header, e.g. `http://127.0.0.1:3000`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// An absolute URL for a path on this site; `path` starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}

impl fmt::Display for AppUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

/// Which database, and how Gatehouse uses it. The URL is a secret: a PostgreSQL URL may carry a password.
#[derive(Clone)]
pub struct DatabaseSettings {
    url: SecretString,
    kind: DatabaseKind,
    /// Connections in the pool (`DATABASE_MAX_CONNECTIONS`). SQLite has one writer, so a few connections suit it;
    /// PostgreSQL serves several instances, each with its own pool, within the server's `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a connection, including opening one (`DATABASE_CONNECT_TIMEOUT`).
    pub connect_timeout: Duration,
    /// PostgreSQL cancels a statement that runs longer; SQLite waits at most this long for the write lock
    /// (`DATABASE_STATEMENT_TIMEOUT`).
    pub statement_timeout: Duration,
}

/// The database a `DATABASE_URL` names, by its scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `sqlite://path/to/file.db`: the default, one file beside the app.
    Sqlite,
    /// `postgres://user:password@host:port/database` (or `postgresql://`): several instances on one database.
    Postgres,
}

impl DatabaseSettings {
    /// Checks the URL's form (not whether the database answers: that is start-up's job). Defaults: 4 connections
    /// for SQLite, 10 for PostgreSQL; 5 s to connect; 10 s per statement.
    pub fn new(url: &str) -> Result<Self, String> {
        let url = url.trim();
        // Only the scheme is ever echoed: the rest of a database URL may hold credentials.
        let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        let kind = match scheme {
            "sqlite" => {
                SqliteConnectOptions::from_str(url).map_err(|e| format!("is not a valid SQLite URL: {e}"))?;
                DatabaseKind::Sqlite
            }
            "postgres" | "postgresql" => {
                // The parser's own message may quote the URL; say only what is expected.
                PgConnectOptions::from_str(url).map_err(|_| {
                    "is not a valid PostgreSQL URL (expected postgres://user:password@host:port/database)".to_owned()
                })?;
                DatabaseKind::Postgres
            }
            other => {
                return Err(format!(
                    "must be sqlite://path/to/file.db or postgres://user:password@host:port/database \
                     (got a URL with scheme {other:?})"
                ));
            }
        };
        let max_connections = match kind {
            DatabaseKind::Sqlite => 4,
            DatabaseKind::Postgres => 10,
        };
        Ok(Self {
            url: SecretString::from(url.to_owned()),
            kind,
            max_connections,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        })
    }

    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The folder of the SQLite file (`None` for PostgreSQL and in-memory SQLite).
    pub fn sqlite_folder(&self) -> Option<std::path::PathBuf> {
        let options = SqliteConnectOptions::from_str(self.url()).ok().filter(|_| self.kind == DatabaseKind::Sqlite)?;
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:") {
            return None;
        }
        Some(file.parent().map(std::path::Path::to_path_buf).unwrap_or_default())
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"[redacted]")
            .field("kind", &self.kind)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// How long sessions live. Both limits are enforced on the server, whatever the browser keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused for this long ends (`SESSION_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active (`SESSION_MAX_LIFETIME`).
    pub max_lifetime: Duration,
    /// How long a person has to finish signing in at their provider (`LOGIN_ATTEMPT_LIFETIME`, at most 10 min).
    pub login_attempt_lifetime: Duration,
}

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

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a duration such as `90s`, `15m`, `24h` or `30d`; a bare number is seconds.
/// An origin for CORS: `scheme://host[:port]`, nothing else (no path, no trailing slash, no wildcard).
fn parse_origin(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|_| format!("{raw:?} is not an origin such as https://app.example.com"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != raw {
        return Err(format!("{raw:?} is not an origin such as https://app.example.com (scheme, host and port only)"));
    }
    Ok(origin)
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 =
        number.parse().map_err(|_| format!("must be a duration such as 90s, 15m, 24h or 30d, got {raw:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("must be a duration such as 90s, 15m, 24h or 30d, got {raw:?}")),
    };
    if number == 0 {
        return Err("must be longer than zero".into());
    }
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(|| format!("is too long: {raw:?}"))
}

/// How logs look and how much is logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive (the `RUST_LOG` syntax), already checked to parse.
    pub filter: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The default log filter: our own code and request lines at info, noisy dependencies quieter.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_sessions=warn";

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
        let get = |key: &'static str| -> Result<Option<String>, ConfigError> {
            Ok(lookup(key)?.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
        };
        let invalid = |key: &'static str| move |problem: String| ConfigError::new(key, problem);

        let app_url =
            AppUrl::parse(get("APP_URL")?.as_deref().unwrap_or(DEFAULT_APP_URL)).map_err(invalid("APP_URL"))?;
        let mut database = DatabaseSettings::new(get("DATABASE_URL")?.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
            .map_err(invalid("DATABASE_URL"))?;
        if let Some(raw) = get("DATABASE_MAX_CONNECTIONS")? {
            database.max_connections = raw.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                invalid("DATABASE_MAX_CONNECTIONS")(format!("must be a whole number from 1 to 1000, got {raw:?}"))
            })?;
        }

        let format = match get("LOG_FORMAT")?.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT")(format!("must be \"pretty\" or \"json\", got {other:?}"))),
        };
        let filter = get("RUST_LOG")?.unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        EnvFilter::try_new(&filter).map_err(|e| invalid("RUST_LOG")(format!("is not a valid log filter: {e}")))?;

        let site_addr = get("LEPTOS_SITE_ADDR")?;
        let site_addr: SocketAddr = site_addr.as_deref().unwrap_or("127.0.0.1:3000").parse().map_err(|_| {
            invalid("LEPTOS_SITE_ADDR")(format!(
                "must be an IP address and port such as 127.0.0.1:3000, got {site_addr:?}"
            ))
        })?;
        // `cargo leptos watch` sets LEPTOS_WATCH but not LEPTOS_ENV; watching means developing (live reload).
        let watching = get("LEPTOS_WATCH")?.as_deref() == Some("true");
        let env = match get("LEPTOS_ENV")?.map(|v| v.to_ascii_lowercase()).as_deref() {
            None if watching => Env::DEV,
            None | Some("prod") | Some("production") => Env::PROD,
            Some("dev") | Some("development") => Env::DEV,
            Some(other) => return Err(invalid("LEPTOS_ENV")(format!("must be PROD or DEV, got {other:?}"))),
        };
        // Cookies, codes and tokens would cross the network in the clear: a deployment says so on purpose, or not at all.
        let insecure_allowed = flag(&get, "ALLOW_INSECURE_APP_URL")?;
        if !app_url.is_https() && !is_loopback(&app_url.0) && env == Env::PROD && !insecure_allowed {
            return Err(invalid("APP_URL")(format!(
                "is http on a host other than this machine ({}): session cookies, codes and tokens would cross the \
                 network unencrypted. Use https, or set ALLOW_INSECURE_APP_URL=true for a closed test network",
                app_url.origin()
            )));
        }
        let reload_port = match get("LEPTOS_RELOAD_PORT")? {
            None => 3001,
            Some(port) => port
                .parse()
                .map_err(|_| invalid("LEPTOS_RELOAD_PORT")(format!("must be a port number, got {port:?}")))?,
        };
        let leptos = LeptosOptions::builder()
            .output_name(Arc::<str>::from(OUTPUT_NAME))
            .site_root(get("LEPTOS_SITE_ROOT")?.unwrap_or_else(|| "target/site".into()))
            .site_pkg_dir(get("LEPTOS_SITE_PKG_DIR")?.unwrap_or_else(|| "pkg".into()))
            .env(env)
            .site_addr(site_addr)
            .reload_port(reload_port)
            .build();

        let duration = |key: &'static str, default: &str| -> Result<Duration, ConfigError> {
            parse_duration(get(key)?.as_deref().unwrap_or(default)).map_err(invalid(key))
        };
        for (key, setting) in [
            ("DATABASE_CONNECT_TIMEOUT", &mut database.connect_timeout),
            ("DATABASE_STATEMENT_TIMEOUT", &mut database.statement_timeout),
        ] {
            if let Some(raw) = get(key)? {
                *setting = parse_duration(&raw).map_err(invalid(key))?;
                if setting.is_zero() {
                    return Err(invalid(key)("must be longer than 0s".into()));
                }
            }
        }
        let sessions = SessionSettings {
            idle_timeout: duration("SESSION_IDLE_TIMEOUT", "24h")?,
            max_lifetime: duration("SESSION_MAX_LIFETIME", "30d")?,
            login_attempt_lifetime: duration("LOGIN_ATTEMPT_LIFETIME", "10m")?,
        };
        if sessions.login_attempt_lifetime > Duration::from_secs(600) {
            return Err(invalid("LOGIN_ATTEMPT_LIFETIME")("must be at most 10m".into()));
        }
        if sessions.idle_timeout > sessions.max_lifetime {
            return Err(invalid("SESSION_IDLE_TIMEOUT")("must not be longer than SESSION_MAX_LIFETIME".into()));
        }

        let oauth = OAuthSettings {
            access_token_lifetime: duration("OAUTH_ACCESS_TOKEN_LIFETIME", "10m")?,
            refresh_token_lifetime: duration("OAUTH_REFRESH_TOKEN_LIFETIME", "30d")?,
            signing_key_rotation: duration("SIGNING_KEY_ROTATION", "90d")?,
        };
        if oauth.access_token_lifetime > Duration::from_secs(3600) {
            return Err(invalid("OAUTH_ACCESS_TOKEN_LIFETIME")(
                "must be at most 1h: revoking a grant stops refresh \
                tokens at once, and a short access token bounds the rest"
                    .into(),
            ));
        }
        if oauth.signing_key_rotation < Duration::from_secs(3600) {
            return Err(invalid("SIGNING_KEY_ROTATION")("must be at least 1h".into()));
        }

        let transport = TransportSettings {
            header_read_timeout: duration("HEADER_READ_TIMEOUT", "10s")?,
            request_timeout: duration("REQUEST_TIMEOUT", "30s")?,
            max_concurrent_requests: match get("MAX_CONCURRENT_REQUESTS")? {
                None => 1024,
                Some(raw) => raw.parse().ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(|| {
                    invalid("MAX_CONCURRENT_REQUESTS")(format!("must be a whole number from 1 to 1000000, got {raw:?}"))
                })?,
            },
        };
        if transport.header_read_timeout > Duration::from_secs(60) {
            return Err(invalid("HEADER_READ_TIMEOUT")("must be at most 60s".into()));
        }
        if transport.request_timeout > Duration::from_secs(300) {
            return Err(invalid("REQUEST_TIMEOUT")("must be at most 5m".into()));
        }
        let rate = |key: &'static str, default: &str| -> Result<Option<Rate>, ConfigError> {
            Rate::parse(get(key)?.as_deref().unwrap_or(default)).map_err(invalid(key))
        };
        let rate_limits = RateLimitSettings {
            sign_in: rate("RATE_LIMIT_SIGN_IN", "30/1m")?,
            oauth: rate("RATE_LIMIT_OAUTH", "300/1m")?,
            api: rate("RATE_LIMIT_API", "600/1m")?,
            block_after: match get("BLOCK_AFTER_FAILURES")? {
                None => 50,
                Some(raw) => raw.parse().ok().filter(|n| *n <= 100_000).ok_or_else(|| {
                    invalid("BLOCK_AFTER_FAILURES")(format!(
                        "must be a whole number from 0 (never block) to 100000, got {raw:?}"
                    ))
                })?,
            },
            block_for: duration("BLOCK_DURATION", "15m")?,
            redis_url: match get("REDIS_URL")? {
                None => None,
                Some(url) => {
                    if redis::IntoConnectionInfo::into_connection_info(url.as_str()).is_err() {
                        // Only the shape is described: the URL may hold a password.
                        return Err(invalid("REDIS_URL")(
                            "must be a URL such as redis://127.0.0.1:6379/0 or rediss://:password@redis.example.com"
                                .into(),
                        ));
                    }
                    Some(SecretString::from(url))
                }
            },
        };
        if rate_limits.block_for > LONGEST_BLOCK {
            return Err(invalid("BLOCK_DURATION")("must be at most 24h".into()));
        }
        let audit_retention = match get("AUDIT_RETENTION")?.as_deref() {
            Some("off") => None,
            raw => {
                let keep = parse_duration(raw.unwrap_or("365d")).map_err(invalid("AUDIT_RETENTION"))?;
                if keep < Duration::from_secs(86_400) {
                    return Err(invalid("AUDIT_RETENTION")("must be at least 1d, or off".into()));
                }
                Some(keep)
            }
        };
        let trusted_proxies = TrustedProxies::parse(get("TRUSTED_PROXIES")?.as_deref().unwrap_or(""))
            .map_err(invalid("TRUSTED_PROXIES"))?;
        let operators = OperatorSettings {
            admin_emails: match get("ADMIN_EMAILS")? {
                None => Vec::new(),
                Some(raw) => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(|e| {
                        let (local, domain) = e.split_once('@').unwrap_or_default();
                        if local.is_empty() || domain.is_empty() || e.chars().any(char::is_whitespace) {
                            Err(format!("{e:?} is not an email address; list them separated by commas"))
                        } else {
                            Ok(e.to_lowercase())
                        }
                    })
                    .collect::<Result<_, _>>()
                    .map_err(invalid("ADMIN_EMAILS"))?,
            },
            allowed_ips: crate::server::security::networks::Networks::parse(
                get("ADMIN_ALLOWED_IPS")?.as_deref().unwrap_or(""),
            )
            .map_err(invalid("ADMIN_ALLOWED_IPS"))?,
            metrics_token: match get("METRICS_TOKEN")? {
                None => None,
                Some(token) if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_graphic()) => {
                    Some(SecretString::from(token))
                }
                Some(_) => {
                    // Never echoed: it is a secret.
                    return Err(invalid("METRICS_TOKEN")(
                        "must be at least 32 printable characters without spaces (`gatehouse secret` prints one)"
                            .into(),
                    ));
                }
            },
        };

        let provider_timeout = duration("PROVIDER_TIMEOUT", "10s")?;
        if provider_timeout > Duration::from_secs(10) {
            return Err(invalid("PROVIDER_TIMEOUT")("must be at most 10s".into()));
        }
        let providers = providers(&get, &app_url)?;
        let mut provider_origins: Vec<String> = providers
            .iter()
            .map(|p| match &p.protocol {
                Protocol::OpenIdConnect { issuer, .. } => issuer.origin().ascii_serialization(),
                Protocol::GitHub { web_url, .. } => web_url.origin().ascii_serialization(),
            })
            .collect();
        provider_origins.sort();
        provider_origins.dedup();
        let tokens = TokenSettings {
            allow_non_expiring: flag(&get, "ALLOW_NON_EXPIRING_TOKENS")?,
            per_person: match get("TOKENS_PER_PERSON")? {
                None => 50,
                Some(raw) => raw.parse().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                    invalid("TOKENS_PER_PERSON")(format!("must be a whole number from 1 to 10000, got {raw:?}"))
                })?,
            },
        };
        let api = ApiSettings {
            cors_origins: match get("API_CORS_ORIGINS")? {
                None => Vec::new(),
                Some(raw) => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(parse_origin)
                    .collect::<Result<_, _>>()
                    .map_err(invalid("API_CORS_ORIGINS"))?,
            },
        };
        let mail = match get("SMTP_URL")? {
            None => None,
            Some(url) => {
                // Mail from the site's own name; an IP address is not a mail domain, so a local site sends as
                // localhost.
                let domain = match app_url.0.host() {
                    Some(url::Host::Domain(domain)) => domain.to_owned(),
                    _ => "localhost".to_owned(),
                };
                let from = get("MAIL_FROM")?.unwrap_or_else(|| format!("Gatehouse <no-reply@{domain}>"));
                Some(MailSettings::new(&url, &from)?)
            }
        };
        let password_login = match get("PASSWORD_LOGIN")?.as_deref() {
            None => mail.is_some(),
            Some("false") => false,
            Some("true") if mail.is_some() => true,
            Some("true") => {
                return Err(invalid("PASSWORD_LOGIN")(
                    "is true, but password accounts need to send email (address verification, password resets): \
                     set SMTP_URL too"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(invalid("PASSWORD_LOGIN")(format!("must be \"true\" or \"false\", got {other:?}")));
            }
        };
        let secret_key = match (get("SECRET_KEY")?, get("SECRET_KEY_PREVIOUS")?) {
            (Some(current), previous) => SecretKeySetting::Given {
                current: SecretKey::parse(&current).map_err(invalid("SECRET_KEY"))?,
                previous: previous.map(|p| SecretKey::parse(&p)).transpose().map_err(invalid("SECRET_KEY_PREVIOUS"))?,
            },
            (None, Some(_)) => {
                return Err(invalid("SECRET_KEY_PREVIOUS")("is set without SECRET_KEY".into()));
            }
            (None, None) if app_url.is_https() => {
                return Err(invalid("SECRET_KEY")(
                    "is required when APP_URL is https: it seals authenticator seeds; `gatehouse secret` prints a \
                     new one"
                        .into(),
                ));
            }
            (None, None) => SecretKeySetting::Development,
        };
        Ok(Self {
            app_url,
            database,
            log: LogSettings { format, filter },
            leptos,
            sessions,
            provider_timeout,
            providers,
            provider_origins,
            tokens,
            api,
            password_login,
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

type Lookup<'a> = dyn Fn(&'static str) -> Result<Option<String>, ConfigError> + 'a;

/// A `true`/`false` setting that defaults to false.
fn flag(get: &Lookup<'_>, key: &'static str) -> Result<bool, ConfigError> {
    match get(key)?.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::new(key, format!("must be \"true\" or \"false\", got {other:?}"))),
    }
}

/// Reads the provider sections. A provider is configured when its client id is set; then its secret is required.
fn providers(get: &Lookup<'_>, app_url: &AppUrl) -> Result<Vec<ProviderSettings>, ConfigError> {
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
        });
    }
    // Google's and GitHub's addresses are fixed; overriding them is for tests, which run their stand-ins on this
    // machine. Anywhere else it would send sign-ins to whoever controls the variable, so it takes a second setting.
    let overrides_allowed = flag(get, "ALLOW_PROVIDER_URL_OVERRIDES")?;
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
            protocol: Protocol::OpenIdConnect { issuer, scopes: scopes(None) },
            client_id: DEV_IDP_CLIENT_ID.into(),
            client_secret: SecretString::from(DEV_IDP_CLIENT_SECRET),
        });
    }
    Ok(providers)
}

pub const DEFAULT_APP_URL: &str = "http://127.0.0.1:3000";

/// The default SQLite file, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

/// The name cargo-leptos gives the JS/WASM bundle (`output-name` in Cargo.toml).
const OUTPUT_NAME: &str = "gatehouse";

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
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        Config::from_lookup(|key| Ok(vars.get(key).cloned()))
    }

    /// A valid `SECRET_KEY`.
    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn secret_key_is_required_on_https_and_checked_and_never_echoed() {
        assert!(matches!(config(&[]).expect("http").secret_key, SecretKeySetting::Development));
        let https = config(&[("APP_URL", "https://login.example.com")]).expect_err("https needs a key");
        assert_eq!(https.var, "SECRET_KEY");
        assert!(https.problem.contains("gatehouse secret"), "{}", https.problem);
        let given = config(&[("APP_URL", "https://login.example.com"), ("SECRET_KEY", KEY)]).expect("given");
        assert!(matches!(given.secret_key, SecretKeySetting::Given { previous: None, .. }));
        assert!(!format!("{:?}", given.secret_key).contains("0a0b"), "never printed");

        let short = config(&[("SECRET_KEY", "abcd")]).expect_err("too short");
        assert_eq!(short.var, "SECRET_KEY");
        assert!(!short.problem.contains("abcd"));
        assert_eq!(error_var(&[("SECRET_KEY", KEY), ("SECRET_KEY_PREVIOUS", "zz")]), "SECRET_KEY_PREVIOUS");
        assert_eq!(error_var(&[("SECRET_KEY_PREVIOUS", KEY)]), "SECRET_KEY_PREVIOUS");
        let rotated =
            config(&[("SECRET_KEY", KEY), ("SECRET_KEY_PREVIOUS", &KEY.replace("00", "ff"))]).expect("rotation");
        assert!(matches!(rotated.secret_key, SecretKeySetting::Given { previous: Some(_), .. }));
    }

    fn error_var(vars: &[(&'static str, &str)]) -> &'static str {
        config(vars).expect_err("configuration should be refused").var
    }

    #[test]
    fn operator_settings_are_checked_and_the_metrics_token_never_echoed() {
        let none = config(&[]).expect("defaults");
        assert!(none.operators.admin_emails.is_empty() && none.operators.metrics_token.is_none());
        assert!(none.operators.metrics_readable_from("127.0.0.5".parse().unwrap()));
        assert!(none.operators.metrics_readable_from("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!none.operators.metrics_readable_from("192.0.2.1".parse().unwrap()));
        assert!(none.operators.admin_reachable_from("192.0.2.1".parse().unwrap()));
        let set = config(&[
            ("ADMIN_EMAILS", " Ada@Example.com, grace@example.com "),
            ("ADMIN_ALLOWED_IPS", "10.0.0.0/8"),
            ("METRICS_TOKEN", "s3cret-metrics-token-of-enough-length"),
        ])
        .expect("valid");
        assert_eq!(set.operators.admin_emails, ["ada@example.com", "grace@example.com"]);
        assert!(!set.operators.metrics_readable_from("127.0.0.1".parse().unwrap()));
        assert!(!set.operators.admin_reachable_from("192.0.2.1".parse().unwrap()));
        assert!(set.operators.admin_reachable_from("10.1.2.3".parse().unwrap()));
        assert!(!format!("{set:?}").contains("s3cret"), "never printed");
        let bad = config(&[("ADMIN_EMAILS", "ada@example.com, grace")]).expect_err("not an address");
        assert_eq!(bad.var, "ADMIN_EMAILS");
        assert!(bad.problem.contains("\"grace\""), "{}", bad.problem);
        assert_eq!(config(&[("ADMIN_ALLOWED_IPS", "office")]).expect_err("bad").var, "ADMIN_ALLOWED_IPS");
        let short = config(&[("METRICS_TOKEN", "short-s3cret")]).expect_err("too short");
        assert_eq!(short.var, "METRICS_TOKEN");
        assert!(!short.problem.contains("s3cret"), "{}", short.problem);
    }

    #[test]
    fn defaults_give_a_working_local_configuration() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.app_url.origin(), "http://127.0.0.1:3000");
        assert!(!config.app_url.is_https());
        assert_eq!(config.database.url(), DEFAULT_DATABASE_URL);
        assert_eq!(config.log.format, LogFormat::Pretty);
        assert_eq!(config.leptos.site_addr, "127.0.0.1:3000".parse().expect("literal address"));
        assert_eq!(config.leptos.env, Env::PROD);
        assert_eq!(&*config.leptos.output_name, "gatehouse");
    }

    #[test]
    fn api_settings_default_to_closed_and_refuse_what_is_not_an_origin() {
        let defaults = config(&[]).expect("defaults are valid");
        assert!(defaults.api.cors_origins.is_empty());
        assert!(!defaults.tokens.allow_non_expiring);

        let config = config(&[
            ("API_CORS_ORIGINS", "https://app.example.com, http://127.0.0.1:5173"),
            ("ALLOW_NON_EXPIRING_TOKENS", "true"),
        ])
        .expect("two origins");
        assert_eq!(config.api.cors_origins, ["https://app.example.com", "http://127.0.0.1:5173"]);
        assert!(config.tokens.allow_non_expiring);

        for bad in ["*", "https://app.example.com/", "https://app.example.com/path", "app.example.com", "ftp://x.y"] {
            assert_eq!(error_var(&[("API_CORS_ORIGINS", bad)]), "API_CORS_ORIGINS", "{bad} should be refused");
        }
        assert_eq!(error_var(&[("ALLOW_NON_EXPIRING_TOKENS", "yes")]), "ALLOW_NON_EXPIRING_TOKENS");
    }

    #[test]
    fn passwords_are_on_when_mail_can_be_sent_and_mail_settings_are_checked() {
        let none = config(&[]).expect("defaults");
        assert!(!none.password_login && none.mail.is_none(), "no mail, no passwords");

        let on = config(&[("SMTP_URL", "smtp://127.0.0.1:1025")]).expect("a local catcher");
        assert!(on.password_login);
        assert_eq!(on.mail.as_ref().expect("mail").from, "Gatehouse <no-reply@localhost>");
        let https = config(&[
            ("SMTP_URL", "smtps://user:hunter2@mail.example.com"),
            ("APP_URL", "https://login.example.com"),
            ("SECRET_KEY", KEY),
        ])
        .expect("a relay with credentials");
        assert_eq!(https.mail.as_ref().expect("mail").from, "Gatehouse <no-reply@login.example.com>");
        assert!(!format!("{:?}", https.mail).contains("hunter2"), "the SMTP password never prints");
        let off = config(&[("SMTP_URL", "smtp://127.0.0.1:1025"), ("PASSWORD_LOGIN", "false")]).expect("off");
        assert!(!off.password_login);

        let wanted = config(&[("PASSWORD_LOGIN", "true")]).expect_err("passwords need mail");
        assert_eq!(wanted.var, "PASSWORD_LOGIN");
        assert!(wanted.problem.contains("SMTP_URL"), "{}", wanted.problem);
        assert_eq!(error_var(&[("PASSWORD_LOGIN", "yes")]), "PASSWORD_LOGIN");
        for bad in ["mail.example.com", "http://mail.example.com", "smtp://", "smtp://user:hunter2@/x"] {
            let error = config(&[("SMTP_URL", bad)]).expect_err(bad);
            assert_eq!(error.var, "SMTP_URL", "{bad}");
            assert!(!error.problem.contains("hunter2"), "never echoes the URL: {}", error.problem);
        }
        let from = config(&[("SMTP_URL", "smtp://127.0.0.1:1025"), ("MAIL_FROM", "not an address")]).expect_err("from");
        assert_eq!(from.var, "MAIL_FROM");
    }

    #[test]
    fn rate_limits_default_to_on_and_bad_values_name_their_setting() {
        let defaults = config(&[]).expect("defaults");
        let limits = &defaults.rate_limits;
        assert_eq!(limits.sign_in.map(|r| (r.requests, r.per.as_secs())), Some((30, 60)));
        assert_eq!(limits.api.map(|r| r.requests), Some(600));
        assert_eq!((limits.block_after, limits.block_for.as_secs()), (50, 900));
        assert!(limits.redis_url.is_none());
        let off = config(&[("RATE_LIMIT_OAUTH", "off"), ("BLOCK_AFTER_FAILURES", "0")]).expect("off");
        assert!(off.rate_limits.oauth.is_none() && off.rate_limits.block_after == 0);

        for (var, value) in [
            ("RATE_LIMIT_SIGN_IN", "lots"),
            ("RATE_LIMIT_API", "0/1m"),
            ("BLOCK_AFTER_FAILURES", "-1"),
            ("BLOCK_DURATION", "2d"),
            ("REDIS_URL", "http://127.0.0.1:6379"),
        ] {
            assert_eq!(config(&[(var, value)]).expect_err(value).var, var);
        }
        let secret = config(&[("REDIS_URL", "mysql://:hunter2@cache")]).expect_err("not redis");
        assert!(!secret.to_string().contains("hunter2"), "{secret}");
        let given = config(&[("REDIS_URL", "redis://:hunter2@cache:6379/2")]).expect("redis");
        assert!(!format!("{:?}", given.rate_limits).contains("hunter2"), "Debug never shows the password");
    }

    #[test]
    fn blank_values_count_as_unset() {
        let config = config(&[("APP_URL", "  "), ("LOG_FORMAT", "")]).expect("blank means default");
        assert_eq!(config.app_url.origin(), DEFAULT_APP_URL);
    }

    #[test]
    fn app_url_must_be_a_bare_http_origin() {
        for bad in [
            "127.0.0.1:3000",
            "ftp://example.com",
            "https://example.com/app",
            "https://example.com/?a=1",
            "https://u:p@example.com",
            "not a url",
        ] {
            assert_eq!(error_var(&[("APP_URL", bad)]), "APP_URL", "{bad} should be refused");
        }
        let config =
            config(&[("APP_URL", "https://login.example.com/"), ("SECRET_KEY", KEY)]).expect("trailing slash is fine");
        assert!(config.app_url.is_https());
        assert_eq!(config.app_url.join("/auth/callback/dev"), "https://login.example.com/auth/callback/dev");
    }

    #[test]
    fn database_url_selects_sqlite_or_postgres_and_is_never_echoed() {
        let pg = config(&[("DATABASE_URL", "postgres://admin:hunter2@db/gatehouse")]).expect("postgres");
        assert_eq!(pg.database.kind(), DatabaseKind::Postgres);
        assert_eq!(pg.database.max_connections, 10);
        assert!(!format!("{pg:?}").contains("hunter2"), "Debug must not show the password");
        let also = config(&[("DATABASE_URL", "postgresql://db/gatehouse")]).expect("postgresql scheme");
        assert_eq!(also.database.kind(), DatabaseKind::Postgres);
        assert_eq!(config(&[]).expect("default").database.kind(), DatabaseKind::Sqlite);

        for bad in ["mysql://admin:hunter2@db/gatehouse", "admin:hunter2@db", "postgres://admin:hunter2@db:notaport/x"]
        {
            let err = config(&[("DATABASE_URL", bad)]).expect_err(bad);
            assert_eq!(err.var, "DATABASE_URL");
            assert!(!err.to_string().contains("hunter2"), "error must not echo the URL: {err}");
        }
        let err = config(&[("DATABASE_URL", "mysql://db/x")]).expect_err("mysql");
        assert!(err.to_string().contains("\"mysql\""), "names the scheme: {err}");
    }

    #[test]
    fn database_pool_settings_are_checked() {
        let tuned = config(&[
            ("DATABASE_MAX_CONNECTIONS", "32"),
            ("DATABASE_CONNECT_TIMEOUT", "2s"),
            ("DATABASE_STATEMENT_TIMEOUT", "1m"),
        ])
        .expect("valid");
        assert_eq!(tuned.database.max_connections, 32);
        assert_eq!(tuned.database.connect_timeout, Duration::from_secs(2));
        assert_eq!(tuned.database.statement_timeout, Duration::from_secs(60));
        for (key, bad) in [
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("DATABASE_CONNECT_TIMEOUT", "0s"),
            ("DATABASE_STATEMENT_TIMEOUT", "soon"),
        ] {
            assert_eq!(error_var(&[(key, bad)]), key, "{key}={bad} should be refused");
        }
    }

    #[test]
    fn database_url_is_redacted_in_debug_output() {
        let config = config(&[("DATABASE_URL", "sqlite://secret-name.db")]).expect("valid");
        assert!(!format!("{config:?}").contains("secret-name"));
    }

    #[test]
    fn each_invalid_variable_is_named() {
        assert_eq!(error_var(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT");
        assert_eq!(error_var(&[("RUST_LOG", "info,[")]), "RUST_LOG");
        assert_eq!(error_var(&[("LEPTOS_SITE_ADDR", "localhost")]), "LEPTOS_SITE_ADDR");
        assert_eq!(error_var(&[("LEPTOS_ENV", "staging")]), "LEPTOS_ENV");
        assert_eq!(error_var(&[("LEPTOS_RELOAD_PORT", "x")]), "LEPTOS_RELOAD_PORT");
    }

    #[test]
    fn cargo_leptos_watch_means_development_unless_told_otherwise() {
        assert_eq!(config(&[("LEPTOS_WATCH", "true")]).expect("valid").leptos.env, Env::DEV);
        assert_eq!(config(&[("LEPTOS_WATCH", "true"), ("LEPTOS_ENV", "PROD")]).expect("valid").leptos.env, Env::PROD);
    }

    #[test]
    fn durations_accept_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        for bad in ["", "0", "1w", "-5m", "h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(error_var(&[("SESSION_IDLE_TIMEOUT", "31d")]), "SESSION_IDLE_TIMEOUT", "longer than the lifetime");
        assert_eq!(error_var(&[("LOGIN_ATTEMPT_LIFETIME", "1h")]), "LOGIN_ATTEMPT_LIFETIME");
        assert_eq!(error_var(&[("PROVIDER_TIMEOUT", "30s")]), "PROVIDER_TIMEOUT");
    }

    #[test]
    fn an_http_app_url_off_this_machine_needs_saying_so_in_production() {
        let refused = config(&[("APP_URL", "http://login.example.com")]).expect_err("refused");
        assert_eq!(refused.var, "APP_URL");
        assert!(refused.problem.contains("ALLOW_INSECURE_APP_URL"), "{}", refused.problem);
        assert!(config(&[("APP_URL", "http://login.example.com"), ("ALLOW_INSECURE_APP_URL", "true")]).is_ok());
        assert!(config(&[("APP_URL", "http://login.example.com"), ("LEPTOS_ENV", "DEV")]).is_ok(), "developing");
        for local in ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"] {
            assert!(config(&[("APP_URL", local)]).is_ok(), "{local}");
        }
        assert_eq!(error_var(&[("ALLOW_INSECURE_APP_URL", "yes")]), "ALLOW_INSECURE_APP_URL");
    }

    #[test]
    fn googles_and_githubs_addresses_are_overridden_only_on_this_machine_or_on_purpose() {
        let google = |issuer: &str, allowed: &str| {
            config(&[
                ("GOOGLE_CLIENT_ID", "a"),
                ("GOOGLE_CLIENT_SECRET", "b"),
                ("GOOGLE_ISSUER_URL", issuer),
                ("ALLOW_PROVIDER_URL_OVERRIDES", allowed),
            ])
        };
        assert!(google("http://127.0.0.1:3900", "").is_ok(), "a stand-in on loopback");
        assert_eq!(google("https://accounts.evil.example", "").expect_err("refused").var, "GOOGLE_ISSUER_URL");
        assert!(google("https://accounts.evil.example", "true").is_ok(), "on purpose");
        let github = |key: &'static str| {
            config(&[("GITHUB_CLIENT_ID", "a"), ("GITHUB_CLIENT_SECRET", "b"), (key, "https://gh.evil.example")])
        };
        assert_eq!(github("GITHUB_URL").expect_err("refused").var, "GITHUB_URL");
        assert_eq!(github("GITHUB_API_URL").expect_err("refused").var, "GITHUB_API_URL");
        assert!(config(&[("GITHUB_CLIENT_ID", "a"), ("GITHUB_CLIENT_SECRET", "b")]).is_ok(), "the defaults");
    }

    #[test]
    fn providers_need_both_halves_of_their_credentials() {
        assert_eq!(error_var(&[("GITHUB_CLIENT_ID", "abc")]), "GITHUB_CLIENT_SECRET");
        assert_eq!(error_var(&[("GOOGLE_CLIENT_SECRET", "abc")]), "GOOGLE_CLIENT_ID");
        assert_eq!(error_var(&[("OIDC_CLIENT_ID", "a"), ("OIDC_CLIENT_SECRET", "b")]), "OIDC_ISSUER_URL");
    }

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        let oidc =
            |issuer: &str| config(&[("OIDC_CLIENT_ID", "a"), ("OIDC_CLIENT_SECRET", "b"), ("OIDC_ISSUER_URL", issuer)]);
        assert!(oidc("https://login.example.com").is_ok());
        for ok in ["http://localhost:8080", "http://127.0.0.1:3900", "http://[::1]:3900"] {
            assert!(oidc(ok).is_ok(), "{ok} is loopback");
        }
        for bad in ["http://login.example.com", "ftp://x", "https://x/?a=b"] {
            assert_eq!(oidc(bad).expect_err(bad).var, "OIDC_ISSUER_URL", "{bad}");
        }
    }

    #[test]
    fn configured_providers_keep_their_order_labels_and_secrets() {
        let config = config(&[
            ("GITHUB_CLIENT_ID", "gh"),
            ("GITHUB_CLIENT_SECRET", "gh-secret-value"),
            ("OIDC_CLIENT_ID", "corp"),
            ("OIDC_CLIENT_SECRET", "corp-secret-value"),
            ("OIDC_ISSUER_URL", "https://sso.example.com"),
            ("OIDC_PROVIDER_NAME", "Example SSO"),
        ])
        .expect("valid");
        let ids: Vec<_> = config.providers.iter().map(|p| (p.id, p.label.as_str())).collect();
        assert_eq!(ids, [("oidc", "Example SSO"), ("github", "GitHub")]);
        assert_eq!(config.provider_origins, ["https://github.com", "https://sso.example.com"], "for form-action");
        let debug = format!("{config:?} {:?}", config.providers);
        assert!(!debug.contains("gh-secret-value") && !debug.contains("corp-secret-value"), "{debug}");
    }

    #[test]
    fn the_dev_idp_is_refused_on_https_and_off_loopback() {
        assert!(config(&[("DEV_IDP_URL", "http://127.0.0.1:3900")]).is_ok());
        assert_eq!(
            error_var(&[("DEV_IDP_URL", "http://127.0.0.1:3900"), ("APP_URL", "https://login.example.com")]),
            "DEV_IDP_URL"
        );
        assert_eq!(error_var(&[("DEV_IDP_URL", "https://idp.example.com")]), "DEV_IDP_URL");
    }

    #[test]
    fn json_logs_are_chosen_by_log_format() {
        assert_eq!(config(&[("LOG_FORMAT", "json")]).expect("valid").log.format, LogFormat::Json);
    }
}
