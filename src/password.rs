//! Email and password accounts, as the pages see them: the address type, and the server functions behind the sign-up,
//! sign-in, reset and password forms. Each is a thin adapter over `server::local_accounts`; the forms are plain
//! `<form method="post">`s, so all of it works without JavaScript.

use leptos::prelude::*;

use crate::error::AppError;

/// Characters a new password may have, at least and at most (counted as people count them; never truncated).
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// An email address someone typed: trimmed, at most 254 characters, one `@` with something on both sides and a dot
/// or `localhost` in the domain, no spaces or control characters. Compared without regard to case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim();
        let invalid = || AppError::Invalid("Enter an email address such as ada@example.com.".into());
        if email.is_empty() {
            return Err(AppError::Invalid("Enter your email address.".into()));
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err(AppError::Invalid(format!("An email address has at most {} characters.", Self::MAX_CHARS)));
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.eq_ignore_ascii_case("localhost")
            || (domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains(".."));
        if local.is_empty()
            || local.chars().count() > 64
            || !domain_ok
            || email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
            || local.contains('@')
        {
            return Err(invalid());
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address in lower case: how it is compared and counted.
    pub fn lowercase(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether this site offers email and password accounts (`PASSWORD_LOGIN`), while a page renders on the server.
pub fn password_login() -> bool {
    #[cfg(feature = "ssr")]
    return crate::server::context::state().is_ok_and(|state| state.config.password_login);
    #[cfg(not(feature = "ssr"))]
    false
}

/// Creates an account and mails the link that confirms its address, then shows "check your email" — the same page
/// when the address already has an account (its owner gets a mail saying so instead).
#[server(endpoint = "auth/password/sign-up")]
pub async fn sign_up(email: String, display_name: String, password: String) -> Result<(), AppError> {
    use crate::{
        account::DisplayName,
        server::{context, local_accounts, passwords::NewPassword},
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
    use crate::server::{context, local_accounts};
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
        clock, context,
        local_accounts::{self, METHOD, SignedIn},
        passwords::Password,
        session,
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
    use crate::server::{context, local_accounts};
    context::with_status(async {
        let state = context::state()?;
        let email = EmailAddress::parse(&email)?;
        local_accounts::request_reset(&state, email)?;
        leptos_axum::redirect("/reset?sent=1");
        Ok(())
    })
    .await
}

/// Sets a new password from an emailed reset link; every session of the person ends.
#[server(endpoint = "auth/password/reset")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    use crate::server::{context, local_accounts};
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
    use crate::server::{context, local_accounts, passwords::Password};
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
    use crate::server::{context, local_accounts};
    context::with_status(async {
        let (state, confirmed) = context::confirmed().await?;
        local_accounts::add(&state, &confirmed, password, &context::client_info().await).await?;
        leptos_axum::redirect("/profile?password=added");
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_trimmed_and_checked_for_shape() {
        assert_eq!(EmailAddress::parse("  Ada@Example.com ").expect("valid").as_str(), "Ada@Example.com");
        assert_eq!(EmailAddress::parse("Ada@Example.com").expect("valid").lowercase(), "ada@example.com");
        assert!(EmailAddress::parse("dev@localhost").is_ok());
        assert!(EmailAddress::parse("o'brien+tag@mail.example.co.uk").is_ok());
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "ada@example..com",
            "a b@x.com",
            "ada@x\u{7}y.com",
            "Ada <ada@x.com>",
            "a@b@x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(matches!(EmailAddress::parse(&long), Err(AppError::Invalid(m)) if m.contains("254")));
    }
}
