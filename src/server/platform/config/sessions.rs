//! How long sessions and sign-in attempts live (`SESSION_IDLE_TIMEOUT`, `SESSION_MAX_LIFETIME`,
//! `LOGIN_ATTEMPT_LIFETIME`).

use std::time::Duration;

use crate::server::platform::config::vars::{ConfigError, Vars, invalid};

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

impl SessionSettings {
    pub(super) fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let sessions = Self {
            idle_timeout: vars.duration("SESSION_IDLE_TIMEOUT", "24h")?,
            max_lifetime: vars.duration("SESSION_MAX_LIFETIME", "30d")?,
            login_attempt_lifetime: vars.duration("LOGIN_ATTEMPT_LIFETIME", "10m")?,
        };
        if sessions.login_attempt_lifetime > Duration::from_secs(600) {
            return Err(invalid("LOGIN_ATTEMPT_LIFETIME")("must be at most 10m".into()));
        }
        if sessions.idle_timeout > sessions.max_lifetime {
            return Err(invalid("SESSION_IDLE_TIMEOUT")("must not be longer than SESSION_MAX_LIFETIME".into()));
        }
        Ok(sessions)
    }
}
