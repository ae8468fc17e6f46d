//! What turns an HTTP request into a call.
//!
//! - [`layers`]: the per-request layers that read the state; [`guard`]: the one session check per request.
//! - [`context`]: what server functions read from the request; [`server_fns`]: their undecodable-argument answer.
//! - [`owner_scope`]: each request's reactive owner stays its own; [`page_cache`]: pages leaving the app whole, the
//!   anonymous ones from memory; [`error_page`]: small pages answered outside the app.
//! - [`health`]: probes and `/metrics`.

pub mod context;
pub mod error_page;
pub mod guard;
pub mod health;
pub mod layers;
pub mod owner_scope;
pub mod page_cache;
pub mod server_fns;
