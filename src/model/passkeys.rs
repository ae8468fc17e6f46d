//! Passkeys as the profile shows them. Shared by the server and the browser.

use serde::{Deserialize, Serialize};

/// The profile's passkeys: the person's, and whether they can add one here (the sentence says why not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeySection {
    pub list: Vec<PasskeyView>,
    /// Why passkeys cannot be added or used on this site (`PASSKEYS=false`, or `APP_URL` on an IP address).
    pub unavailable: Option<String>,
}

/// The longest name a passkey may have, in characters.
pub const MAX_NAME: usize = 60;

/// One of the person's passkeys: its name, when it was added and last used, and whether it may be synced between
/// devices (backup eligible) and is backed up now (backup state). Nothing secret: the public key stays on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub synced: bool,
    pub backed_up: bool,
}
