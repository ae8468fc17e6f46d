//! What every provider's sign-in flow shares: the request that starts it, and why a callback did not complete (with
//! the page and the audit name each reason gets).

use axum::http::StatusCode;

use crate::server::{
    auth::{attempt::AttemptError, capped},
    people::{
        session::AtProvider,
        users::{self, Identity},
    },
};

/// What a provider needs to start a sign-in: where to send the browser, and the secrets to keep for the callback.
pub struct AuthorizationRequest {
    pub url: String,
    pub issuer: String,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: Option<String>,
}

/// Why a sign-in did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("provider unavailable")]
    ProviderUnavailable,
    #[error("the callback has no state parameter")]
    MissingState,
    #[error("login attempt: {0:?}")]
    Attempt(AttemptError),
    #[error("the provider answered with error {error:?}")]
    Provider { error: String, description: Option<String> },
    #[error("the iss parameter {found:?} is not the issuer the attempt was sent to")]
    IssuerMismatch { found: String },
    #[error("the provider promises an iss parameter (RFC 9207) but the callback has none")]
    IssuerMissing,
    #[error("the callback has no code")]
    MissingCode,
    #[error("token endpoint: {0}")]
    TokenEndpoint(String),
    #[error("{0} timed out")]
    Timeout(String),
    #[error("ID token rejected: {0}")]
    IdToken(String),
    #[error("UserInfo rejected: {0}")]
    UserInfo(String),
    #[error("the verified email belongs to another account")]
    EmailInUse,
    #[error("the identity is already linked to another account")]
    LinkedElsewhere,
    #[error("the session that started linking has ended")]
    LinkSessionEnded,
    #[error("confirming identity with an account of the provider that is not the signed-in person's")]
    NotYours,
    #[error("asked to sign the person in again (prompt=login, max_age=0), the provider's auth_time is older")]
    NotFresh,
    #[error("provider misconfigured: {0}")]
    Misconfigured(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CallbackError {
    pub fn from_transport(what: &str, error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout(what.to_owned())
        } else {
            Self::TokenEndpoint(format!("{what}: {}", capped::describe_reqwest(error)))
        }
    }

    /// A short, stable name for the audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::AccountDisabled => "account_disabled",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::MissingState | Self::Attempt(AttemptError::Unknown) => "invalid_state",
            Self::Attempt(AttemptError::Expired) => "expired_state",
            Self::Attempt(AttemptError::WrongProvider) => "wrong_provider",
            Self::Provider { .. } => "provider_error",
            Self::IssuerMismatch { .. } | Self::IssuerMissing => "issuer_mismatch",
            Self::MissingCode => "missing_code",
            Self::TokenEndpoint(_) => "token_endpoint",
            Self::Timeout(_) => "timeout",
            Self::IdToken(_) => "invalid_id_token",
            Self::UserInfo(_) => "invalid_userinfo",
            Self::EmailInUse => "email_in_use",
            Self::LinkedElsewhere => "linked_elsewhere",
            Self::LinkSessionEnded => "link_session_ended",
            Self::NotYours => "not_yours",
            Self::NotFresh => "not_fresh",
            Self::Misconfigured(_) => "misconfigured",
            Self::Internal(_) => "internal",
        }
    }

    /// Whether the request itself was at fault (a forged, replayed or stale callback), rather than the provider,
    /// this server, or the account's situation: these count towards blocking the address.
    pub fn is_callers(&self) -> bool {
        matches!(
            self,
            Self::MissingState
                | Self::Attempt(_)
                | Self::Provider { .. }
                | Self::IssuerMismatch { .. }
                | Self::IssuerMissing
                | Self::MissingCode
                | Self::IdToken(_)
                | Self::NotYours
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownProvider => StatusCode::NOT_FOUND,
            Self::ProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::EmailInUse | Self::LinkedElsewhere => StatusCode::CONFLICT,
            Self::LinkSessionEnded => StatusCode::UNAUTHORIZED,
            Self::NotYours | Self::AccountDisabled => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The page's heading and explanation, for the person (`label` is the provider's button label).
    pub fn explain(&self, label: &str) -> (String, String) {
        let verify = "We could not verify the answer from your provider, so you were not signed in. This can happen \
                      when a sign-in is tampered with or the provider is misconfigured.";
        match self {
            Self::UnknownProvider => {
                ("Unknown sign-in method".into(), "There is no sign-in method at this address.".into())
            }
            Self::ProviderUnavailable => (
                format!("{label} is not available right now"),
                "Gatehouse cannot reach this provider at the moment. Please try again in a minute.".into(),
            ),
            Self::MissingState | Self::Attempt(AttemptError::Unknown) | Self::Attempt(AttemptError::WrongProvider) => (
                "This sign-in link is not valid".into(),
                "It was already used, was started in another browser, or did not come from Gatehouse. Please start \
                 again."
                    .into(),
            ),
            Self::Attempt(AttemptError::Expired) => (
                "This sign-in took too long".into(),
                "Sign-ins must be finished within ten minutes. Please start again.".into(),
            ),
            Self::Provider { error, description } if error == "access_denied" => (
                "Sign-in was cancelled".into(),
                match description {
                    Some(d) => format!("{label} said: {d}"),
                    None => format!("{label} did not sign you in."),
                },
            ),
            Self::Provider { error, description } => (
                format!("{label} could not sign you in"),
                format!(
                    "{label} answered \u{201c}{error}\u{201d}{}",
                    description.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
                ),
            ),
            Self::Timeout(_) => (format!("{label} did not answer in time"), "Please try again in a minute.".into()),
            // Which methods that account uses is not said: anyone holding a provider account with the address
            // would learn how someone else signs in.
            Self::AccountDisabled => ("This account is disabled".into(), users::DISABLED.into()),
            Self::EmailInUse => (
                "You already have an account".into(),
                format!(
                    "An account with this email address already exists. Sign in the way you usually do, then link \
                     {label} from your profile."
                ),
            ),
            Self::LinkedElsewhere => (
                format!("This {label} account belongs to someone else"),
                format!(
                    "It already signs in to another Gatehouse account, so it was not linked to yours. Nothing was \
                     changed. To move it, sign in with it, delete that account (or unlink {label} there), then \
                     link it here."
                ),
            ),
            Self::NotFresh => (
                format!("{label} did not check it was you"),
                format!(
                    "Gatehouse asked {label} to have you sign in again, and it did not, so nothing was confirmed. \
                     Try again, or confirm with your password or a code."
                ),
            ),
            Self::NotYours => (
                format!("That is not your {label} account"),
                format!(
                    "You signed in at {label} as someone whose account is not this one, so nothing was confirmed. Sign \
                     in at {label} with the account you use for Gatehouse."
                ),
            ),
            Self::LinkSessionEnded => (
                "You were signed out".into(),
                "Your session ended before linking finished, so nothing was linked. Sign in and try again.".into(),
            ),
            Self::Internal(_) => (
                "Something went wrong on our side".into(),
                "You were not signed in. Please try again; if it keeps happening, tell the people who run this site."
                    .into(),
            ),
            _ => ("We could not sign you in".into(), verify.into()),
        }
    }
}

