//! `SECRET_KEY`: the deployment's one master secret, and the sealing of data kept at rest with keys derived from it
//! (authenticator seeds first). AES-256-GCM through RustCrypto's `aes-gcm`; one key per purpose, derived with HKDF-SHA256,
//! so a key leaked from one use opens nothing else. `SECRET_KEY_PREVIOUS` keeps data sealed before a rotation readable
//! until it is sealed again.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Bytes of a master key: 256 bits.
const KEY_BYTES: usize = 32;
/// What a sealed value starts with: the format's version, then the sealing key's id (so opening picks the right key).
const FORMAT: u8 = 1;
const KEY_ID_BYTES: usize = 4;
const NONCE_BYTES: usize = 12;

/// A master key, as `SECRET_KEY` writes it: 64 hexadecimal characters (32 random bytes). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_BYTES]);

impl SecretKey {
    /// Parses 64 hexadecimal characters; the error says what is wrong, never echoing the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() != 2 * KEY_BYTES {
            return Err(format!(
                "must be {} hexadecimal characters (32 random bytes; `gatehouse secret` prints one), not {}",
                2 * KEY_BYTES,
                text.chars().count()
            ));
        }
        let mut key = [0u8; KEY_BYTES];
        for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok());
            *byte = pair.ok_or("must contain only hexadecimal characters (0-9, a-f)")?;
        }
        if key.iter().all(|&b| b == key[0]) {
            return Err("must be random, not one repeated byte".into());
        }
        Ok(Self(key))
    }

    /// A new random key, written as `SECRET_KEY` expects it.
    pub fn generate() -> String {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).expect("the operating system's randomness");
        key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// What sealed data is for: each purpose has a key of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A TOTP authenticator's seed.
    TotpSeed,
    /// Recovery codes just made, kept in the browser's session until their page has shown them.
    FreshRecoveryCodes,
    /// The private half of a key that signs access and ID tokens.
    SigningKey,
    /// An app's client secret just made, kept in the browser's session until the page has shown it.
    FreshClientSecret,
    /// A new-sign-in notice's "this wasn't me" link (the notice's id and expiry, sealed so it cannot be forged).
    SignInNotice,
    /// An authorization request from a visitor who is not signed in, carried through the sign-in in its URL instead
    /// of being stored (a stranger's request must not make us keep anything).
    PendingAuthorization,
    /// A passkey ceremony's state, carried by the browser between its options and its answer instead of being
    /// stored (see `people::passkeys`).
    PasskeyCeremony,
    /// The key that makes the decoy credentials shown for an address with no passkey (not for sealing).
    PasskeyDecoy,
    /// The link mailed to create an account with a passkey: the address and name, sealed, so that a stranger's
    /// sign-up stores nothing until the address's owner opens it.
    SignUpLink,
    /// A person's access or refresh token at a sign-in provider, kept for their own programs (`PROVIDER_TOKENS`).
    ProviderToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::TotpSeed => b"gatehouse totp seed v1",
            Purpose::FreshRecoveryCodes => b"gatehouse fresh recovery codes v1",
            Purpose::SigningKey => b"gatehouse token signing key v1",
            Purpose::FreshClientSecret => b"gatehouse fresh client secret v1",
            Purpose::SignInNotice => b"gatehouse sign-in notice v1",
            Purpose::PendingAuthorization => b"gatehouse pending authorization v1",
            Purpose::PasskeyCeremony => b"gatehouse passkey ceremony v1",
            Purpose::PasskeyDecoy => b"gatehouse passkey decoys v1",
            Purpose::SignUpLink => b"gatehouse passkey sign-up link v1",
            Purpose::ProviderToken => b"gatehouse provider token v1",
        }
    }
}

/// Why sealed data could not be opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value was made with a key that is neither SECRET_KEY nor SECRET_KEY_PREVIOUS")]
    UnknownKey,
    #[error("the sealed value was changed, or belongs to another record")]
    Tampered,
}

/// Seals with `SECRET_KEY` and opens with it or `SECRET_KEY_PREVIOUS`.
#[derive(Clone)]
pub struct Sealer {
    current: SecretKey,
    previous: Option<SecretKey>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").field("previous", &self.previous.is_some()).finish_non_exhaustive()
    }
}

/// One derived key and its public id.
struct Derived {
    cipher: Aes256Gcm,
    id: [u8; KEY_ID_BYTES],
}

