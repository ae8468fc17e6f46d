//! This site as a WebAuthn relying party (`webauthn-rs`): the relying party id (`APP_URL`'s host) and the one origin
//! whose answers count. Made once at start-up when passkeys are on; `people::passkeys` runs the ceremonies.

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::server::platform::config::AppUrl;

/// How long a ceremony may take, from its options to its answer: what the browser is told (`timeout`) and how long
/// its sealed state opens.
pub const CEREMONY_SECS: i64 = 300;

/// This site as a WebAuthn relying party: its id (`APP_URL`'s host) and origin.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// The relying party `rp_id` at `app_url`'s origin: answers signed for any other origin are refused.
    pub fn new(app_url: &AppUrl, rp_id: &str) -> Result<Self, String> {
        let origin = Url::parse(&app_url.origin()).map_err(|e| format!("APP_URL is not a URL: {e}"))?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .and_then(|builder| {
                builder.rp_name("Gatehouse").timeout(std::time::Duration::from_secs(CEREMONY_SECS as u64)).build()
            })
            .map_err(|e| format!("passkeys cannot be offered for {rp_id} at {origin}: {e}"))?;
        Ok(Self { webauthn })
    }

    pub fn webauthn(&self) -> &Webauthn {
        &self.webauthn
    }
}
