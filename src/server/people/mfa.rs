//! Two-step verification: an authenticator app (TOTP, RFC 6238, through `totp-rs`) and single-use recovery codes.
//!
//! The seed is 160 random bits, sealed at rest with a key derived from `SECRET_KEY` and bound to its person. Codes
//! are 6 digits for 30-second steps; the step before and after are accepted for clock drift, and each step's code
//! only once (the last accepted step is kept, and only a later one passes). Recovery codes carry 80 random bits each
//! and are stored as SHA-256 hashes.

use serde_json::json;
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};

use crate::model::error::AppError;
use crate::server::{
    people::{
        security_mail::{self, Change},
        session::{ClientInfo, SecondFactor},
        step_up::Confirmed,
    },
    platform::{
        clock,
        db::{Db, Exec, on},
        secret_key::{Purpose, Sealer},
    },
    security::{
        audit::{self, Event},
        lockout::{self, Key},
    },
    state::AppState,
};

/// Bytes of a seed: 160 bits, as RFC 4226 recommends.
const SEED_BYTES: usize = 20;
/// Recovery codes given at a time, and the random bytes in each.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_CODE_BYTES: usize = 10;
/// The name authenticator apps show above the code.
const ISSUER: &str = "Gatehouse";

/// An authenticator for `seed`, labelled with `account` in the app.
fn authenticator(seed: &[u8], account: &str) -> Result<Totp, AppError> {
    let mut bytes = [0u8; SEED_BYTES];
    if seed.len() != SEED_BYTES {
        return Err(AppError::internal("a TOTP seed of the wrong length"));
    }
    bytes.copy_from_slice(seed);
    // An account name may not contain a colon (it separates issuer and account in the otpauth URI).
    let account = account.replace(':', " ");
    Builder::new()
        .with_secret(Secret::new_stack(bytes))
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(|e| AppError::internal(format!("TOTP: {e}")))
}

/// The step a code is for, if `code` is right at `now` (± one step); `None` otherwise. Spaces are ignored.
pub fn check_code(seed: &[u8], code: &str, now: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    authenticator(seed, "check").ok()?.check(&code, now)
}

/// What the enrolment page shows: the key as text (grouped in fours), and the same as a QR code (SVG).
pub struct Enrolment {
    pub key: String,
    pub qr_svg: String,
}

/// The two-step state of a person, for the profile page.
#[derive(Debug, Default)]
pub struct Status {
    pub enabled: bool,
    pub pending: bool,
    pub recovery_codes_left: u32,
}

