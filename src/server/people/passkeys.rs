//! Passkeys (WebAuthn, through `webauthn-rs`): registering them on the profile, and using one to sign in, as the
//! second step of a sign-in, or to confirm it is you.
//!
//! **Where a ceremony's state lives.** A ceremony is a challenge the server makes and the authenticator signs. Its
//! state (the challenge, what it is for, whom it may sign in) is sealed with `SECRET_KEY` into a token that travels
//! with the options to the browser and back with the answer, never stored when the ceremony starts: the login page
//! starts one for passkey autofill on every view, and a visitor to `/login` must not make us store a row. Finishing
//! a ceremony stores its challenge (`single_use`, until the ceremony would have expired) before anything
//! else, so each ceremony finishes once, on whichever instance: a replayed answer, or the same answer sent twice at
//! once, finds its challenge taken. A stranger can make us store only one short-lived row per ceremony they finish,
//! and finishing is rate-limited like every sign-in.
//!
//! **Counters.** An authenticator that counts its signatures must show a higher count each time; one that goes back
//! (or stands still) may be a copy, and is refused and recorded (`passkey_refused`). Synced passkeys count nothing
//! (always 0) and are not compared. The stored counter moves by a conditional UPDATE, so two answers with one count
//! cannot both pass.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
    WebauthnError,
};

use crate::model::{
    error::AppError,
    passkeys::{PasskeySection, PasskeyView},
};
use crate::server::{
    people::{
        security_mail::{self, Change},
        session::{ClientInfo, SecondFactor},
        step_up::Confirmed,
        useragent, users,
    },
    platform::{
        clock,
        db::{Db, Exec, on},
        relying_party::{CEREMONY_SECS, RelyingParty},
        secret_key::{Purpose, Sealer},
        single_use,
    },
    security::audit::{self, Event},
    state::AppState,
};

/// The most passkeys one account may have.
pub const MAX_PER_PERSON: i64 = 20;
pub use crate::model::passkeys::MAX_NAME;
/// The largest sealed ceremony accepted back (a registration's state is about 600 bytes sealed).
const MAX_CEREMONY: usize = 4096;

/// Who an authentication ceremony may sign in, and what passing it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "as", rename_all = "snake_case")]
pub enum Who {
    /// Sign in whoever the passkey belongs to (the "Sign in with a passkey" button, and autofill).
    Anyone,
    /// Sign in one of these people: those with the address typed before asking (none, when no one with it has a
    /// passkey: then the browser is shown decoys, and nothing can pass).
    Named { user_ids: Vec<String> },
    /// The second step of this person's sign-in (the first step passed; the browser's session holds it).
    SecondStep { user_id: String },
    /// This signed-in session confirms it is its person (`/confirm`).
    Confirm { user_id: String, session_id: String },
}

/// What a ceremony is, sealed into its token.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum Ceremony {
    /// Adding a passkey on the profile, in this session.
    Register {
        user_id: String,
        session_id: String,
        handle: Uuid,
        state: PasskeyRegistration,
    },
    /// Creating an account whose way in is this passkey (its address proved by the mailed link that started it).
    SignUp {
        account: NewAccount,
        handle: Uuid,
        state: PasskeyRegistration,
    },
    /// Adding a passkey from an emailed reset link: the person lost theirs (and passed their second step, if on).
    Recover {
        user_id: String,
        handle: Uuid,
        state: PasskeyRegistration,
    },
    Authenticate {
        who: Who,
        state: DiscoverableAuthentication,
    },
}

/// An account to create with a passkey, as the link mailed to its address carries it (see
/// `local_accounts::sign_up_with_passkey`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
}

/// What a sign-up's or a recovery's registration was for, once the authenticator's answer checked out.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    SignUp(NewAccount),
    Recover { user_id: String },
}

/// A passkey whose registration checked out, not stored yet: [`store`] keeps it, in the caller's transaction.
pub struct NewPasskey {
    passkey: Passkey,
    handle: Uuid,
    flags: Flags,
}

