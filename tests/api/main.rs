//! Integration tests: the real router on a real SQLite file, over real HTTP. One binary, one module per area.

mod helpers;

mod health;
mod pages;
mod startup;
