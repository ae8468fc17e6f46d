//! The JSON API's handlers: authenticate (a [`Principal`]), check one scope, call one account service, answer.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::model::{
    account::{ActivityPage, DisplayName, SessionInfo},
    auth::SignedInUser,
    tokens::{CreatedToken, Scope, TokenInfo, TokenLifetime},
};
use crate::server::api::auth::{Credential, Principal};
use crate::server::api::error::{ApiError, ErrorBody};
use crate::server::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::server::people::{accounts, session::ClientInfo, tokens};
use crate::server::state::AppState;

/// The signed-in person.
#[utoipa::path(get, path = "/api/v1/me", tag = "profile",
    responses((status = 200, body = SignedInUser), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["profile:read"]), ("session" = [])))]
pub(super) async fn me(principal: Principal) -> Result<Json<SignedInUser>, ApiError> {
    principal.require(Scope::ProfileRead)?;
    Ok(Json(principal.user().clone()))
}

/// A change to the profile.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateProfile {
    /// 1–64 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 64)]
    display_name: String,
}

/// Changes the display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "profile", request_body = UpdateProfile,
    responses((status = 200, body = SignedInUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["profile:write"]), ("session" = [])))]
pub(super) async fn update_me(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    body: Result<ApiJson<UpdateProfile>, ApiError>,
) -> Result<Json<SignedInUser>, ApiError> {
    principal.require(Scope::ProfileWrite)?;
    let ApiJson(body) = body?;
    let name = DisplayName::parse(&body.display_name)?;
    accounts::rename(&state, &principal.user_id, &name, &client).await?;
    Ok(Json(SignedInUser { display_name: name.as_str().to_owned(), ..principal.user().clone() }))
}

#[derive(Serialize, ToSchema)]
pub(super) struct Sessions {
    sessions: Vec<SessionInfo>,
}

/// The person's active sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = Sessions), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["sessions:read"]), ("session" = [])))]
pub(super) async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Sessions>, ApiError> {
    principal.require(Scope::SessionsRead)?;
    let list =
        accounts::sessions(state.db.acquire().await?.as_exec(), &principal.user_id, principal.session_id()).await?;
    Ok(Json(Sessions { sessions: list.sessions }))
}