fn derive(master: &SecretKey, purpose: Purpose) -> Derived {
    let mut key = [0u8; KEY_BYTES];
    Hkdf::<Sha256>::new(None, &master.0).expand(purpose.label(), &mut key).expect("32 bytes is a valid HKDF length");
    // The id names the key without revealing it: a hash of the derived key.
    let digest = Sha256::digest([b"key id".as_slice(), &key].concat());
    let mut id = [0u8; KEY_ID_BYTES];
    id.copy_from_slice(&digest[..KEY_ID_BYTES]);
    Derived { cipher: Aes256Gcm::new(&key.into()), id }
}

impl Sealer {
    pub fn new(current: SecretKey, previous: Option<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// Encrypts `plaintext` for `purpose`, bound to `record` (say, the person's id): a sealed value copied onto
    /// another record does not open. A fresh random nonce each time.
    pub fn seal(&self, purpose: Purpose, record: &str, plaintext: &[u8]) -> Vec<u8> {
        let key = derive(&self.current, purpose);
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the operating system's randomness");
        let sealed = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: record.as_bytes() })
            .expect("AES-GCM encrypts any message of this size");
        [&[FORMAT][..], &key.id, &nonce, &sealed].concat()
    }

    /// Decrypts what [`Sealer::seal`] made for `purpose` and `record`, with whichever key sealed it.
    pub fn open(&self, purpose: Purpose, record: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let header = 1 + KEY_ID_BYTES + NONCE_BYTES;
        if sealed.len() < header + 16 || sealed[0] != FORMAT {
            return Err(OpenError::Malformed);
        }
        let (id, rest) = sealed[1..].split_at(KEY_ID_BYTES);
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|master| derive(master, purpose))
            .find(|key| key.id == id)
            .ok_or(OpenError::UnknownKey)?;
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: record.as_bytes() })
            .map_err(|_| OpenError::Tampered)
    }

    /// `value` as JSON, sealed for `purpose` and bound to `record`, as a base64url token for a URL, a form or a JSON
    /// body: state a browser carries instead of the server storing it (an authorization request, a passkey
    /// ceremony, a sign-up link). What it means, and until when, is the value's.
    pub fn seal_token<T: serde::Serialize>(&self, purpose: Purpose, record: &str, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("a sealed token's value serialises");
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, self.seal(purpose, record, &json))
    }

    /// The value a [`Sealer::seal_token`] token carries, if this deployment sealed it for `purpose` and `record`,
    /// unaltered, and the token is at most `max_len` characters (read before any work); `None` otherwise.
    pub fn open_token<T: serde::de::DeserializeOwned>(
        &self,
        purpose: Purpose,
        record: &str,
        token: &str,
        max_len: usize,
    ) -> Option<T> {
        let token = token.trim();
        if token.len() > max_len {
            return None;
        }
        let sealed = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token).ok()?;
        serde_json::from_slice(&self.open(purpose, record, &sealed).ok()?).ok()
    }

    /// A key for `purpose` derived from `SECRET_KEY`, for keyed hashes that must be the same on every instance
    /// (never for sealing: [`Sealer::seal`] derives its own).
    pub fn derive_key(&self, purpose: Purpose) -> [u8; KEY_BYTES] {
        let mut key = [0u8; KEY_BYTES];
        Hkdf::<Sha256>::new(None, &self.current.0)
            .expand(purpose.label(), &mut key)
            .expect("32 bytes is a valid HKDF length");
        key
    }

    /// Whether `sealed` was made with a previous key and should be sealed again with the current one.
    pub fn needs_resealing(&self, purpose: Purpose, sealed: &[u8]) -> bool {
        sealed.get(1..1 + KEY_ID_BYTES).is_some_and(|id| id != derive(&self.current, purpose).id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        let mut bytes = [byte; KEY_BYTES];
        bytes[0] = byte.wrapping_add(1);
        SecretKey(bytes)
    }

    #[test]
    fn a_token_opens_only_for_its_purpose_and_record_unaltered_and_not_too_long() {
        let sealer = Sealer::new(key(1), None);
        let token = sealer.seal_token(Purpose::SignUpLink, "link", &("ada@example.test", 42));
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {token}");
        let open = |purpose, record, token: &str, max| sealer.open_token::<(String, i64)>(purpose, record, token, max);
        assert_eq!(open(Purpose::SignUpLink, "link", &token, 1000), Some(("ada@example.test".into(), 42)));
        assert_eq!(open(Purpose::SignUpLink, "link", &format!(" {token}\n"), 1000).map(|v| v.1), Some(42));
        assert_eq!(open(Purpose::PasskeyCeremony, "link", &token, 1000), None, "another purpose");
        assert_eq!(open(Purpose::SignUpLink, "other", &token, 1000), None, "another record");
        assert_eq!(open(Purpose::SignUpLink, "link", &token, token.len() - 1), None, "too long to read");
        let mut changed = token.clone().into_bytes();
        changed[20] = if changed[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(Purpose::SignUpLink, "link", &String::from_utf8(changed).unwrap(), 1000), None);
        assert_eq!(
            Sealer::new(key(2), None).open_token::<(String, i64)>(Purpose::SignUpLink, "link", &token, 1000),
            None
        );
    }

    #[test]
    fn a_generated_key_parses_and_keys_differ() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(SecretKey::parse(&a).is_ok());
        assert!(
            SecretKey::parse(&format!("  {}\n", a.to_uppercase())).is_ok(),
            "case and surrounding space do not matter"
        );
    }

    #[test]
    fn a_bad_key_is_refused_with_the_reason_and_never_echoed() {
        let short = SecretKey::parse("abc123").unwrap_err();
        assert!(short.contains("64 hexadecimal characters") && short.contains("not 6"), "{short}");
        let not_hex = SecretKey::parse(&"zz".repeat(32)).unwrap_err();
        assert!(not_hex.contains("only hexadecimal") && !not_hex.contains("zz"), "{not_hex}");
        assert!(SecretKey::parse(&"00".repeat(32)).unwrap_err().contains("random"));
        assert!(SecretKey::parse(&"é".repeat(32)).is_err(), "multi-byte text of the right length is refused");
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let text = SecretKey::generate();
        let parsed = SecretKey::parse(&text).expect("valid");
        let sealer = Sealer::new(parsed.clone(), Some(parsed.clone()));
        for shown in [format!("{parsed:?}"), format!("{sealer:?}")] {
            assert!(!shown.contains(&text[..8]), "{shown}");
        }
    }

    #[test]
    fn sealed_data_opens_for_its_record_only_and_never_repeats() {
        let sealer = Sealer::new(key(7), None);
        let a = sealer.seal(Purpose::TotpSeed, "user-a", b"seed");
        let again = sealer.seal(Purpose::TotpSeed, "user-a", b"seed");
        assert_ne!(a, again, "a fresh nonce each time");
        assert!(!a.windows(4).any(|w| w == b"seed"), "the plaintext is not in the sealed value");
        assert_eq!(sealer.open(Purpose::TotpSeed, "user-a", &a), Ok(b"seed".to_vec()));
        assert_eq!(sealer.open(Purpose::TotpSeed, "user-b", &a), Err(OpenError::Tampered));
    }

    #[test]
    fn a_changed_or_truncated_value_is_refused() {
        let sealer = Sealer::new(key(7), None);
        let sealed = sealer.seal(Purpose::TotpSeed, "user-a", b"seed");
        for i in 1 + KEY_ID_BYTES..sealed.len() {
            let mut changed = sealed.clone();
            changed[i] ^= 1;
            assert_eq!(sealer.open(Purpose::TotpSeed, "user-a", &changed), Err(OpenError::Tampered), "byte {i}");
        }
        assert_eq!(sealer.open(Purpose::TotpSeed, "user-a", &sealed[..20]), Err(OpenError::Malformed));
        assert_eq!(sealer.open(Purpose::TotpSeed, "user-a", &[]), Err(OpenError::Malformed));
    }

    #[test]
    fn a_rotated_key_still_opens_old_data_until_it_is_resealed() {
        let before = Sealer::new(key(1), None);
        let old = before.seal(Purpose::TotpSeed, "user-a", b"seed");

        let rotated = Sealer::new(key(2), Some(key(1)));
        assert_eq!(rotated.open(Purpose::TotpSeed, "user-a", &old), Ok(b"seed".to_vec()));
        assert!(rotated.needs_resealing(Purpose::TotpSeed, &old));
        let resealed = rotated.seal(Purpose::TotpSeed, "user-a", b"seed");
        assert!(!rotated.needs_resealing(Purpose::TotpSeed, &resealed));

        let without_previous = Sealer::new(key(2), None);
        assert_eq!(without_previous.open(Purpose::TotpSeed, "user-a", &old), Err(OpenError::UnknownKey));
        assert_eq!(without_previous.open(Purpose::TotpSeed, "user-a", &resealed), Ok(b"seed".to_vec()));
    }
}
