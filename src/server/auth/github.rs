//! GitHub sign-in: plain OAuth 2.0 (no ID token), identified by GitHub's numeric user id, never the login name.
//!
//! Written with `reqwest` rather than the `oauth2` client: GitHub answers a failed token request with HTTP 200 and an
//! `error` field, which a standards-following client reads as a malformed success.

use openidconnect::PkceCodeChallenge;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::server::auth::flow::{AuthorizationRequest, CallbackError};
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
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
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
        }
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

    pub async fn finish(&self, code: &str, pkce_verifier: &str) -> Result<Identity, CallbackError> {
        let token = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .map_err(|e| CallbackError::from_transport("token endpoint", &e))?;
        let token =
            crate::server::auth::capped::body(token).await.map_err(|e| CallbackError::TokenEndpoint(e.to_string()))?;
        let token: TokenResponse = serde_json::from_slice(&token)
            .map_err(|_| CallbackError::TokenEndpoint("the token response is not JSON".into()))?;
        let access_token = match token {
            TokenResponse { access_token: Some(token), error: None, .. } => token,
            TokenResponse { error, error_description, .. } => {
                let error = error.unwrap_or_else(|| "no access token".into());
                return Err(CallbackError::TokenEndpoint(match error_description {
                    Some(description) => format!("{error}: {description}"),
                    None => error,
                }));
            }
        };

        let user: GitHubUser = self.api(&access_token, "/user").await?;
        let emails: Vec<GitHubEmail> = self.api(&access_token, "/user/emails").await?;
        // Only a verified address says anything about the person; the primary one first.
        let email = emails.iter().filter(|e| e.verified).max_by_key(|e| e.primary).map(|e| e.email.clone());
        Ok(Identity {
            provider: "github".into(),
            issuer: self.web_url.clone(),
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email,
            name: user.name.filter(|n| !n.trim().is_empty()).or(Some(user.login)),
            avatar_url: user.avatar_url.filter(|u| u.starts_with("https://")),
        })
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
