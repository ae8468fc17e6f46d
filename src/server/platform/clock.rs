//! Time and randomness, in one place: Unix seconds for the database, URL-safe random strings for ids and secrets.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// Now, in Unix seconds (UTC).
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `bytes` of operating-system randomness, base64url-encoded without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source is available");
    URL_SAFE_NO_PAD.encode(buffer)
}

/// An opaque id for a database row: 128 random bits.
pub fn new_id() -> String {
    random_token(16)
}
