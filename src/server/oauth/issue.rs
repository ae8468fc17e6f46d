//! What the endpoints apps call share: the client's request read and its authentication checked
//! (`client_secret_basic`, `client_secret_post`, or a public client's id alone), the OAuth error answer, and the
//! tokens issued once a grant is accepted — by the token endpoint and the device flow alike.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Serialize;
use serde_json::json;

use crate::server::{
    oauth::{
        clients::{self, Client, ClientAuth, ClientAuthError},
        grants::{self, NewAuthorization},
        jwt,
        scopes::{OAuthScope, Scopes},
        wire::{hash, new_secret, no_store, parameters},
    },
    people::{session::ClientInfo, users::PersonColumns},
    platform::{
        clock,
        db::{Exec, Tx, on},
    },
    state::AppState,
};

const REFRESH_PREFIX: &str = "grt_";

/// An error answer (RFC 6749 §5.2): `{"error": "...", "error_description": "..."}`.
#[derive(Debug)]
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
    /// `invalid_client` after HTTP Basic: the answer asks for Basic again.
    pub(super) basic_challenge: bool,
}

impl OAuthError {
    pub(super) fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error, description: description.into(), basic_challenge: false }
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub(super) fn server(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "token endpoint failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "Gatehouse could not complete this request; nothing was issued. Try again.".into(),
            basic_challenge: false,
        }
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(error: sqlx::Error) -> Self {
        if crate::server::platform::db::is_unavailable(&error) {
            tracing::error!(%error, "token endpoint: database unavailable");
            return Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "Gatehouse cannot reach its database right now; try again shortly.".into(),
                basic_challenge: false,
            };
        }
        Self::server(&error)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.basic_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
        }
        response
    }
}

/// A successful answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub(super) access_token: String,
    pub(super) token_type: &'static str,
    pub(super) expires_in: i64,
    pub(super) scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id_token: Option<String>,
}

/// A form body's parameters (RFC 6749 §3.2: `application/x-www-form-urlencoded`, none repeated).
pub(super) fn form_parameters(
    headers: &HeaderMap,
    body: &str,
) -> Result<std::collections::BTreeMap<String, String>, OAuthError> {
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err(OAuthError::invalid_request("Send the parameters as application/x-www-form-urlencoded."));
    }
    parameters(body).map_err(OAuthError::invalid_request)
}

/// A form request from a client to an endpoint it authenticates at: its parameters, and the client. A client with an
/// allow-list is refused (403 `unauthorized_client`) from any other address, after it proved who it is.
pub(super) async fn client_request(
    state: &AppState,
    who: &ClientInfo,
    headers: &HeaderMap,
    body: &str,
) -> Result<(std::collections::BTreeMap<String, String>, Client), OAuthError> {
    let params = form_parameters(headers, body)?;
    let get = |name: &str| params.get(name).map(String::as_str);
    let client = authenticate(state, headers, get("client_id"), get("client_secret")).await?;
    if !client.allowed.permits(who.ip.as_deref()) {
        let detail = async { json!({ "client": client.id, "name": client.name }) };
        crate::server::security::rate_limit::not_allowed(
            &state.limiter,
            &state.db,
            who,
            client.owner_id.as_deref(),
            detail,
        )
        .await;
        return Err(OAuthError {
            status: StatusCode::FORBIDDEN,
            ..OAuthError::new(
                "unauthorized_client",
                "This app may not call Gatehouse from this address: its allow-list does not include it.",
            )
        });
    }
    Ok((params, client))
}

