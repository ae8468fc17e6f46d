//! Everything that runs only on the server: configuration, database, HTTP wiring. Compiled only with `ssr`.

pub mod config;
pub mod db;
pub mod health;
pub mod security;
pub mod startup;
pub mod state;
pub mod telemetry;