impl NewPasskey {
    /// How making it proved the person (user-verified; synced or bound to the device).
    pub fn factor(&self) -> SecondFactor {
        Passed { synced: self.flags.backup_eligible }.factor()
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    ceremony: Ceremony,
    /// The challenge, as the options carry it (base64url): stored when the ceremony finishes.
    challenge: String,
    expires_at: i64,
}

/// What the sealed token is bound to (AES-GCM's associated data): nothing but its purpose; who may finish it is
/// inside, checked by whoever finishes it.
const RECORD: &str = "passkey ceremony";

/// A ceremony's options for the browser (`navigator.credentials.create` or `.get`, as WebAuthn's JSON), and its
/// sealed state, to send back with the answer.
#[derive(Debug, Serialize)]
pub struct Options {
    #[serde(rename = "publicKey")]
    pub public_key: Value,
    pub ceremony: String,
}

/// A passkey answer that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// Whether the passkey may be synced between devices (its backup-eligible flag): `swk`, not `hwk`.
    pub synced: bool,
}

impl Passed {
    pub fn factor(self) -> SecondFactor {
        SecondFactor::Passkey { synced: self.synced }
    }
}

fn relying_party(state: &AppState) -> Result<&RelyingParty, AppError> {
    state.passkeys.as_deref().ok_or_else(|| {
        AppError::Forbidden(match &state.config.passkeys {
            crate::server::platform::config::PasskeySettings::Off(why) => (*why).to_owned(),
            crate::server::platform::config::PasskeySettings::On { .. } => "Passkeys are not available.".to_owned(),
        })
    })
}

fn seal(sealer: &Sealer, ceremony: Ceremony, challenge: String) -> Result<String, AppError> {
    let sealed = Sealed { ceremony, challenge, expires_at: clock::now() + CEREMONY_SECS };
    Ok(sealer.seal_token(Purpose::PasskeyCeremony, RECORD, &sealed))
}

/// Opens a ceremony's token; a token that was changed, made by another key or expired is refused with a sentence.
fn open(sealer: &Sealer, token: &str) -> Result<Sealed, AppError> {
    sealer
        .open_token::<Sealed>(Purpose::PasskeyCeremony, RECORD, token, MAX_CEREMONY)
        .filter(|sealed| sealed.expires_at > clock::now())
        .ok_or_else(|| AppError::Invalid("This passkey request has expired. Please try again.".into()))
}

/// The challenge in a ceremony's options.
fn challenge_of(options: &Value) -> Result<String, AppError> {
    options["publicKey"]["challenge"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| AppError::internal("webauthn-rs made options without a challenge"))
}

/// Marks a ceremony's challenge used; false when it already was (a replay, or the same answer twice at once).
async fn spend(db: &Db, sealed: &Sealed) -> Result<bool, AppError> {
    Ok(single_use::first_use(db, single_use::Kind::PasskeyChallenge, &sealed.challenge, sealed.expires_at).await?)
}

fn replayed() -> AppError {
    AppError::Invalid("This passkey request was already used. Please try again.".into())
}

// ---------------------------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------------------------

/// Whether this site offers passkeys; a sentence saying why not when it does not.
pub fn offered(state: &AppState) -> Result<(), AppError> {
    relying_party(state).map(drop)
}

/// Starts adding a passkey to the confirmed person's account: options for `navigator.credentials.create`, asking
/// for a discoverable credential where the authenticator can keep one (`residentKey: preferred`: a security key
/// with no room left still works, with the address typed first) and for the person to be verified.
pub async fn start_registration(state: &AppState, confirmed: &Confirmed) -> Result<Options, AppError> {
    let (user_id, session_id) = (confirmed.user_id().to_owned(), confirmed.session_id().to_owned());
    start_for_person(state, confirmed.user_id(), |handle, state| Ceremony::Register {
        user_id,
        session_id,
        handle,
        state,
    })
    .await
}

/// Starts adding a passkey from a reset link, for the person it was mailed to (the caller checked the link, and
/// their second step where they have one on).
pub async fn start_recovery(state: &AppState, user_id: &str) -> Result<Options, AppError> {
    let owner = user_id.to_owned();
    start_for_person(state, user_id, |handle, state| Ceremony::Recover { user_id: owner, handle, state }).await
}

