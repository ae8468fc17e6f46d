//! Google as a transmitter of security events (Cross-Account Protection): its RISC configuration and keys, fetched
//! on first use and kept (an unknown `kid` refetches the keys, at most once a minute), and the checks every security
//! event token passes before [`risc`](super::risc) acts on it. The RFC 8935 error answers are here too.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::server::{
    auth::{
        capped,
        logout_token::{self, LogoutTokenError},
        oidc::ALLOWED_ALGS,
        provider_keys::ProviderKeys,
    },
    oauth::wire::no_store,
    platform::{clock, single_use},
};

/// How old a security event token may be: Google retries delivery for a while.
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;
pub const LEEWAY_SECS: i64 = 60;
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Google as a transmitter of security events: where its configuration is, and what it said.
pub struct Transmitter {
    configuration_url: String,
    client_id: String,
    http: reqwest::Client,
    known: Mutex<Option<Known>>,
}

struct Known {
    issuer: String,
    jwks_uri: String,
    keys: ProviderKeys,
    refetched_at: Instant,
}

#[derive(Deserialize)]
struct Configuration {
    issuer: String,
    jwks_uri: String,
}

impl Transmitter {
    pub fn new(issuer: &str, client_id: &str, http: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            configuration_url: format!("{}/.well-known/risc-configuration", issuer.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            http,
            known: Mutex::new(None),
        })
    }

    /// The configuration's issuer and keys, fetched on first use; with `refetch`, the keys again (at most once a
    /// minute).
    async fn known(&self, refetch: bool) -> Result<(String, ProviderKeys), Refusal> {
        let mut known = self.known.lock().await;
        let stale = known.as_ref().is_none_or(|k| refetch && k.refetched_at.elapsed() >= REFETCH_INTERVAL);
        if stale {
            let unavailable = |e: String| {
                tracing::warn!(error = %e, url = self.configuration_url, "Google's RISC configuration is unavailable");
                Refusal::unavailable()
            };
            let (issuer, jwks_uri) = match known.as_ref() {
                Some(k) => (k.issuer.clone(), k.jwks_uri.clone()),
                None => {
                    let body = self.fetch(&self.configuration_url).await.map_err(unavailable)?;
                    let configuration: Configuration =
                        serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))?;
                    (configuration.issuer, configuration.jwks_uri)
                }
            };
            let body = self.fetch(&jwks_uri).await.map_err(unavailable)?;
            let keys: ProviderKeys = serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))?;
            *known = Some(Known { issuer, jwks_uri, keys, refetched_at: Instant::now() });
        }
        let known = known.as_ref().expect("set above");
        Ok((known.issuer.clone(), known.keys.clone()))
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self.http.get(url).send().await.map_err(|e| capped::describe_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        capped::body(response).await.map_err(|e| e.to_string())
    }

    /// Checks a security event token; its claims when it passes.
    pub async fn verify(&self, token: &str) -> Result<Set, Refusal> {
        let (issuer, keys) = self.known(false).await?;
        let claims = match logout_token::signed_claims(token, &ALLOWED_ALGS, &keys, is_set_type) {
            Err(LogoutTokenError::UnknownKey) => {
                let (_, keys) = self.known(true).await?;
                logout_token::signed_claims(token, &ALLOWED_ALGS, &keys, is_set_type)
            }
            other => other,
        }
        .map_err(Refusal::from_signature)?;
        Set::from_claims(&claims, &issuer, &self.client_id, clock::now())
    }
}

/// `secevent+jwt` (RFC 8417 §2.3), with or without `application/`, or plain `JWT`.
fn is_set_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ == "secevent+jwt" || typ == "jwt"
}

/// A checked security event token.
#[derive(Debug)]
pub struct Set {
    pub jti: String,
    pub issued_at: i64,
    pub events: serde_json::Map<String, Value>,
}

impl Set {
    fn from_claims(
        claims: &serde_json::Map<String, Value>,
        issuer: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Self, Refusal> {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(Refusal::new("invalid_issuer", "iss is not Google's RISC issuer"));
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == client_id,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(client_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(Refusal::new("invalid_audience", "aud is not this site's Google client id"));
        }
        let issued_at = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| Refusal::new("invalid_request", "iat is missing"))?;
        if issued_at > now + LEEWAY_SECS || issued_at < now - MAX_AGE_SECS {
            return Err(Refusal::new("invalid_request", "iat is in the future or more than a week ago"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| !jti.is_empty() && jti.len() <= single_use::MAX_VALUE_LEN)
            .ok_or_else(|| Refusal::new("invalid_request", "jti is missing"))?
            .to_owned();
        let events = match claims.get("events") {
            Some(Value::Object(events)) if !events.is_empty() => events.clone(),
            _ => return Err(Refusal::new("invalid_request", "events are missing")),
        };
        Ok(Self { jti, issued_at, events })
    }
}

/// An RFC 8935 error answer.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub err: &'static str,
    pub description: String,
}

impl Refusal {
    pub fn new(err: &'static str, description: &str) -> Self {
        Self { status: StatusCode::BAD_REQUEST, err, description: description.to_owned() }
    }

    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            err: "temporarily_unavailable",
            description: "Google's keys cannot be fetched right now".into(),
        }
    }

    fn from_signature(error: LogoutTokenError) -> Self {
        match &error {
            LogoutTokenError::UnknownKey => Self::new("invalid_key", &error.to_string()),
            LogoutTokenError::Invalid(reason) if reason.contains("signature") || reason.contains("key") => {
                Self::new("invalid_key", reason)
            }
            LogoutTokenError::Invalid(reason) => Self::new("invalid_request", reason),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, no_store(), Json(json!({ "err": self.err, "description": self.description }))).into_response()
    }
}
