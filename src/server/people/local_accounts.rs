//! Email and password accounts: sign-up, address verification, sign-in, password reset and change. Every answer
//! that could tell whether an address has an account is the same either way (OWASP's authentication cheat sheet):
//! sign-up always says "check your email" and mails the owner instead when there is one; sign-in checks an unknown
//! address against a dummy hash and fails like a wrong password; the reset form always answers alike.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::{account::DisplayName, error::AppError, password::EmailAddress};
use crate::server::{
    people::{
        passkeys::{self, NewAccount, Options, Registered},
        passwords::{Checked, NewPassword, Password},
        security_mail::{self, Change},
        session::{self, AuthSession, ClientInfo, PASSKEY},
        step_up::Confirmed,
        users,
    },
    platform::{
        clock,
        db::{self, Exec, on},
        mail::{Mail, Mailer},
        metrics::Outcome,
        secret_key::Purpose as SealedFor,
    },
    security::{
        audit::{self, Event},
        lockout::{self, Key},
    },
    state::AppState,
};

/// The provider id sessions and the audit trail record for a password sign-in.
pub const METHOD: &str = "password";
/// How long the links sent by email work.
pub const VERIFY_LINK_SECS: i64 = 24 * 3600;
pub const RESET_LINK_SECS: i64 = 30 * 60;
/// Bytes of randomness in a link's token (256 bits).
const TOKEN_BYTES: usize = 32;

/// The one answer to a sign-in that did not match, whatever did not match.
pub fn wrong_credentials() -> AppError {
    AppError::Credentials("That email address and password do not match. Check both and try again.".into())
}

/// Whether a mail a stranger's form asked for may go to `email` now; counts it. Past five in fifteen minutes, such
/// mail pauses for that address (the form answers the same either way).
async fn may_mail(state: &AppState, email: &EmailAddress) -> Result<bool, AppError> {
    let key = Key::Mail(email.lowercase());
    match lockout::admit(&state.db, std::slice::from_ref(&key)).await? {
        // Counted: every mail asked for is one of the five.
        Ok(counted) => {
            let _ = counted.failed();
            Ok(true)
        }
        Err(_) => {
            tracing::warn!("mail to an address paused: too many asked for by forms");
            Ok(false)
        }
    }
}

fn mailer(state: &AppState) -> Result<Mailer, AppError> {
    match (&state.mailer, state.config.password_login) {
        (Some(mailer), true) => Ok(mailer.clone()),
        _ => Err(AppError::NotFound),
    }
}

/// Runs `work` after the answer has gone: what differs between an address that has an account and one that has
/// not (a hash, writes, a mail) must not show in how long the answer takes. A failure is logged; the answer was the
/// same either way.
fn after_the_answer(what: &'static str, work: impl Future<Output = Result<(), AppError>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(error) = work.await {
            tracing::error!(what, %error, "work after the answer failed");
        }
    });
}

/// Signs up: answers at once (the caller shows "check your email"), then — after the answer, so the time says
/// nothing about whether the address has an account — creates the account and mails the verification link, or
/// mails the address's owner instead.
pub fn sign_up(
    state: &AppState,
    email: EmailAddress,
    name: DisplayName,
    password: NewPassword,
    client: ClientInfo,
) -> Result<(), AppError> {
    mailer(state)?;
    let state = state.clone();
    after_the_answer("sign-up", async move { create_account(&state, &email, &name, &password, &client).await });
    Ok(())
}

/// Creates an account with a password, unverified, and mails the verification link; or, when the address already
/// belongs to someone, mails them instead.
async fn create_account(
    state: &AppState,
    email: &EmailAddress,
    name: &DisplayName,
    password: &NewPassword,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mailer = mailer(state)?;
    // Hashed first, whatever happens next: a sign-up with a taken address takes as long as one with a new address.
    let hash = state.hasher.hash(password.password()).await.map_err(AppError::internal)?;
    let now = clock::now();

    let mut tx = state.db.begin_write().await?;
    db::claim(tx.as_exec(), &format!("email {}", email.lowercase())).await?;
    let owner = address_owner(tx.as_exec(), email).await?;
    if let Some(owner) = owner {
        tx.commit().await?;
        if may_mail(state, email).await? {
            mailer.send_later("sign_up_existing", existing_account_mail(state, email, &owner));
        }
        return Ok(());
    }

    let account = users::NewUser {
        display_name: name.as_str(),
        email: Some(email.as_str()),
        email_verified: false,
        avatar_url: None,
        signed_in: false,
    };
    let user_id = users::insert(tx.as_exec(), account, now).await?;
    insert_password(tx.as_exec(), &user_id, email, &hash, None).await?;
    let token = new_link(tx.as_exec(), &user_id, Purpose::Verify, email.as_str()).await?;
    audit::record(tx.as_exec(), Event::AccountCreated, Some(&user_id), client, json!({ "provider": METHOD })).await?;
    audit::record(tx.as_exec(), Event::PasswordSet, Some(&user_id), client, json!({})).await?;
    tx.commit().await?;
    if may_mail(state, email).await? {
        mailer.send_later("verify", verification_mail(state, email.as_str(), &token));
    }
    tracing::info!(%user_id, "password account created");
    Ok(())
}

/// How long the link that finishes a passkey sign-up works.
pub const PASSKEY_SIGN_UP_LINK_SECS: i64 = 3600;
/// What a sealed sign-up link is bound to (AES-GCM's associated data).
const SIGN_UP_LINK: &str = "passkey sign-up link";

