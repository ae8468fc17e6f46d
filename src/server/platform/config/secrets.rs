//! `SECRET_KEY` and `SECRET_KEY_PREVIOUS`: what data at rest is sealed with.

use crate::server::platform::config::{
    site::AppUrl,
    vars::{ConfigError, Vars, invalid},
};
use crate::server::platform::secret_key::SecretKey;

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum SecretKeySetting {
    /// `SECRET_KEY` (and `SECRET_KEY_PREVIOUS`, during a rotation).
    Given { current: SecretKey, previous: Option<SecretKey> },
    /// None given, on an http `APP_URL`: a development key, generated once and kept in a file beside the database
    /// (start-up reads or writes it).
    Development,
}

impl SecretKeySetting {
    pub(super) fn read(vars: &Vars<'_>, app_url: &AppUrl) -> Result<Self, ConfigError> {
        Ok(match (vars.get("SECRET_KEY")?, vars.get("SECRET_KEY_PREVIOUS")?) {
            (Some(current), previous) => Self::Given {
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
            (None, None) => Self::Development,
        })
    }
}
