//! The tokens Gatehouse issues to apps: their lifetimes and the signing key's rotation.

use std::time::Duration;

use crate::server::platform::{
    config::{
        site::AppUrl,
        vars::{ConfigError, Vars, invalid},
    },
    outbound::Reach,
};

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
    /// Where Gatehouse's own requests to apps' addresses (back-channel logout) may go besides public addresses:
    /// private ones with `OUTBOUND_PRIVATE_ADDRESSES=allow`, loopback ones while `APP_URL` is on loopback.
    pub outbound: Reach,
}

impl OAuthSettings {
    pub(super) fn read(vars: &Vars<'_>, app_url: &AppUrl) -> Result<Self, ConfigError> {
        let private = match vars.get("OUTBOUND_PRIVATE_ADDRESSES")?.as_deref() {
            None | Some("refuse") => false,
            Some("allow") => true,
            Some(other) => {
                return Err(invalid("OUTBOUND_PRIVATE_ADDRESSES")(format!(
                    "must be \"refuse\" or \"allow\", got {other:?}"
                )));
            }
        };
        let oauth = Self {
            access_token_lifetime: vars.duration("OAUTH_ACCESS_TOKEN_LIFETIME", "10m")?,
            refresh_token_lifetime: vars.duration("OAUTH_REFRESH_TOKEN_LIFETIME", "30d")?,
            signing_key_rotation: vars.duration("SIGNING_KEY_ROTATION", "90d")?,
            outbound: Reach { private, loopback: app_url.is_loopback() },
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
        Ok(oauth)
    }
}
