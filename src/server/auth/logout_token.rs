//! A provider's logout token (OpenID Connect Back-Channel Logout 1.0, §2.4 and §2.6), checked as an ID token is and
//! then for what makes it a logout token and nothing else: the back-channel logout event, no `nonce`, a `jti`, a
//! short life, and a `typ` that, when the provider sets one, says so. [`check`] is pure (the keys and the time are
//! given); `OidcProvider::verify_logout_token` adds the one rate-limited key refetch an unknown `kid` may cause.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{JsonWebKey, core::CoreJwsSigningAlgorithm};
use serde_json::Value;

use crate::server::auth::provider_keys::{self, ProviderKeys};

/// The event a logout token must carry (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be (its `iat`): it is sent the moment the person signs out at the provider.
pub const MAX_AGE_SECS: i64 = 120;
/// How far clocks may disagree.
pub const LEEWAY_SECS: i64 = 60;
/// The longest token read: a logout token is a few hundred bytes, one with a large RSA signature under 2 KB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The longest `sub`, `sid` or `jti` accepted.
pub const MAX_CLAIM_LEN: usize = 255;

/// What a valid logout token says: whose sessions to end, and until when its `jti` must not come again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutClaims {
    pub subject: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    /// When a replay of it would be refused by its age anyway: the `jti` is kept until then.
    pub remember_until: i64,
}

/// Why a logout token was refused: said in the 400 answer (`error_description`) and the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoutTokenError {
    #[error("no signing key matches the token (unknown kid)")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> LogoutTokenError {
    LogoutTokenError::Invalid(reason.into())
}

/// Checks `token` from the provider `issuer` for the client `client_id`: signed with one of `keys` by one of
/// `allowed` algorithms, and every claim §2.6 asks for, at Unix time `now`.
pub fn check(
    token: &str,
    issuer: &str,
    client_id: &str,
    allowed: &[CoreJwsSigningAlgorithm],
    keys: &ProviderKeys,
    now: i64,
) -> Result<LogoutClaims, LogoutTokenError> {
    let claims = signed_claims(token, allowed, keys, is_logout_type)?;
    // The claims.
    let text = |name: &str| -> Result<Option<String>, LogoutTokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::String(value)) if !value.is_empty() && value.len() <= MAX_CLAIM_LEN => Ok(Some(value.clone())),
            Some(_) => Err(invalid(format!("{name} is not a string of at most {MAX_CLAIM_LEN} characters"))),
        }
    };
    let time = |name: &str| -> Result<i64, LogoutTokenError> {
        claims.get(name).and_then(Value::as_i64).ok_or_else(|| invalid(format!("{name} is missing or not a number")))
    };
    if text("iss")?.as_deref() != Some(issuer) {
        return Err(invalid("iss is not the provider's issuer"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        // Every audience must be this client: a token also meant for another party is not ours to act on.
        Some(Value::Array(auds)) => !auds.is_empty() && auds.iter().all(|aud| aud.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid("aud is not this client"));
    }
    let issued_at = time("iat")?;
    if issued_at > now + LEEWAY_SECS {
        return Err(invalid("iat is in the future"));
    }
    if issued_at < now - MAX_AGE_SECS - LEEWAY_SECS {
        return Err(invalid(format!("the logout token is older than {MAX_AGE_SECS} seconds")));
    }
    let expires_at = time("exp")?;
    if expires_at <= now - LEEWAY_SECS {
        return Err(invalid("the logout token has expired"));
    }
    let logout_event = claims.get("events").and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !logout_event.is_some_and(Value::is_object) {
        return Err(invalid("the back-channel logout event is missing"));
    }
    if claims.contains_key("nonce") {
        return Err(invalid("a logout token must not carry a nonce"));
    }
    let jti = text("jti")?.ok_or_else(|| invalid("jti is missing"))?;
    let (subject, sid) = (text("sub")?, text("sid")?);
    if subject.is_none() && sid.is_none() {
        return Err(invalid("the logout token names neither sub nor sid"));
    }
    // A replay is refused by its age from then on; until then, by its `jti`.
    let remember_until = expires_at.min(issued_at + MAX_AGE_SECS) + 2 * LEEWAY_SECS;
    Ok(LogoutClaims { subject, sid, jti, remember_until })
}

/// The claims of `token`, a JWS signed by one of `keys` with one of `allowed` algorithms, whose header names no
/// critical extension and a type `typ_ok` accepts (or none): the checks every token a provider signs goes through.
pub fn signed_claims(
    token: &str,
    allowed: &[CoreJwsSigningAlgorithm],
    keys: &ProviderKeys,
    typ_ok: fn(&str) -> bool,
) -> Result<serde_json::Map<String, Value>, LogoutTokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the token is not a signed JWT"));
    };
    let decode = |part: &str, what: &str| -> Result<Vec<u8>, LogoutTokenError> {
        URL_SAFE_NO_PAD.decode(part).map_err(|_| invalid(format!("the token's {what} is not base64url")))
    };
    let json = |bytes: Vec<u8>, what: &str| -> Result<serde_json::Map<String, Value>, LogoutTokenError> {
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(invalid(format!("the token's {what} is not a JSON object"))),
        }
    };

    // The header: an asymmetric algorithm this provider signs ID tokens with, no extension we would have to know,
    // and a type that is a logout token's when one is given.
    let header = json(decode(header, "header")?, "header")?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(Value::String(alg_name.to_owned()))
        .ok()
        .filter(|alg| allowed.contains(alg))
        .ok_or_else(|| invalid(format!("the algorithm {alg_name:?} is not accepted")))?;
    if header.contains_key("crit") {
        return Err(invalid("the token names critical header extensions"));
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ_ok(typ) => {}
        Some(other) => return Err(invalid(format!("the token's type {other} is not accepted here"))),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(invalid("the key id is not a string")),
    };

    // The signature, by one of the provider's keys.
    let candidates = provider_keys::candidates(keys, kid, &alg);
    if candidates.is_empty() {
        return Err(if kid.is_some() { LogoutTokenError::UnknownKey } else { invalid("no key of the provider fits") });
    }
    let signature = decode(signature, "signature")?;
    let signed = &token[..header_and_payload_len(token)];
    if !candidates.iter().any(|key| key.verify_signature(&alg, signed.as_bytes(), &signature).is_ok()) {
        return Err(invalid("the signature does not verify"));
    }

    json(decode(payload, "claims")?, "claims")
}

/// `logout+jwt` (§2.4), with or without the `application/` prefix (RFC 7515 §4.1.9), in any case; plain `JWT`, which
/// says nothing, too. Anything else (an ID token's `at+jwt`, a DPoP proof's `dpop+jwt`, …) is another kind of token.
fn is_logout_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ == "logout+jwt" || typ == "jwt"
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}
