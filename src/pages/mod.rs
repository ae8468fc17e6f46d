//! One module per page.

pub mod admin;
pub mod apps;
pub mod dashboard;
pub mod developers;
pub mod home;
pub mod login;
pub mod not_found;
pub mod password;
pub mod profile;
pub mod two_step;