/// Signs up with a passkey instead of a password: answers at once, like [`sign_up`], then mails the address a
/// link to make the passkey (or tells its owner they have an account). Nothing is stored until the link is opened
/// and the passkey made: the link carries the address and name, sealed with `SECRET_KEY`, for an hour.
pub fn sign_up_with_passkey(state: &AppState, email: EmailAddress, name: DisplayName) -> Result<(), AppError> {
    mailer(state)?;
    crate::server::people::passkeys::offered(state)?;
    let state = state.clone();
    after_the_answer("passkey sign-up", async move { mail_sign_up_link(&state, &email, &name).await });
    Ok(())
}

async fn mail_sign_up_link(state: &AppState, email: &EmailAddress, name: &DisplayName) -> Result<(), AppError> {
    let mailer = mailer(state)?;
    let owner = {
        let mut conn = state.db.begin_read().await?;
        address_owner(conn.as_exec(), email).await?
    };
    let mail = match owner {
        Some(owner) => existing_account_mail(state, email, &owner),
        None => {
            let link = NewAccountLink {
                email: email.as_str().to_owned(),
                name: name.as_str().to_owned(),
                expires_at: clock::now() + PASSKEY_SIGN_UP_LINK_SECS,
            };
            let token = state.sealer.seal_token(SealedFor::SignUpLink, SIGN_UP_LINK, &link);
            Mail {
                to: email.to_string(),
                subject: "Create your Gatehouse passkey".into(),
                paragraphs: vec![
                    "Someone — hopefully you — started creating a Gatehouse account with this email address, to sign \
                     in with a passkey."
                        .into(),
                    "Open the link on the device that should hold the passkey (or whose browser or password manager \
                     keeps it). It works for one hour."
                        .into(),
                    "If you did not ask, ignore this message: no account exists until the link is used.".into(),
                ],
                link: Some((
                    state.config.app_url.join(&format!("/signup/passkey?token={token}")),
                    "Create my passkey".into(),
                )),
            }
        }
    };
    if may_mail(state, email).await? {
        mailer.send_later("sign_up_passkey", mail);
    }
    Ok(())
}

/// What a passkey sign-up link carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct NewAccountLink {
    email: String,
    name: String,
    expires_at: i64,
}

/// The largest sign-up link token read (an address and a name, sealed, are a few hundred characters).
const MAX_SIGN_UP_LINK: usize = 2048;

/// Opens a passkey sign-up link: the account it asks for, or why the link does not work.
fn open_sign_up_link(state: &AppState, token: &str) -> Result<NewAccount, AppError> {
    let link: NewAccountLink = state
        .sealer
        .open_token(SealedFor::SignUpLink, SIGN_UP_LINK, token, MAX_SIGN_UP_LINK)
        .filter(|link: &NewAccountLink| link.expires_at > clock::now())
        .ok_or_else(|| {
            AppError::Invalid(
                "This link does not work: it was changed, or has expired. Sign up again for a new one.".into(),
            )
        })?;
    Ok(NewAccount { email: link.email, name: link.name })
}

fn address_taken() -> AppError {
    AppError::Conflict(
        "An account with this address exists already, so nothing was created. Sign in, or recover it from the \
         sign-in page."
            .into(),
    )
}

/// Starts making the passkey of the account a sign-up link asks for (the options for the browser), unless the
/// address found an owner since the mail went.
pub async fn start_passkey_sign_up(state: &AppState, link: &str) -> Result<Options, AppError> {
    mailer(state)?;
    let account = open_sign_up_link(state, link)?;
    let email = EmailAddress::parse(&account.email)?;
    let mut conn = state.db.begin_read().await?;
    if address_owner(conn.as_exec(), &email).await?.is_some() {
        return Err(address_taken());
    }
    drop(conn);
    passkeys::start_sign_up(state, account)
}

/// Creates the account a passkey sign-up link asked for, with the passkey just made as its one way in, its address
/// proved (the link came to it), and signs it in: the passkey verified its holder, so the session is two-factor.
pub async fn finish_passkey_sign_up(
    state: &AppState,
    ceremony: &str,
    credential: serde_json::Value,
    client: &ClientInfo,
    keep: session::Keep,
) -> Result<AuthSession, AppError> {
    mailer(state)?;
    let (registered, new) = passkeys::finish_new(state, ceremony, credential).await?;
    let Registered::SignUp(account) = registered else {
        return Err(AppError::Invalid("This is not a request to create an account.".into()));
    };
    let email = EmailAddress::parse(&account.email)?;
    let name = DisplayName::parse(&account.name)?;
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    db::claim(tx.as_exec(), &format!("email {}", email.lowercase())).await?;
    if address_owner(tx.as_exec(), &email).await?.is_some() {
        return Err(address_taken());
    }
    let account = users::NewUser {
        display_name: name.as_str(),
        email: Some(email.as_str()),
        email_verified: true,
        avatar_url: None,
        signed_in: false,
    };
    let user_id = users::insert(tx.as_exec(), account, now).await?;
    audit::record(tx.as_exec(), Event::AccountCreated, Some(&user_id), client, json!({ "provider": PASSKEY })).await?;
    audit::record(tx.as_exec(), Event::EmailVerified, Some(&user_id), client, json!({})).await?;
    passkeys::store(tx.as_exec(), &user_id, &new, "", client).await?;
    tx.commit().await?;
    tracing::info!(%user_id, "passkey account created");
    record_sign_in(state, &user_id, session::FirstStep::local(PASSKEY), Some(new.factor()), client, keep).await
}