pub async fn status(db: &Db, user_id: &str) -> Result<Status, sqlx::Error> {
    let row: Option<(Option<i64>, i64)> = on!(db, pool => sqlx::query_as(
        "SELECT t.enabled_at,
                (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL)
         FROM totp t WHERE t.user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(match row {
        None => Status::default(),
        Some((enabled_at, left)) => Status {
            enabled: enabled_at.is_some(),
            pending: enabled_at.is_none(),
            recovery_codes_left: u32::try_from(left).unwrap_or(0),
        },
    })
}

/// Whether the person must pass a second step to sign in.
pub async fn is_enabled(mut conn: Exec<'_>, user_id: &str) -> Result<bool, sqlx::Error> {
    let enabled: Option<i64> = on!(conn.reborrow(), conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM totp WHERE user_id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await)?;
    Ok(enabled.unwrap_or(0) > 0)
}

/// Starts (or starts again) enrolling an authenticator: a new seed, not yet asked for at sign-in. It changes how
/// the person signs in, so it needs a recent confirmation of identity.
pub async fn start_enrolment(state: &AppState, confirmed: &Confirmed) -> Result<(), AppError> {
    let user_id = confirmed.user_id();
    let mut seed = [0u8; SEED_BYTES];
    getrandom::fill(&mut seed).map_err(AppError::internal)?;
    let sealed = state.sealer.seal(Purpose::TotpSeed, user_id, &seed);
    let mut tx = state.db.begin_write().await?;
    crate::server::people::users::lock(tx.as_exec(), user_id).await?.ok_or(AppError::Unauthorized)?;
    if is_enabled(tx.as_exec(), user_id).await? {
        return Err(AppError::Conflict("Two-step verification is already on.".into()));
    }
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO totp (user_id, seed, enabled_at, last_step, created_at) VALUES ($1, $2, NULL, NULL, $3)
         ON CONFLICT (user_id) DO UPDATE SET seed = excluded.seed, created_at = excluded.created_at",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(clock::now())
    .execute(conn)
    .await
    .map(drop))?;
    tx.commit().await?;
    Ok(())
}

/// The seed being enrolled, as its owner's authenticator app takes it; `None` when no enrolment is under way.
pub async fn enrolment(state: &AppState, user_id: &str, account: &str) -> Result<Option<Enrolment>, AppError> {
    let Some(seed) = seed(&state.db, &state.sealer, user_id, false).await? else { return Ok(None) };
    let totp = authenticator(&seed, account)?;
    let uri = totp.to_url().map_err(|e| AppError::internal(format!("otpauth URI: {e}")))?;
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(AppError::internal)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let base32 = totp_rs::Secret::new_stack(seed.try_into().map_err(|_| AppError::Internal)?).to_base32();
    let key =
        base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    Ok(Some(Enrolment { key, qr_svg }))
}

/// The person's seed, opened: the enabled one, or (with `enabled` false) the one being enrolled.
async fn seed(db: &Db, sealer: &Sealer, user_id: &str, enabled: bool) -> Result<Option<Vec<u8>>, AppError> {
    let row: Option<(Vec<u8>, Option<i64>)> = on!(db, pool => sqlx::query_as(
        "SELECT seed, enabled_at FROM totp WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    let Some((sealed, _)) = row.filter(|(_, at)| at.is_some() == enabled) else { return Ok(None) };
    let seed = sealer
        .open(Purpose::TotpSeed, user_id, &sealed)
        .map_err(|e| AppError::internal(format!("cannot open a TOTP seed: {e}")))?;
    // Sealed with SECRET_KEY_PREVIOUS: sealed again with SECRET_KEY, so the previous key can be retired.
    if sealer.needs_resealing(Purpose::TotpSeed, &sealed) {
        let resealed = sealer.seal(Purpose::TotpSeed, user_id, &seed);
        on!(db, pool => sqlx::query("UPDATE totp SET seed = $1 WHERE user_id = $2 AND seed = $3")
            .bind(resealed)
            .bind(user_id)
            .bind(&sealed)
            .execute(pool)
            .await
            .map(drop))?;
        tracing::info!(%user_id, "a TOTP seed was sealed again with the current SECRET_KEY");
    }
    Ok(Some(seed))
}

/// Switches the authenticator on with a first code from it, and returns the recovery codes (shown once). A code
/// from an authenticator being enrolled proves only that the app was set up: it never counts as a confirmation of
/// identity, and the owner is mailed.
pub async fn confirm_enrolment(
    state: &AppState,
    confirmed: &Confirmed,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>, AppError> {
    let user_id = confirmed.user_id();
    let seed = seed(&state.db, &state.sealer, user_id, false)
        .await?
        .ok_or_else(|| AppError::Conflict("Start setting up an authenticator first.".into()))?;
    let Some(step) = check_code(&seed, code, clock::now() as u64) else {
        return Err(AppError::Invalid(
            "That code is not right. Enter the 6 digits your app shows now (check that its clock is right).".into(),
        ));
    };
    let codes = new_recovery_codes();
    let mut tx = state.db.begin_write().await?;
    let now = clock::now();
    let switched = on!(tx.as_exec(), conn => sqlx::query(
        "UPDATE totp SET enabled_at = $1, last_step = $2 WHERE user_id = $3 AND enabled_at IS NULL",
    )
    .bind(now)
    .bind(step as i64)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    if switched == 0 {
        return Err(AppError::Conflict("Two-step verification is already on.".into()));
    }
    store_recovery_codes(tx.as_exec(), user_id, &codes).await?;
    audit::record(tx.as_exec(), Event::MfaEnabled, Some(user_id), client, json!({ "method": "totp" })).await?;
    tx.commit().await?;
    state.cache.forget_user(user_id);
    security_mail::tell_owner(state, user_id, Change::TwoStepOn).await;
    Ok(codes)
}

fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_BYTES];
            getrandom::fill(&mut bytes).expect("the operating system's random source is available");
            let text = Secret::new(bytes.to_vec().into_boxed_slice()).to_base32().to_lowercase();
            text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// A recovery code as typed: without spaces or dashes, in lower case.
fn normalise_recovery_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase()
}

fn recovery_hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalise_recovery_code(code).as_bytes()).to_vec()
}

/// Replaces the person's recovery codes with `codes`.
async fn store_recovery_codes(mut tx: Exec<'_>, user_id: &str, codes: &[String]) -> Result<(), sqlx::Error> {
    let now = clock::now();
    on!(tx.reborrow(), conn => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop))?;
    for code in codes {
        on!(tx.reborrow(), conn => sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(recovery_hash(code))
        .bind(now)
        .execute(conn)
        .await
        .map(drop))?;
    }
    Ok(())
}

