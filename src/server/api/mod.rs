//! The JSON API under `/api/v1`. Each handler is thin: authenticate (a [`Principal`] from a bearer token or the
//! session cookie), check one scope, call an account service, answer. Errors have one shape,
//! `{"error": "...", "message": "..."}`; the OpenAPI document at `/api/v1/openapi.json` is generated from these
//! handlers and their types.
//!
//! - [`routes`]: the router, its fallbacks, body limit, `no-store` and CORS.
//! - [`handlers`]: one function per route, over the services in `people`.
//! - [`auth`]: who is calling (a session, a personal access token or an app's token) and with which scopes.
//! - [`extract`]: JSON body, path and query readers whose refusals answer in the API's error shape.
//! - [`error`]: that shape, and how each service's error maps to it.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers.

mod auth;
mod error;
mod extract;
mod handlers;
mod openapi;
mod routes;

pub use self::{
    auth::{Credential, Principal, app_not_allowed, bearer},
    error::{ApiError, ErrorBody},
    routes::router,
};
