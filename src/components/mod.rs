//! Components shared by several pages.

pub mod account;
pub mod layout;
