//! Personal access tokens (`ALLOW_NON_EXPIRING_TOKENS`, `TOKENS_PER_PERSON`) and the JSON API (`API_CORS_ORIGINS`).

use url::Url;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

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

impl TokenSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            allow_non_expiring: vars.flag("ALLOW_NON_EXPIRING_TOKENS")?,
            per_person: match vars.get("TOKENS_PER_PERSON")? {
                None => 50,
                Some(raw) => raw.parse().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                    invalid("TOKENS_PER_PERSON")(format!("must be a whole number from 1 to 10000, got {raw:?}"))
                })?,
            },
        })
    }
}

impl ApiSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            cors_origins: match vars.get("API_CORS_ORIGINS")? {
                None => Vec::new(),
                Some(raw) => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(parse_origin)
                    .collect::<Result<_, _>>()
                    .map_err(invalid("API_CORS_ORIGINS"))?,
            },
        })
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
