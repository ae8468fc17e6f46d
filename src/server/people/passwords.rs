//! Passwords: what a new one must be (NIST SP 800-63B: 8 to 128 characters of anything, no composition rules, not
//! easy to guess), and argon2id hashing on the blocking pool, a few at a time, so a burst of sign-ins cannot stall
//! the requests around them.

use std::{fmt, sync::Arc};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use zxcvbn::Score;

use crate::model::error::AppError;

/// Characters a password may have, at least and at most. Counted as people count them (Unicode scalar values), and
/// never truncated: all of it is hashed.
pub use crate::model::password::{MAX_PASSWORD_CHARS as MAX_CHARS, MIN_PASSWORD_CHARS as MIN_CHARS};

/// A password someone typed: any text, kept secret (its `Debug` prints nothing of it).
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(raw: String) -> Self {
        Self(SecretString::from(raw))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether it could be anyone's password at all: sign-in refuses longer ones before hashing (a megabyte-long
    /// "password" would cost hashing time for nothing), with the same answer as a wrong password.
    pub fn is_plausible(&self) -> bool {
        let length = self.expose().chars().count();
        (1..=MAX_CHARS).contains(&length)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A password that may be set: long enough, not too long, and not easy to guess.
#[derive(Clone, Debug)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Checks `raw` against the policy. `hints` are what an attacker would try first (the email, the name): a
    /// password built from them is refused. The error says what to change, never echoing the password.
    pub fn parse(raw: String, hints: &[&str]) -> Result<Self, AppError> {
        let length = raw.chars().count();
        if length < MIN_CHARS {
            return Err(AppError::Invalid(format!("Use at least {MIN_CHARS} characters.")));
        }
        if length > MAX_CHARS {
            return Err(AppError::Invalid(format!("Use at most {MAX_CHARS} characters.")));
        }
        // Parts of the email address count as hints too: "ada.lovelace@example.com" → "ada", "lovelace", "example".
        let mut words: Vec<&str> = hints.to_vec();
        for hint in hints {
            words.extend(hint.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3));
        }
        let estimate = zxcvbn::zxcvbn(&raw, &words);
        if estimate.score() < Score::Three {
            let feedback = estimate.feedback();
            let warning = feedback.and_then(|f| f.warning()).map(|w| w.to_string());
            let suggestion = feedback.and_then(|f| f.suggestions().first()).map(|s| s.to_string());
            let why = warning.map(|w| format!(": {}", w.trim_end_matches('.'))).unwrap_or_default();
            let suggestion = suggestion.unwrap_or_else(|| "Add another word or two that are not common.".into());
            return Err(AppError::Invalid(format!("This password is too easy to guess{why}. {suggestion}")));
        }
        Ok(Self(Password::new(raw)))
    }

    pub fn password(&self) -> &Password {
        &self.0
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Wrong,
    /// Right; `rehash` when the stored hash was made with weaker parameters than today's (hash it again and store
    /// that, now that the password is at hand).
    Right {
        rehash: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("hashing failed: {0}")]
    Argon2(String),
    #[error("the hashing task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes and checks passwords with argon2id, at most `permits` at a time, on tokio's blocking pool.
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password with today's parameters: what a sign-in with an unknown email is checked against,
    /// so it takes as long as one with a known email (and answers the same).
    dummy: String,
}

impl Hasher {
    /// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    pub fn new() -> Self {
        Self::with_params(19_456, 2, 1)
    }

    pub fn with_params(memory_kib: u32, passes: u32, lanes: u32) -> Self {
        let params = Params::new(memory_kib, passes, lanes, None).expect("valid argon2 parameters");
        // One hash uses one core and `memory_kib` of memory: as many at once as there are cores.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy =
            hash_now(&params, &crate::server::platform::clock::random_token(24)).expect("hashing a random password");
        Self { params, permits: Arc::new(Semaphore::new(cores)), dummy }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`, with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        // The permit moves into the blocking task: a request cancelled while its hash runs (the client hung up) must
        // not free a permit for another hash while this one still takes a core.
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let params = self.params.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_now(&params, password.expose())
        })
        .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is none (same work, same answer).
    pub async fn check(&self, password: &Password, stored: Option<&str>) -> Result<Checked, HashError> {
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_owned();
        let params = self.params.clone();
        let password = password.clone();
        let right = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&stored).map_err(|e| HashError::Argon2(e.to_string()))?;
            let right = argon2(&params).verify_password(password.expose().as_bytes(), &parsed).is_ok();
            Ok::<_, HashError>(right.then(|| weaker_than(&parsed, &params)))
        })
        .await??;
        Ok(match right {
            Some(rehash) if known => Checked::Right { rehash },
            _ => Checked::Wrong,
        })
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_now(params: &Params, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// Whether a stored hash was made with another algorithm or weaker parameters than `params`.
fn weaker_than(stored: &PasswordHash<'_>, params: &Params) -> bool {
    if stored.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(stored) {
        Ok(old) => old.m_cost() < params.m_cost() || old.t_cost() < params.t_cost() || old.p_cost() < params.p_cost(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str, hints: &[&str]) -> String {
        match NewPassword::parse(raw.to_owned(), hints) {
            Err(AppError::Invalid(reason)) => reason,
            other => panic!("{raw:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn new_passwords_have_8_to_128_characters_of_anything() {
        assert_eq!(refused("Xq7!pz", &[]), "Use at least 8 characters.");
        // Characters, not bytes: seven two-byte letters are still too short.
        assert_eq!(refused("ŧħŋđæßð", &[]), "Use at least 8 characters.");
        assert_eq!(refused(&"correct horse battery staple ".repeat(5), &[]), "Use at most 128 characters.");
        // Any Unicode, spaces included, no composition rules.
        assert!(NewPassword::parse("ĉiu vespero mi legas poezion".into(), &[]).is_ok());
        assert!(NewPassword::parse("tramway lagoon pistachio".into(), &[]).is_ok());
        let longest: String = "tramway lagoon pistachio ".repeat(6).chars().take(MAX_CHARS).collect();
        assert!(NewPassword::parse(longest, &[]).is_ok(), "128 characters, all of them used");
    }

    #[test]
    fn weak_and_common_passwords_are_refused_with_a_reason() {
        let reason = refused("password1", &[]);
        assert!(reason.starts_with("This password is too easy to guess"), "{reason}");
        assert!(reason.len() > "This password is too easy to guess.".len(), "says why: {reason}");
        refused("qwertyuiop", &[]);
        refused("aaaaaaaaaaaa", &[]);
        refused("12345678", &[]);
        // Built from the person's own email or name.
        refused("lovelace1815", &["ada.lovelace@example.com", "Ada Lovelace"]);
    }

    #[test]
    fn a_password_never_prints() {
        let password = Password::new("tramway lagoon pistachio".into());
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        let new = NewPassword::parse("tramway lagoon pistachio".into(), &[]).expect("strong");
        assert!(!format!("{new:?}").contains("tramway"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_todays_parameters() {
        let hasher = Hasher::new();
        let password = Password::new("tramway lagoon pistachio".into());
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(hasher.check(&password, Some(&hash)).await.expect("check"), Checked::Right { rehash: false });
        let wrong = Password::new("tramway lagoon pistachios".into());
        assert_eq!(hasher.check(&wrong, Some(&hash)).await.expect("check"), Checked::Wrong);
        // Same salt never twice.
        assert_ne!(hash, hasher.hash(&password).await.expect("hash"));
    }

    #[tokio::test]
    async fn a_hash_made_with_weaker_parameters_asks_to_be_rehashed() {
        let old = Hasher::with_params(8_192, 1, 1);
        let password = Password::new("tramway lagoon pistachio".into());
        let hash = old.hash(&password).await.expect("hash");
        assert_eq!(Hasher::new().check(&password, Some(&hash)).await.expect("check"), Checked::Right { rehash: true });
    }

    #[tokio::test]
    async fn an_unknown_account_is_checked_against_the_dummy_hash_and_is_always_wrong() {
        let hasher = Hasher::new();
        let password = Password::new("anything at all".into());
        assert_eq!(hasher.check(&password, None).await.expect("check"), Checked::Wrong);
        // Even a password equal to nothing in particular cannot match the dummy: its password is random and unknown.
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn implausible_passwords_are_not_hashed_at_sign_in() {
        assert!(!Password::new(String::new()).is_plausible());
        assert!(!Password::new("x".repeat(MAX_CHARS + 1)).is_plausible());
        assert!(Password::new("x".repeat(MAX_CHARS)).is_plausible());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_hash_keeps_its_permit_until_it_has_finished() {
        // Slow enough that the hash is still running when the request gives up on it.
        let hasher = Hasher::with_params(64 * 1024, 4, 1);
        let all = hasher.permits.available_permits();
        let password = Password::new("a password to hash slowly".into());
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(20), hasher.hash(&password)).await;
        assert!(cancelled.is_err(), "given up on before the hash finished");
        assert_eq!(hasher.permits.available_permits(), all - 1, "the running hash still holds its permit");
        for _ in 0..200 {
            if hasher.permits.available_permits() == all {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the permit came back once the hash had finished");
    }
}
