//! The profile's passkey forms, thin adapters over `server::people::passkeys`: rename one, remove one (after a recent
//! confirmation of identity). Plain `<form method="post">`s that come back to `/profile`. Adding a passkey needs the
//! browser's WebAuthn API, so it goes through `/auth/passkey/register*` from `passkey.js`.

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
