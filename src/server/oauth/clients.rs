//! The apps that sign people in with Gatehouse (OAuth clients): registering one, checking its redirect URIs, and
//! authenticating it at the token endpoint. A client is public (PKCE is all it has) or confidential (it also holds a
//! secret, shown once, of which only a SHA-256 is kept).

use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::json;
use url::Url;

use crate::server::oauth::{
    keys,
    scopes::{OAuthScope, Scopes},
    wire::{hash, new_secret},
};
use crate::{
    model::error::AppError,
    server::{
        people::session::ClientInfo,
        platform::{
            clock,
            db::{Db, on},
        },
        security::{
            audit::{self, Event},
            networks::Networks,
        },
    },
};

const CLIENT_ID_PREFIX: &str = "app_";
pub const SECRET_PREFIX: &str = "gcs_";
/// At most this many redirect URIs (and as many post-logout ones) per app.
const MAX_URIS: usize = 10;
/// The longest redirect URI an app may register: it is stored, and carried through sign-in in a URL.
const MAX_URI_LEN: usize = 512;

/// An app's name, as the consent page shows it: 1–64 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AppError::Invalid(
                "An app's name must be 1 to 64 characters, without control characters.".into(),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A redirect URI as registered: absolute, https (or http to a loopback IP literal, `127.0.0.1` or `[::1]`, for apps
/// on the person's own machine), without a fragment or user name, and written the way it will be compared — exactly.
/// `http://localhost` is refused, as OAuth 2.1 §8.4.2 and RFC 8252 §8.3 advise: the name can resolve to something
/// other than this machine, and the app's listener may not be the one that gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        Self::parse_as(raw, "Redirect URI")
    }

    /// The same rules for another URI of the app's (`what` names it in the error).
    fn parse_as(raw: &str, what: &str) -> Result<Self, AppError> {
        if raw.len() > MAX_URI_LEN {
            return Err(AppError::Invalid(format!(
                "A {} may be at most {MAX_URI_LEN} characters long.",
                what.to_lowercase()
            )));
        }
        let invalid = |why: &str| AppError::Invalid(format!("{what} \u{201c}{raw}\u{201d}: {why}"));
        let url = Url::parse(raw).map_err(|_| invalid("is not an absolute URL."))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" if matches!(url.host(), Some(url::Host::Domain("localhost"))) => {
                return Err(invalid(
                    "use http://127.0.0.1 or http://[::1] instead of localhost, which can resolve elsewhere.",
                ));
            }
            _ => return Err(invalid("must be https (http only to 127.0.0.1 or [::1]).")),
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err(invalid("must not have a fragment (#…)."));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain a user name or password."));
        }
        if url.as_str() != raw {
            return Err(invalid(&format!("must be written exactly as \u{201c}{url}\u{201d}: it is compared exactly.")));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// Whether `requested` is one of `registered`: character for character. The one allowance is the one RFC 8252 §7.3
/// and OAuth 2.1 §8.4.2 require: an app on the person's machine listens on whatever port is free, so a registered
/// `http://127.0.0.1/…` or `http://[::1]/…` without a port matches that URI on any port.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|r| {
        if r == requested {
            return true;
        }
        let (Ok(reg), Ok(req)) = (Url::parse(r), Url::parse(requested)) else { return false };
        let ip_loopback = matches!(reg.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(reg.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        if reg.scheme() != "http" || !ip_loopback || reg.port().is_some() || req.port().is_none() {
            return false;
        }
        let mut without_port = req.clone();
        if without_port.set_port(None).is_err() {
            return false;
        }
        // The request must be the registered URI with a port added, and nothing else changed.
        without_port.as_str() == r && requested == with_port(r, req.port().unwrap_or_default())
    })
}

fn with_port(registered: &str, port: u16) -> String {
    let mut url = Url::parse(registered).expect("parsed above");
    let _ = url.set_port(Some(port));
    url.to_string()
}

