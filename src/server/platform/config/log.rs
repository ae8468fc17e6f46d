//! How logs look (`LOG_FORMAT`), how much is logged (`RUST_LOG`), and which requests get a line (`ACCESS_LOG`).

use tracing_subscriber::EnvFilter;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

/// How logs look and how much is logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive (the `RUST_LOG` syntax), already checked to parse.
    pub filter: String,
    /// Which requests get a line of their own.
    pub access: AccessLog,
}

/// `ACCESS_LOG`: which requests get a `response` line (method, path without the query, status, latency, request id),
/// at info. Writing a line for every request costs more than answering most of them, so by default only server
/// errors get one; `/metrics` counts every request either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessLog {
    /// `off`: none.
    Off,
    /// `errors` (the default): answers with a 5xx status.
    Errors,
    /// `all`: every request.
    All,
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

impl LogSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let format = match vars.get("LOG_FORMAT")?.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT")(format!("must be \"pretty\" or \"json\", got {other:?}"))),
        };
        let filter = vars.get("RUST_LOG")?.unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        EnvFilter::try_new(&filter).map_err(|e| invalid("RUST_LOG")(format!("is not a valid log filter: {e}")))?;
        let access = match vars.get("ACCESS_LOG")?.as_deref() {
            None | Some("errors") => AccessLog::Errors,
            Some("all") => AccessLog::All,
            Some("off") => AccessLog::Off,
            Some(other) => {
                return Err(invalid("ACCESS_LOG")(format!("must be \"errors\", \"all\" or \"off\", got {other:?}")));
            }
        };
        Ok(Self { format, filter, access })
    }
}
