//! The configured providers, each set up lazily: a provider that cannot be reached (or whose discovery document is
//! wrong) is disabled with a log line and retried on a later sign-in, while the app keeps running.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use crate::model::auth::ProviderSummary;
use crate::server::auth::{
    attempt::LoginAttempt,
    flow::{Answer, AuthorizationRequest, CallbackError, ProviderTokens},
    github::GitHubProvider,
    oidc::{OidcProvider, RefreshError},
    transmitter::Transmitter,
};
use crate::server::platform::config::{AppUrl, Protocol, ProviderSettings};

/// How long a provider that failed to set up stays disabled before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub enum ProviderClient {
    // Boxed: discovery metadata is large, and there is one of these per provider.
    Oidc(Box<OidcProvider>),
    GitHub(GitHubProvider),
}

impl ProviderClient {
    /// Where to send the browser; `fresh` asks the provider to check who it is again even when it is signed in
    /// there (`prompt=login`; GitHub has no such parameter and may answer at once for a browser signed in to it).
    pub fn authorization_request(&self, fresh: bool) -> AuthorizationRequest {
        match self {
            ProviderClient::Oidc(p) => p.authorization_request(fresh),
            ProviderClient::GitHub(p) => p.authorization_request(),
        }
    }

    /// RFC 9207: whether every authorization response from this provider must carry `iss`.
    pub fn requires_iss_parameter(&self) -> bool {
        match self {
            ProviderClient::Oidc(p) => p.iss_parameter_supported(),
            ProviderClient::GitHub(_) => false,
        }
    }

    /// Exchanges the code and checks the answer: who signed in, and in which of the provider's sessions.
    pub async fn finish(&self, code: &str, attempt: &LoginAttempt) -> Result<Answer, CallbackError> {
        match self {
            ProviderClient::Oidc(p) => {
                let nonce =
                    attempt.nonce.as_deref().ok_or(CallbackError::Misconfigured("attempt has no nonce".into()))?;
                let fresh_since = attempt.confirm_for.as_ref().map(|_| attempt.started_at);
                p.finish(code, &attempt.pkce_verifier, nonce, fresh_since).await
            }
            ProviderClient::GitHub(p) => p.finish(code, &attempt.pkce_verifier).await,
        }
    }

