//! Configuration: read once at startup from the environment into typed values, failing fast with the variable's name.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc, time::Duration};

use leptos::config::{Env, LeptosOptions};
use secrecy::{ExposeSecret, SecretString};
use sqlx::sqlite::SqliteConnectOptions;
use tracing_subscriber::EnvFilter;
use url::Url;

/// Everything the server needs to start, parsed and validated.
#[derive(Clone)]
pub struct Config {
    /// The public base URL people reach Gatehouse at; redirect URIs and cookie security derive from it.
    pub app_url: AppUrl,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub leptos: LeptosOptions,
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

/// Where the SQLite database lives. The URL is a secret: later backends carry passwords in it.
#[derive(Clone)]
pub struct DatabaseSettings {
    url: SecretString,
    /// Connections in the pool. SQLite has one writer; a few readers beside it suit a small machine.
    pub max_connections: u32,
    /// How long a connection waits on a locked database before giving up.
    pub busy_timeout: Duration,
}

impl DatabaseSettings {
    pub fn new(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if !url.starts_with("sqlite:") {
            // Only the scheme is echoed: the rest of a database URL may hold credentials.
            let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
            return Err(format!(
                "only SQLite is supported, as sqlite://path/to/file.db (got a URL with scheme {scheme:?})"
            ));
        }
        SqliteConnectOptions::from_str(url).map_err(|e| format!("is not a valid SQLite URL: {e}"))?;
        Ok(Self { url: SecretString::from(url.to_owned()), max_connections: 4, busy_timeout: Duration::from_secs(5) })
    }

    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"[redacted]")
            .field("max_connections", &self.max_connections)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
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
        let database = DatabaseSettings::new(get("DATABASE_URL")?.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
            .map_err(invalid("DATABASE_URL"))?;

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

        Ok(Self { app_url, database, log: LogSettings { format, filter }, leptos })
    }
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

    fn error_var(vars: &[(&'static str, &str)]) -> &'static str {
        config(vars).expect_err("configuration should be refused").var
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
        let config = config(&[("APP_URL", "https://login.example.com/")]).expect("trailing slash is fine");
        assert!(config.app_url.is_https());
        assert_eq!(config.app_url.join("/auth/callback/dev"), "https://login.example.com/auth/callback/dev");
    }

    #[test]
    fn database_url_must_be_sqlite_and_is_never_echoed() {
        let err = config(&[("DATABASE_URL", "postgres://admin:hunter2@db/gatehouse")])
            .expect_err("postgres is not yet supported");
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"), "error must not echo the URL: {err}");
        assert!(err.to_string().contains("only SQLite"), "{err}");
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
    fn json_logs_are_chosen_by_log_format() {
        assert_eq!(config(&[("LOG_FORMAT", "json")]).expect("valid").log.format, LogFormat::Json);
    }
}
