//! What everything stands on.
//!
//! - [`config`]: the settings, read once at start-up; [`db`]: SQLite or PostgreSQL; [`cache`]: checked sessions and
//!   tokens in memory; [`bus`]: cache invalidation between instances.
//! - [`clock`]: time and randomness; [`telemetry`]: logs; [`metrics`]: what `/metrics` reports.
//! - [`mail`]: outgoing mail; [`secret_key`]: `SECRET_KEY` and sealing data at rest; [`relying_party`]: this site
//!   as a WebAuthn relying party, for passkeys; [`single_use`]: challenges and token ids used once, on every instance.
//! - [`transport`]: body size, request time and concurrency limits; [`app_error`]: the wire error's HTTP side;
//!   [`outbound`]: requests to addresses apps chose, to public addresses only.

pub mod app_error;
pub mod bus;
pub mod cache;
pub mod clock;
pub mod config;
pub mod db;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod relying_party;
pub mod secret_key;
pub mod single_use;
pub mod telemetry;
pub mod transport;
