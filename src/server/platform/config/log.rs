//! How logs look (`LOG_FORMAT`) and how much is logged (`RUST_LOG`).

use tracing_subscriber::EnvFilter;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

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

impl LogSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let format = match vars.get("LOG_FORMAT")?.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT")(format!("must be \"pretty\" or \"json\", got {other:?}"))),
        };
        let filter = vars.get("RUST_LOG")?.unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        EnvFilter::try_new(&filter).map_err(|e| invalid("RUST_LOG")(format!("is not a valid log filter: {e}")))?;
        Ok(Self { format, filter })
    }
}
