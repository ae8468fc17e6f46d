//! Two-step verification and confirming who is at the keyboard, as the pages show them. Shared by the server and the
//! browser.

use serde::{Deserialize, Serialize};

use crate::model::auth::ProviderSummary;

/// What the enrolment page shows: the key as text and as a QR code (SVG), for the person's own authenticator app.
/// Only its owner can read it, and only while enrolling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub key: String,
    pub qr_svg: String,
}

/// The two-step part of the profile page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoStep {
    pub enabled: bool,
    pub recovery_codes_left: u32,
}

/// The ways the person can confirm it is them, for `/confirm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmChoices {
    pub password: bool,
    pub code: bool,
    /// Whether the person has a passkey (and passkeys are on).
    #[serde(default)]
    pub passkey: bool,
    /// Their providers, to sign in at again.
    pub providers: Vec<ProviderSummary>,
}
