//! `GET`/`POST /oauth/userinfo` (OpenID Connect Core §5.3): the person an access token with the `openid` scope acts
//! for, with the claims its scopes allow. Errors are RFC 6750's, as on the API.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::server::oauth::{
    grants, jwt,
    scopes::{OAuthScope, Scopes},
    wire::no_store,
};
use crate::server::{
    api::{ApiError, app_not_allowed, bearer},
    people::session::ClientInfo,
    state::AppState,
};

pub async fn userinfo(State(state): State<AppState>, who: ClientInfo, headers: HeaderMap) -> Response {
    match claims(&state, &who, &headers).await {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn claims(state: &AppState, who: &ClientInfo, headers: &HeaderMap) -> Result<serde_json::Value, ApiError> {
    let token = bearer(headers)?.ok_or_else(|| ApiError::unauthorized("Send Authorization: Bearer <access token>."))?;
    let claims = match jwt::verify_access_token(state, token).await {
        Ok(claims) => claims,
        Err(jwt::AccessTokenError::Expired) => return Err(ApiError::expired_token()),
        Err(jwt::AccessTokenError::Invalid(reason)) => {
            tracing::info!(reason, "userinfo: access token refused");
            return Err(ApiError::invalid_token());
        }
    };
    let scopes = Scopes::from_stored(&claims.scope);
    let Some(authorization) = claims.sid.as_deref().filter(|_| scopes.contains(OAuthScope::OpenId)) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "UserInfo needs an access token issued with the openid scope.",
        ));
    };
    let person = match grants::check(state, authorization).await {
        Ok(grant) if !grant.allowed.permits(who.ip.as_deref()) => {
            app_not_allowed(state, who, &claims.client_id, &grant.user.id).await;
            return Err(ApiError::address_not_allowed("app's token"));
        }
        Ok(grant) => grant.user,
        Err(grants::GrantError::Ended) => return Err(ApiError::invalid_token()),
        Err(grants::GrantError::Database(error)) => return Err(ApiError::internal(error)),
    };
    let mut body = json!({ "sub": person.id });
    if scopes.contains(OAuthScope::Profile) {
        body["name"] = json!(person.display_name);
        if let Some(picture) = &person.avatar_url {
            body["picture"] = json!(picture);
        }
    }
    if scopes.contains(OAuthScope::Email)
        && let Some(email) = &person.email
    {
        body["email"] = json!(email);
        body["email_verified"] = json!(person.email_verified);
    }
    Ok(body)
}
