//! Integration tests: the real router on a real SQLite file or PostgreSQL schema, over real HTTP. One binary, one module per area.

mod helpers;

mod account;
mod admin;
mod allow_lists;
mod audit_chain;
mod authorization_server;
mod backchannel;
mod bearer;
mod cache;
mod connections;
mod database;
mod github;
mod health;
mod instances;
mod limits;
mod mail;
mod metrics;
mod notices;
mod oidc;
mod pages;
mod passkeys;
mod passwords;
mod provider;
mod proxies;
mod pushed_requests;
mod rate_limits;
mod render_hang;
mod risc;
mod security_review;
mod sessions;
mod startup;
mod two_step;
