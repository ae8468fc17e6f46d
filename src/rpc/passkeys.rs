//! The passkey forms, thin adapters over `server::people`: on the profile, rename one, remove one (after a recent
//! confirmation of identity); on `/signup`, ask for the link that creates an account with a passkey. Plain
//! `<form method="post">`s. Making or using a passkey needs the browser's WebAuthn API, so it goes through
//! `/auth/passkey/*` from `passkey.js`.

use leptos::prelude::*;

use crate::model::error::AppError;

/// Whether this site offers passkeys (`PASSKEYS`, on a host name), while a page renders on the server.
pub fn passkeys_offered() -> bool {
    #[cfg(feature = "ssr")]
    return crate::server::web::context::state().is_ok_and(|state| state.passkeys.is_some());
    #[cfg(not(feature = "ssr"))]
    false
}

/// Renames one of the signed-in person's passkeys.
#[server(endpoint = "account/passkeys/rename")]
pub async fn rename_passkey(id: String, name: String) -> Result<(), AppError> {
    use crate::server::{people::passkeys, web::context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        let client = context::client_info().await;
        passkeys::rename(&state, &signed_in.session.user_id, &id, &name, &client).await?;
        leptos_axum::redirect("/profile?passkey=renamed#passkeys-title");
        Ok(())
    })
    .await
}

/// Removes one of the signed-in person's passkeys (never their last way in). Needs a recent confirmation of identity.
#[server(endpoint = "account/passkeys/remove")]
pub async fn remove_passkey(id: String) -> Result<(), AppError> {
    use crate::server::{people::passkeys, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        passkeys::remove(&state, &confirmed, &id, &context::client_info().await).await?;
        leptos_axum::redirect("/profile?passkey=removed#passkeys-title");
        Ok(())
    })
    .await
}

/// Starts an account that signs in with a passkey, no password: mails the address a link to make the passkey, then
/// shows "check your email" — the same page when the address already has an account (its owner gets a mail saying
/// so instead).
#[server(endpoint = "auth/passkey/sign-up")]
pub async fn passkey_sign_up(email: String, display_name: String) -> Result<(), AppError> {
    use crate::{
        model::{account::DisplayName, password::EmailAddress},
        server::{people::local_accounts, web::context},
    };
    context::with_status(async {
        let state = context::state()?;
        let email = EmailAddress::parse(&email)?;
        let name = DisplayName::parse(&display_name)?;
        local_accounts::sign_up_with_passkey(&state, email, name)?;
        leptos_axum::redirect("/signup?sent=passkey");
        Ok(())
    })
    .await
}
