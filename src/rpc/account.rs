//! The server functions behind the account pages (profile, dashboard, sessions, activity): each checks the session
//! itself, never takes a user id from the caller, and calls one service in `server::accounts`.

use leptos::prelude::*;

use crate::model::{
    account::{ActivityPage, DashboardSummary, DashboardView, ProfileOverview, SessionList},
    error::AppError,
};

#[server(endpoint = "account/profile")]
pub async fn get_profile() -> Result<ProfileOverview, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        accounts::profile(&state, &signed_in).await
    })
    .await
}

#[server(endpoint = "account/display-name")]
pub async fn update_display_name(display_name: String) -> Result<String, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        let name = crate::model::account::DisplayName::parse(&display_name)?;
        accounts::rename(&state, &auth.user_id, &name, &context::client_info().await).await?;
        Ok(name.as_str().to_owned())
    })
    .await
}

/// Removes a sign-in method. Refused while it is the last one.
#[server(endpoint = "account/unlink")]
pub async fn unlink_identity(id: String) -> Result<(), AppError> {
    use crate::server::{auth::connections, people::accounts, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        let unlinked = accounts::unlink(&state, &confirmed, &id, &context::client_info().await).await?;
        if let Some(sealed) = unlinked.kept_tokens {
            connections::revoke_at_provider(&state, confirmed.user_id(), &unlinked.provider, sealed);
        }
        Ok(())
    })
    .await
}

/// Deletes the account, once `confirm_email` matches its email (or, for an account without one, its display name).
#[server(endpoint = "account/delete")]
pub async fn delete_account(confirm: String) -> Result<(), AppError> {
    use crate::server::{
        people::{accounts, session},
        web::context,
    };
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        accounts::delete(&state, &confirmed, &confirm).await?;
        session::logout(&context::session().await?, &state.db, &state.cache).await.map_err(AppError::internal)?;
        leptos_axum::redirect("/?deleted=1");
        Ok(())
    })
    .await
}

/// The whole dashboard for the signed-in person; `before` picks the activity page, as `security_activity` does.
#[server(endpoint = "account/dashboard")]
pub async fn get_dashboard(before: Option<i64>) -> Result<DashboardView, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        accounts::dashboard(&state, &signed_in, before).await
    })
    .await
}

#[server(endpoint = "account/summary")]
pub async fn get_dashboard_summary() -> Result<DashboardSummary, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::read_summary(&state, &auth).await
    })
    .await
}

#[server(endpoint = "account/sessions")]
pub async fn list_sessions() -> Result<SessionList, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::read_sessions(&state, &auth).await
    })
    .await
}

/// Revokes one of this person's sessions; it is refused on its next request.
#[server(endpoint = "account/sessions/revoke")]
pub async fn revoke_session(id: String) -> Result<(), AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::revoke_session(&state, &auth.user_id, &id, &context::client_info().await).await
    })
    .await
}

/// Revokes every session but this one. Returns how many were ended.
#[server(endpoint = "account/sessions/revoke-others")]
pub async fn revoke_other_sessions() -> Result<u32, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::revoke_other_sessions(&state, &auth, &context::client_info().await).await
    })
    .await
}

/// A page of this person's security activity, newest first; `before` is the previous page's `next`.
#[server(endpoint = "account/activity")]
pub async fn security_activity(before: Option<i64>) -> Result<ActivityPage, AppError> {
    use crate::server::{people::accounts, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        accounts::read_activity(&state, &auth.user_id, before).await
    })
    .await
}