/// An app to register, parsed.
#[derive(Clone, Debug)]
pub struct NewClient {
    pub name: ClientName,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub confidential: bool,
    pub scopes: Scopes,
    /// Where the app may call from (its back-channel requests and its access tokens); empty: anywhere.
    pub allowed: Networks,
    /// Where to tell the app that a person's authorization ended (back-channel logout).
    pub backchannel_logout: Option<BackchannelLogout>,
    /// What its ID tokens (and logout tokens) are signed with: RS256 unless it asks for ES256.
    pub id_token_alg: Algorithm,
    /// Its authorization requests must be pushed first (RFC 9126 `require_pushed_authorization_requests`).
    pub require_par: bool,
}

/// An app's back-channel logout registration (OpenID Connect Back-Channel Logout 1.0 §2.2): where Gatehouse POSTs a
/// logout token when a person's authorization with the app ends; https, or http to a loopback address, as a redirect
/// URI. `session_required`: the app needs the `sid` (sent always).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackchannelLogout {
    pub uri: String,
    pub session_required: bool,
}

impl BackchannelLogout {
    /// `uri` as a form or the command line gives it: empty for none.
    pub fn parse(uri: &str, session_required: bool) -> Result<Option<Self>, AppError> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Ok(None);
        }
        let uri = RedirectUri::parse_as(uri, "Back-channel logout URI")?;
        Ok(Some(Self { uri: uri.0, session_required }))
    }
}

impl NewClient {
    /// The same app, told of ended authorizations at `uri` (none when empty).
    pub fn with_backchannel_logout(self, uri: &str, session_required: bool) -> Result<Self, AppError> {
        Ok(Self { backchannel_logout: BackchannelLogout::parse(uri, session_required)?, ..self })
    }

    /// The same app, held to pushed authorization requests (or not).
    pub fn with_par_required(self, require_par: bool) -> Self {
        Self { require_par, ..self }
    }

    /// The same app, its ID tokens signed with `alg` (`id_token_signed_response_alg`: `RS256` or `ES256`; empty for
    /// the default, RS256).
    pub fn with_id_token_alg(self, alg: &str) -> Result<Self, AppError> {
        let alg = alg.trim();
        if alg.is_empty() {
            return Ok(self);
        }
        let id_token_alg = keys::parse(alg).ok_or_else(|| {
            AppError::Invalid(format!("ID token signature: {alg:?} is not one Gatehouse signs with (RS256 or ES256)."))
        })?;
        Ok(Self { id_token_alg, ..self })
    }

    pub fn parse(
        name: &str,
        redirect_uris: &[String],
        post_logout_redirect_uris: &[String],
        confidential: bool,
        scopes: &str,
        allowed_ips: &str,
    ) -> Result<Self, AppError> {
        let name = ClientName::parse(name)?;
        let uris = |list: &[String]| -> Result<Vec<RedirectUri>, AppError> {
            let mut parsed: Vec<RedirectUri> = list
                .iter()
                .map(|u| u.trim())
                .filter(|u| !u.is_empty())
                .map(RedirectUri::parse)
                .collect::<Result<_, _>>()?;
            parsed.dedup();
            if parsed.len() > MAX_URIS {
                return Err(AppError::Invalid(format!("An app may have at most {MAX_URIS} redirect URIs.")));
            }
            Ok(parsed)
        };
        let redirect_uris = uris(redirect_uris)?;
        if redirect_uris.is_empty() {
            return Err(AppError::Invalid("An app needs at least one redirect URI.".into()));
        }
        let post_logout_redirect_uris = uris(post_logout_redirect_uris)?;
        let scopes = if scopes.trim().is_empty() {
            Scopes::parse("openid profile email offline_access profile:read").expect("known scopes")
        } else {
            Scopes::parse(scopes).map_err(|e| AppError::Invalid(format!("Scopes: {e}.")))?
        };
        let allowed = Networks::parse_allow_list(allowed_ips)
            .map_err(|e| AppError::Invalid(format!("Allowed addresses: {e}.")))?;
        Ok(Self {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            confidential,
            scopes,
            allowed,
            backchannel_logout: None,
            id_token_alg: Algorithm::RS256,
            require_par: false,
        })
    }
}

