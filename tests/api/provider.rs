//! A small OpenID Provider inside the tests. It signs its own ID tokens with the keys under `keys/`, checks client
//! credentials, single-use codes, the redirect URI and the PKCE verifier as a real provider does, and can be told to
//! misbehave in each way the relying party must catch.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "gatehouse-test-client";
pub const CLIENT_SECRET: &str = "gatehouse-test-secret";

/// How the provider signs the next ID token.
#[derive(Clone, Debug)]
pub enum Signing {
    /// With this key, naming its kid.
    Key(&'static str),
    /// With this key, without a kid in the header.
    KeyWithoutKid(&'static str),
    /// With the first key, but naming the second key's kid: a bad signature.
    KeyClaimingKid(&'static str, &'static str),
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256, using this key's *public* PEM as the HMAC secret, naming its kid.
    HmacWithPublicKey(&'static str),
    /// With this (unpublished) key, embedding its public JWK in the header.
    EmbeddedJwk(&'static str),
}

type ClaimsEdit = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

/// Everything a test can change.
#[derive(Clone)]
pub struct Behaviour {
    /// The issuer the discovery document names (default: the real one).
    pub discovery_issuer: Option<String>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`.
    pub iss_parameter_supported: bool,
    /// Keys in the JWKS.
    pub published_keys: Vec<&'static str>,
    pub signing: Signing,
    /// Applied to the ID token's claims just before signing.
    pub edit_claims: ClaimsEdit,
    pub token_delay: Duration,
    /// The `sub` UserInfo answers with (default: the token's).
    pub userinfo_sub: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    /// How long ago the provider says the person signed in when asked to check again: zero for a provider that
    /// honours `prompt=login`; more for one that ignores it.
    pub auth_age: Duration,
    /// How long the access tokens it gives last (`expires_in`).
    pub access_lifetime: i64,
    /// Refuse every refresh token (`invalid_grant`), as after the person revoked the grant.
    pub refuse_refresh: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            discovery_issuer: None,
            iss_parameter_supported: true,
            published_keys: vec!["rsa1", "ec1"],
            signing: Signing::Key("rsa1"),
            edit_claims: Arc::new(|_| {}),
            token_delay: Duration::ZERO,
            userinfo_sub: None,
            email: Some("ada@example.test".into()),
            email_verified: true,
            name: "Ada Lovelace".into(),
            auth_age: Duration::ZERO,
            access_lifetime: 300,
            refuse_refresh: false,
        }
    }
}

struct Grant {
    subject: String,
    nonce: Option<String>,
    /// When the person signed in at this provider: now, when the request asked to check again (`prompt=login` or
    /// `max_age`); otherwise unknown (not sent), as many providers do for an existing provider session.
    auth_time: Option<i64>,
    challenge: String,
    redirect_uri: String,
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    behaviour: Arc<Mutex<Behaviour>>,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
    /// Live refresh tokens, and whose (rotated: each is used once).
    refresh_tokens: Arc<Mutex<HashMap<String, String>>>,
    /// How many refresh grants were asked for.
    refreshes: Arc<std::sync::atomic::AtomicUsize>,
    /// Refresh grants being answered now, and the most there ever were at once.
    refreshing: Arc<std::sync::atomic::AtomicUsize>,
    most_refreshing: Arc<std::sync::atomic::AtomicUsize>,
    /// The tokens revoked at `/revoke` (RFC 7009), with their hints, in order.
    revoked: Arc<Mutex<Vec<(String, String)>>>,
}

pub struct TestProvider {
    pub issuer: String,
    shared: Shared,
}

impl TestProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("free port");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Shared {
            issuer: issuer.clone(),
            behaviour: Arc::new(Mutex::new(Behaviour::default())),
            grants: Arc::new(Mutex::new(HashMap::new())),
            refresh_tokens: Arc::new(Mutex::new(HashMap::new())),
            refreshes: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            refreshing: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            most_refreshing: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            revoked: Arc::new(Mutex::new(Vec::new())),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/.well-known/risc-configuration", get(risc_configuration))
            .route("/revoke", post(revoke))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { issuer, shared }
    }

    /// The tokens revoked at its revocation endpoint so far: (token, hint).
    pub fn revoked(&self) -> Vec<(String, String)> {
        self.shared.revoked.lock().expect("lock").clone()
    }

    /// The refresh tokens it has given that are still live.
    pub fn live_refresh_tokens(&self) -> Vec<String> {
        self.shared.refresh_tokens.lock().expect("lock").keys().cloned().collect()
    }

    /// How many refresh grants apps asked for so far.
    pub fn refresh_count(&self) -> usize {
        self.shared.refreshes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most refresh grants it was ever answering at the same time.
    pub fn most_refreshes_at_once(&self) -> usize {
        self.shared.most_refreshing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Changes how the provider behaves from now on.
    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.behaviour.lock().expect("lock"));
    }

    /// What the provider's authorization endpoint does when `subject` signs in and agrees: checks the request and
    /// returns the callback's query string (`code`, `state`, and `iss`).
    pub fn approve(&self, authorize_url: &str, subject: &str) -> String {
        let url = url::Url::parse(authorize_url).expect("authorization URL");
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(params.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(params.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE S256 is required");
        let code = format!("code-{}", rand_suffix());
        self.shared.grants.lock().expect("lock").insert(
            code.clone(),
            Grant {
                subject: subject.to_owned(),
                nonce: params.get("nonce").cloned(),
                auth_time: (params.get("prompt").is_some_and(|p| p.split(' ').any(|p| p == "login"))
                    || params.contains_key("max_age"))
                .then(|| {
                    let behaviour = self.shared.behaviour.lock().expect("lock");
                    unix_now() - behaviour.auth_age.as_secs() as i64
                }),
                challenge: params["code_challenge"].clone(),
                redirect_uri: params["redirect_uri"].clone(),
            },
        );
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("code", &code).append_pair("state", &params["state"]).append_pair("iss", &self.issuer);
        query.finish()
    }
}

impl TestProvider {
    /// The claims of a logout token for `subject` and/or `sid`, as Back-Channel Logout 1.0 §2.4 lays them out: for
    /// this client, issued now, a fresh `jti`, the back-channel logout event.
    pub fn logout_claims(&self, subject: Option<&str>, sid: Option<&str>) -> Map<String, Value> {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 120));
        claims.insert("jti".into(), json!(rand_suffix()));
        claims.insert("events".into(), json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
        if let Some(subject) = subject {
            claims.insert("sub".into(), json!(subject));
        }
        if let Some(sid) = sid {
            claims.insert("sid".into(), json!(sid));
        }
        claims
    }

    /// A security event token as Google's Cross-Account Protection sends one: for this client, issued now, a fresh
    /// `jti`, one event of `event_type` (its last path segment, e.g. `sessions-revoked`) about `subject`, with `extra`
    /// fields in the event.
    pub fn security_event_claims(&self, event_type: &str, subject: &str, extra: Value) -> Map<String, Value> {
        let family = if event_type.contains("token") { "oauth" } else { "risc" };
        let mut event =
            json!({ "subject": { "subject_type": "iss-sub", "iss": format!("{}/", self.issuer), "sub": subject } });
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            event.extend(extra.clone());
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(format!("{}/", self.issuer)));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("iat".into(), json!(unix_now()));
        claims.insert("jti".into(), json!(rand_suffix()));
        claims.insert(
            "events".into(),
            json!({ format!("https://schemas.openid.net/secevent/{family}/event-type/{event_type}"): event }),
        );
        claims
    }

    /// `claims` signed as the provider signs logout tokens (`typ: logout+jwt`), or as `signing` says.
    pub fn logout_token(&self, claims: &Map<String, Value>, signing: &Signing, typ: Option<&str>) -> String {
        sign_typed(signing, &Value::Object(claims.clone()), typ)
    }
}

fn rand_suffix() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

struct Key {
    kid: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
    public_pem: Vec<u8>,
}

fn key(name: &'static str) -> Key {
    let path = |suffix: &str| format!("{}/tests/api/keys/{name}{suffix}", env!("CARGO_MANIFEST_DIR"));
    let private = std::fs::read(path(".pem")).expect("test key");
    let public_pem = std::fs::read(path(".pub.pem")).expect("test public key");
    let (alg, encoding) = if name.contains("ec") {
        (Algorithm::ES256, EncodingKey::from_ec_pem(&private).expect("EC key"))
    } else {
        (Algorithm::RS256, EncodingKey::from_rsa_pem(&private).expect("RSA key"))
    };
    Key { kid: name, alg, encoding, public_pem }
}

fn public_jwk(key: &Key) -> Value {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&key.encoding, key.alg).expect("JWK")).expect("JSON");
    jwk["kid"] = json!(key.kid);
    jwk["use"] = json!("sig");
    jwk
}

async fn discovery(State(shared): State<Shared>) -> Json<Value> {
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": behaviour.discovery_issuer.unwrap_or_else(|| issuer.clone()),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        // Advertising HS256 and none proves the relying party's own allow-list is what refuses them.
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": behaviour.iss_parameter_supported,
        "revocation_endpoint": format!("{issuer}/revoke"),
    }))
}

/// RFC 7009: the client authenticates; the token goes (a refresh token's grant with it).
async fn revoke(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !client_authenticated(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    shared.refresh_tokens.lock().expect("lock").remove(&token);
    let hint = form.get("token_type_hint").cloned().unwrap_or_default();
    shared.revoked.lock().expect("lock").push((token, hint));
    StatusCode::OK.into_response()
}

/// What Google publishes for Cross-Account Protection: its issuer (with the trailing slash Google writes) and keys.
async fn risc_configuration(State(shared): State<Shared>) -> Json<Value> {
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": format!("{issuer}/"),
        "jwks_uri": format!("{issuer}/jwks"),
        "delivery_methods_supported": ["https://schemas.openid.net/secevent/risc/delivery-method/push"],
    }))
}

async fn jwks(State(shared): State<Shared>) -> Json<Value> {
    let published = shared.behaviour.lock().expect("lock").published_keys.clone();
    Json(json!({ "keys": published.into_iter().map(|name| public_jwk(&key(name))).collect::<Vec<_>>() }))
}

/// Whether the request carries this client's credentials (`client_secret_basic`).
fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !client_authenticated(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&shared, &form).await;
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    let Some(grant) = form.get("code").and_then(|code| shared.grants.lock().expect("lock").remove(code)) else {
        return token_error("invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error("invalid_grant");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return token_error("invalid_grant");
    }

    let behaviour = shared.behaviour.lock().expect("lock").clone();
    tokio::time::sleep(behaviour.token_delay).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(shared.issuer));
    claims.insert("sub".into(), json!(grant.subject));
    claims.insert("aud".into(), json!([CLIENT_ID]));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    if let Some(nonce) = grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(auth_time) = grant.auth_time {
        claims.insert("auth_time".into(), json!(auth_time));
    }
    (behaviour.edit_claims)(&mut claims);
    let id_token = sign(&behaviour.signing, &Value::Object(claims));
    let refresh_token = format!("refresh-{}", rand_suffix());
    shared.refresh_tokens.lock().expect("lock").insert(refresh_token.clone(), grant.subject.clone());
    Json(json!({
        "access_token": format!("access-{}", grant.subject),
        "token_type": "Bearer",
        "expires_in": behaviour.access_lifetime,
        "refresh_token": refresh_token,
        "id_token": id_token,
    }))
    .into_response()
}

/// The refresh grant, rotating: the refresh token used is gone, a new one comes with the new access token.
async fn refresh(shared: &Shared, form: &HashMap<String, String>) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    /// Counts a refresh out when its answer is sent or its caller hangs up (the handler is dropped).
    struct InFlight(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }
    let n = shared.refreshes.fetch_add(1, SeqCst) + 1;
    let now = shared.refreshing.fetch_add(1, SeqCst) + 1;
    let _in_flight = InFlight(shared.refreshing.clone());
    shared.most_refreshing.fetch_max(now, SeqCst);
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    // A slow provider is slow before it acts: a caller that hangs up first has changed nothing.
    tokio::time::sleep(behaviour.token_delay).await;
    let used = form.get("refresh_token").cloned().unwrap_or_default();
    let subject = shared.refresh_tokens.lock().expect("lock").remove(&used);
    let Some(subject) = subject.filter(|_| !behaviour.refuse_refresh) else { return token_error("invalid_grant") };
    let refresh_token = format!("refresh-{}", rand_suffix());
    shared.refresh_tokens.lock().expect("lock").insert(refresh_token.clone(), subject.clone());
    Json(json!({
        "access_token": format!("refreshed-{n}-{subject}"),
        "token_type": "Bearer",
        "expires_in": behaviour.access_lifetime,
        "refresh_token": refresh_token,
    }))
    .into_response()
}

fn sign(signing: &Signing, claims: &Value) -> String {
    sign_typed(signing, claims, Some("JWT"))
}

/// Signs `claims` with a header whose `typ` is `typ` (none when `None`).
fn sign_typed(signing: &Signing, claims: &Value, typ: Option<&str>) -> String {
    let header_for = |key: &Key, kid: Option<&str>| {
        let mut header = Header::new(key.alg);
        header.kid = kid.map(str::to_owned);
        header.typ = typ.map(str::to_owned);
        header
    };
    let encode = |header: &Header, key: &EncodingKey| jsonwebtoken::encode(header, claims, key).expect("signing");
    match signing {
        Signing::Key(name) => {
            let key = key(name);
            encode(&header_for(&key, Some(key.kid)), &key.encoding)
        }
        Signing::KeyWithoutKid(name) => {
            let key = key(name);
            encode(&header_for(&key, None), &key.encoding)
        }
        Signing::KeyClaimingKid(signer, claimed) => {
            let key = key(signer);
            encode(&header_for(&key, Some(claimed)), &key.encoding)
        }
        Signing::AlgNone => {
            let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
            format!("{}.{}.", part(json!({ "alg": "none", "typ": typ })), part(claims.clone()))
        }
        Signing::HmacWithPublicKey(name) => {
            let key = key(name);
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid.to_owned());
            header.typ = typ.map(str::to_owned);
            encode(&header, &EncodingKey::from_secret(&key.public_pem))
        }
        Signing::EmbeddedJwk(name) => {
            let key = key(name);
            let mut header = header_for(&key, Some(key.kid));
            header.jwk = Some(Jwk::from_encoding_key(&key.encoding, key.alg).expect("JWK"));
            encode(&header, &key.encoding)
        }
    }
}

async fn userinfo(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some(subject) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer access-"))
        .map(str::to_owned)
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    Json(json!({
        "sub": behaviour.userinfo_sub.unwrap_or(subject),
        "email": behaviour.email,
        "email_verified": behaviour.email_verified,
        "name": behaviour.name,
    }))
    .into_response()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}
