//! Everything that runs only on the server: configuration, database, HTTP wiring, sign-in. Compiled only with `ssr`.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bus;
pub mod cache;
pub mod clock;
pub mod config;
pub mod context;
pub mod csrf;
pub mod db;
pub mod error_page;
pub mod guard;
pub mod health;
pub mod page_cache;
pub mod rpc;
pub mod secret_key;
pub mod security;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod useragent;
pub mod users;