/// What opening a reset link to add a passkey leads to.
pub enum Recovery {
    /// The person has two-step verification on: a code from their app, or a recovery code, first.
    CodeNeeded,
    /// The options for the browser.
    Options(Options),
}

/// Starts adding a passkey from a reset link (the person lost theirs). With two-step verification on, `code` (from
/// the authenticator app, or a recovery code) is checked first, counted like a sign-in's: the link proves the
/// address, not the second factor, and a passkey made here signs in on its own.
pub async fn start_passkey_recovery(
    state: &AppState,
    link: &str,
    code: Option<&str>,
    client: &ClientInfo,
) -> Result<Recovery, AppError> {
    mailer(state)?;
    passkeys::offered(state)?;
    let mut conn = state.db.begin_read().await?;
    let (user_id, _) = take_link(conn.as_exec(), link, Purpose::Reset, true).await?.map_err(|e| e.explain())?;
    let two_step = crate::server::people::mfa::is_enabled(conn.as_exec(), &user_id).await?;
    drop(conn);
    if two_step {
        let Some(code) = code.map(str::trim).filter(|code| !code.is_empty()) else { return Ok(Recovery::CodeNeeded) };
        crate::server::people::mfa::verify(state, &user_id, code, client).await?;
    }
    Ok(Recovery::Options(passkeys::start_recovery(state, &user_id).await?))
}

