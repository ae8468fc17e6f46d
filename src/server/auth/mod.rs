//! Sign-in with external providers.
//!
//! - [`handlers`]: the `/auth/*` routes (start, callback, link, confirm, sign-out); [`passkey`]: the
//!   `/auth/passkey/*` routes (JSON, for the pages' scripts).
//! - [`providers`]: the configured providers; [`oidc`]: OpenID Connect, with [`provider_keys`] checking ID tokens'
//!   signatures; [`github`]: GitHub's OAuth 2.0;
//!   [`capped`]: provider requests with size and time caps; [`flow`]: what every provider's flow shares.
//! - [`connections`]: the person's tokens at their providers, kept sealed and refreshed once (`PROVIDER_TOKENS`).
//! - [`attempt`]: a sign-in in progress; [`redirect`]: where the browser goes afterwards.
//! - [`backchannel`]: `POST /auth/backchannel-logout/{provider}`, a provider's word that someone signed out there,
//!   with [`logout_token`] checking what it sends; [`risc`]: `POST /auth/risc/google`, Google's security events, checked by
//!   [`transmitter`].

pub mod attempt;
pub mod backchannel;
pub mod capped;
pub mod connections;
pub mod flow;
pub mod github;
pub mod handlers;
pub mod logout_token;
pub mod oidc;
pub mod passkey;
pub mod provider_keys;
pub mod providers;
pub mod redirect;
pub mod risc;
pub mod transmitter;