/// A registered app.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub owner_id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Scopes,
    /// Where it may call from; empty: anywhere.
    pub allowed: Networks,
    pub backchannel_logout: Option<BackchannelLogout>,
    /// What its ID tokens and logout tokens are signed with.
    pub id_token_alg: Algorithm,
    /// Whether its authorization requests must be pushed first (PAR).
    pub require_par: bool,
    /// The newest back-channel logout delivery: when, and `delivered` or what went wrong.
    pub last_logout_delivery: Option<(i64, String)>,
    secret_hash: Option<Vec<u8>>,
    pub created_at: i64,
}

impl Client {
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether `secret` is this app's secret.
    pub fn secret_matches(&self, secret: &str) -> bool {
        // Comparing hashes: how long it takes says nothing about the secret.
        self.secret_hash.as_deref().is_some_and(|stored| stored == hash(secret).as_slice())
    }

    /// The app as RFC 7591 (dynamic client registration) names its fields.
    pub fn metadata(&self) -> ClientMetadata {
        let mut grant_types =
            vec!["authorization_code", "refresh_token", crate::server::oauth::wire::DEVICE_CODE_GRANT];
        if self.is_confidential() {
            grant_types.push("client_credentials");
        }
        ClientMetadata {
            client_id: self.id.clone(),
            client_name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types,
            response_types: vec!["code"],
            token_endpoint_auth_method: if self.is_confidential() { "client_secret_basic" } else { "none" },
            scope: self.scopes.to_string(),
            client_id_issued_at: self.created_at,
            allowed_ips: self.allowed.entries(),
            backchannel_logout_uri: self.backchannel_logout.as_ref().map(|b| b.uri.clone()),
            backchannel_logout_session_required: self.backchannel_logout.as_ref().map(|b| b.session_required),
            id_token_signed_response_alg: keys::name(self.id_token_alg),
            require_pushed_authorization_requests: self.require_par,
            client_secret: None,
            client_secret_expires_at: self.is_confidential().then_some(0),
        }
    }
}

/// An app's registration, in RFC 7591's words. `client_secret` is set only in the answer that creates it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientMetadata {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub response_types: Vec<&'static str>,
    pub token_endpoint_auth_method: &'static str,
    pub scope: String,
    pub client_id_issued_at: i64,
    /// Gatehouse's own field: the networks the app may call from (absent: anywhere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<String>,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2 (absent: none registered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    /// OpenID Connect Dynamic Client Registration 1.0 §2.
    pub id_token_signed_response_alg: &'static str,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// 0: the secret does not expire (it is rotated by hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
}