/// Adds the passkey made from a reset link: the link is used up, the address counts as proved, and — as a password
/// reset does — every session, token and app authorization of the person ends (whoever has the lost passkey is
/// signed out). Audited, and mailed to the owner. The person then signs in with the new passkey.
pub async fn finish_passkey_recovery(
    state: &AppState,
    link: &str,
    ceremony: &str,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<(), AppError> {
    mailer(state)?;
    let (registered, new) = passkeys::finish_new(state, ceremony, credential).await?;
    let Registered::Recover { user_id: ceremony_user } = registered else {
        return Err(AppError::Invalid("This is not a request to recover an account.".into()));
    };
    let mut tx = state.db.begin_write().await?;
    let (user_id, email) = take_link(tx.as_exec(), link, Purpose::Reset, false).await?.map_err(|e| e.explain())?;
    if user_id != ceremony_user {
        return Err(AppError::Invalid("This passkey was started from another link. Please start again.".into()));
    }
    users::lock(tx.as_exec(), &user_id).await?.ok_or(AppError::Unauthorized)?;
    let added = passkeys::store(tx.as_exec(), &user_id, &new, "", client).await?;
    mark_verified(tx.as_exec(), &user_id, &email).await?;
    let ended = crate::server::people::revocation::end(
        tx.as_exec(),
        &user_id,
        crate::server::people::revocation::Which::Everything,
    )
    .await?;
    let detail = json!({
        "passkey": added.id, "sessions_ended": ended.sessions, "tokens_revoked": ended.tokens.len(),
        "app_authorizations_ended": ended.app_authorizations,
    });
    audit::record(tx.as_exec(), Event::AccountRecovered, Some(&user_id), client, detail).await?;
    tx.commit().await?;
    ended.forget(&state.cache, &user_id);
    lockout::succeeded(&state.db, &Key::account(&email)).await?;
    tracing::info!(%user_id, sessions_ended = ended.sessions, "account recovered with a new passkey");
    security_mail::tell_owner(state, &user_id, Change::AccountRecovered).await;
    Ok(())
}

/// What a sign-up with an address that has an account sends to that address instead: how its owner signs in.
fn existing_account_mail(state: &AppState, email: &EmailAddress, owner: &Owner) -> Mail {
    let (already, how, link) = match owner {
        Owner::Password { .. } => (
            "You already have one, so nothing was created.",
            "If it was you, sign in with your password. If you have forgotten it, you can choose a new one:",
            (state.config.app_url.join("/reset"), "Reset your password"),
        ),
        Owner::Passkey { .. } => (
            "You already have one, which signs in with a passkey, so nothing was created.",
            "If it was you, sign in with your passkey. If you have lost it, you can add a new one from a link we mail \
             you:",
            (state.config.app_url.join("/reset"), "Recover your account"),
        ),
        Owner::Provider => (
            "You already have one, which signs in with an external provider, so nothing was created.",
            "If it was you, sign in the way you usually do; you can add a password from your profile.",
            (state.config.app_url.join("/login"), "Sign in"),
        ),
    };
    Mail {
        to: email.to_string(),
        subject: "Someone tried to create a Gatehouse account with your address".into(),
        paragraphs: vec![
            format!("Someone — maybe you — tried to create a Gatehouse account with this email address. {already}"),
            how.into(),
        ],
        link: Some((link.0, link.1.into())),
    }
}

/// A person's password row: `verified_at` when the address is already proved (a provider's verified address).
async fn insert_password(
    tx: Exec<'_>,
    user_id: &str,
    email: &EmailAddress,
    hash: &str,
    verified_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    on!(tx, conn => sqlx::query(
        "INSERT INTO passwords (user_id, email, hash, verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(user_id)
    .bind(email.as_str())
    .bind(hash)
    .bind(verified_at)
    .bind(clock::now())
    .execute(conn)
    .await
    .map(drop))
}

/// The verification mail. It carries no text the sign-up form took (not even the name): anyone can type anyone's
/// address there, and a greeting of their choosing would make this a way to send it to them.
fn verification_mail(state: &AppState, to: &str, token: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Confirm your email address for Gatehouse".into(),
        paragraphs: vec![
            "Someone — hopefully you — created a Gatehouse account with this email address.".into(),
            "Please confirm that it is yours. The link works once, for 24 hours.".into(),
            format!(
                "If you did not create it, ignore this message: nothing happens without the link, and an account \
                 whose address is not confirmed is removed after {UNCONFIRMED_DAYS} days."
            ),
        ],
        link: Some((state.config.app_url.join(&format!("/verify-email?token={token}")), "Confirm my address".into())),
    }
}

/// Who holds an address already: a password account (verified or not), an account that signs in with passkeys
/// only, or a provider account that proved it. An unverified owner is never sent a verification link again from a
/// sign-up: whoever made it chose its password, so the address's true owner is offered a reset instead (which
/// proves the address and replaces the password).
enum Owner {
    Password { user_id: String },
    Passkey { user_id: String },
    Provider,
}

async fn address_owner(mut tx: Exec<'_>, email: &EmailAddress) -> Result<Option<Owner>, sqlx::Error> {
    let password: Option<String> = on!(tx.reborrow(), conn => sqlx::query_scalar(
        "SELECT user_id FROM passwords WHERE lower(email) = lower($1)",
    )
    .bind(email.as_str())
    .fetch_optional(conn)
    .await)?;
    if let Some(user_id) = password {
        return Ok(Some(Owner::Password { user_id }));
    }
    // A verified address without a password: a provider's account, or one made with a passkey (no provider).
    let verified: Option<(String, bool)> = on!(tx, conn => sqlx::query_as(
        "SELECT u.id, EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id) FROM users u
         WHERE lower(u.email) = lower($1) AND u.email_verified ORDER BY u.created_at LIMIT 1",
    )
    .bind(email.as_str())
    .fetch_optional(conn)
    .await)?;
    Ok(verified.map(|(user_id, has_provider)| match has_provider {
        true => Owner::Provider,
        false => Owner::Passkey { user_id },
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Verify => "verify",
            Purpose::Reset => "reset",
        }
    }

    fn lifetime(self) -> i64 {
        match self {
            Purpose::Verify => VERIFY_LINK_SECS,
            Purpose::Reset => RESET_LINK_SECS,
        }
    }
}

/// A new single-use link token for `user_id`; only its hash is stored. Earlier unused links of the same purpose stop
/// working: the newest mail is the one that counts.
async fn new_link(mut tx: Exec<'_>, user_id: &str, purpose: Purpose, email: &str) -> Result<String, sqlx::Error> {
    let token = clock::random_token(TOKEN_BYTES);
    let now = clock::now();
    on!(tx.reborrow(), conn => sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(conn)
    .await
    .map(drop))?;
    on!(tx, conn => sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(email)
    .bind(now)
    .bind(now + purpose.lifetime())
    .execute(conn)
    .await
    .map(drop))?;
    Ok(token)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Why a link did not work.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Never issued, already used, or replaced by a newer one.
    Invalid,
    Expired,
}

impl LinkError {
    pub fn explain(&self) -> AppError {
        match self {
            LinkError::Invalid => AppError::Invalid(
                "This link is not valid: it was already used, or a newer one was sent. Ask for a new one.".into(),
            ),
            LinkError::Expired => AppError::Invalid("This link has expired. Ask for a new one.".into()),
        }
    }
}

/// Takes a link's token (marking it used) in the caller's transaction: its user and address.
async fn take_link(
    mut tx: Exec<'_>,
    token: &str,
    purpose: Purpose,
    peek: bool,
) -> Result<Result<(String, String), LinkError>, sqlx::Error> {
    if token.len() > 100 {
        return Ok(Err(LinkError::Invalid));
    }
    let hash = token_hash(token);
    let row: Option<(String, String, i64, Option<i64>)> = on!(tx.reborrow(), conn => sqlx::query_as(
        "SELECT user_id, email, expires_at, used_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(&hash)
    .bind(purpose.as_str())
    .fetch_optional(conn)
    .await)?;
    let now = clock::now();
    let Some((user_id, email, expires_at, used_at)) = row else { return Ok(Err(LinkError::Invalid)) };
    if used_at.is_some() {
        return Ok(Err(LinkError::Invalid));
    }
    if expires_at <= now {
        return Ok(Err(LinkError::Expired));
    }
    if !peek {
        // Used once: of two clicks at once, only the one that marks it goes on.
        let marked = on!(tx, conn => sqlx::query(
            "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&hash)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
        if marked == 0 {
            return Ok(Err(LinkError::Invalid));
        }
    }
    Ok(Ok((user_id, email)))
}

/// Confirms an address from the emailed link.
pub async fn verify_email(state: &AppState, token: &str, client: &ClientInfo) -> Result<(), AppError> {
    mailer(state)?;
    let mut tx = state.db.begin_write().await?;
    let (user_id, email) = match take_link(tx.as_exec(), token, Purpose::Verify, false).await? {
        Ok(found) => found,
        Err(error) => return Err(error.explain()),
    };
    mark_verified(tx.as_exec(), &user_id, &email).await?;
    audit::record(tx.as_exec(), Event::EmailVerified, Some(&user_id), client, json!({})).await?;
    tx.commit().await?;
    state.cache.forget_user(&user_id);
    Ok(())
}

/// The address on the password is proved: the password's, and the account's when it is the same address.
async fn mark_verified(mut tx: Exec<'_>, user_id: &str, email: &str) -> Result<(), sqlx::Error> {
    let now = clock::now();
    on!(tx.reborrow(), conn => sqlx::query(
        "UPDATE passwords SET verified_at = COALESCE(verified_at, $1) WHERE user_id = $2 AND lower(email) = lower($3)",
    )
    .bind(now)
    .bind(user_id)
    .bind(email)
    .execute(conn)
    .await
    .map(drop))?;
    on!(tx, conn => sqlx::query("UPDATE users SET email_verified = $1 WHERE id = $2 AND lower(email) = lower($3)")
        .bind(true)
        .bind(user_id)
        .bind(email)
        .execute(conn)
        .await
        .map(drop))
}

/// What a right password leads to.
pub enum SignedIn {
    /// A recorded session, to start in the browser.
    Session(AuthSession),
    /// The person has two-step verification on: the browser gets a challenge, not a session.
    SecondStep { user_id: String },
}

/// Signs in with an address and a password: a recorded session (or, with two-step verification on, the go-ahead
/// for its challenge), or one answer for every kind of mismatch.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &Password,
    client: &ClientInfo,
    keep: session::Keep,
) -> Result<SignedIn, AppError> {
    mailer(state)?;
    let email = EmailAddress::parse(email).ok();
    let account_key = email.as_ref().map(|e| Key::account(e.as_str()));
    let client_key = client.ip.as_deref().map(Key::client);
    let keys: Vec<Key> = account_key.iter().chain(client_key.iter()).cloned().collect();
    let guess = lockout::admit(&state.db, &keys)
        .await?
        .map_err(|locked| AppError::Throttled { retry_after: locked.retry_after })?;

    let stored: Option<(String, String)> = match &email {
        Some(email) => on!(&state.db, pool => sqlx::query_as(
            "SELECT user_id, hash FROM passwords WHERE lower(email) = lower($1)",
        )
        .bind(email.as_str())
        .fetch_optional(pool)
        .await)?,
        None => None,
    };
    // An empty or overlong password is checked against the dummy hash: the same work, and always wrong.
    let against = stored.as_ref().filter(|_| password.is_plausible()).map(|(_, hash)| hash.as_str());
    let checked = state.hasher.check(password, against).await.map_err(AppError::internal)?;
    let (user_id, rehash) = match (checked, stored) {
        (Checked::Right { rehash }, Some((user_id, _))) => (user_id, rehash),
        (_, stored) => {
            let user_id = stored.map(|(user_id, _)| user_id);
            return Err(failed(state, guess, user_id.as_deref(), email.as_ref(), client).await);
        }
    };

    if rehash {
        let hash = state.hasher.hash(password).await.map_err(AppError::internal)?;
        on!(&state.db, pool => sqlx::query("UPDATE passwords SET hash = $1 WHERE user_id = $2")
            .bind(hash)
            .bind(&user_id)
            .execute(pool)
            .await
            .map(drop))?;
    }
    guess.succeeded(&state.db).await?;
    let mut conn = state.db.begin_read().await?;
    if users::is_disabled(conn.as_exec(), &user_id).await? {
        return Err(AppError::Forbidden(users::DISABLED.into()));
    }
    if crate::server::people::mfa::is_enabled(conn.as_exec(), &user_id).await? {
        state.metrics.sign_in(METHOD, Outcome::SecondStep);
        return Ok(SignedIn::SecondStep { user_id });
    }
    drop(conn);
    let auth = record_sign_in(state, &user_id, session::FirstStep::local(METHOD), None, client, keep).await?;
    tracing::info!(%user_id, "signed in with a password");
    Ok(SignedIn::Session(auth))
}

/// Records a completed sign-in: the session row, the account's last sign-in, and the audit event (with the second
/// step that passed, if there was one), together.
pub async fn record_sign_in(
    state: &AppState,
    user_id: &str,
    first_step: session::FirstStep<'_>,
    second_factor: Option<session::SecondFactor>,
    client: &ClientInfo,
    keep: session::Keep,
) -> Result<AuthSession, AppError> {
    let provider = first_step.method;
    let mut tx = state.db.begin_write().await?;
    // Disabled between the first step and the second: refused all the same.
    if users::lock_if_disabled(tx.as_exec(), user_id).await? {
        return Err(AppError::Forbidden(users::DISABLED.into()));
    }
    on!(tx.as_exec(), conn => sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(clock::now())
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop))?;
    let auth =
        session::record(tx.as_exec(), &state.config.sessions, user_id, first_step, second_factor, client, keep).await?;
    let detail = match second_factor {
        Some(passed) => json!({ "provider": provider, "second_factor": passed.as_str() }),
        None => json!({ "provider": provider }),
    };
    audit::record(tx.as_exec(), Event::SignIn, Some(user_id), client, detail).await?;
    tx.commit().await?;
    state.metrics.sign_in(provider, Outcome::Success);
    crate::server::people::notices::after_sign_in(state, user_id, &auth.session_id, client).await;
    Ok(auth)
}

/// A wrong password (or an unknown address): counted against the address and the client, recorded on the account
/// when there is one, and its owner told by email when this locked it.
async fn failed(
    state: &AppState,
    guess: lockout::Guess,
    user_id: Option<&str>,
    email: Option<&EmailAddress>,
    client: &ClientInfo,
) -> AppError {
    state.metrics.sign_in_failed(METHOD, "wrong_password");
    let lock = guess.failed();
    if let Some(user_id) = user_id {
        let detail = json!({ "provider": METHOD, "reason": "wrong_password" });
        if let Err(error) = audit::record_on(&state.db, Event::SignInFailed, Some(user_id), client, detail).await {
            return error.into();
        }
    }
    let Some((key, locked)) = lock else { return wrong_credentials() };
    tracing::warn!(account = matches!(key, Key::Account(_)), retry_after = locked.retry_after, "sign-in locked");
    if let (Key::Account(_), Some(user_id), Some(email)) = (&key, user_id, email) {
        let detail = json!({ "reason": "wrong_password", "seconds": locked.retry_after });
        if let Err(error) = audit::record_on(&state.db, Event::AccountLocked, Some(user_id), client, detail).await {
            return error.into();
        }
        if let Some(mailer) = &state.mailer {
            mailer.send_later("locked", Mail {
                to: email.to_string(),
                subject: "Sign-in to your Gatehouse account was paused".into(),
                paragraphs: vec![
                    format!(
                        "Someone entered a wrong password for your Gatehouse account {} times in a row, so we paused \
                         sign-in with a password for a while.",
                        lockout::PER_ACCOUNT
                    ),
                    "If it was you, wait a little and try again. If it was not, your password held; you may still \
                     want to choose a new one:"
                        .into(),
                ],
                link: Some((state.config.app_url.join("/reset"), "Reset your password".into())),
            });
        }
    }
    AppError::Throttled { retry_after: locked.retry_after }
}

/// Asks for a reset: answers at once, the same for every address, and does the work after the answer (see
/// [`mail_reset`]), so the time says nothing about who has an account.
pub fn request_reset(state: &AppState, email: EmailAddress) -> Result<(), AppError> {
    mailer(state)?;
    let state = state.clone();
    after_the_answer("reset request", async move { mail_reset(&state, &email).await });
    Ok(())
}

/// Mails a reset link when the address has a password; tells a provider account how it signs in; says nothing to
/// anyone else.
async fn mail_reset(state: &AppState, email: &EmailAddress) -> Result<(), AppError> {
    let mailer = mailer(state)?;
    let mut tx = state.db.begin_write().await?;
    let mail = match address_owner(tx.as_exec(), email).await? {
        Some(Owner::Password { user_id, .. }) => {
            let token = new_link(tx.as_exec(), &user_id, Purpose::Reset, email.as_str()).await?;
            Some(Mail {
                to: email.to_string(),
                subject: "Reset your Gatehouse password".into(),
                paragraphs: vec![
                    "Someone — hopefully you — asked to reset the password of the Gatehouse account with this email \
                     address. The link works once, for 30 minutes."
                        .into(),
                    "Choosing a new password signs you out everywhere else. If you did not ask, ignore this message: \
                     your password stays as it is."
                        .into(),
                ],
                link: Some((
                    state.config.app_url.join(&format!("/reset/new?token={token}")),
                    "Choose a new password".into(),
                )),
            })
        }
        Some(Owner::Passkey { user_id }) => {
            let token = new_link(tx.as_exec(), &user_id, Purpose::Reset, email.as_str()).await?;
            Some(Mail {
                to: email.to_string(),
                subject: "Recover your Gatehouse account".into(),
                paragraphs: vec![
                    "Someone — hopefully you — asked to recover the Gatehouse account with this email address, which \
                     signs in with a passkey. With this link you can add a new passkey (or choose a password); it \
                     works once, for 30 minutes."
                        .into(),
                    "Recovering signs you out everywhere. If you did not ask, ignore this message: nothing changes."
                        .into(),
                ],
                link: Some((
                    state.config.app_url.join(&format!("/reset/new?token={token}")),
                    "Recover my account".into(),
                )),
            })
        }
        Some(Owner::Provider) => Some(Mail {
            to: email.to_string(),
            subject: "About your Gatehouse password".into(),
            paragraphs: vec![
                "Someone — hopefully you — asked to reset the password of the Gatehouse account with this email \
                 address. That account has no password: it signs in with an external provider."
                    .into(),
                "Sign in the way you usually do; you can add a password from your profile.".into(),
            ],
            link: Some((state.config.app_url.join("/login"), "Sign in".into())),
        }),
        None => None,
    };
    tx.commit().await?;
    if let Some(mail) = mail
        && may_mail(state, email).await?
    {
        mailer.send_later("reset", mail);
    }
    Ok(())
}

/// Whether a reset link is still good, to show its form (or say at once that it is not).
pub async fn check_reset_link(state: &AppState, token: &str) -> Result<(), AppError> {
    mailer(state)?;
    let mut conn = state.db.begin_read().await?;
    let found = take_link(conn.as_exec(), token, Purpose::Reset, true).await?;
    found.map(drop).map_err(|e| e.explain())
}

/// Sets a new password from a reset link: the link is used up, the address counts as proved, every session of the
/// person ends, and the account's throttle starts again.
pub async fn reset(state: &AppState, token: &str, password: String, client: &ClientInfo) -> Result<(), AppError> {
    mailer(state)?;
    // Look first (without using the link) for the hints the policy needs, then hash outside the transaction.
    let (user_id, email) = {
        let mut conn = state.db.begin_read().await?;
        take_link(conn.as_exec(), token, Purpose::Reset, true).await?.map_err(|e| e.explain())?
    };
    let name = users::find(&state.db, &user_id).await?.map(|u| u.display_name).unwrap_or_default();
    let password = NewPassword::parse(password, &[&email, &name])?;
    let hash = state.hasher.hash(password.password()).await.map_err(AppError::internal)?;

    let mut tx = state.db.begin_write().await?;
    let (user_id, email) = take_link(tx.as_exec(), token, Purpose::Reset, false).await?.map_err(|e| e.explain())?;
    let now = clock::now();
    let updated = on!(tx.as_exec(), conn => sqlx::query(
        "UPDATE passwords SET hash = $1, updated_at = $2 WHERE user_id = $3",
    )
    .bind(&hash)
    .bind(now)
    .bind(&user_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if updated == 0 {
        // An account that signed in with passkeys only: the link proved the address, the password is its first.
        let address = EmailAddress::parse(&email).map_err(|_| AppError::internal("a reset link's address"))?;
        insert_password(tx.as_exec(), &user_id, &address, &hash, Some(now)).await?;
    }
    mark_verified(tx.as_exec(), &user_id, &email).await?;
    // Whoever knew the old password may have made tokens or let apps in meanwhile: all of it ends.
    let ended = crate::server::people::revocation::end(
        tx.as_exec(),
        &user_id,
        crate::server::people::revocation::Which::Everything,
    )
    .await?;
    let detail = json!({
        "sessions_ended": ended.sessions, "tokens_revoked": ended.tokens.len(),
        "app_authorizations_ended": ended.app_authorizations,
    });
    audit::record(tx.as_exec(), Event::PasswordReset, Some(&user_id), client, detail).await?;
    tx.commit().await?;
    ended.forget(&state.cache, &user_id);
    lockout::succeeded(&state.db, &Key::account(&email)).await?;
    tracing::info!(%user_id, sessions_ended = ended.sessions, tokens = ended.tokens.len(), "password reset");
    security_mail::tell_owner(state, &user_id, Change::PasswordReset).await;
    Ok(())
}

/// Changes the signed-in person's password, given the current one; their other sessions end.
pub async fn change(
    state: &AppState,
    auth: &AuthSession,
    current: &Password,
    new: String,
    client: &ClientInfo,
) -> Result<u64, AppError> {
    mailer(state)?;
    let stored: Option<(String, String)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT email, hash FROM passwords WHERE user_id = $1",
    )
    .bind(&auth.user_id)
    .fetch_optional(pool)
    .await)?;
    let Some((email, hash)) = stored else {
        return Err(AppError::Conflict("Your account has no password yet. Add one instead.".into()));
    };
    let key = Key::account(&email);
    check_own_password(state, &key, &hash, current).await?;
    let name = users::find(&state.db, &auth.user_id).await?.map(|u| u.display_name).unwrap_or_default();
    let new = NewPassword::parse(new, &[&email, &name])?;
    let hash = state.hasher.hash(new.password()).await.map_err(AppError::internal)?;
    let mut tx = state.db.begin_write().await?;
    on!(tx.as_exec(), conn => sqlx::query("UPDATE passwords SET hash = $1, updated_at = $2 WHERE user_id = $3")
        .bind(&hash)
        .bind(clock::now())
        .bind(&auth.user_id)
        .execute(conn)
        .await
        .map(drop))?;
    let ended = on!(tx.as_exec(), conn => sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id != $2")
        .bind(&auth.user_id)
        .bind(&auth.session_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    audit::record(
        tx.as_exec(),
        Event::PasswordChanged,
        Some(&auth.user_id),
        client,
        json!({ "sessions_ended": ended }),
    )
    .await?;
    tx.commit().await?;
    state.cache.forget_user(&auth.user_id);
    lockout::succeeded(&state.db, &key).await?;
    security_mail::tell_owner(state, &auth.user_id, Change::PasswordChanged).await;
    Ok(ended)
}

/// Checks the signed-in person's own password (changing it, confirming it is them), throttled like a sign-in.
async fn check_own_password(state: &AppState, key: &Key, hash: &str, password: &Password) -> Result<(), AppError> {
    let guess = lockout::admit(&state.db, std::slice::from_ref(key))
        .await?
        .map_err(|locked| AppError::Throttled { retry_after: locked.retry_after })?;
    if state.hasher.check(password, Some(hash)).await.map_err(AppError::internal)? == Checked::Wrong {
        if let Some((_, locked)) = guess.failed() {
            return Err(AppError::Throttled { retry_after: locked.retry_after });
        }
        return Err(AppError::Credentials("Your current password is not right.".into()));
    }
    guess.succeeded(&state.db).await?;
    Ok(())
}

/// Confirms it is the person at the keyboard with their password (step-up).
pub async fn confirm_with_password(state: &AppState, user_id: &str, password: &Password) -> Result<(), AppError> {
    let stored: Option<(String, String)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT email, hash FROM passwords WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    let (email, hash) = stored.ok_or_else(|| AppError::Conflict("Your account has no password.".into()))?;
    check_own_password(state, &Key::account(&email), &hash, password).await
}

/// Adds a password to an account that signs in with a provider, for its verified address.
pub async fn add(state: &AppState, confirmed: &Confirmed, new: String, client: &ClientInfo) -> Result<(), AppError> {
    let auth = confirmed.session();
    mailer(state)?;
    let user = users::find(&state.db, &auth.user_id).await?.ok_or(AppError::Unauthorized)?;
    let email = match (&user.email, user.email_verified) {
        (Some(email), true) => EmailAddress::parse(email)
            .map_err(|_| AppError::Conflict("Your account's email address cannot receive mail from us.".into()))?,
        _ => {
            return Err(AppError::Conflict(
                "A password signs in with your email address, and your account has no verified one.".into(),
            ));
        }
    };
    let new = NewPassword::parse(new, &[email.as_str(), &user.display_name])?;
    let hash = state.hasher.hash(new.password()).await.map_err(AppError::internal)?;
    let now = clock::now();
    let mut tx = state.db.begin_write().await?;
    db::claim(tx.as_exec(), &format!("email {}", email.lowercase())).await?;
    users::lock(tx.as_exec(), &auth.user_id).await?.ok_or(AppError::Unauthorized)?;
    match address_owner(tx.as_exec(), &email).await? {
        Some(Owner::Password { user_id, .. }) if user_id == auth.user_id => {
            return Err(AppError::Conflict("Your account has a password already. Change it instead.".into()));
        }
        Some(Owner::Password { .. }) => {
            return Err(AppError::Conflict(
                "Another account signs in with this email address and a password, so it cannot be added here.".into(),
            ));
        }
        _ => {}
    }
    insert_password(tx.as_exec(), &auth.user_id, &email, &hash, Some(now)).await?;
    audit::record(tx.as_exec(), Event::PasswordSet, Some(&auth.user_id), client, json!({})).await?;
    tx.commit().await?;
    state.cache.forget_user(&auth.user_id);
    security_mail::tell_owner(state, &auth.user_id, Change::PasswordAdded).await;
    Ok(())
}

/// Whether the person has a password, and the address it signs in with.
pub async fn password_email(state: &AppState, user_id: &str) -> Result<Option<(String, bool)>, AppError> {
    let row: Option<(String, Option<i64>)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT email, verified_at FROM passwords WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(email, verified_at)| (email, verified_at.is_some())))
}

/// An account whose address was never confirmed (and that has no provider to sign in with) is removed this many
/// days after sign-up: anyone can sign up with anyone's address, and what a stranger makes must not stay for ever.
/// The owner can still confirm it later by resetting the password, which proves the address.
pub const UNCONFIRMED_DAYS: i64 = 7;
/// Unconfirmed accounts removed per housekeeping run, at most (the rest go in the next run).
const UNCONFIRMED_PER_RUN: i64 = 100;

/// Deletes links past their expiry (used or not), counters with nothing left to remember, and accounts whose
/// address was not confirmed within [`UNCONFIRMED_DAYS`] (housekeeping). Returns how many accounts went.
pub async fn purge_expired(db: &crate::server::platform::db::Db) -> Result<u64, sqlx::Error> {
    db::delete_expired(db, "email_tokens").await?;
    lockout::purge(db).await?;
    let stale: Vec<String> = on!(db, pool => sqlx::query_scalar(
        "SELECT p.user_id FROM passwords p JOIN users u ON u.id = p.user_id
         WHERE p.verified_at IS NULL AND u.created_at <= $1
           AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = p.user_id)
         ORDER BY u.created_at LIMIT $2",
    )
    .bind(clock::now() - UNCONFIRMED_DAYS * 86_400)
    .bind(UNCONFIRMED_PER_RUN)
    .fetch_all(pool)
    .await)?;
    let mut removed = 0;
    for user_id in stale {
        let mut tx = db.begin_write().await?;
        // Confirmed (or given a provider) since the list was read: it stays.
        let still: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
            "SELECT p.user_id FROM passwords p WHERE p.user_id = $1 AND p.verified_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = p.user_id)",
        )
        .bind(&user_id)
        .fetch_optional(conn)
        .await)?;
        if still.is_none() {
            continue;
        }
        crate::server::people::accounts::erase(tx.as_exec(), &user_id, "address not confirmed in time").await?;
        tx.commit().await?;
        removed += 1;
    }
    if removed > 0 {
        tracing::info!(removed, "removed accounts whose address was not confirmed in time");
    }
    Ok(removed)
}

/// How the signed-in person can confirm it is them, for `/confirm`: their password, a code, or one of their
/// providers.
pub async fn confirm_choices(
    state: &AppState,
    signed_in: &crate::server::people::session::SignedIn,
) -> Result<crate::model::mfa::ConfirmChoices, AppError> {
    let user_id = &signed_in.session.user_id;
    let password = password_email(state, user_id).await?.is_some();
    let code = crate::server::people::mfa::status(&state.db, user_id).await?.enabled;
    let providers =
        state.providers.summaries().into_iter().filter(|p| signed_in.user.providers.contains(&p.id)).collect();
    let passkey = state.passkeys.is_some() && passkeys::has_any(&state.db, user_id).await?;
    Ok(crate::model::mfa::ConfirmChoices { password, code, passkey, providers })
}