/// Starts making the first passkey of an account that does not exist yet: a new random user handle, nothing to
/// exclude. Nothing is stored until the answer comes back.
pub fn start_sign_up(state: &AppState, account: NewAccount) -> Result<Options, AppError> {
    let handle = Uuid::new_v4();
    let (email, name) = (account.email.clone(), account.name.clone());
    creation(state, handle, &email, &name, Vec::new(), |state| Ceremony::SignUp { account, handle, state })
}

/// A registration ceremony for an existing person: their user handle, and their passkeys excluded (an
/// authenticator that holds one says so instead of making a second).
async fn start_for_person(
    state: &AppState,
    user_id: &str,
    ceremony: impl FnOnce(Uuid, PasskeyRegistration) -> Ceremony,
) -> Result<Options, AppError> {
    relying_party(state)?;
    let user = users::find(&state.db, user_id).await?.ok_or(AppError::Unauthorized)?;
    let existing: Vec<(String, String)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT credential_id, user_handle FROM passkeys WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)?;
    if existing.len() as i64 >= MAX_PER_PERSON {
        return Err(AppError::Conflict(format!(
            "You have {MAX_PER_PERSON} passkeys, the most an account may have. Remove one you no longer use first."
        )));
    }
    // One user handle per person, random: it says nothing about the account to whoever reads the authenticator.
    let handle = existing.first().and_then(|(_, handle)| Uuid::parse_str(handle).ok()).unwrap_or_else(Uuid::new_v4);
    let exclude: Vec<_> = existing.iter().filter_map(|(id, _)| BASE64URL.decode(id).ok()).collect();
    let account = user.email.clone().unwrap_or_else(|| user.display_name.clone());
    creation(state, handle, &account, &user.display_name, exclude, |state| ceremony(handle, state))
}

/// The options and sealed state of a registration ceremony.
fn creation(
    state: &AppState,
    handle: Uuid,
    account: &str,
    display_name: &str,
    exclude: Vec<Vec<u8>>,
    ceremony: impl FnOnce(PasskeyRegistration) -> Ceremony,
) -> Result<Options, AppError> {
    let rp = relying_party(state)?;
    let (options, registration) = rp
        .webauthn()
        .start_passkey_registration(handle, account, display_name, Some(exclude))
        .map_err(AppError::internal)?;
    let mut options = serde_json::to_value(options).map_err(AppError::internal)?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("preferred");
    let challenge = challenge_of(&options)?;
    Ok(Options {
        public_key: options["publicKey"].take(),
        ceremony: seal(&state.sealer, ceremony(registration), challenge)?,
    })
}

/// Checks a registration's answer against its sealed ceremony (spending the challenge): the new passkey, not
/// stored yet.
async fn verify_registration(
    state: &AppState,
    sealed: &Sealed,
    registration: &PasskeyRegistration,
    handle: Uuid,
    credential: Value,
) -> Result<NewPasskey, AppError> {
    let rp = relying_party(state)?;
    let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
        .map_err(|_| AppError::Invalid("The browser's answer is not a passkey registration.".into()))?;
    if !spend(&state.db, sealed).await? {
        return Err(replayed());
    }
    let passkey = rp.webauthn().finish_passkey_registration(&credential, registration).map_err(|error| {
        tracing::info!(%error, "a passkey registration was refused");
        AppError::Invalid(format!("The passkey could not be added: {}", refusal(&error)))
    })?;
    let flags = Flags::of(&passkey)?;
    Ok(NewPasskey { passkey, handle, flags })
}

