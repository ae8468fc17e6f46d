//! Components shared by several pages.

pub mod account;
pub mod counts;
pub mod form;
pub mod layout;
pub mod passkey;
pub mod time;
pub mod tokens;
