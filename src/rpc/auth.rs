//! What a page learns about signing in while it renders: the signed-in person (from the request's one session
//! check) and the configured providers.

use leptos::prelude::*;

use crate::model::{
    auth::{ProviderSummary, SignedInUser},
    error::AppError,
};

/// The signed-in person while rendering a page on the server: what the request's one session check found, with no
/// query and no resource. `None` in the browser, where only islands run and they take what they need as props.
pub fn signed_in_user() -> Option<SignedInUser> {
    #[cfg(feature = "ssr")]
    return crate::server::web::context::caller().0.map(|signed_in| signed_in.user.as_ref().clone());
    #[cfg(not(feature = "ssr"))]
    None
}

/// The configured sign-in providers, in the order the login page shows them.
#[server(endpoint = "login/providers")]
pub async fn login_providers() -> Result<Vec<ProviderSummary>, AppError> {
    let state = crate::server::web::context::state()?;
    Ok(state.providers.summaries())
}
