//! OpenID Connect sign-in (the `oidc`, `google` and `dev` providers): discovery, the authorization request, and
//! full ID-token validation. `openidconnect` does the validation it implements (signature against the provider's
//! JWKS, `iss`, `aud` with no untrusted extra audience, `exp`, `nonce`, the algorithm allow-list); this module adds
//! what it leaves to its caller (`iat` not in the future, `azp`, one rate-limited JWKS refetch on an unknown key)
//! and checks that UserInfo speaks of the same `sub`.

use std::{
    sync::RwLock,
    time::{Duration, Instant},
};

use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenVerifier, JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreUserInfoClaims,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::server::auth::{
    flow::{Answer, AuthorizationRequest, CallbackError, ProviderTokens},
    logout_token::{self, LogoutClaims, LogoutTokenError},
    provider_keys::{ProviderKey, ProviderKeys},
};
use crate::server::{auth::capped::describe_reqwest, people::users::Identity, platform::clock};

/// Signature algorithms accepted for ID tokens: asymmetric only. `none` cannot be expressed, and an HMAC algorithm
/// is refused before any key is chosen, so a token "signed" with the provider's public key as an HMAC secret fails.
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// How far in the future `iat` may be, for clock skew.
const CLOCK_LEEWAY: Duration = Duration::from_secs(60);
/// An unknown `kid` triggers at most one JWKS refetch per this interval, so forged tokens cannot hammer the provider.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A discovered OpenID provider, ready to start and finish sign-ins.
pub struct OidcProvider {
    id: &'static str,
    client_id: ClientId,
    client_secret: SecretString,
    scopes: Vec<String>,
    metadata: CoreProviderMetadata,
    /// RFC 9207: the provider promises an `iss` parameter on every authorization response.
    iss_parameter_supported: bool,
    redirect_uri: RedirectUrl,
    jwks: RwLock<Jwks>,
    http: reqwest::Client,
    /// Whether the person's tokens here are kept (`PROVIDER_TOKENS=keep`): then offline access is asked for.
    keep_tokens: bool,
    /// Where tokens are revoked (RFC 7009), if the provider has such an endpoint.
    revocation_endpoint: Option<String>,
}

struct Jwks {
    keys: ProviderKeys,
    /// When an unknown `kid` last caused a refetch.
    refetched_at: Option<Instant>,
}

/// Why a provider could not be set up from its discovery document.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the discovery document is not valid: {0}")]
    Invalid(String),
    #[error("the discovery document names issuer {found:?}, but {expected:?} is configured")]
    IssuerMismatch { expected: String, found: String },
}

/// What the discovery document says beyond `openidconnect`'s core metadata.
#[derive(Deserialize)]
struct Extra {
    /// RFC 9207.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    /// RFC 7009 (RFC 8414 metadata).
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

impl OidcProvider {
    /// Fetches the discovery document and the signing keys. The document must name exactly the configured issuer.
    pub async fn discover(
        id: &'static str,
        issuer: &str,
        client_id: &str,
        client_secret: SecretString,
        scopes: Vec<String>,
        redirect_uri: String,
        http: reqwest::Client,
    ) -> Result<Self, DiscoveryError> {
        let issuer = issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let fetch_error = |reason: String| DiscoveryError::Fetch { url: url.clone(), reason };
        let response = http.get(&url).send().await.map_err(|e| fetch_error(describe_reqwest(&e)))?;
        if !response.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", response.status())));
        }
        let body = crate::server::auth::capped::body(response).await.map_err(|e| fetch_error(e.to_string()))?;
        let metadata: CoreProviderMetadata =
            serde_json::from_slice(&body).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
        let extra: Extra = serde_json::from_slice(&body).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;

        let found = metadata.issuer().as_str();
        if found.trim_end_matches('/') != issuer {
            return Err(DiscoveryError::IssuerMismatch { expected: issuer.to_owned(), found: found.to_owned() });
        }
        let keys = fetch_jwks(&http, metadata.jwks_uri()).await?;
        let redirect_uri = RedirectUrl::new(redirect_uri).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;

        Ok(Self {
            id,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret,
            scopes,
            metadata,
            iss_parameter_supported: extra.authorization_response_iss_parameter_supported,
            revocation_endpoint: extra.revocation_endpoint,
            redirect_uri,
            jwks: RwLock::new(Jwks { keys, refetched_at: None }),
            http,
            keep_tokens: false,
        })
    }

    /// The same provider, keeping the person's tokens (or not).
    pub fn keeping_tokens(self, keep_tokens: bool) -> Self {
        Self { keep_tokens, ..self }
    }

    pub fn issuer(&self) -> &str {
        self.metadata.issuer().as_str()
    }

    pub fn iss_parameter_supported(&self) -> bool {
        self.iss_parameter_supported
    }