/// Checks a code from the person's authenticator, or one of their recovery codes (used up), counting failures
/// against the account: five within fifteen minutes lock it. A failure is audited as `mfa_failed`.
pub async fn verify(
    state: &AppState,
    user_id: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<SecondFactor, AppError> {
    let key = Key::User(user_id.to_owned());
    let guess = lockout::admit(&state.db, std::slice::from_ref(&key))
        .await?
        .map_err(|locked| AppError::Throttled { retry_after: locked.retry_after })?;
    if let Some(passed) = try_code(state, user_id, code).await? {
        guess.succeeded(&state.db).await?;
        return Ok(passed);
    }
    let lock = guess.failed();
    audit::record_on(&state.db, Event::MfaFailed, Some(user_id), client, json!({})).await?;
    state.metrics.failure("wrong_code");
    if let Some((_, locked)) = lock {
        audit::record_on(
            &state.db,
            Event::AccountLocked,
            Some(user_id),
            client,
            json!({ "reason": "wrong_code", "seconds": locked.retry_after }),
        )
        .await?;
        tell_owner_of_lock(state, user_id).await?;
        return Err(AppError::Throttled { retry_after: locked.retry_after });
    }
    Err(AppError::Credentials(
        "That code is not right. Enter the 6 digits your app shows now, or one of your recovery codes.".into(),
    ))
}

/// Mails the owner that wrong codes paused their sign-in: whoever sent them knows their password (or holds their
/// provider account).
async fn tell_owner_of_lock(state: &AppState, user_id: &str) -> Result<(), AppError> {
    let Some(mailer) = &state.mailer else { return Ok(()) };
    if let Some(to) = security_mail::owner_address(&state.db, user_id).await? {
        mailer.send_later(
            "locked",
            crate::server::platform::mail::Mail {
                to,
                subject: "Wrong codes were entered for your Gatehouse account".into(),
                paragraphs: vec![
                    format!(
                        "Someone passed the first step of signing in to your Gatehouse account, then entered {} wrong \
                     codes, so we paused sign-in for a while.",
                        lockout::PER_ACCOUNT
                    ),
                    "If it was not you, someone knows your password (or holds your provider account): change it now."
                        .into(),
                ],
                link: Some((state.config.app_url.join("/reset"), "Choose a new password".into())),
            },
        );
    }
    Ok(())
}

async fn try_code(state: &AppState, user_id: &str, code: &str) -> Result<Option<SecondFactor>, AppError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit()) {
        let Some(seed) = seed(&state.db, &state.sealer, user_id, true).await? else { return Ok(None) };
        let Some(step) = check_code(&seed, &digits, clock::now() as u64) else { return Ok(None) };
        // Accepted once: only a step later than the last accepted one passes, whoever asks first.
        let accepted = on!(&state.db, pool => sqlx::query(
            "UPDATE totp SET last_step = $1
             WHERE user_id = $2 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step as i64)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        return Ok((accepted > 0).then_some(SecondFactor::Totp));
    }
    let normalised = normalise_recovery_code(code);
    if normalised.len() != 16 {
        return Ok(None);
    }
    let used = on!(&state.db, pool => sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(clock::now())
    .bind(user_id)
    .bind(recovery_hash(&normalised))
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok((used > 0).then_some(SecondFactor::RecoveryCode))
}

/// New recovery codes in place of the old ones (which stop working), shown once.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    confirmed: &Confirmed,
    client: &ClientInfo,
) -> Result<Vec<String>, AppError> {
    let user_id = confirmed.user_id();
    let codes = new_recovery_codes();
    let mut tx = state.db.begin_write().await?;
    if !is_enabled(tx.as_exec(), user_id).await? {
        return Err(AppError::Conflict("Two-step verification is off.".into()));
    }
    store_recovery_codes(tx.as_exec(), user_id, &codes).await?;
    audit::record(tx.as_exec(), Event::RecoveryCodesRegenerated, Some(user_id), client, json!({})).await?;
    tx.commit().await?;
    security_mail::tell_owner(state, user_id, Change::RecoveryCodesRegenerated).await;
    Ok(codes)
}

