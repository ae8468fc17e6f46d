//! GitHub sign-in: plain OAuth 2.0 (no ID token), identified by GitHub's numeric user id, never the login name.
//!
//! Written with `reqwest` rather than the `oauth2` client: GitHub answers a failed token request with HTTP 200 and an
//! `error` field, which a standards-following client reads as a malformed success.

use openidconnect::PkceCodeChallenge;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::server::auth::flow::{Answer, AuthorizationRequest, CallbackError, ProviderTokens};
use crate::server::auth::{capped::describe_reqwest, oidc::RefreshError};
use crate::server::{people::users::Identity, platform::clock};

/// Enough to read the person's profile and their verified email addresses.
const SCOPES: &str = "read:user user:email";

pub struct GitHubProvider {
    client_id: String,
    client_secret: SecretString,
    /// `https://github.com`: the issuer recorded on identities.
    web_url: String,
    api_url: String,
    redirect_uri: String,
    http: reqwest::Client,
    /// Whether the person's token is kept (`PROVIDER_TOKENS=keep`).
    keep_tokens: bool,
}

/// GitHub's token answer. An OAuth app's token never expires and has no refresh token; a GitHub App's user token
/// expires (`expires_in`, 8 hours) and comes with a refresh token. Scopes are comma-separated.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl TokenResponse {
    /// The tokens, or the error GitHub sent (with HTTP 200) as `error: description`.
    fn tokens(self) -> Result<ProviderTokens, (String, String)> {
        match self {
            TokenResponse {
                access_token: Some(access_token), error: None, refresh_token, expires_in, scope, ..
            } => Ok(ProviderTokens {
                access_token,
                refresh_token,
                expires_at: expires_in.map(|secs| clock::now() + secs),
                scopes: scope.unwrap_or_default().split(',').map(str::trim).collect::<Vec<_>>().join(" "),
            }),
            TokenResponse { error, error_description, .. } => {
                let error = error.unwrap_or_else(|| "no access token".into());
                let message = match error_description {
                    Some(description) => format!("{error}: {description}"),
                    None => error.clone(),
                };
                Err((error, message))
            }
        }
    }
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

impl GitHubProvider {
    pub fn new(
        client_id: &str,
        client_secret: SecretString,
        web_url: &Url,
        api_url: &Url,
        redirect_uri: String,
        http: reqwest::Client,
    ) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret,
            web_url: web_url.as_str().trim_end_matches('/').to_owned(),
            api_url: api_url.as_str().trim_end_matches('/').to_owned(),
            redirect_uri,
            http,
            keep_tokens: false,
        }
    }

    /// Keeps the person's token from each sign-in (`PROVIDER_TOKENS=keep`).
    pub fn keeping_tokens(self, keep_tokens: bool) -> Self {
        Self { keep_tokens, ..self }
    }

    pub fn issuer(&self) -> &str {
        &self.web_url
    }

    pub fn authorization_request(&self) -> AuthorizationRequest {
        let state = clock::random_token(32);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut url = Url::parse(&format!("{}/login/oauth/authorize", self.web_url)).expect("validated base URL");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", &state)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "true");
        AuthorizationRequest {
            url: url.into(),
            issuer: self.web_url.clone(),
            state,
            pkce_verifier: verifier.secret().clone(),
            nonce: None,
        }
    }

    pub async fn finish(&self, code: &str, pkce_verifier: &str) -> Result<Answer, CallbackError> {
        let tokens = self
            .token_request(&[
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code_verifier", pkce_verifier),
            ])
            .await
            .map_err(|e| CallbackError::from_transport("token endpoint", &e))?;
        let tokens = tokens?.tokens().map_err(|(_, message)| CallbackError::TokenEndpoint(message))?;
        let access_token = tokens.access_token.as_str();
        let user: GitHubUser = self.api(access_token, "/user").await?;
        let emails: Vec<GitHubEmail> = self.api(access_token, "/user/emails").await?;
        // Only a verified address says anything about the person; the primary one first.
        let email = emails.iter().filter(|e| e.verified).max_by_key(|e| e.primary).map(|e| e.email.clone());
        let identity = Identity {
            provider: "github".into(),
            issuer: self.web_url.clone(),
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email,
            name: user.name.filter(|n| !n.trim().is_empty()).or(Some(user.login)),
            avatar_url: user.avatar_url.filter(|u| u.starts_with("https://")),
        };
        Ok(Answer { identity, sid: None, tokens: self.keep_tokens.then_some(tokens) })
    }

    /// POSTs to GitHub's token endpoint as our app, with `params`; the answer read (errors come with HTTP 200).
    async fn token_request(
        &self,
        params: &[(&str, &str)],
    ) -> Result<Result<TokenResponse, CallbackError>, reqwest::Error> {
        let mut form =
            vec![("client_id", self.client_id.as_str()), ("client_secret", self.client_secret.expose_secret())];
        form.extend_from_slice(params);
        let response = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await?;
        Ok(match crate::server::auth::capped::body(response).await {
            Ok(body) => serde_json::from_slice(&body)
                .map_err(|_| CallbackError::TokenEndpoint("the token response is not JSON".into())),
            Err(error) => Err(CallbackError::TokenEndpoint(error.to_string())),
        })
    }

    /// A new user token for a GitHub App's `refresh_token` (GitHub rotates it: the answer carries the next one).
    pub async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, RefreshError> {
        let answer = self
            .token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
            .await
            .map_err(|e| RefreshError::Other(describe_reqwest(&e)))?
            .map_err(|e| RefreshError::Other(e.to_string()))?;
        answer.tokens().map_err(|(error, message)| match error.as_str() {
            // GitHub's word for a refresh token that is expired, revoked or already used.
            "bad_refresh_token" => RefreshError::InvalidGrant,
            _ => RefreshError::Other(message),
        })
    }

    /// Deletes our app's grant for the person whose token this is: every token GitHub gave us for them ends, and
    /// the app leaves their "Authorized OAuth Apps". True when GitHub did it; false when it knew no such token.
    pub async fn revoke_grant(&self, access_token: &str) -> Result<bool, String> {
        let response = self
            .http
            .delete(format!("{}/applications/{}/grant", self.api_url, self.client_id))
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(&serde_json::json!({ "access_token": access_token }))
            .send()
            .await
            .map_err(|e| describe_reqwest(&e))?;
        match response.status() {
            reqwest::StatusCode::NO_CONTENT => Ok(true),
            // The token was already gone (GitHub answers 404 or 422 for a token it does not know).
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::UNPROCESSABLE_ENTITY => Ok(false),
            status => Err(format!("HTTP {status}")),
        }
    }

    async fn api<T: serde::de::DeserializeOwned>(&self, token: &str, path: &str) -> Result<T, CallbackError> {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| CallbackError::from_transport("GitHub API", &e))?;
        if !response.status().is_success() {
            return Err(CallbackError::UserInfo(format!("GitHub API {path} answered HTTP {}", response.status())));
        }
        let body = crate::server::auth::capped::body(response)
            .await
            .map_err(|e| CallbackError::UserInfo(format!("GitHub API {path}: {e}")))?;
        serde_json::from_slice(&body)
            .map_err(|_| CallbackError::UserInfo(format!("GitHub API {path} sent unreadable JSON")))
    }
}