/// Finishes adding a passkey: checks the authenticator's answer against the ceremony this session started, and
/// stores the credential under `name` (or, when blank, the browser and system it was made on). Audited, and mailed
/// to the owner.
pub async fn finish_registration(
    state: &AppState,
    confirmed: &Confirmed,
    token: &str,
    credential: Value,
    name: &str,
    client: &ClientInfo,
) -> Result<PasskeyView, AppError> {
    relying_party(state)?;
    let sealed = open(&state.sealer, token)?;
    let Ceremony::Register { user_id, session_id, handle, state: registration } = &sealed.ceremony else {
        return Err(AppError::Invalid("This is not a request to add a passkey.".into()));
    };
    if user_id != confirmed.user_id() || session_id != confirmed.session_id() {
        return Err(AppError::Invalid("This request to add a passkey was started in another session.".into()));
    }
    let name = name_or_default(name, client)?;
    let new = verify_registration(state, &sealed, registration, *handle, credential).await?;
    let mut tx = state.db.begin_write().await?;
    users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let added = store(tx.as_exec(), user_id, &new, &name, client).await?;
    tx.commit().await?;
    state.cache.forget_user(user_id);
    security_mail::tell_owner(state, user_id, Change::PasskeyAdded).await;
    Ok(added)
}

/// Checks the answer to a sign-up's or a recovery's registration ceremony ([`start_sign_up`],
/// [`start_recovery`]): what it was for, and the new passkey for [`store`].
pub async fn finish_new(
    state: &AppState,
    token: &str,
    credential: Value,
) -> Result<(Registered, NewPasskey), AppError> {
    relying_party(state)?;
    let sealed = open(&state.sealer, token)?;
    let (registered, handle, registration) = match &sealed.ceremony {
        Ceremony::SignUp { account, handle, state } => (Registered::SignUp(account.clone()), *handle, state),
        Ceremony::Recover { user_id, handle, state } => {
            (Registered::Recover { user_id: user_id.clone() }, *handle, state)
        }
        _ => return Err(AppError::Invalid("This is not a request to make a passkey for an account.".into())),
    };
    let new = verify_registration(state, &sealed, registration, handle, credential).await?;
    Ok((registered, new))
}

