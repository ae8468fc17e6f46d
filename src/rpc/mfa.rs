//! The server functions behind two-step verification and `/confirm`, thin adapters over `server::mfa` and
//! `server::step_up`. Every form is a plain `<form method="post">`.

use leptos::prelude::*;

use crate::model::{
    error::AppError,
    mfa::{ConfirmChoices, EnrolmentView},
};

/// The second step of a sign-in: a code from the authenticator app, or a recovery code. Then the session starts
/// (under a new id) and the browser goes where the sign-in was headed.
#[server(endpoint = "auth/mfa")]
pub async fn pass_challenge(code: String) -> Result<(), AppError> {
    use crate::server::{
        people::{local_accounts, mfa, session},
        web::context,
    };
    context::with_status(async {
        let state = context::state()?;
        let client = context::client_info().await;
        let browser = context::session().await?;
        let challenge = session::challenge(&browser).await.map_err(AppError::internal)?.ok_or_else(|| {
            AppError::Invalid("This sign-in has expired or was already finished. Please sign in again.".into())
        })?;
        let passed = mfa::verify(&state, &challenge.user_id, &code, &client).await?;
        let keep = challenge.keep;
        let auth = local_accounts::record_sign_in(
            &state,
            &challenge.user_id,
            challenge.first_step(),
            Some(passed),
            &client,
            keep,
        )
        .await?;
        session::start(&browser, &state.cache, &state.config.sessions, &auth, keep)
            .await
            .map_err(AppError::internal)?;
        leptos_axum::redirect(&challenge.next);
        Ok(())
    })
    .await
}

/// Whether this browser is between the two steps of a sign-in (for `/login/mfa`).
#[server(endpoint = "auth/mfa/pending")]
pub async fn challenge_pending() -> Result<bool, AppError> {
    use crate::server::{people::session, web::context};
    let browser = context::session().await?;
    Ok(session::challenge(&browser).await.map_err(AppError::internal)?.is_some())
}

/// Starts setting up an authenticator app: a new key, shown on `/profile/two-step` until a code from it arrives.
/// Needs a recent confirmation of identity.
#[server(endpoint = "account/mfa/start")]
pub async fn start_two_step() -> Result<(), AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        mfa::start_enrolment(&state, &confirmed).await?;
        leptos_axum::redirect("/profile/two-step");
        Ok(())
    })
    .await
}

/// The key being set up, or `None` when nothing is being set up.
#[server(endpoint = "account/mfa/enrolment")]
pub async fn two_step_enrolment() -> Result<Option<EnrolmentView>, AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        let account = signed_in.user.email.clone().unwrap_or_else(|| signed_in.user.display_name.clone());
        let enrolment = mfa::enrolment(&state, &signed_in.session.user_id, &account).await?;
        Ok(enrolment.map(|e| EnrolmentView { key: e.key, qr_svg: e.qr_svg }))
    })
    .await
}

/// Turns two-step verification on with a first code from the app; the recovery codes are shown next, once.
#[server(endpoint = "account/mfa/confirm")]
pub async fn confirm_two_step(code: String) -> Result<(), AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        let codes = mfa::confirm_enrolment(&state, &confirmed, &code, &context::client_info().await).await?;
        mfa::keep_fresh_codes(&state, &context::session().await?, confirmed.user_id(), &codes).await?;
        leptos_axum::redirect("/profile/recovery-codes");
        Ok(())
    })
    .await
}

/// The recovery codes just made in this browser, until dismissed (at most ten minutes).
#[server(endpoint = "account/mfa/fresh-codes")]
pub async fn fresh_recovery_codes() -> Result<Option<Vec<String>>, AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        mfa::fresh_codes(&state, &context::session().await?, &auth.user_id).await
    })
    .await
}

/// "I have saved them": the codes are no longer shown.
#[server(endpoint = "account/mfa/fresh-codes/dismiss")]
pub async fn dismiss_recovery_codes() -> Result<(), AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        context::signed_in()?;
        mfa::forget_fresh_codes(&context::session().await?).await?;
        leptos_axum::redirect("/profile");
        Ok(())
    })
    .await
}

/// New recovery codes in place of the old ones. Needs a recent confirmation of identity.
#[server(endpoint = "account/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes() -> Result<(), AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        let codes = mfa::regenerate_recovery_codes(&state, &confirmed, &context::client_info().await).await?;
        mfa::keep_fresh_codes(&state, &context::session().await?, confirmed.user_id(), &codes).await?;
        leptos_axum::redirect("/profile/recovery-codes");
        Ok(())
    })
    .await
}

/// Turns two-step verification off. Needs a recent confirmation of identity.
#[server(endpoint = "account/mfa/disable")]
pub async fn disable_two_step() -> Result<(), AppError> {
    use crate::server::{people::mfa, web::context};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        mfa::disable(&state, &confirmed, &context::client_info().await).await?;
        leptos_axum::redirect("/profile?two_step=off");
        Ok(())
    })
    .await
}

/// How the signed-in person can confirm it is them.
#[server(endpoint = "account/confirm/options")]
pub async fn confirm_options() -> Result<ConfirmChoices, AppError> {
    use crate::server::{people::local_accounts, web::context};
    context::with_status(async {
        let (state, signed_in) = context::signed_in_person()?;
        local_accounts::confirm_choices(&state, &signed_in).await
    })
    .await
}

/// Confirms it is the person at the keyboard, with their password or a code: sensitive changes are allowed for ten
/// minutes. Then back to `next`.
#[server(endpoint = "account/confirm")]
pub async fn confirm_identity(
    password: Option<String>,
    code: Option<String>,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{
        auth::redirect::RedirectTarget,
        people::{
            local_accounts, mfa,
            passwords::Password,
            step_up::{self, Proof},
        },
        web::context,
    };
    context::with_status(async {
        let (state, auth) = context::signed_in()?;
        let client = context::client_info().await;
        let proof = match (password.filter(|p| !p.is_empty()), code.filter(|c| !c.trim().is_empty())) {
            (_, Some(code)) => Proof::Code(mfa::verify(&state, &auth.user_id, &code, &client).await?),
            (Some(password), None) => {
                local_accounts::confirm_with_password(&state, &auth.user_id, &Password::new(password)).await?;
                Proof::Password
            }
            (None, None) => return Err(AppError::Invalid("Enter your password or a code.".into())),
        };
        step_up::record(&state, &auth, proof, &client).await?;
        leptos_axum::redirect(RedirectTarget::parse_or_default(next.as_deref().or(Some("/profile"))).as_str());
        Ok(())
    })
    .await
}
