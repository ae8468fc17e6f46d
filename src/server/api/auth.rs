//! Who is calling the API: a bearer token from `Authorization`, or else the browser's session cookie. Handlers take
//! a [`Principal`] and ask it for the scope they need; they never see how it was authenticated, so a second token
//! kind (JWT access tokens from an authorization server) is one more arm in [`verify_bearer`].

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

use crate::server::api::error::ApiError;
use crate::{
    model::{auth::SignedInUser, tokens::Scope},
    server::{
        oauth::{grants, jwt, scopes::Scopes},
        people::{
            session::{Caller, ClientInfo},
            tokens::{self, PersonalTokenError, VerifyFailure},
        },
        security::rate_limit::{self, Limit},
        state::AppState,
    },
};

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (the `user_sessions` row id). Carries every scope but `connections:token`.
    Session(String),
    /// A personal access token (its id).
    PersonalToken(String),
    /// An access token Gatehouse issued to an app: the app, and the authorization it holds.
    AppToken { client_id: String, authorization: String },
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    pub credential: Credential,
    scopes: Vec<Scope>,
    /// The person, as the request's one credential check read them.
    user: Arc<SignedInUser>,
}

impl Principal {
    /// Refuses with 403 `insufficient_scope` unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) { Ok(()) } else { Err(ApiError::insufficient_scope(scope)) }
    }

    pub fn user(&self) -> &SignedInUser {
        &self.user
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Whether the caller may give a new token `scope`: a token only what it holds itself; a browser session any
    /// scope, `connections:token` included (which it cannot use itself).
    pub fn may_grant(&self, scope: Scope) -> bool {
        matches!(self.credential, Credential::Session(_)) || self.scopes.contains(&scope)
    }

    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(id) => Some(id),
            Credential::PersonalToken(_) | Credential::AppToken { .. } => None,
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        // Each credential has its own allowance (`RATE_LIMIT_API`), wherever its calls come from.
        let key = principal.credential.limit_key();
        if let Err(refusal) = state.limiter.check(None, Some((Limit::Api, &key))).await {
            state.metrics.refused("api", refusal.code());
            return Err(ApiError::refused(refusal));
        }
        Ok(principal)
    }
}

impl Credential {
    /// What the API's rate limit counts this credential as.
    fn limit_key(&self) -> String {
        match self {
            Self::Session(id) => format!("session:{id}"),
            Self::PersonalToken(id) => format!("token:{id}"),
            Self::AppToken { authorization, .. } => format!("app:{authorization}"),
        }
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
    let client = ClientInfo::from_request_parts(parts, state).await.unwrap_or_default();
    // A token in the query string (`?access_token=`) is never read: URLs end up in logs and histories.
    if let Some(token) = bearer(&parts.headers)? {
        return verify_bearer(state, token, &client).await;
    }
    // The session cookie was checked once already, by the layer in front of every route.
    let Caller(signed_in) = Caller::from_request_parts(parts, state).await.unwrap_or_default();
    let signed_in =
        signed_in.ok_or_else(|| ApiError::unauthorized("Send Authorization: Bearer <token>, or sign in."))?;
    Ok(Principal {
        user_id: signed_in.session.user_id.clone(),
        credential: Credential::Session(signed_in.session.session_id.clone()),
        // Every scope but one: a provider's access token is for the person's programs, never for a page (whatever
        // runs in it could take it away).
        scopes: Scope::ALL.into_iter().filter(|s| *s != Scope::ConnectionsToken).collect(),
        user: signed_in.user.clone(),
    })
}

/// The token from `Authorization: Bearer <token>`; `None` without the header; 401 for any other shape.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let malformed = || ApiError::unauthorized("The Authorization header must be \u{201c}Bearer <token>\u{201d}.");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    // RFC 6750 §2.1: b64token characters only.
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || !token.chars().all(b64token) {
        return Err(malformed());
    }
    Ok(Some(token))
}

async fn verify_bearer(state: &AppState, token: &str, client: &ClientInfo) -> Result<Principal, ApiError> {
    if token.starts_with(tokens::PREFIX) {
        return match tokens::verify(state, token, client).await {
            Ok(verified) => Ok(Principal {
                user_id: verified.user_id,
                credential: Credential::PersonalToken(verified.id),
                scopes: verified.scopes,
                user: verified.user,
            }),
            Err(VerifyFailure::Refused(PersonalTokenError::Expired)) => Err(ApiError::expired_token()),
            Err(VerifyFailure::NotAllowedFrom { token, name, user_id }) => {
                let detail = async { serde_json::json!({ "token": token, "name": name }) };
                rate_limit::not_allowed(&state.limiter, &state.db, client, Some(&user_id), detail).await;
                Err(ApiError::address_not_allowed("token"))
            }
            Err(VerifyFailure::Refused(reason)) => {
                tracing::info!(%reason, "bearer token refused");
                Err(ApiError::invalid_token())
            }
            Err(VerifyFailure::Database(error)) => Err(ApiError::internal(error)),
        };
    }
    if token.split('.').count() == 3 {
        return verify_app_token(state, token, client).await;
    }
    tracing::info!("bearer token refused: not a Gatehouse token");
    Err(ApiError::invalid_token())
}

/// An access token issued to an app (a JWT): checked by its signature and claims, without a database read, then
/// its authorization, which the cache answers for until it is revoked (or for a second).
async fn verify_app_token(state: &AppState, token: &str, client: &ClientInfo) -> Result<Principal, ApiError> {
    let claims = match jwt::verify_access_token(state, token).await {
        Ok(claims) => claims,
        Err(jwt::AccessTokenError::Expired) => return Err(ApiError::expired_token()),
        Err(jwt::AccessTokenError::Invalid(reason)) => {
            tracing::info!(reason, "app access token refused");
            return Err(ApiError::invalid_token());
        }
    };
    // A client credentials token acts for the app itself; every route here acts for a person.
    let Some(authorization) = claims.sid else {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "insufficient_scope",
            "This token acts for an app, not a person; these routes act for a person.",
        ));
    };
    let grant = match grants::check(state, &authorization).await {
        Ok(grant) => grant,
        Err(grants::GrantError::Ended) => {
            tracing::info!(%authorization, "app access token refused: its authorization has ended");
            return Err(ApiError::invalid_token());
        }
        Err(grants::GrantError::Database(error)) => return Err(ApiError::internal(error)),
    };
    if grant.user.id != claims.sub {
        return Err(ApiError::invalid_token());
    }
    if !grant.allowed.permits(client.ip.as_deref()) {
        app_not_allowed(state, client, &claims.client_id, &grant.user.id).await;
        return Err(ApiError::address_not_allowed("app's token"));
    }
    Ok(Principal {
        user_id: claims.sub,
        credential: Credential::AppToken { client_id: claims.client_id, authorization },
        scopes: Scopes::from_stored(&claims.scope).api(),
        user: grant.user,
    })
}

/// An app's access token used from an address outside the app's allow-list: recorded in the person's activity.
pub async fn app_not_allowed(state: &AppState, client: &ClientInfo, client_id: &str, user_id: &str) {
    // The app's name is read only for a refusal that is recorded.
    let detail = async {
        let name = match crate::server::oauth::clients::find(&state.db, client_id).await {
            Ok(Some(app)) => app.name,
            _ => client_id.to_owned(),
        };
        serde_json::json!({ "client": client_id, "name": name })
    };
    rate_limit::not_allowed(&state.limiter, &state.db, client, Some(user_id), detail).await;
}
