//! Entry points for the pages: the `#[server]` functions, one module per feature, and what a page reads while it
//! renders on the server. Each takes the request's already-checked principal from `server::context`, calls one
//! service, and returns shared types (`crate::model`). Pages, components and islands call these and nothing under
//! `server`.

pub mod account;
pub mod admin;
pub mod apps;
pub mod auth;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod tokens;
