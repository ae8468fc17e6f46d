//! Everything that runs only on the server, compiled only with `ssr`. The folders read as the architecture:
//!
//! - [`people`]: people and how they sign in — accounts, sessions, passwords, two-step verification, step-up,
//!   personal access tokens, notices and the mails about sign-in changes.
//! - [`auth`]: signing in with external providers (`/auth/*`): OpenID Connect, GitHub, login attempts.
//! - [`oauth`]: Gatehouse as an OAuth 2.1 / OpenID Connect provider to other apps, and `/apps`.
//! - [`api`]: the JSON API (`/api/v1`) under personal access tokens and Gatehouse's own access tokens.
//! - [`admin`]: the admin area (`/admin`).
//! - [`security`]: rate limits and blocks, lockouts after failed guesses, client addresses and trusted proxies,
//!   network allow-lists, the cross-site check, security headers, the audit trail.
//! - [`web`]: what turns an HTTP request into a call: the per-request layers, the one session check, the context
//!   server functions read, pages leaving the app, error pages, health probes and `/metrics`.
//! - [`platform`]: what everything stands on: configuration, database, cache and the bus between instances, clock,
//!   logs, metrics, mail, sealing data at rest, transport limits.
//! - [`state`]: the state every service takes; [`startup`], [`shell`] and [`cli`]: the composition root.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod oauth;
pub mod people;
pub mod platform;
pub mod security;
pub mod shell;
pub mod startup;
pub mod state;
pub mod web;