/// The token endpoint's failures, as `openidconnect` reports them over our capped `reqwest` client.
pub type TokenRequestError = openidconnect::RequestTokenError<
    capped::CappedError,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

/// Maps the token endpoint's failures (an error answer, a timeout, an unreadable body).
pub fn token_error(error: TokenRequestError) -> CallbackError {
    use openidconnect::RequestTokenError;
    match error {
        RequestTokenError::ServerResponse(response) => {
            CallbackError::TokenEndpoint(format!("error {:?}", response.error().as_ref()))
        }
        RequestTokenError::Request(capped::CappedError::Timeout) => CallbackError::Timeout("token endpoint".into()),
        RequestTokenError::Request(error) => CallbackError::TokenEndpoint(format!("request failed: {error}")),
        // An ID token without a required claim (`sub`, `iat`, `aud`, …) fails here, inside the token response.
        // serde's "missing field" names only the field; other messages may quote values (token material), so
        // they are not logged.
        RequestTokenError::Parse(error, _) => {
            let inner = error.inner().to_string();
            let reason = if inner.starts_with("missing field") { inner.as_str() } else { "malformed" };
            CallbackError::IdToken(format!("the token response is not valid: {reason}"))
        }
        RequestTokenError::Other(reason) => CallbackError::TokenEndpoint(reason),
    }
}

/// A provider's checked answer to a sign-in.
pub struct Answer {
    pub identity: Identity,
    /// The provider's session (`sid` of the ID token), when it names one.
    pub sid: Option<String>,
    /// The person's tokens at the provider, when they are kept (`PROVIDER_TOKENS=keep`).
    pub tokens: Option<ProviderTokens>,
}

/// A person's tokens at a provider, as its token endpoint gave them. Never logged: `Debug` shows none of them.
pub struct ProviderTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires (Unix seconds), if the provider said.
    pub expires_at: Option<i64>,
    /// What they may do there, space-separated, if the provider said.
    pub scopes: String,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl Answer {
    /// Who signed in at the provider and in which session, as the Gatehouse session remembers it.
    pub fn at_provider(&self) -> AtProvider {
        AtProvider { subject: self.identity.subject.clone(), sid: self.sid.clone() }
    }
}
