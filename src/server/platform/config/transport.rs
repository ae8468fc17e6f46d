//! How long and how many: what keeps one client from holding the server (`HEADER_READ_TIMEOUT`, `REQUEST_TIMEOUT`,
//! `MAX_CONCURRENT_REQUESTS`).

use std::time::Duration;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

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

impl TransportSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let transport = Self {
            header_read_timeout: vars.duration("HEADER_READ_TIMEOUT", "10s")?,
            request_timeout: vars.duration("REQUEST_TIMEOUT", "30s")?,
            max_concurrent_requests: match vars.get("MAX_CONCURRENT_REQUESTS")? {
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
        Ok(transport)
    }
}
