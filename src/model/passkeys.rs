//! Passkeys as the profile shows them. Shared by the server and the browser.

use serde::{Deserialize, Serialize};

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
