//! The server functions behind the sign-up, sign-in, reset and password forms, thin adapters over
//! `server::local_accounts`; the forms are plain `<form method="post">`s, so all of it works without JavaScript.

use leptos::prelude::*;

use crate::model::error::AppError;

/// Whether this site offers email and password accounts (`PASSWORD_LOGIN`), while a page renders on the server.
pub fn password_login() -> bool {
    #[cfg(feature = "ssr")]
    return crate::server::web::context::state().is_ok_and(|state| state.config.password_login);
    #[cfg(not(feature = "ssr"))]
    false
}

/// Creates an account and mails the link that confirms its address, then shows "check your email" — the same page
/// when the address already has an account (its owner gets a mail saying so instead).
#[server(endpoint = "auth/password/sign-up")]
pub async fn sign_up(email: String, display_name: String, password: String) -> Result<(), AppError> {
    use crate::{
        model::{account::DisplayName, password::EmailAddress},
        server::{
            people::{local_accounts, passwords::NewPassword},
            web::context,
        },
    };
    context::with_status(async {
        let state = context::state()?;
        let email = EmailAddress::parse(&email)?;
        let name = DisplayName::parse(&display_name)?;
        let password = NewPassword::parse(password, &[email.as_str(), name.as_str()])?;
        local_accounts::sign_up(&state, email, name, password, context::client_info().await)?;
        leptos_axum::redirect("/signup?sent=1");
        Ok(())
    })
    .await
}

/// Confirms an address: the form on the page the emailed link opens (a link alone changes nothing, so a mail
/// scanner that follows it uses nothing up).
#[server(endpoint = "auth/password/verify")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    use crate::server::{people::local_accounts, web::context};
    context::with_status(async {
        let state = context::state()?;
        local_accounts::verify_email(&state, &token, &context::client_info().await).await?;
        let signed_in = context::caller().signed_in().is_some();
        leptos_axum::redirect(if signed_in { "/profile?verified=1" } else { "/login?verified=1" });
        Ok(())
    })
    .await
}

/// Signs in with an email address and a password, then goes to `next` (a path on this site). `remember` is the "Keep
/// me signed in" checkbox: present when ticked.
#[server(endpoint = "auth/password/sign-in")]
pub async fn password_sign_in(
    email: String,
    password: String,
    next: Option<String>,
    remember: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{
        auth::redirect::RedirectTarget,
        people::{
            local_accounts::{self, METHOD, SignedIn},
            passwords::Password,
            session,
        },
        platform::clock,
        web::context,
    };
    context::with_status(async {
        let state = context::state()?;
        let client = context::client_info().await;
        let next = RedirectTarget::parse_or_default(next.as_deref());
        let session = context::session().await?;
        let keep = session::Keep::chosen(remember.as_deref());
        match local_accounts::sign_in(&state, &email, &Password::new(password), &client, keep).await? {
            SignedIn::Session(auth) => {
                session::start(&session, &state.cache, &state.config.sessions, &auth, keep)
                    .await
                    .map_err(AppError::internal)?;
                leptos_axum::redirect(next.as_str());
            }
            SignedIn::SecondStep { user_id } => {
                let lifetime = state.config.sessions.login_attempt_lifetime.as_secs() as i64;
                let challenge = session::Challenge {
                    user_id,
                    provider: METHOD.to_owned(),
                    at_provider: None,
                    next: next.as_str().to_owned(),
                    expires_at: clock::now() + lifetime,
                    keep,
                };
                session::begin_challenge(&session, &state.cache, challenge).await.map_err(AppError::internal)?;
                leptos_axum::redirect("/login/mfa");
            }
        }
        Ok(())
    })
    .await
}

/// Mails a reset link if the address has a password. Answers the same whatever the address.
#[server(endpoint = "auth/password/forgot")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use crate::server::{people::local_accounts, web::context};
    context::with_status(async {
        let state = context::state()?;
        let email = crate::model::password::EmailAddress::parse(&email)?;
        local_accounts::request_reset(&state, email)?;
        leptos_axum::redirect("/reset?sent=1");
        Ok(())
    })
    .await
}

/// Sets a new password from an emailed reset link; every session of the person ends.
#[server(endpoint = "auth/password/reset")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    use crate::server::{people::local_accounts, web::context};
    context::with_status(async {
        let state = context::state()?;
        local_accounts::reset(&state, &token, password, &context::client_info().await).await?;
        leptos_axum::redirect("/login?reset=1");
        Ok(())
    })
    .await
}

/// Changes the signed-in person's password, given the current one. Their other sessions end.
#[server(endpoint = "account/password/change")]
pub async fn change_password(current: String, password: String) -> Result<u64, AppError> {
    use crate::server::{
        people::{local_accounts, passwords::Password},
        web::context,
    };
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        let ended =
            local_accounts::change(&state, &auth, &Password::new(current), password, &context::client_info().await)
                .await?;
        leptos_axum::redirect("/profile?password=changed");
        Ok(ended)
    })
    .await
}

/// Adds a password to an account that signs in with a provider, for its verified email address.
#[server(endpoint = "account/password/add")]
pub async fn add_password(password: String) -> Result<(), AppError> {
    use crate::server::{people::local_accounts, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        local_accounts::add(&state, &confirmed, password, &context::client_info().await).await?;
        leptos_axum::redirect("/profile?password=added");
        Ok(())
    })
    .await
}
