//! People and how they sign in.
//!
//! - [`users`]: people and the external identities they sign in with; [`accounts`]: the account services behind
//!   the profile, the dashboard and the API.
//! - [`session`]: the signed-in session and its row, and the request's [`session::Caller`].
//! - [`local_accounts`]: email and password accounts; [`passwords`]: what a password must be, and hashing it.
//! - [`mfa`]: two-step verification; [`passkeys`]: WebAuthn passkeys, as a first step or a second;
//!   [`step_up`]: the one gate in front of every sensitive change.
//! - [`tokens`]: personal access tokens; [`revocation`]: ending every credential at once.
//! - [`notices`]: new-sign-in notices; [`security_mail`]: mails about sign-in changes; [`useragent`]: browser names.

pub mod accounts;
pub mod local_accounts;
pub mod mfa;
pub mod notices;
pub mod passkeys;
pub mod passwords;
pub mod revocation;
pub mod security_mail;
pub mod session;
pub mod step_up;
pub mod tokens;
pub mod useragent;
pub mod users;