/// Stores a checked passkey for `user_id` (whose row the caller's transaction holds) under `name`, or the browser
/// and system it was made on; audited. At most [`MAX_PER_PERSON`] each; a credential registered already is
/// refused.
pub async fn store(
    mut tx: Exec<'_>,
    user_id: &str,
    new: &NewPasskey,
    name: &str,
    client: &ClientInfo,
) -> Result<PasskeyView, AppError> {
    let name = name_or_default(name, client)?;
    let count: i64 = on!(tx.reborrow(), conn => sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await)?;
    if count >= MAX_PER_PERSON {
        return Err(AppError::Conflict(format!("You have {MAX_PER_PERSON} passkeys, the most an account may have.")));
    }
    let flags = &new.flags;
    let credential_id = BASE64URL.encode(new.passkey.cred_id());
    let stored = serde_json::to_string(&new.passkey).map_err(AppError::internal)?;
    let id = clock::new_id();
    let now = clock::now();
    let inserted = on!(tx.reborrow(), conn => sqlx::query(
        "INSERT INTO passkeys (id, user_id, user_handle, credential_id, name, credential, counter, backup_eligible,
                               backup_state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (credential_id) DO NOTHING",
    )
    .bind(&id)
    .bind(user_id)
    .bind(new.handle.to_string())
    .bind(&credential_id)
    .bind(&name)
    .bind(&stored)
    .bind(flags.counter)
    .bind(flags.backup_eligible)
    .bind(flags.backup_state)
    .bind(now)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if inserted == 0 {
        return Err(AppError::Conflict("This passkey is already registered.".into()));
    }
    let detail = json!({ "passkey": id, "name": name, "synced": flags.backup_eligible });
    audit::record(tx, Event::PasskeyAdded, Some(user_id), client, detail).await?;
    Ok(PasskeyView {
        id,
        name,
        created_at: now,
        last_used_at: None,
        synced: flags.backup_eligible,
        backed_up: flags.backup_state,
    })
}

/// A passkey's name: what was typed, cleaned and checked, or the browser and system it was added on.
fn name_or_default(name: &str, client: &ClientInfo) -> Result<String, AppError> {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned();
    if cleaned.chars().count() > MAX_NAME {
        return Err(AppError::Invalid(format!("A passkey's name may be at most {MAX_NAME} characters long.")));
    }
    if !cleaned.is_empty() {
        return Ok(cleaned);
    }
    // The browser's family and the system, without versions: a name outlives the next update.
    let device = useragent::parse(client.user_agent.as_deref());
    let unversioned = |name: &str| -> String {
        name.split(' ').take_while(|word| !word.starts_with(|c: char| c.is_ascii_digit())).collect::<Vec<_>>().join(" ")
    };
    Ok(format!("{} on {}", unversioned(&device.browser), unversioned(&device.os)))
}

/// The flags and counter stored beside a credential, from webauthn-rs's serialised form (it has no accessors for
/// them).
struct Flags {
    counter: i64,
    backup_eligible: bool,
    backup_state: bool,
}

impl Flags {
    fn of(passkey: &Passkey) -> Result<Self, AppError> {
        let value = serde_json::to_value(passkey).map_err(AppError::internal)?;
        let cred = &value["cred"];
        Ok(Self {
            counter: cred["counter"].as_i64().unwrap_or(0),
            backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
            backup_state: cred["backup_state"].as_bool().unwrap_or(false),
        })
    }
}

/// Why webauthn-rs refused an answer, in words for the person (the details go to the log).
fn refusal(error: &WebauthnError) -> &'static str {
    match error {
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => "it was made for another site.",
        WebauthnError::UserNotVerified => "your device did not verify it was you (a fingerprint, face or PIN).",
        WebauthnError::MismatchedChallenge => "it answers another request.",
        WebauthnError::CredentialPossibleCompromise => "it looks like a copy of a passkey used before.",
        _ => "your device's answer did not check out.",
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------------------------

/// Starts a passkey ceremony for `who`: options for `navigator.credentials.get`. For anyone, the browser offers
/// every passkey it holds for this site (usernameless, and autofill); for a second step or a confirmation, the
/// person's own. (An address typed first: [`start_for_address`].)
pub async fn start_authentication(state: &AppState, who: Who) -> Result<Options, AppError> {
    let allowed = match &who {
        Who::Anyone => None,
        Who::Named { .. } => return Err(AppError::internal("an address's ceremony starts in start_for_address")),
        Who::SecondStep { user_id } | Who::Confirm { user_id, .. } => {
            let ids: Vec<String> = on!(&state.db, pool => sqlx::query_scalar(
                "SELECT credential_id FROM passkeys WHERE user_id = $1 ORDER BY created_at",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
            if ids.is_empty() {
                return Err(AppError::Conflict("You have no passkey yet: add one on your profile first.".into()));
            }
            Some(ids)
        }
    };
    begin(state, who, allowed)
}

/// Starts a ceremony for the address typed first: only the passkeys of the people with that address may answer. An
/// address no one with a passkey has gets one to three decoys instead, so that the answer has the same shape; both
/// ways are one query, so the time taken says nothing either.
pub async fn start_for_address(state: &AppState, email: &str) -> Result<Options, AppError> {
    let rows: Vec<(String, String)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT p.user_id, p.credential_id FROM passkeys p JOIN users u ON u.id = p.user_id
         WHERE lower(u.email) = lower($1) ORDER BY p.created_at",
    )
    .bind(email)
    .fetch_all(pool)
    .await)?;
    let mut user_ids: Vec<String> = rows.iter().map(|(user_id, _)| user_id.clone()).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let allowed = match rows.is_empty() {
        true => decoys(&state.sealer, email),
        false => rows.into_iter().map(|(_, id)| id).collect(),
    };
    begin(state, Who::Named { user_ids }, Some(allowed))
}

/// The options and sealed state of an authentication ceremony for `who`, answerable by `allowed` credentials (any
/// of this site's when `None`).
fn begin(state: &AppState, who: Who, allowed: Option<Vec<String>>) -> Result<Options, AppError> {
    let rp = relying_party(state)?;
    let (options, authentication) = rp.webauthn().start_discoverable_authentication().map_err(AppError::internal)?;
    let mut options = serde_json::to_value(options).map_err(AppError::internal)?;
    match allowed {
        Some(allowed) => {
            options["publicKey"]["allowCredentials"] =
                allowed.into_iter().map(|id| json!({ "type": "public-key", "id": id })).collect();
        }
        // Any of this site's passkeys: no list at all (an empty one means the same, and some browsers mind it).
        None => {
            options["publicKey"].as_object_mut().map(|o| o.remove("allowCredentials"));
        }
    }
    let challenge = challenge_of(&options)?;
    let ceremony = Ceremony::Authenticate { who, state: authentication };
    Ok(Options { public_key: options["publicKey"].take(), ceremony: seal(&state.sealer, ceremony, challenge)? })
}

/// One to three credential ids that belong to no one, the same ones each time for the same address (derived from
/// `SECRET_KEY`), so that asking twice tells nothing either.
fn decoys(sealer: &Sealer, email: &str) -> Vec<String> {
    let key = sealer.derive_key(Purpose::PasskeyDecoy);
    let mut bytes = [0u8; 1 + 3 * 32];
    Hkdf::<Sha256>::new(Some(&key), email.trim().to_lowercase().as_bytes())
        .expand(b"gatehouse passkey decoys", &mut bytes)
        .expect("97 bytes is a valid HKDF length");
    let count = 1 + usize::from(bytes[0] % 3);
    bytes[1..].chunks(32).take(count).map(|id| BASE64URL.encode(id)).collect()
}

/// Checks a passkey's answer to a ceremony started with [`start_authentication`]: the ceremony is fresh and
/// unused, the credential is registered and belongs to someone the ceremony may sign in, the signature is the
/// credential's over this challenge from this site's origin, the person was verified, and the counter moved on.
/// Returns the ceremony's `who`, whose passkey passed, and how.
pub async fn finish_authentication(
    state: &AppState,
    token: &str,
    credential: Value,
    client: &ClientInfo,
) -> Result<(Who, String, Passed), AppError> {
    let rp = relying_party(state)?;
    let sealed = open(&state.sealer, token)?;
    let credential: PublicKeyCredential = serde_json::from_value(credential)
        .map_err(|_| AppError::Invalid("The browser's answer is not a passkey sign-in.".into()))?;
    if !spend(&state.db, &sealed).await? {
        return Err(replayed());
    }
    let Ceremony::Authenticate { who, state: authentication } = sealed.ceremony else {
        return Err(AppError::Invalid("This is not a request to use a passkey.".into()));
    };
    let not_registered = || {
        AppError::Credentials(
            "This passkey is not registered here: it may have been removed. Sign in another way, or use another \
             passkey."
                .into(),
        )
    };
    let credential_id = BASE64URL.encode(credential.raw_id.as_slice());
    let row: Option<StoredPasskey> = on!(&state.db, pool => sqlx::query_as(
        "SELECT id, user_id, user_handle, name, credential FROM passkeys WHERE credential_id = $1",
    )
    .bind(&credential_id)
    .fetch_optional(pool)
    .await)?;
    let row = row.ok_or_else(not_registered)?;
    let may_sign_in = match &who {
        Who::Anyone => true,
        Who::Named { user_ids } => user_ids.contains(&row.user_id),
        Who::SecondStep { user_id } | Who::Confirm { user_id, .. } => *user_id == row.user_id,
    };
    // The user handle the authenticator keeps beside the credential: required to name the owner when no one was
    // named first, and, when given, it must be the owner's.
    let handle = credential.response.user_handle.as_deref();
    let handle_matches = match handle {
        Some(handle) => Uuid::from_slice(handle).is_ok_and(|h| h.to_string() == row.user_handle),
        None => who != Who::Anyone,
    };
    if !may_sign_in || !handle_matches {
        return Err(not_registered());
    }
    let mut passkey: Passkey = serde_json::from_str(&row.credential).map_err(AppError::internal)?;
    let result = match rp.webauthn().finish_discoverable_authentication_v2(&credential, authentication, &passkey) {
        Ok(result) => result,
        Err(error) => {
            tracing::info!(%error, passkey = %row.id, "a passkey answer was refused");
            let reason = match error {
                WebauthnError::CredentialPossibleCompromise => "counter_went_back",
                WebauthnError::UserNotVerified => "not_verified",
                WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => "another_site",
                _ => "bad_signature",
            };
            refused(state, &row, reason, client).await?;
            return Err(AppError::Credentials(format!("That passkey was refused: {}", refusal(&error))));
        }
    };
    passkey.update_credential(&result);
    let counter = i64::from(result.counter());
    let stored = serde_json::to_string(&passkey).map_err(AppError::internal)?;
    // A counting authenticator's new count must be above the stored one, also against an answer that passed at the
    // same moment (webauthn-rs compared it with the count read above).
    let updated = on!(&state.db, pool => sqlx::query(
        "UPDATE passkeys SET credential = $1, counter = $2, backup_eligible = $3, backup_state = $4, last_used_at = $5
         WHERE id = $6 AND ($2 = 0 OR counter < $2)",
    )
    .bind(&stored)
    .bind(counter)
    .bind(result.backup_eligible())
    .bind(result.backup_state())
    .bind(clock::now())
    .bind(&row.id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    if updated == 0 {
        refused(state, &row, "counter_went_back", client).await?;
        return Err(AppError::Credentials(format!(
            "That passkey was refused: {}",
            refusal(&WebauthnError::CredentialPossibleCompromise)
        )));
    }
    Ok((who, row.user_id, Passed { synced: result.backup_eligible() }))
}

#[derive(sqlx::FromRow)]
struct StoredPasskey {
    id: String,
    user_id: String,
    user_handle: String,
    name: String,
    credential: String,
}

/// Records on the owner's activity that one of their passkeys was refused, and why.
async fn refused(
    state: &AppState,
    row: &StoredPasskey,
    reason: &'static str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    state.metrics.sign_in_failed(crate::server::people::session::PASSKEY, reason);
    let detail = json!({ "passkey": row.id, "name": row.name, "reason": reason });
    audit::record_on(&state.db, Event::PasskeyRefused, Some(&row.user_id), client, detail).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The profile's list
// ---------------------------------------------------------------------------------------------------------------

/// Whether the person has a passkey (to offer one where they confirm it is them).
pub async fn has_any(db: &Db, user_id: &str) -> Result<bool, sqlx::Error> {
    on!(db, pool => sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)")
        .bind(user_id)
        .fetch_one(pool)
        .await)
}

/// The person's passkeys, oldest first.
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<PasskeyView>, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<i64>, bool, bool)> = on!(db, pool => sqlx::query_as(
        "SELECT id, name, created_at, last_used_at, backup_eligible, backup_state FROM passkeys
         WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at, synced, backed_up)| PasskeyView {
            id,
            name,
            created_at,
            last_used_at,
            synced,
            backed_up,
        })
        .collect())
}

/// The profile's passkeys section: `rows` (the profile statement's passkey list) as the page shows them, and why
/// passkeys cannot be used here, if they cannot.
pub fn section(state: &AppState, mut list: Vec<PasskeyView>) -> PasskeySection {
    list.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let unavailable = match &state.config.passkeys {
        crate::server::platform::config::PasskeySettings::Off(why) => Some((*why).to_owned()),
        crate::server::platform::config::PasskeySettings::On { .. } => None,
    };
    PasskeySection { list, unavailable }
}

/// The columns of a passkey row as the profile's one statement reads them ([`PasskeyRow`]); `$1` the person. The
/// flags as 0 or 1 on both databases.
pub const PROFILE_SELECT: &str = "SELECT id, name, created_at, last_used_at,
                                         CASE WHEN backup_eligible THEN 1 ELSE 0 END AS synced,
                                         CASE WHEN backup_state THEN 1 ELSE 0 END AS backed_up
                                  FROM passkeys WHERE user_id = $1";
pub const PROFILE_VALUES: &str = "id, name, created_at, last_used_at, synced, backed_up";

/// A row of [`PROFILE_SELECT`].
#[derive(serde::Deserialize)]
pub struct PasskeyRow {
    id: String,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    synced: i64,
    backed_up: i64,
}

impl From<PasskeyRow> for PasskeyView {
    fn from(row: PasskeyRow) -> Self {
        let PasskeyRow { id, name, created_at, last_used_at, synced, backed_up } = row;
        PasskeyView { id, name, created_at, last_used_at, synced: synced == 1, backed_up: backed_up == 1 }
    }
}

/// Renames one of the person's passkeys (not a sensitive change: the name is the person's label).
pub async fn rename(
    state: &AppState,
    user_id: &str,
    passkey_id: &str,
    name: &str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let name = name_or_default(name, client)?;
    let mut tx = state.db.begin_write().await?;
    let renamed = on!(tx.as_exec(), conn => sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
        .bind(&name)
        .bind(passkey_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    if renamed == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        tx.as_exec(),
        Event::PasskeyRenamed,
        Some(user_id),
        client,
        json!({ "passkey": passkey_id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one of the confirmed person's passkeys, unless it is their last way to sign in. Audited, and mailed to
/// the owner.
pub async fn remove(
    state: &AppState,
    confirmed: &Confirmed,
    passkey_id: &str,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let user_id = confirmed.user_id();
    let mut tx = state.db.begin_write().await?;
    users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let name: Option<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "SELECT name FROM passkeys WHERE id = $1 AND user_id = $2",
    )
    .bind(passkey_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await)?;
    let name = name.ok_or(AppError::NotFound)?;
    if users::ways_in(tx.as_exec(), user_id).await? <= 1 {
        return Err(AppError::Conflict(
            "This passkey is your only way to sign in. Add another passkey, a password or a provider before removing \
             it."
            .into(),
        ));
    }
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM passkeys WHERE id = $1").bind(passkey_id).execute(conn).await.map(drop))?;
    audit::record(
        tx.as_exec(),
        Event::PasskeyRemoved,
        Some(user_id),
        client,
        json!({ "passkey": passkey_id, "name": name }),
    )
    .await?;
    tx.commit().await?;
    state.cache.forget_user(user_id);
    security_mail::tell_owner(state, user_id, Change::PasskeyRemoved).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::platform::{config::AppUrl, secret_key::SecretKey};

    fn sealer() -> Sealer {
        Sealer::new(SecretKey::parse(&SecretKey::generate()).expect("a generated key parses"), None)
    }

    #[test]
    fn decoys_are_stable_per_address_and_differ_between_addresses_and_keys() {
        let sealer = sealer();
        let a = decoys(&sealer, "nobody@example.test");
        assert!((1..=3).contains(&a.len()), "{a:?}");
        assert!(a.iter().all(|id| BASE64URL.decode(id).is_ok_and(|b| b.len() == 32)), "{a:?}");
        assert_eq!(decoys(&sealer, " Nobody@Example.test "), a, "the same address, however it is typed");
        assert_ne!(decoys(&sealer, "someone@example.test"), a);
        assert_ne!(decoys(&self::sealer(), "nobody@example.test"), a, "another SECRET_KEY, other decoys");
    }

    #[test]
    fn a_passkey_name_is_cleaned_bounded_and_defaults_to_the_device() {
        let client = ClientInfo {
            ip: None,
            user_agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
                    .into(),
            ),
        };
        assert_eq!(name_or_default("  Work laptop\u{7}  ", &client).unwrap(), "Work laptop");
        assert_eq!(name_or_default("", &client).unwrap(), "Chrome on Linux");
        assert!(name_or_default(&"x".repeat(MAX_NAME + 1), &client).is_err());
        assert_eq!(name_or_default(&"é".repeat(MAX_NAME), &client).unwrap().chars().count(), MAX_NAME);
    }

    #[test]
    fn a_sealed_ceremony_opens_until_it_expires_and_never_when_changed() {
        let sealer = sealer();
        let rp = RelyingParty::new(&AppUrl::parse("http://localhost:3000").unwrap(), "localhost").unwrap();
        let (_, state) = rp.webauthn().start_discoverable_authentication().unwrap();
        let token = seal(&sealer, Ceremony::Authenticate { who: Who::Anyone, state }, "c".into()).unwrap();
        assert!(open(&sealer, &token).is_ok());
        let mut changed = token.clone().into_bytes();
        let last = changed.len() - 2;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&sealer, std::str::from_utf8(&changed).unwrap()).is_err());
        assert!(open(&self::sealer(), &token).is_err(), "another key");
        assert!(open(&sealer, &"A".repeat(MAX_CEREMONY + 1)).is_err());
    }
}