/// Registers an app; the answer carries its secret (for a confidential one), once.
pub async fn create(
    db: &Db,
    owner_id: Option<&str>,
    new: NewClient,
    who: &ClientInfo,
) -> Result<ClientMetadata, AppError> {
    let id = format!("{CLIENT_ID_PREFIX}{}", clock::random_token(16));
    let secret = new.confidential.then(|| new_secret(SECRET_PREFIX));
    let now = clock::now();
    let client = Client {
        id: id.clone(),
        owner_id: owner_id.map(str::to_owned),
        name: new.name.as_str().to_owned(),
        redirect_uris: new.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
        post_logout_redirect_uris: new.post_logout_redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
        scopes: new.scopes,
        allowed: new.allowed,
        backchannel_logout: new.backchannel_logout,
        id_token_alg: new.id_token_alg,
        require_par: new.require_par,
        last_logout_delivery: None,
        secret_hash: secret.as_deref().map(hash),
        created_at: now,
    };
    let mut tx = db.begin_write().await?;
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO oauth_clients (id, owner_id, name, redirect_uris, post_logout_redirect_uris, scopes, secret_hash,
                                    secret_created_at, created_at, allowed_networks, backchannel_logout_uri,
                                    backchannel_logout_session_required, id_token_signed_response_alg,
                                    require_pushed_authorization_requests)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&client.id)
    .bind(&client.owner_id)
    .bind(&client.name)
    .bind(json!(client.redirect_uris).to_string())
    .bind(json!(client.post_logout_redirect_uris).to_string())
    .bind(client.scopes.to_string())
    .bind(&client.secret_hash)
    .bind(secret.is_some().then_some(now))
    .bind(now)
    .bind(client.allowed.to_stored())
    .bind(client.backchannel_logout.as_ref().map(|b| b.uri.as_str()))
    .bind(client.backchannel_logout.as_ref().is_some_and(|b| b.session_required))
    .bind(keys::name(client.id_token_alg))
    .bind(client.require_par)
    .execute(conn)
    .await
    .map(drop))?;
    if let Some(owner) = owner_id {
        let detail = json!({ "client": client.id, "name": client.name, "allowed_ips": client.allowed.entries() });
        audit::record(tx.as_exec(), Event::AppRegistered, Some(owner), who, detail).await?;
    }
    tx.commit().await?;
    Ok(ClientMetadata { client_secret: secret, ..client.metadata() })
}

type ClientRow = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<Vec<u8>>,
    i64,
    Option<String>,
    Option<String>,
    bool,
    Option<i64>,
    Option<String>,
    String,
    bool,
);

const CLIENT_COLUMNS: &str = "id, owner_id, name, redirect_uris, post_logout_redirect_uris, scopes, secret_hash, \
                              created_at, allowed_networks, backchannel_logout_uri, backchannel_logout_session_required, \
                              logout_delivered_at, logout_outcome, id_token_signed_response_alg, \
                              require_pushed_authorization_requests";

fn client(
    (
        id,
        owner_id,
        name,
        redirect_uris,
        post_logout,
        scopes,
        secret_hash,
        created_at,
        allowed,
        backchannel_logout_uri,
        session_required,
        logout_delivered_at,
        logout_outcome,
        id_token_alg,
        require_par,
    ): ClientRow,
) -> Client {
    let list = |raw: &str| serde_json::from_str::<Vec<String>>(raw).unwrap_or_default();
    Client {
        id,
        owner_id,
        name,
        redirect_uris: list(&redirect_uris),
        post_logout_redirect_uris: list(&post_logout),
        scopes: Scopes::from_stored(&scopes),
        allowed: Networks::from_stored(allowed.as_deref()),
        backchannel_logout: backchannel_logout_uri.map(|uri| BackchannelLogout { uri, session_required }),
        id_token_alg: keys::parse(&id_token_alg).unwrap_or(Algorithm::RS256),
        require_par,
        last_logout_delivery: logout_delivered_at.zip(logout_outcome),
        secret_hash,
        created_at,
    }
}

/// The app with this id.
pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, sqlx::Error> {
    // Ids are short; a long one is nobody's, and is not worth a query.
    if client_id.len() > 64 {
        return Ok(None);
    }
    // A suspended app (its owner is disabled) is no app at all to the endpoints.
    let row: Option<ClientRow> = on!(db, pool => sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1 AND suspended_at IS NULL"
    ))
    .bind(client_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(client))
}

/// Every app (for `gatehouse clients list`), or those one person registered, oldest first.
pub async fn list(db: &Db, owner_id: Option<&str>) -> Result<Vec<Client>, sqlx::Error> {
    let rows: Vec<ClientRow> = match owner_id {
        None => on!(db, pool => sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, id"
        ))
        .fetch_all(pool)
        .await)?,
        Some(owner) => on!(db, pool => sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE owner_id = $1 ORDER BY created_at, id"
        ))
        .bind(owner)
        .fetch_all(pool)
        .await)?,
    };
    Ok(rows.into_iter().map(client).collect())
}