/// Turns two-step verification off: the seed and the recovery codes are deleted.
pub async fn disable(state: &AppState, confirmed: &Confirmed, client: &ClientInfo) -> Result<(), AppError> {
    let auth = confirmed.session();
    let mut tx = state.db.begin_write().await?;
    let removed = on!(tx.as_exec(), conn => sqlx::query("DELETE FROM totp WHERE user_id = $1")
        .bind(&auth.user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    on!(tx.as_exec(), conn => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&auth.user_id)
        .execute(conn)
        .await
        .map(drop))?;
    if removed > 0 {
        audit::record(tx.as_exec(), Event::MfaDisabled, Some(&auth.user_id), client, json!({})).await?;
    }
    tx.commit().await?;
    state.cache.forget_user(&auth.user_id);
    if removed > 0 {
        security_mail::tell_owner(state, &auth.user_id, Change::TwoStepOff).await;
    }
    Ok(())
}

/// Session data key for recovery codes just made, until their page has shown them.
const FRESH_CODES_KEY: &str = "fresh_recovery_codes";
/// They are kept (sealed) this long at most.
const FRESH_CODES_SECS: i64 = 600;

#[derive(serde::Serialize, serde::Deserialize)]
struct FreshCodes {
    sealed: Vec<u8>,
    expires_at: i64,
}

/// Keeps new recovery codes, sealed, in the browser's session, for the page that shows them once.
pub async fn keep_fresh_codes(
    state: &AppState,
    session: &tower_sessions::Session,
    user_id: &str,
    codes: &[String],
) -> Result<(), AppError> {
    let sealed = state.sealer.seal(Purpose::FreshRecoveryCodes, user_id, codes.join(" ").as_bytes());
    let fresh = FreshCodes { sealed, expires_at: clock::now() + FRESH_CODES_SECS };
    session.insert(FRESH_CODES_KEY, fresh).await.map_err(AppError::internal)
}

/// The recovery codes just made for `user_id` in this browser, if they have not been dismissed or expired.
pub async fn fresh_codes(
    state: &AppState,
    session: &tower_sessions::Session,
    user_id: &str,
) -> Result<Option<Vec<String>>, AppError> {
    let fresh: Option<FreshCodes> = session.get(FRESH_CODES_KEY).await.map_err(AppError::internal)?;
    let Some(fresh) = fresh.filter(|f| f.expires_at > clock::now()) else { return Ok(None) };
    let Ok(text) = state.sealer.open(Purpose::FreshRecoveryCodes, user_id, &fresh.sealed) else { return Ok(None) };
    Ok(Some(String::from_utf8_lossy(&text).split(' ').map(str::to_owned).collect()))
}

pub async fn forget_fresh_codes(session: &tower_sessions::Session) -> Result<(), AppError> {
    session.remove::<FreshCodes>(FRESH_CODES_KEY).await.map(drop).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the seed "12345678901234567890" and the 8-digit codes there; 6-digit codes are
    /// their last six digits (the same number, modulo 10^6).
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(authenticator(seed, "t").expect("valid").generate(time).to_string(), code, "at {time}");
            assert_eq!(check_code(seed, code, time), Some(time / 30), "accepted at {time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_no_more() {
        let seed = b"12345678901234567890";
        let code = authenticator(seed, "t").expect("valid").generate(1_000_000_000).to_string();
        let step = 1_000_000_000 / 30;
        assert_eq!(check_code(seed, &code, 1_000_000_000 + 30), Some(step));
        assert_eq!(check_code(seed, &code, 1_000_000_000 - 30), Some(step));
        assert_eq!(check_code(seed, &code, 1_000_000_000 + 61), None);
        assert_eq!(check_code(seed, &format!("{} {}", &code[..3], &code[3..]), 1_000_000_000), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "12345a"] {
            assert_eq!(check_code(seed, bad, 1_000_000_000), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_ten_different_80_bit_codes_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 19 && c.matches('-').count() == 3), "{codes:?}");
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash(&typed), recovery_hash(&codes[0]));
    }
}
