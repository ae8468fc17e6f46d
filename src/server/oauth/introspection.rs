//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662): an app ends a token it holds, or asks
//! whether one is still good. An app only ever learns about, or ends, tokens issued to itself.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::server::oauth::{
    grants,
    issue::{OAuthError, client_request},
    jwt,
    scopes::Scopes,
    wire::{hash, no_store},
};
use crate::server::{
    people::session::ClientInfo,
    platform::{clock, db::on},
    state::AppState,
};

/// What a presented token turned out to be, if it is one of ours for this client.
enum Found {
    Access(jwt::AccessClaims),
    Refresh { authorization: String, scopes: String, user_id: String, expires_at: i64, used: bool },
}

async fn find(state: &AppState, client_id: &str, token: &str) -> Result<Option<Found>, sqlx::Error> {
    if token.split('.').count() == 3 {
        return Ok(match jwt::verify_access_token(state, token).await {
            Ok(claims) if claims.client_id == client_id => Some(Found::Access(claims)),
            _ => None,
        });
    }
    let row: Option<(String, String, String, String, i64, Option<i64>)> = on!(&state.db, pool => sqlx::query_as(
        "SELECT r.authorization_id, r.scopes, a.client_id, a.user_id, a.expires_at, r.used_at
         FROM oauth_refresh_tokens r JOIN oauth_authorizations a ON a.id = r.authorization_id
         WHERE r.token_hash = $1",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await)?;
    Ok(row.filter(|(_, _, owner, ..)| owner == client_id).map(
        |(authorization, scopes, _, user_id, expires_at, used)| Found::Refresh {
            authorization,
            scopes,
            user_id,
            expires_at,
            used: used.is_some(),
        },
    ))
}

/// `POST /oauth/revoke`: ends the authorization the token belongs to — its refresh tokens at once, its access tokens
/// from their next request. An unknown or someone else's token is answered 200 all the same (RFC 7009 §2.2).
pub async fn revoke(State(state): State<AppState>, who: ClientInfo, headers: HeaderMap, body: String) -> Response {
    let result = async {
        let (params, client) = client_request(&state, &who, &headers, &body).await?;
        let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
        let authorization = match find(&state, &client.id, token).await? {
            Some(Found::Access(claims)) => claims.sid,
            Some(Found::Refresh { authorization, .. }) => Some(authorization),
            None => None,
        };
        if let Some(authorization) = authorization {
            grants::end(&state, &authorization).await?;
        }
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/introspect`, for confidential apps: whether a token of theirs is active, and what it carries. An
/// inactive, unknown or someone else's token answers only `{"active": false}`.
pub async fn introspect(State(state): State<AppState>, who: ClientInfo, headers: HeaderMap, body: String) -> Response {
    let result = async {
        let (params, client) = client_request(&state, &who, &headers, &body).await?;
        if !client.is_confidential() {
            return Err(OAuthError::new("unauthorized_client", "Only a confidential client may introspect tokens."));
        }
        let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
        let inactive = json!({ "active": false });
        Ok::<Value, OAuthError>(match find(&state, &client.id, token).await? {
            Some(Found::Access(claims)) => {
                let stands = match &claims.sid {
                    Some(sid) => match grants::check(&state, sid).await {
                        Ok(_) => true,
                        Err(grants::GrantError::Ended) => false,
                        Err(grants::GrantError::Database(error)) => return Err(error.into()),
                    },
                    None => true,
                };
                if !stands {
                    inactive
                } else {
                    json!({
                        "active": true,
                        "token_type": "Bearer",
                        "scope": claims.scope,
                        "client_id": claims.client_id,
                        "sub": claims.sub,
                        "aud": claims.aud,
                        "iss": claims.iss,
                        "iat": claims.iat,
                        "exp": claims.exp,
                        "jti": claims.jti,
                    })
                }
            }
            Some(Found::Refresh { scopes, user_id, expires_at, used: false, .. }) if expires_at > clock::now() => {
                json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": Scopes::from_stored(&scopes).to_string(),
                    "client_id": client.id,
                    "sub": user_id,
                    "iss": jwt::issuer(&state),
                    "exp": expires_at,
                })
            }
            _ => inactive,
        })
    }
    .await;
    match result {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}
