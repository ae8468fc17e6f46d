//! Access tokens (JWTs per RFC 9068: `typ: at+jwt`) and ID tokens (OpenID Connect Core §2), issued with the current
//! signing key and checked against the published ones, through `jsonwebtoken`.

use jsonwebtoken::{Algorithm, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::server::oauth::{keys, scopes::Scopes};
use crate::server::{platform::clock, state::AppState};

/// What RFC 9068 puts in the `typ` header of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The audience of every access token: the API.
pub fn audience(state: &AppState) -> String {
    state.config.app_url.join("/api/v1")
}

/// The issuer: `APP_URL`, exactly as discovery states it.
pub fn issuer(state: &AppState) -> String {
    state.config.app_url.origin()
}

/// An access token's claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The person's id, or, for a client credentials token, the app's.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The authorization the token was issued under (absent for client credentials): the API checks it still
    /// stands, so revoking it stops the token from the next request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// Signs a new access token; returns it and its lifetime in seconds.
pub fn access_token(
    state: &AppState,
    subject: &str,
    client_id: &str,
    scopes: &Scopes,
    sid: Option<&str>,
    auth_time: Option<i64>,
) -> (String, i64) {
    let lifetime = state.config.oauth.access_token_lifetime.as_secs() as i64;
    let now = clock::now();
    let claims = AccessClaims {
        iss: issuer(state),
        sub: subject.to_owned(),
        aud: audience(state),
        client_id: client_id.to_owned(),
        scope: scopes.to_string(),
        jti: clock::new_id(),
        iat: now,
        exp: now + lifetime,
        sid: sid.map(str::to_owned),
        auth_time,
    };
    (sign(state, keys::ALGORITHM, ACCESS_TOKEN_TYPE, &claims), lifetime)
}

/// An ID token's claims.
#[derive(Clone, Debug, Serialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<String>,
    /// `urn:gatehouse:acr:1fa` or `…:2fa`: what the session's methods add up to.
    pub acr: &'static str,
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Signs an ID token with `alg`, the app's `id_token_signed_response_alg`.
pub fn id_token(state: &AppState, alg: Algorithm, claims: &IdClaims) -> String {
    sign(state, alg, "JWT", claims)
}

/// A logout token's claims (OpenID Connect Back-Channel Logout 1.0 §2.4): no `nonce`, the back-channel logout event.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// Signs a logout token (`typ: logout+jwt`, so it can never pass for an ID or access token) with `alg`, the app's ID
/// token algorithm: Back-Channel Logout 1.0 §2.4 signs logout tokens as ID tokens are, and the app checks them alike.
pub fn logout_token(state: &AppState, alg: Algorithm, claims: &LogoutClaims) -> String {
    sign(state, alg, "logout+jwt", claims)
}

fn sign(state: &AppState, alg: Algorithm, typ: &str, claims: &impl Serialize) -> String {
    let key = state.keys.current(alg);
    let mut header = Header::new(key.algorithm);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid.clone());
    key.sign(&header, claims)
}

