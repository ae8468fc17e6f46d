//! Who may do what, from where, how often: the rate limits and address blocks (`RATE_LIMIT_*`, `BLOCK_*`,
//! `REDIS_URL`), the trusted proxies (`TRUSTED_PROXIES`), the operators (`ADMIN_EMAILS`, `ADMIN_ALLOWED_IPS`,
//! `METRICS_TOKEN`), and how long security activity is kept (`AUDIT_RETENTION`).

use std::{fmt, time::Duration};

use secrecy::SecretString;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid, parse_duration};
use crate::server::security::networks::Networks;

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

impl OperatorSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            admin_emails: match vars.get("ADMIN_EMAILS")? {
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
            allowed_ips: Networks::parse(vars.get("ADMIN_ALLOWED_IPS")?.as_deref().unwrap_or(""))
                .map_err(invalid("ADMIN_ALLOWED_IPS"))?,
            metrics_token: match vars.get("METRICS_TOKEN")? {
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
        })
    }
}

impl RateLimitSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let rate = |key: &'static str, default: &str| -> Result<Option<Rate>, ConfigError> {
            Rate::parse(vars.get(key)?.as_deref().unwrap_or(default)).map_err(invalid(key))
        };
        let rate_limits = Self {
            sign_in: rate("RATE_LIMIT_SIGN_IN", "30/1m")?,
            oauth: rate("RATE_LIMIT_OAUTH", "300/1m")?,
            api: rate("RATE_LIMIT_API", "600/1m")?,
            block_after: match vars.get("BLOCK_AFTER_FAILURES")? {
                None => 50,
                Some(raw) => raw.parse().ok().filter(|n| *n <= 100_000).ok_or_else(|| {
                    invalid("BLOCK_AFTER_FAILURES")(format!(
                        "must be a whole number from 0 (never block) to 100000, got {raw:?}"
                    ))
                })?,
            },
            block_for: vars.duration("BLOCK_DURATION", "15m")?,
            redis_url: match vars.get("REDIS_URL")? {
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
        Ok(rate_limits)
    }
}

pub(super) fn trusted_proxies(vars: &Vars<'_>) -> Result<TrustedProxies, ConfigError> {
    TrustedProxies::parse(vars.get("TRUSTED_PROXIES")?.as_deref().unwrap_or("")).map_err(invalid("TRUSTED_PROXIES"))
}

/// `AUDIT_RETENTION`: at least a day, `off` for ever.
pub(super) fn audit_retention(vars: &Vars<'_>) -> Result<Option<Duration>, ConfigError> {
    match vars.get("AUDIT_RETENTION")?.as_deref() {
        Some("off") => Ok(None),
        raw => {
            let keep = parse_duration(raw.unwrap_or("365d")).map_err(invalid("AUDIT_RETENTION"))?;
            if keep < Duration::from_secs(86_400) {
                return Err(invalid("AUDIT_RETENTION")("must be at least 1d, or off".into()));
            }
            Ok(Some(keep))
        }
    }
}
