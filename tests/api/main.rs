//! Integration tests: the real router on a real SQLite file, over real HTTP. One binary, one module per area.

mod helpers;

mod account;
mod bearer;
mod github;
mod health;
mod oidc;
mod pages;
mod provider;
mod sessions;
mod startup;
