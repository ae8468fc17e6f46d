//! What turns an HTTP request into a call.
//!
//! - [`front`]: the one layer every request passes first (ids, address, capacity, limits, time, panics, headers,
//!   metrics, the access log), over [`layers`]' steps; [`guard`]: the one session check per request.
//! - [`context`]: what server functions read from the request; [`server_fns`]: their undecodable-argument answer.
//! - [`owner_scope`]: each request's reactive owner stays its own; [`page_cache`]: pages leaving the app whole, the
//!   anonymous ones from memory; [`preload`]: the signed-in pages read before they render, rendered in one pass;
//!   [`error_page`]: small pages answered outside the app.
//! - [`health`]: probes and `/metrics`.

pub mod context;
pub mod error_page;
pub mod front;
pub mod guard;
pub mod health;
pub mod layers;
pub mod owner_scope;
pub mod page_cache;
pub mod preload;
pub mod server_fns;
