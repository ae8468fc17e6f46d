//! Shared types: what crosses between the server and the browser — view models, the wire error, and the
//! parse-don't-validate newtypes both sides check input with. No server functions and no server-only code; these
//! modules import only each other, and everything else may import them.

pub mod account;
pub mod admin;
pub mod apps;
pub mod auth;
pub mod error;
pub mod mfa;
pub mod page;
pub mod passkeys;
pub mod password;
pub mod time;
pub mod tokens;