/// Why an access token was refused. The caller is told "expired" or "invalid"; the log says which check failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("expired")]
    Expired,
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks an access token's signature, `typ`, `alg`, `iss`, `aud`, `exp` and `nbf` (with a minute's leeway): no
/// database read unless it names a key this instance has not seen.
pub async fn verify_access_token(state: &AppState, token: &str) -> Result<AccessClaims, AccessTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AccessTokenError::Invalid("not a JWT"))?;
    let typ = header.typ.as_deref().unwrap_or_default().to_ascii_lowercase();
    if typ != ACCESS_TOKEN_TYPE && typ != "application/at+jwt" {
        return Err(AccessTokenError::Invalid("not an access token (typ)"));
    }
    if header.alg != keys::ALGORITHM {
        return Err(AccessTokenError::Invalid("algorithm not accepted"));
    }
    let kid = header.kid.ok_or(AccessTokenError::Invalid("no key id"))?;
    let key = state.keys.find_or_reload(&state.db, &kid).await.ok_or(AccessTokenError::Invalid("unknown key"))?;
    if key.algorithm != keys::ALGORITHM {
        return Err(AccessTokenError::Invalid("algorithm not accepted"));
    }
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some(claims) = verified::recall(&digest, &key) {
        // These exact bytes passed every check below under this very key; only the time can have changed.
        return match claims.exp.saturating_add(keys::LEEWAY_SECS as i64) < clock::now() {
            true => Err(AccessTokenError::Expired),
            false => Ok(claims),
        };
    }
    let mut validation = Validation::new(keys::ALGORITHM);
    validation.leeway = keys::LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer(state)]);
    validation.set_audience(&[audience(state)]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    match jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation) {
        Ok(data) => {
            verified::remember(digest, &key, &data.claims);
            Ok(data.claims)
        }
        Err(error) => Err(match error.kind() {
            ErrorKind::ExpiredSignature => AccessTokenError::Expired,
            ErrorKind::ImmatureSignature => AccessTokenError::Invalid("not valid yet"),
            ErrorKind::InvalidAudience => AccessTokenError::Invalid("wrong audience"),
            ErrorKind::InvalidIssuer => AccessTokenError::Invalid("wrong issuer"),
            ErrorKind::InvalidSignature => AccessTokenError::Invalid("bad signature"),
            ErrorKind::InvalidAlgorithm => AccessTokenError::Invalid("algorithm not accepted"),
            ErrorKind::MissingRequiredClaim(_) => AccessTokenError::Invalid("a required claim is missing"),
            _ => AccessTokenError::Invalid("malformed"),
        }),
    }
}

/// What an `id_token_hint` says, once its signature is checked (its expiry is not: a hint is often old).
#[derive(Clone, Debug, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: String,
    pub sid: Option<String>,
}

/// Checks an ID token Gatehouse issued, for RP-initiated logout: signature, `typ` JWT, issuer. `None` when it is not
/// one of ours.
pub async fn verify_id_token_hint(state: &AppState, token: &str) -> Option<IdTokenHint> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !keys::ALGORITHMS.contains(&header.alg) || header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
    {
        return None;
    }
    let key = state.keys.find_or_reload(&state.db, header.kid.as_deref()?).await?;
    // The key's own algorithm, never the one the header claims.
    if key.algorithm != header.alg {
        return None;
    }
    let mut validation = Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[issuer(state)]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdTokenHint>(token, &key.decoding, &validation).ok().map(|data| data.claims)
}

/// Access tokens already checked, so an app calling the API with the same token again and again pays for its ES256
/// signature once (an ECDSA verification was nine tenths of such a request's CPU: `make bench`'s `api-jwt` row ran at a
/// fortieth of a personal access token's). Keyed by the SHA-256 of the token's exact bytes, with the key that verified
/// it: a hit needs the very same key object still in the ring (a reload or a retired key ends its entries), and the
/// expiry is checked again on every hit. Whether the authorization still stands is not remembered here: the caller
/// checks it on every request. Bounded: past [`MAX_VERIFIED`] entries, expired ones go, then all.
mod verified {
    use std::{
        collections::HashMap,
        sync::{Arc, LazyLock, Mutex, PoisonError, Weak},
    };

    use super::{AccessClaims, keys::SigningKey};
    use crate::server::platform::clock;

    pub const MAX_VERIFIED: usize = 10_000;

    type Entries = HashMap<[u8; 32], (Weak<SigningKey>, AccessClaims)>;
    static ENTRIES: LazyLock<Mutex<Entries>> = LazyLock::new(Mutex::default);

    pub fn recall(digest: &[u8; 32], key: &Arc<SigningKey>) -> Option<AccessClaims> {
        let entries = ENTRIES.lock().unwrap_or_else(PoisonError::into_inner);
        let (by, claims) = entries.get(digest)?;
        std::ptr::eq(by.as_ptr(), Arc::as_ptr(key)).then(|| claims.clone())
    }

    pub fn remember(digest: [u8; 32], key: &Arc<SigningKey>, claims: &AccessClaims) {
        let mut entries = ENTRIES.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_VERIFIED {
            let now = clock::now();
            entries.retain(|_, (by, claims)| by.strong_count() > 0 && claims.exp >= now);
            if entries.len() >= MAX_VERIFIED {
                entries.clear();
            }
        }
        entries.insert(digest, (Arc::downgrade(key), claims.clone()));
    }
}