/// Removes an app and everything issued to it (codes, authorizations and their refresh tokens, consents: by the
/// cascade). `owner_id` limits it to that person's apps; `None` is the operator. Returns whether it existed.
pub async fn remove(db: &Db, client_id: &str, owner_id: Option<&str>) -> Result<bool, sqlx::Error> {
    let removed = on!(db, pool => sqlx::query(
        "DELETE FROM oauth_clients WHERE id = $1 AND ($2 IS NULL OR owner_id = $2)",
    )
    .bind(client_id)
    .bind(owner_id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(removed > 0)
}

/// How an app proved itself at the token endpoint.
#[derive(Debug)]
pub enum ClientAuth<'a> {
    /// `client_id` only: a public client.
    None { client_id: &'a str },
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: &'a str, secret: &'a str },
}

/// Why an app could not be authenticated: always `invalid_client`, whatever the reason (logged, never told).
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("unknown client")]
    Unknown,
    #[error("wrong client secret")]
    WrongSecret,
    #[error("a confidential client sent no secret")]
    SecretMissing,
    #[error("a public client sent a secret")]
    UnexpectedSecret,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The app, if it proved itself: a confidential app by its secret, a public one by nothing here (PKCE, later).
pub async fn authenticate(db: &Db, auth: &ClientAuth<'_>) -> Result<Client, ClientAuthError> {
    let (client_id, secret) = match auth {
        ClientAuth::None { client_id } => (*client_id, None),
        ClientAuth::Secret { client_id, secret } => (*client_id, Some(*secret)),
    };
    let client = find(db, client_id).await?.ok_or(ClientAuthError::Unknown)?;
    match (client.is_confidential(), secret) {
        (true, Some(secret)) if client.secret_matches(secret) => Ok(client),
        (true, Some(_)) => Err(ClientAuthError::WrongSecret),
        (true, None) => Err(ClientAuthError::SecretMissing),
        (false, None) => Ok(client),
        (false, Some(_)) => Err(ClientAuthError::UnexpectedSecret),
    }
}

/// Whether `scope` is one the app may ask for.
pub fn allows(client: &Client, scope: OAuthScope) -> bool {
    client.scopes.contains(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_and_written_exactly() {
        assert!(RedirectUri::parse("https://app.example/callback").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb").is_ok());
        let localhost = RedirectUri::parse("http://localhost/cb").expect_err("a name, not a loopback address");
        assert!(localhost.to_string().contains("127.0.0.1"), "{localhost}");
        assert!(RedirectUri::parse("http://[::1]/cb").is_ok());
        assert!(RedirectUri::parse("http://app.example/cb").is_err(), "http only on loopback");
        assert!(RedirectUri::parse("https://app.example/cb#x").is_err(), "no fragment");
        assert!(RedirectUri::parse("https://user@app.example/cb").is_err(), "no user name");
        assert!(RedirectUri::parse("https://App.example/cb").is_err(), "written as it is compared");
        assert!(RedirectUri::parse("https://app.example").is_err(), "written as it is compared (a trailing slash)");
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("/cb").is_err());
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_a_loopback_port() {
        let registered = vec!["https://app.example/cb".to_owned(), "http://127.0.0.1/cli".to_owned()];
        assert!(redirect_matches(&registered, "https://app.example/cb"));
        for variant in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example/cb/extra",
            "http://app.example/cb",
            "https://app.example/cb#f",
            "https://user@app.example/cb",
            "https://app.example:443/cb",
            "https://app.example/CB",
        ] {
            assert!(!redirect_matches(&registered, variant), "{variant}");
        }
        assert!(redirect_matches(&registered, "http://127.0.0.1:53123/cli"));
        assert!(redirect_matches(&registered, "http://127.0.0.1/cli"));
        assert!(!redirect_matches(&registered, "http://127.0.0.1:53123/cli/"));
        assert!(!redirect_matches(&registered, "http://127.0.0.1:53123/cli?x"));
        assert!(!redirect_matches(&registered, "http://localhost:53123/cli"));
    }
}
