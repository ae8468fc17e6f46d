//! The server function that reads `/apps`. The page's forms post to plain handlers (`server::apps`), so `/apps`
//! works without JavaScript and adds nothing to the WebAssembly.

use leptos::prelude::*;

use crate::model::{apps::AppsView, error::AppError};

#[server(endpoint = "apps/view")]
pub async fn get_apps() -> Result<AppsView, AppError> {
    use crate::server::{oauth::apps, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        apps::view(&state, &context::session().await?, &auth.user_id).await
    })
    .await
}
