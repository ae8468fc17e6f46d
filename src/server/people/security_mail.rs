//! Telling a person that how they sign in changed: two-step verification turned on or off, recovery codes made
//! again, a password added, changed or reset, a provider linked. Every such change is mailed to the owner (when
//! mail is configured and they have a confirmed address), so that a change they did not make does not go unseen.
//! The mails carry no text a stranger chose: only fixed sentences and our own provider labels.

use crate::server::{
    platform::{
        db::{Db, on},
        mail::Mail,
    },
    state::AppState,
};

/// A change to how the person signs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    TwoStepOn,
    TwoStepOff,
    RecoveryCodesRegenerated,
    PasswordAdded,
    PasswordChanged,
    /// Reset from a link: every session, token and app authorization was ended.
    PasswordReset,
    /// A provider (its label, as the login page shows it) was linked.
    ProviderLinked(String),
    PasskeyAdded,
    PasskeyRemoved,
    /// A new passkey from a reset link: every session, token and app authorization was ended.
    AccountRecovered,
    /// The provider (its label) found the person's account there taken over: everything here was ended.
    ProviderAccountHijacked(String),
    /// The provider (its label) asks the person to change their credentials there.
    ProviderAsksToReverify(String),
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::TwoStepOn => "two_step_on",
            Change::TwoStepOff => "two_step_off",
            Change::RecoveryCodesRegenerated => "recovery_codes",
            Change::PasswordAdded => "password_added",
            Change::PasswordChanged => "password_changed",
            Change::PasswordReset => "password_reset",
            Change::ProviderLinked(_) => "provider_linked",
            Change::PasskeyAdded => "passkey_added",
            Change::PasskeyRemoved => "passkey_removed",
            Change::AccountRecovered => "account_recovered",
            Change::ProviderAccountHijacked(_) => "provider_account_hijacked",
            Change::ProviderAsksToReverify(_) => "provider_asks_to_reverify",
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Change::TwoStepOn => "Two-step verification was turned on for your Gatehouse account",
            Change::TwoStepOff => "Two-step verification was turned off for your Gatehouse account",
            Change::RecoveryCodesRegenerated => "New recovery codes were made for your Gatehouse account",
            Change::PasswordAdded => "A password was added to your Gatehouse account",
            Change::PasswordChanged => "The password of your Gatehouse account was changed",
            Change::PasswordReset => "The password of your Gatehouse account was reset",
            Change::ProviderLinked(_) => "A new way to sign in was added to your Gatehouse account",
            Change::PasskeyAdded => "A passkey was added to your Gatehouse account",
            Change::PasskeyRemoved => "A passkey was removed from your Gatehouse account",
            Change::AccountRecovered => "Your Gatehouse account was recovered with a new passkey",
            Change::ProviderAccountHijacked(_) => {
                "Your Gatehouse account was locked down: your sign-in account was taken over"
            }
            Change::ProviderAsksToReverify(_) => "Please secure the account you sign in to Gatehouse with",
        }
    }

    fn what_happened(&self) -> String {
        match self {
            Change::TwoStepOn => "Two-step verification was turned on for your Gatehouse account: signing in now \
                                  needs a code from an authenticator app, or a recovery code."
                .into(),
            Change::TwoStepOff => "Two-step verification was turned off for your Gatehouse account: signing in no \
                                   longer asks for a code."
                .into(),
            Change::RecoveryCodesRegenerated => "New recovery codes were made for your Gatehouse account; the old \
                                                 ones no longer work."
                .into(),
            Change::PasswordAdded => "A password was added to your Gatehouse account: it can now be signed in to \
                                      with this email address and that password."
                .into(),
            Change::PasswordChanged => "The password of your Gatehouse account was changed, and every other \
                                        session was signed out."
                .into(),
            Change::PasswordReset => "The password of your Gatehouse account was reset from a link mailed to this \
                                      address. Every session was signed out, and every API token and app \
                                      authorization was ended: sign in again, and create again the tokens you need."
                .into(),
            Change::ProviderLinked(label) => {
                format!("Signing in with {label} was added to your Gatehouse account.")
            }
            Change::PasskeyAdded => "A passkey was added to your Gatehouse account: the device or password manager \
                                    that holds it can now sign in to it, without a password."
                .into(),
            Change::PasskeyRemoved => "A passkey was removed from your Gatehouse account: it can no longer be used \
                                      to sign in."
                .into(),
            Change::AccountRecovered => "A new passkey was added to your Gatehouse account from a link mailed to \
                                         this address. Every session was signed out, and every API token and app \
                                         authorization was ended: sign in with the new passkey, and create again \
                                         the tokens you need."
                .into(),
            Change::ProviderAccountHijacked(label) => format!(
                "{label} told us that the {label} account you sign in to Gatehouse with was taken over by someone \
                 else. To protect you, every Gatehouse session was signed out, and every API token and app \
                 authorization was ended."
            ),
            Change::ProviderAsksToReverify(label) => format!(
                "{label} asks you to change the password of the {label} account you sign in to Gatehouse with. Until \
                 you sign in with it again, Gatehouse asks you to confirm it is you before any sensitive change."
            ),
        }
    }

    /// What to do now.
    fn advice(&self) -> Vec<String> {
        match self {
            Change::ProviderAccountHijacked(label) | Change::ProviderAsksToReverify(label) => vec![format!(
                "Secure your {label} account first (its security settings), then sign in to Gatehouse again and \
                 review your sessions, tokens and apps on your dashboard."
            )],
            _ => vec![
                "If that was you, there is nothing to do.".into(),
                "If it was not you, someone can use your account: reset your password from the link below, then \
                 review your sessions, tokens and apps on your dashboard."
                    .into(),
            ],
        }
    }
}

/// Where to write to the person: their confirmed password address, else their provider's verified address.
pub async fn owner_address(db: &Db, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    on!(db, pool => sqlx::query_scalar(
        "SELECT COALESCE(
             (SELECT email FROM passwords WHERE user_id = $1 AND verified_at IS NOT NULL),
             (SELECT email FROM users WHERE id = $1 AND email_verified))",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await)
}

/// Mails the owner about `change`, once it has committed. A failure is logged, never the change's: it is done.
pub async fn tell_owner(state: &AppState, user_id: &str, change: Change) {
    let Some(mailer) = &state.mailer else { return };
    let to = match owner_address(&state.db, user_id).await {
        Ok(Some(to)) => to,
        Ok(None) => return,
        Err(error) => {
            tracing::error!(%error, %user_id, kind = change.kind(), "could not find where to tell of a change");
            return;
        }
    };
    mailer.send_later(
        change.kind(),
        Mail {
            to,
            subject: change.subject().into(),
            paragraphs: std::iter::once(change.what_happened()).chain(change.advice()).collect(),
            link: Some((state.config.app_url.join("/reset"), "Secure your account".into())),
        },
    );
}