/// Revokes a session: it is refused from its next request.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session's id, from the list")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = ["sessions:write"]), ("session" = [])))]
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::SessionsWrite)?;
    accounts::revoke_session(&state, &principal.user_id, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// The `next` value of the previous page.
    before: Option<i64>,
    /// Events per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// The person's security activity, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = ActivityPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = ["audit:read"]), ("session" = [])))]
pub(super) async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<ActivityPage>, ApiError> {
    principal.require(Scope::AuditRead)?;
    let limit = query.limit.unwrap_or(crate::model::account::ACTIVITY_PAGE_SIZE);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be between 1 and 100."));
    }
    Ok(Json(
        accounts::activity(&state, state.db.acquire().await?.as_exec(), &principal.user_id, query.before, limit)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub(super) struct Tokens {
    tokens: Vec<TokenInfo>,
}

/// The person's personal access tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Tokens), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["tokens:read"]), ("session" = [])))]
pub(super) async fn list_tokens(State(state): State<AppState>, principal: Principal) -> Result<Json<Tokens>, ApiError> {
    principal.require(Scope::TokensRead)?;
    Ok(Json(Tokens { tokens: tokens::list(state.db.acquire().await?.as_exec(), &principal.user_id).await? }))
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateToken {
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// A subset of the caller's own scopes.
    #[schema(min_items = 1)]
    scopes: Vec<Scope>,
    /// 1–365; `null` for a token that never expires (only where the server allows it).
    #[serde(default = "default_lifetime", deserialize_with = "nullable")]
    #[schema(minimum = 1, maximum = 365, default = 30, nullable)]
    expires_in_days: Option<u32>,
    /// The networks it may be used from (CIDR blocks or single addresses, at most 32); empty or absent: anywhere,
    /// or for a token created by a token, wherever that token may be used from.
    #[serde(default)]
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    allowed_ips: Vec<String>,
}

fn default_lifetime() -> Option<u32> {
    Some(TokenLifetime::DEFAULT_DAYS)
}

fn nullable<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<u32>::deserialize(deserializer)
}

/// Creates a token. The secret is in this response and nowhere else, ever. 409 when the person already holds as many
/// tokens as one may (`TOKENS_PER_PERSON`).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["tokens:write"]), ("session" = [])))]
pub(super) async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    body: Result<ApiJson<CreateToken>, ApiError>,
) -> Result<Response, ApiError> {
    principal.require(Scope::TokensWrite)?;
    let ApiJson(body) = body?;
    if let Some(scope) = body.scopes.iter().find(|s| !principal.may_grant(**s)) {
        // A token cannot mint a token with more power than its own.
        return Err(ApiError::insufficient_scope(*scope));
    }
    let request = tokens::NewToken::parse(
        &body.name,
        body.scopes.iter().map(|s| s.as_str()),
        body.expires_in_days,
        state.config.tokens.allow_non_expiring,
        &body.allowed_ips.join(","),
    )?;
    let session;
    let minted_by = match &principal.credential {
        Credential::Session(session_id) => {
            session = crate::server::people::session::AuthSession {
                user_id: principal.user_id.clone(),
                session_id: session_id.clone(),
            };
            tokens::MintedBy::Session(&session)
        }
        Credential::PersonalToken(parent) => tokens::MintedBy::Token(parent),
        // Apps are never given `tokens:write`; should one hold it, it still mints nothing.
        Credential::AppToken { .. } => return Err(ApiError::insufficient_scope(Scope::TokensWrite)),
    };
    let created: CreatedToken = tokens::create(&state, &principal.user_id, request, &client, minted_by).await?;
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(created)).into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct RevokedTokens {
    /// How many tokens were revoked.
    revoked: u32,
}

/// Revokes every token the person holds, this one too: each is refused from its next request.
#[utoipa::path(delete, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = RevokedTokens), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["tokens:write"]), ("session" = [])))]
pub(super) async fn revoke_all_tokens(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
) -> Result<Json<RevokedTokens>, ApiError> {
    principal.require(Scope::TokensWrite)?;
    let revoked = tokens::revoke_all(&state, &principal.user_id, &client).await?;
    Ok(Json(RevokedTokens { revoked }))
}

/// Revokes a token (and the tokens it created): each is refused from its next request.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id, from the list")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = ["tokens:write"]), ("session" = [])))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::TokensWrite)?;
    tokens::revoke(&state, &principal.user_id, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(super) struct ConnectionInfo {
    /// The provider's id (`google`, `oidc`, `dev`).
    provider: String,
    /// `connected`, or `reconnect_needed` once the provider refused the kept tokens (sign in with it again).
    state: &'static str,
    /// When the kept access token expires (Unix seconds), if the provider said; a new one is fetched when needed.
    expires_at: Option<i64>,
    /// What the tokens may do at the provider, as it said.
    scopes: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Connections {
    connections: Vec<ConnectionInfo>,
}

/// The person's sign-in providers whose tokens are kept (`PROVIDER_TOKENS=keep`). Not with a session cookie.
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections",
    responses((status = 200, body = Connections), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["connections:token"])))]
pub(super) async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Connections>, ApiError> {
    principal.require(Scope::ConnectionsToken)?;
    let list = crate::server::auth::connections::list(&state.db, &principal.user_id).await?;
    let connections = list
        .into_iter()
        .map(|c| ConnectionInfo {
            state: if c.state == crate::server::auth::connections::CONNECTED {
                "connected"
            } else {
                "reconnect_needed"
            },
            provider: c.provider,
            expires_at: c.expires_at,
            scopes: c.scopes,
        })
        .collect();
    Ok(Json(Connections { connections }))
}

#[derive(Serialize, ToSchema)]
pub(super) struct ProviderAccessToken {
    /// A current access token at the provider (never the refresh token).
    access_token: String,
    token_type: &'static str,
    /// When it expires (Unix seconds), if the provider said.
    expires_at: Option<i64>,
}

/// A current access token at a sign-in provider, refreshed first when it is about to expire (once, however many ask
/// at the same moment). 404 when no tokens are kept for it, 409 `reconnect_needed` when the provider refused them,
/// 503 when it cannot be reached. Every answer with a token is recorded in the person's activity. Not with a session
/// cookie.
#[utoipa::path(post, path = "/api/v1/connections/{provider}/token", tag = "connections",
    params(("provider" = String, Path, description = "The provider's id, from the list")),
    responses((status = 200, body = ProviderAccessToken), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = ["connections:token"])))]
pub(super) async fn connection_token(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiPath(provider): ApiPath<String>,
) -> Result<Response, ApiError> {
    use crate::server::auth::connections::{self, ConnectionError};
    principal.require(Scope::ConnectionsToken)?;
    let (access_token, expires_at) = match connections::current_token(&state, &principal.user_id, &provider).await {
        Ok(token) => token,
        Err(ConnectionError::NotConnected) => return Err(ApiError::not_found()),
        Err(ConnectionError::ReconnectNeeded) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "reconnect_needed",
                "The provider no longer accepts the kept tokens: sign in with it again to reconnect.",
            ));
        }
        Err(ConnectionError::ProviderUnavailable(reason)) => {
            tracing::warn!(provider, reason, "provider token not available");
            return Err(ApiError::unavailable());
        }
        Err(ConnectionError::Database(error)) => return Err(error.into()),
    };
    let via = match &principal.credential {
        Credential::PersonalToken(id) => json!({ "token": id }),
        Credential::AppToken { client_id, .. } => json!({ "client": client_id }),
        Credential::Session(_) => json!({}),
    };
    let mut detail = json!({ "provider": provider });
    if let (Some(detail), Some(via)) = (detail.as_object_mut(), via.as_object()) {
        detail.extend(via.clone());
    }
    use crate::server::security::audit::{Event, record_on};
    record_on(&state.db, Event::ConnectionTokenIssued, Some(&principal.user_id), &client, detail).await?;
    let body = ProviderAccessToken { access_token, token_type: "Bearer", expires_at };
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