/// The client, authenticated by `client_secret_basic`, `client_secret_post`, or (a public client) its id alone.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    body_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<Client, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(basic_credentials(value).ok_or_else(|| OAuthError {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge: true,
            ..OAuthError::new(
                "invalid_client",
                "The Authorization header must be HTTP Basic with the client's id and secret.",
            )
        })?),
    };
    let invalid_client = |basic_used: bool| OAuthError {
        status: StatusCode::UNAUTHORIZED,
        basic_challenge: basic_used,
        ..OAuthError::new("invalid_client", "Client authentication failed.")
    };
    let auth = match (&basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request("Authenticate the client one way only (Basic or the body)."));
        }
        (Some((id, _)), Some(body_id), None) if body_id != id => return Err(invalid_client(true)),
        (Some((id, secret)), _, None) => ClientAuth::Secret { client_id: id, secret },
        (None, Some(id), Some(secret)) => ClientAuth::Secret { client_id: id, secret },
        (None, Some(id), None) => ClientAuth::None { client_id: id },
        (None, None, _) => return Err(OAuthError { status: StatusCode::UNAUTHORIZED, ..invalid_client(false) }),
    };
    match clients::authenticate(&state.db, &auth).await {
        Ok(client) => Ok(client),
        Err(ClientAuthError::Database(error)) => Err(error.into()),
        Err(reason) => {
            tracing::info!(%reason, "client authentication failed");
            Err(invalid_client(basic.is_some()))
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

/// What was exchanged (a code, a device code): the statement that notes the authorization it became on its row, so a
/// second use can end it.
pub(super) struct Exchanged<'a> {
    pub sql: &'static str,
    pub key: &'a [u8],
}

/// The end of every exchange that starts an authorization: the authorization, its first refresh token, and the
/// tokens, all in the caller's transaction.
pub(super) async fn complete(
    state: &AppState,
    mut tx: Tx,
    client: &Client,
    new: &NewAuthorization<'_>,
    exchanged: Exchanged<'_>,
    nonce: Option<String>,
) -> Result<Tokens, OAuthError> {
    let authorization = match grants::create(tx.as_exec(), state, new).await {
        Ok(id) => id,
        // The session or the person ended between the approval and now.
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            return Err(OAuthError::invalid_grant("The sign-in behind this grant has ended."));
        }
        Err(error) => return Err(error.into()),
    };
    on!(tx.as_exec(), conn => sqlx::query(exchanged.sql)
        .bind(&authorization)
        .bind(exchanged.key)
        .execute(conn)
        .await
        .map(drop))?;
    let refresh_token = insert_refresh_token(tx.as_exec(), &authorization, new.scopes).await?;
    let person = person(tx.as_exec(), new.user_id).await?;
    tx.commit().await?;
    let issued =
        IssuedFor { authorization: &authorization, user_id: new.user_id, auth_time: new.auth_time, amr: new.amr };
    Ok(issue(state, client, new.scopes, &issued, person.as_ref(), nonce, Some(refresh_token)))
}

/// Whom tokens are issued for, under which authorization.
pub(super) struct IssuedFor<'a> {
    pub authorization: &'a str,
    pub user_id: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
}

pub(super) fn issue(
    state: &AppState,
    client: &Client,
    scopes: &Scopes,
    issued: &IssuedFor<'_>,
    person: Option<&PersonColumns>,
    nonce: Option<String>,
    refresh_token: Option<String>,
) -> Tokens {
    let (access_token, expires_in) = jwt::access_token(
        state,
        issued.user_id,
        &client.id,
        scopes,
        Some(issued.authorization),
        Some(issued.auth_time),
    );
    let id_token = scopes.contains(OAuthScope::OpenId).then(|| {
        let now = clock::now();
        let profile = scopes.contains(OAuthScope::Profile);
        let email = scopes.contains(OAuthScope::Email);
        jwt::id_token(
            state,
            client.id_token_alg,
            &jwt::IdClaims {
                iss: jwt::issuer(state),
                sub: issued.user_id.to_owned(),
                aud: client.id.clone(),
                iat: now,
                exp: now + expires_in,
                auth_time: issued.auth_time,
                nonce,
                amr: issued.amr.to_vec(),
                acr: crate::server::people::session::acr(issued.amr),
                sid: issued.authorization.to_owned(),
                name: person.filter(|_| profile).map(|p| p.display_name.clone()),
                picture: person.filter(|_| profile).and_then(|p| p.avatar_url.clone()),
                email: person.filter(|_| email).and_then(|p| p.email.clone()),
                email_verified: person.filter(|p| email && p.email.is_some()).map(|p| p.email_verified),
            },
        )
    });
    Tokens { access_token, token_type: "Bearer", expires_in, scope: scopes.to_string(), refresh_token, id_token }
}

pub(super) async fn insert_refresh_token(
    tx: Exec<'_>,
    authorization: &str,
    scopes: &Scopes,
) -> Result<String, sqlx::Error> {
    let token = new_secret(REFRESH_PREFIX);
    on!(tx, conn => sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, authorization_id, scopes, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash(&token))
    .bind(authorization)
    .bind(scopes.to_string())
    .bind(clock::now())
    .execute(conn)
    .await
    .map(drop))?;
    Ok(token)
}

pub(super) async fn person(tx: Exec<'_>, user_id: &str) -> Result<Option<PersonColumns>, sqlx::Error> {
    let query = format!("SELECT {} FROM users u WHERE u.id = $1", PersonColumns::SELECT);
    on!(tx, conn => sqlx::query_as(&query).bind(user_id).fetch_optional(conn).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("app%3A1:s%20e"))).unwrap();
        assert_eq!(basic_credentials(&value), Some(("app:1".into(), "s e".into())));
        assert_eq!(basic_credentials(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(basic_credentials(&HeaderValue::from_static("Basic !!!")), None);
    }
}
