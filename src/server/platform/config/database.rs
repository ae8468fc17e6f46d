//! `DATABASE_URL` and how the pool uses it (`DATABASE_MAX_CONNECTIONS`, `DATABASE_CONNECT_TIMEOUT`,
//! `DATABASE_STATEMENT_TIMEOUT`).

use std::{fmt, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use crate::server::platform::config::vars::{ConfigError, Vars, invalid, parse_duration};

/// The default SQLite file, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

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

impl DatabaseSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let mut database = Self::new(vars.get("DATABASE_URL")?.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
            .map_err(invalid("DATABASE_URL"))?;
        if let Some(raw) = vars.get("DATABASE_MAX_CONNECTIONS")? {
            database.max_connections = raw.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                invalid("DATABASE_MAX_CONNECTIONS")(format!("must be a whole number from 1 to 1000, got {raw:?}"))
            })?;
        }
        for (key, setting) in [
            ("DATABASE_CONNECT_TIMEOUT", &mut database.connect_timeout),
            ("DATABASE_STATEMENT_TIMEOUT", &mut database.statement_timeout),
        ] {
            if let Some(raw) = vars.get(key)? {
                *setting = parse_duration(&raw).map_err(invalid(key))?;
                if setting.is_zero() {
                    return Err(invalid(key)("must be longer than 0s".into()));
                }
            }
        }
        Ok(database)
    }
}
