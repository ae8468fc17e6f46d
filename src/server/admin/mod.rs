//! The admin area (`/admin`): who may use it, what it reads, and what it changes.
//!
//! An administrator is a signed-in person whose verified email address is in `ADMIN_EMAILS`, calling from
//! `ADMIN_ALLOWED_IPS` (when set). Anyone else gets 404, as if there were nothing here. When local (password)
//! accounts exist or may be made, an administrator must also have two-step verification on: a password alone
//! never opens the admin area. Every change made here, and every export, is an audit event.
//!
//! - [`service`]: who may use it, what it reads and what it changes (the pages read it through `crate::rpc::admin`).
//! - [`forms`]: the plain form posts that change things, each answered with a redirect back, so the area works
//!   without JavaScript.

pub mod forms;
pub mod service;

use axum::{Router, routing::post};

use self::forms::{PersonAction, export, lift_form, person_form, verify_form};
use crate::server::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/people/disable", post(|s, c, a, w, f| person_form(PersonAction::Disable, s, c, a, w, f)))
        .route("/admin/people/enable", post(|s, c, a, w, f| person_form(PersonAction::Enable, s, c, a, w, f)))
        .route("/admin/blocks/lift", post(lift_form))
        .route("/admin/audit/export", post(export))
        .route("/admin/audit/verify", post(verify_form))
}
