//! Small rules of the OAuth wire every endpoint shares: how secrets are made and kept, how form parameters are read,
//! and the headers a response with a token carries.

use axum::http::{HeaderValue, header};
use sha2::{Digest, Sha256};

/// The device flow's grant type (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What the database keeps of a high-entropy secret (a code, a refresh token, a client secret): its SHA-256. No
/// slow hash is needed for 256 random bits, and a lookup by hash takes the same time however much of a guess was
/// right.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new secret: a prefix that says what it is (so secret scanners and people can tell), then 256 random bits.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", crate::server::platform::clock::random_token(32))
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as RFC 6749 §5.1 asks of every response that carries a token.
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Reads `application/x-www-form-urlencoded` parameters, refusing any that comes twice (RFC 6749 §3.1, §3.2).
pub fn parameters(raw: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut map = std::collections::BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if map.insert(name.to_string(), value.to_string()).is_some() {
            return Err(format!("the parameter \u{201c}{name}\u{201d} is given more than once"));
        }
    }
    // An empty value counts as absent (RFC 6749 §3.1).
    map.retain(|_, value| !value.is_empty());
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert!(parameters("a=1&a=2").is_err());
        let map = parameters("a=1&b=&c=x%20y").expect("parses");
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        assert_eq!(map.get("b"), None);
        assert_eq!(map.get("c").map(String::as_str), Some("x y"));
    }
}