    fn client(&self) -> Client {
        CoreClient::from_provider_metadata(
            self.metadata.clone(),
            self.client_id.clone(),
            Some(ClientSecret::new(self.client_secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }

    /// The URL to send the browser to, with a fresh state, nonce and PKCE challenge (S256).
    pub fn authorization_request(&self, fresh: bool) -> AuthorizationRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            || CsrfToken::new(clock::random_token(32)),
            || Nonce::new(clock::random_token(32)),
        );
        for scope in self.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if fresh {
            // Check again, and say when (`max_age` makes `auth_time` required in the ID token, OIDC Core §3.1.2.1).
            request =
                request.add_prompt(openidconnect::core::CoreAuthPrompt::Login).set_max_age(std::time::Duration::ZERO);
        }
        if self.keep_tokens {
            // A refresh token is given only with consent to offline access: Google's own parameter, and the
            // `offline_access` scope elsewhere (OIDC Core §11), which providers honour only with `prompt=consent`.
            if self.id == "google" {
                request = request.add_extra_param("access_type", "offline");
            }
            if self.id == "google" || self.scopes.iter().any(|s| s == "offline_access") {
                request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Consent);
            }
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        AuthorizationRequest {
            url: url.to_string(),
            issuer: self.issuer().to_owned(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: Some(nonce.secret().clone()),
        }
    }

    /// Exchanges the code at this provider's token endpoint and validates everything that comes back.
    /// With `fresh_since` (a confirmation of identity), the ID token's `auth_time` must show the person signed in
    /// again at the provider since then.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        fresh_since: Option<i64>,
    ) -> Result<Answer, CallbackError> {
        let client = self.client();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| CallbackError::Misconfigured("the provider has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&crate::server::auth::capped::Capped(&self.http))
            .await
            .map_err(crate::server::auth::flow::token_error)?;

        let id_token =
            response.id_token().ok_or_else(|| CallbackError::IdToken("the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match self.verify(id_token, &nonce) {
            Err(VerifyError::UnknownKey) if self.may_refetch_keys() => {
                let keys = fetch_jwks(&self.http, self.metadata.jwks_uri())
                    .await
                    .map_err(|e| CallbackError::IdToken(format!("refetching the provider's keys failed: {e}")))?;
                self.jwks.write().expect("JWKS lock is never poisoned").keys = keys;
                self.verify(id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| CallbackError::IdToken(e.to_string()))?;

        if let Some(since) = fresh_since {
            let signed_in_at = claims.auth_time().map(|at| at.timestamp());
            if signed_in_at.is_none_or(|at| at < since - CLOCK_LEEWAY.as_secs() as i64) {
                tracing::warn!(?signed_in_at, since, "asked to sign the person in again, the provider did not");
                return Err(CallbackError::NotFresh);
            }
        }

        if let Some(azp) = claims.authorized_party()
            && azp.as_str() != self.client_id.as_str()
        {
            return Err(CallbackError::IdToken(format!("azp {:?} is not this client", azp.as_str())));
        }

        let userinfo: Option<CoreUserInfoClaims> =
            match client.user_info(response.access_token().clone(), Some(claims.subject().clone())) {
                Ok(request) => {
                    let capped = crate::server::auth::capped::Capped(&self.http);
                    Some(request.request_async(&capped).await.map_err(|e| CallbackError::UserInfo(e.to_string()))?)
                }
                Err(_) => None, // The provider has no UserInfo endpoint: the ID token is all there is.
            };
        let identity = identity(self.id, self.issuer(), &claims, userinfo.as_ref());
        let tokens = self.keep_tokens.then(|| ProviderTokens {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_at: response.expires_in().map(|d| clock::now() + d.as_secs() as i64),
            scopes: scopes_of(response.scopes()),
        });
        Ok(Answer { identity, sid: session_id(id_token), tokens })
    }

    /// Revokes `token` at the provider (RFC 7009), authenticating as this client; false when the provider has no
    /// revocation endpoint.
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<bool, String> {
        let Some(endpoint) = &self.revocation_endpoint else { return Ok(false) };
        let response = self
            .http
            .post(endpoint)
            .basic_auth(self.client_id.as_str(), Some(self.client_secret.expose_secret()))
            .form(&[("token", token), ("token_type_hint", hint)])
            .send()
            .await
            .map_err(|e| describe_reqwest(&e))?;
        match response.status() {
            status if status.is_success() => Ok(true),
            status => Err(format!("HTTP {status}")),
        }
    }

    /// A new access token (and perhaps a new refresh token) for `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, RefreshError> {
        let (client, refresh_token) = (self.client(), openidconnect::RefreshToken::new(refresh_token.to_owned()));
        let request = client
            .exchange_refresh_token(&refresh_token)
            .map_err(|_| RefreshError::Other("the provider has no token endpoint".into()))?;
        let response =
            request.request_async(&crate::server::auth::capped::Capped(&self.http)).await.map_err(|e| match &e {
                openidconnect::RequestTokenError::ServerResponse(r)
                    if *r.error() == openidconnect::core::CoreErrorResponseType::InvalidGrant =>
                {
                    RefreshError::InvalidGrant
                }
                _ => RefreshError::Other(crate::server::auth::flow::token_error(e).to_string()),
            })?;
        Ok(ProviderTokens {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_at: response.expires_in().map(|d| clock::now() + d.as_secs() as i64),
            scopes: scopes_of(response.scopes()),
        })
    }

    /// Checks a back-channel logout token from this provider (see [`logout_token`]); an unknown key causes one
    /// rate-limited refetch of the provider's keys, as for ID tokens.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        let check = || {
            let keys = self.jwks.read().expect("JWKS lock is never poisoned").keys.clone();
            logout_token::check(
                token,
                self.issuer(),
                self.client_id.as_str(),
                &self.allowed_algs(),
                &keys,
                clock::now(),
            )
        };
        match check() {
            Err(LogoutTokenError::UnknownKey) if self.may_refetch_keys() => {
                let keys = fetch_jwks(&self.http, self.metadata.jwks_uri())
                    .await
                    .map_err(|e| LogoutTokenError::Invalid(format!("refetching the provider's keys failed: {e}")))?;
                self.jwks.write().expect("JWKS lock is never poisoned").keys = keys;
                check()
            }
            other => other,
        }
    }

    /// The algorithms accepted from this provider: asymmetric, and among those it says it signs ID tokens with.
    fn allowed_algs(&self) -> Vec<CoreJwsSigningAlgorithm> {
        ALLOWED_ALGS
            .into_iter()
            .filter(|alg| self.metadata.id_token_signing_alg_values_supported().contains(alg))
            .collect()
    }

    fn verify(
        &self,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: &Nonce,
    ) -> Result<CoreIdTokenClaims, VerifyError> {
        let keys = self.jwks.read().expect("JWKS lock is never poisoned").keys.clone();
        let allowed = self.allowed_algs();
        let verifier = IdTokenVerifier::<ProviderKey>::new_public_client(
            self.client_id.clone(),
            self.metadata.issuer().clone(),
            keys,
        )
        .set_allowed_algs(allowed)
        .set_issue_time_verifier_fn(|iat| {
            if iat > chrono::Utc::now() + CLOCK_LEEWAY { Err(format!("issued in the future ({iat})")) } else { Ok(()) }
        });
        id_token.claims(&verifier, nonce).cloned().map_err(|error| match error {
            openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            ) => VerifyError::UnknownKey,
            other => VerifyError::Invalid(other.to_string()),
        })
    }

    /// Whether an unknown key may trigger a refetch now; claims the slot if so.
    fn may_refetch_keys(&self) -> bool {
        let mut jwks = self.jwks.write().expect("JWKS lock is never poisoned");
        match jwks.refetched_at {
            Some(at) if at.elapsed() < JWKS_REFETCH_INTERVAL => false,
            _ => {
                jwks.refetched_at = Some(Instant::now());
                true
            }
        }
    }
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The provider refused the refresh token: revoked, expired, or rotated by a sibling.
    #[error("the provider refused the refresh token")]
    InvalidGrant,
    #[error("{0}")]
    Other(String),
}

fn scopes_of(scopes: Option<&Vec<Scope>>) -> String {
    scopes.map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
enum VerifyError {
    #[error("no signing key matches the token (unknown kid)")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
}

async fn fetch_jwks(http: &reqwest::Client, url: &JsonWebKeySetUrl) -> Result<ProviderKeys, DiscoveryError> {
    let fetch_error = |reason: String| DiscoveryError::Fetch { url: url.to_string(), reason };
    let response = http.get(url.as_str()).send().await.map_err(|e| fetch_error(describe_reqwest(&e)))?;
    if !response.status().is_success() {
        return Err(fetch_error(format!("HTTP {}", response.status())));
    }
    let body = crate::server::auth::capped::body(response).await.map_err(|e| fetch_error(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| DiscoveryError::Invalid(format!("JWKS: {e}")))
}

/// The ID token's `sid` (OpenID Connect Front- and Back-Channel Logout): the provider's session, for a logout token
/// naming it later. Read from the token once its signature and claims have been checked; a value longer than a
/// session id would be is ignored.
fn session_id(id_token: &openidconnect::core::CoreIdToken) -> Option<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let token = id_token.to_string();
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims["sid"].as_str().filter(|sid| !sid.is_empty() && sid.len() <= MAX_SID_LEN).map(str::to_owned)
}

/// The longest provider session id kept.
pub const MAX_SID_LEN: usize = 255;

fn identity(
    provider: &str,
    issuer: &str,
    claims: &CoreIdTokenClaims,
    userinfo: Option<&CoreUserInfoClaims>,
) -> Identity {
    let email = userinfo.and_then(|u| u.email()).or(claims.email()).map(|e| e.as_str().to_owned());
    let email_verified = userinfo.and_then(|u| u.email_verified()).or(claims.email_verified()).unwrap_or(false);
    let name =
        userinfo.and_then(|u| u.name()).or(claims.name()).and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
    let avatar_url = userinfo
        .and_then(|u| u.picture())
        .or(claims.picture())
        .and_then(|p| p.get(None))
        .map(|p| p.as_str().to_owned())
        .filter(|p| p.starts_with("https://"));
    Identity {
        provider: provider.to_owned(),
        issuer: issuer.to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email,
        email_verified,
        name,
        avatar_url,
    }
}