    /// A new access token (and perhaps a new refresh token) for a kept `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, RefreshError> {
        match self {
            ProviderClient::Oidc(p) => p.refresh(refresh_token).await,
            ProviderClient::GitHub(p) => p.refresh(refresh_token).await,
        }
    }

    /// Revokes kept tokens at the provider, where it can: an OpenID provider's `revocation_endpoint` (RFC 7009, the
    /// refresh token first: revoking it ends the grant and, §2.1, its access tokens); GitHub's grant deletion. Says
    /// what it did for the log: each token's hint and whether the provider revoked it, or why not.
    pub async fn revoke(
        &self,
        access: Option<String>,
        refresh: Option<String>,
    ) -> Vec<(&'static str, Result<bool, String>)> {
        match self {
            ProviderClient::Oidc(p) => {
                let mut done = Vec::new();
                let tokens =
                    refresh.map(|t| (t, "refresh_token")).into_iter().chain(access.map(|t| (t, "access_token")));
                for (token, hint) in tokens {
                    let outcome = p.revoke(&token, hint).await;
                    let stop = outcome == Ok(false); // no revocation endpoint
                    done.push((hint, outcome));
                    if stop {
                        break;
                    }
                }
                done
            }
            ProviderClient::GitHub(p) => match access {
                Some(access) => vec![("grant", p.revoke_grant(&access).await)],
                None => Vec::new(),
            },
        }
    }

    /// The OpenID provider behind this client, if it is one (GitHub is not).
    pub fn oidc(&self) -> Option<&OidcProvider> {
        match self {
            ProviderClient::Oidc(p) => Some(p),
            ProviderClient::GitHub(_) => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ProviderError {
    Unknown,
    Unavailable,
}

pub struct Providers {
    entries: Vec<Entry>,
    /// Google as a transmitter of security events, when `GOOGLE_RISC` is on.
    risc: Option<Arc<Transmitter>>,
    /// Shared by all providers: a timeout on every request, and redirects never followed.
    http: reqwest::Client,
}

struct Entry {
    settings: ProviderSettings,
    redirect_uri: String,
    state: Mutex<State>,
}

enum State {
    Ready(Arc<ProviderClient>),
    Unavailable { retry_at: Instant },
}

impl Providers {
    pub fn new(settings: &[ProviderSettings], app_url: &AppUrl, http: reqwest::Client) -> Arc<Self> {
        let entries = settings
            .iter()
            .map(|s| Entry {
                settings: s.clone(),
                redirect_uri: app_url.join(&format!("/auth/callback/{}", s.id)),
                state: Mutex::new(State::Unavailable { retry_at: Instant::now() }),
            })
            .collect();
        let risc = settings.iter().find(|s| s.risc).and_then(|s| match &s.protocol {
            Protocol::OpenIdConnect { issuer, .. } => {
                Some(Transmitter::new(issuer.as_str(), &s.client_id, http.clone()))
            }
            Protocol::GitHub { .. } => None,
        });
        Arc::new(Self { entries, risc, http })
    }

    /// Sets every provider up now (in the background at start-up), so problems show in the log straight away.
    pub async fn warm_up(&self) {
        for entry in &self.entries {
            let _ = self.get(entry.settings.id).await;
        }
    }

    pub fn summaries(&self) -> Vec<ProviderSummary> {
        self.entries
            .iter()
            .map(|e| ProviderSummary { id: e.settings.id.into(), label: e.settings.label.clone() })
            .collect()
    }

    /// Google's security events, when they are received.
    pub fn risc(&self) -> Option<&Transmitter> {
        self.risc.as_deref()
    }

    /// Whether back-channel logout from provider `id` is on (and `id` a configured provider).
    pub fn backchannel_logout(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.settings.id == id && e.settings.backchannel_logout)
    }

    pub fn label(&self, id: &str) -> Option<&str> {
        self.entries.iter().find(|e| e.settings.id == id).map(|e| e.settings.label.as_str())
    }

    pub async fn get(&self, id: &str) -> Result<Arc<ProviderClient>, ProviderError> {
        let entry = self.entries.iter().find(|e| e.settings.id == id).ok_or(ProviderError::Unknown)?;
        let mut state = entry.state.lock().await;
        match &*state {
            State::Ready(client) => return Ok(client.clone()),
            State::Unavailable { retry_at } if Instant::now() < *retry_at => return Err(ProviderError::Unavailable),
            State::Unavailable { .. } => {}
        }
        match self.connect(entry).await {
            Ok(client) => {
                tracing::info!(provider = id, "sign-in provider ready");
                let client = Arc::new(client);
                *state = State::Ready(client.clone());
                Ok(client)
            }
            Err(error) => {
                tracing::error!(provider = id, %error, retry_in_secs = RETRY_AFTER.as_secs(), "sign-in provider disabled");
                *state = State::Unavailable { retry_at: Instant::now() + RETRY_AFTER };
                Err(ProviderError::Unavailable)
            }
        }
    }

    async fn connect(&self, entry: &Entry) -> Result<ProviderClient, crate::server::auth::oidc::DiscoveryError> {
        let s = &entry.settings;
        match &s.protocol {
            Protocol::OpenIdConnect { issuer, scopes } => OidcProvider::discover(
                s.id,
                issuer.as_str(),
                &s.client_id,
                s.client_secret.clone(),
                scopes.clone(),
                entry.redirect_uri.clone(),
                self.http.clone(),
            )
            .await
            .map(|provider| ProviderClient::Oidc(Box::new(provider.keeping_tokens(s.keep_tokens)))),
            Protocol::GitHub { web_url, api_url } => Ok(ProviderClient::GitHub(
                GitHubProvider::new(
                    &s.client_id,
                    s.client_secret.clone(),
                    web_url,
                    api_url,
                    entry.redirect_uri.clone(),
                    self.http.clone(),
                )
                .keeping_tokens(s.keep_tokens),
            )),
        }
    }
}
