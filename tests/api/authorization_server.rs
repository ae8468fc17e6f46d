//! Gatehouse as an OAuth 2.1 / OpenID Connect provider, driven the way an app drives it: discovery, the authorization
//! request and consent, the token endpoint, and the API called with the access tokens it issues. The negative cases
//! are one test each, so a failure names the rule that broke.

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse::server::{
    oauth::{clients, grants, keys},
    people::session::ClientInfo,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    helpers::{TestApp, client_from, json, location},
    provider::TestProvider,
    sessions::{signed_in, with_provider},
};

pub(crate) const REDIRECT: &str = "https://app.example/callback";

/// A registered app, as the tests drive it.
pub(crate) struct App {
    pub id: String,
    pub secret: Option<String>,
}

pub(crate) async fn register(app: &TestApp, confidential: bool, scopes: &str) -> App {
    register_allowed(app, confidential, scopes, "").await
}

/// An app that may call only from `allowed_ips` (empty: anywhere).
pub(crate) async fn register_allowed(app: &TestApp, confidential: bool, scopes: &str, allowed_ips: &str) -> App {
    let new = clients::NewClient::parse(
        "Sample app",
        &[REDIRECT.to_owned(), "http://127.0.0.1/cli".to_owned()],
        &["https://app.example/signed-out".to_owned()],
        confidential,
        scopes,
        allowed_ips,
    )
    .expect("a valid client");
    let created = clients::create(&app.state.db, None, new, &ClientInfo::default()).await.expect("registered");
    App { id: created.client_id, secret: created.client_secret }
}

/// A signed-in person and a public app that may ask for the usual scopes.
pub(crate) async fn setup() -> (TestProvider, TestApp, App) {
    let (provider, app) = signed_in(&[]).await;
    let client = register(&app, false, "openid profile email offline_access profile:read sessions:read").await;
    (provider, app, client)
}

pub(crate) struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub(crate) fn pkce() -> Pkce {
    let verifier = format!("verifier-{}-{}", uuidish(), uuidish());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

fn uuidish() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn authorize_path(client_id: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email profile:read"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    for (name, value) in params {
        query.append_pair(name, value);
    }
    format!("/oauth/authorize?{}", query.finish())
}

pub(crate) fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("absolute URL").query_pairs().into_owned().collect()
}

/// Follows an authorization request through the consent page (allowing) to the code.
pub(crate) async fn code(app: &TestApp, client: &App, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    code_from(app, &authorize_path(&client.id, pkce, extra)).await
}

/// Follows the authorization request at `path` through the consent page (allowing) to the code.
pub(crate) async fn code_from(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    let back = if response.status() == StatusCode::OK {
        let page = response.text().await.expect("consent page");
        assert!(page.contains("Sample app"), "the consent page names the app");
        let request = page
            .split("name=\"request\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the consent form carries the request id")
            .to_owned();
        app.client
            .post(format!("{}/oauth/authorize/decision", app.address))
            .header("origin", &app.address)
            .form(&[("request", request.as_str()), ("decision", "allow")])
            .send()
            .await
            .expect("decision")
    } else {
        response
    };
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let target = location(&back);
    assert!(target.starts_with(REDIRECT), "back to the app: {target}");
    let params = query_of(&target);
    assert_eq!(params.get("iss"), Some(&app.address), "RFC 9207 iss");
    assert_eq!(params.get("state").map(String::as_str), Some("st-123"));
    params.get("code").cloned().unwrap_or_else(|| panic!("a code: {target}"))
}

pub(crate) async fn token(app: &TestApp, client: &App, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!("{}/oauth/token", app.address));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    request.form(&form).send().await.expect("token request")
}

pub(crate) async fn exchange(app: &TestApp, client: &App, code: &str, pkce: &Pkce) -> reqwest::Response {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await
}

pub(crate) async fn tokens(app: &TestApp, client: &App) -> Value {
    let pkce = pkce();
    let code = code(app, client, &pkce, &[]).await;
    let response = exchange(app, client, &code, &pkce).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    json(response).await
}

/// `GET /api/v1/me` with a bearer token: status, `WWW-Authenticate`, body.
pub(crate) async fn me(app: &TestApp, token: &str) -> (StatusCode, String, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("API call");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, challenge, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn jwks(app: &TestApp) -> JwkSet {
    serde_json::from_value(json(app.get("/oauth/jwks.json").await).await).expect("a JWK set")
}

/// Checks `token` as an app would with the published keys: ES256 or RS256, by a key published for that algorithm.
pub(crate) fn decode(token: &str, set: &JwkSet, audience: &str, issuer: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    assert!(matches!(header.alg, Algorithm::ES256 | Algorithm::RS256), "{:?}", header.alg);
    let jwk = set.find(header.kid.as_deref().expect("kid")).expect("the key is published");
    let published = jwk.common.key_algorithm.map(|a| a.to_string());
    assert_eq!(published.as_deref(), Some(format!("{:?}", header.alg).as_str()), "the key is for that algorithm");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).expect("key"), &validation)
        .expect("the signature and claims check out")
        .claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_states_the_issuer_and_only_what_is_implemented() {
    let (_provider, app) = with_provider(&[]).await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .header("origin", "https://app.example")
            .send()
            .await
            .expect("discovery");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["access-control-allow-origin"], "*", "apps' pages may read it");
        let doc = json(response).await;
        assert_eq!(doc["issuer"], app.address, "issuer is APP_URL exactly");
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        let grants = doc["grant_types_supported"].as_array().expect("grant types");
        assert!(!grants.contains(&json!("password")) && !grants.contains(&json!("implicit")));
        for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
            assert!(doc[endpoint].as_str().expect(endpoint).starts_with(&app.address));
        }
    }
    let keys = json(app.get("/oauth/jwks.json").await).await;
    let keys = keys["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "one key per algorithm");
    let of = |alg: &str| keys.iter().find(|k| k["alg"] == alg).unwrap_or_else(|| panic!("a {alg} key"));
    assert_eq!((of("ES256")["kty"].as_str(), of("ES256")["crv"].as_str()), (Some("EC"), Some("P-256")));
    assert_eq!(of("RS256")["kty"], "RSA");
    let modulus = URL_SAFE_NO_PAD.decode(of("RS256")["n"].as_str().expect("n")).expect("base64url");
    assert_eq!(modulus.len() * 8, 2048, "a 2048-bit RSA key");
    for key in keys {
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "no private field, ever: {private}");
        }
    }
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT private_key FROM oauth_signing_keys")
        .fetch_all(&app.sql)
        .await
        .expect("the keys are stored");
    for der in stored {
        assert!(!der.windows(4).any(|w| w == b"\x30\x81\x87\x02"), "sealed, not PKCS#8 in the clear");
        assert!(!der.windows(4).any(|w| w == b"\x30\x82\x04\xa4" || w == b"\x30\x82\x04\xa3"), "nor PKCS#1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_rs256_unless_the_app_asks_for_es256_and_access_tokens_stay_es256() {
    let (_provider, app, client) = setup().await;
    let discovery = json(app.get("/.well-known/openid-configuration").await).await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"]),
        "RS256 first (Core §15.1)"
    );
    let set = jwks(&app).await;
    let alg = |token: &Value| jsonwebtoken::decode_header(token.as_str().expect("a token")).expect("header").alg;

    let issued = tokens(&app, &client).await;
    assert_eq!(alg(&issued["id_token"]), Algorithm::RS256, "by default");
    assert_eq!(alg(&issued["access_token"]), Algorithm::ES256);
    decode(issued["id_token"].as_str().expect("id token"), &set, &client.id, &app.address);

    let new = clients::NewClient::parse("Sample app", &[REDIRECT.to_owned()], &[], false, "openid profile:read", "")
        .and_then(|new| new.with_id_token_alg("ES256"))
        .expect("a valid client");
    let created = clients::create(&app.state.db, None, new, &ClientInfo::default()).await.expect("registered");
    assert_eq!(created.id_token_signed_response_alg, "ES256");
    let es_app = App { id: created.client_id, secret: None };
    let pkce = pkce();
    let code = code(&app, &es_app, &pkce, &[("scope", "openid profile:read")]).await;
    let issued = json(exchange(&app, &es_app, &code, &pkce).await).await;
    assert_eq!(alg(&issued["id_token"]), Algorithm::ES256, "as the app registered");
    decode(issued["id_token"].as_str().expect("id token"), &set, &es_app.id, &app.address);

    for bad in ["HS256", "none", "RS512", "es256"] {
        let refused = clients::NewClient::parse("App", &[REDIRECT.to_owned()], &[], false, "", "")
            .and_then(|new| new.with_id_token_alg(bad))
            .expect_err(bad);
        assert!(refused.to_string().contains("RS256 or ES256"), "{refused}");
    }

    // An access token signed with the RSA key (a key of the wrong algorithm for it) is refused.
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(issued["access_token"].as_str().expect("at"))
        .expect("claims")
        .claims;
    let rsa = app.state.keys.current(Algorithm::RS256);
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(rsa.kid.clone());
    let forged = jsonwebtoken::encode(&header, &claims, rsa.encoding()).expect("signs");
    assert_eq!(me(&app, &forged).await.0, StatusCode::UNAUTHORIZED, "access tokens are ES256 only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_signs_a_person_in_with_code_and_pkce_and_calls_the_api() {
    let (_provider, app, client) = setup().await;
    let pkce = pkce();
    // The consent page lists the scopes in words, and is a form that works without JavaScript.
    let page = app.get(&authorize_path(&client.id, &pkce, &[])).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().expect("policy").to_owned();
    assert!(csp.contains("form-action 'self' https://app.example"), "{csp}");
    let html = page.text().await.expect("page");
    assert!(html.contains("See your email address") && html.contains("Read your profile"), "{html}");

    let issued = tokens(&app, &client).await;
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 600);
    assert_eq!(issued["scope"], "openid profile email profile:read");
    let set = jwks(&app).await;
    let access = issued["access_token"].as_str().expect("access token");
    let header = jsonwebtoken::decode_header(access).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068");
    let claims = decode(access, &set, &format!("{}/api/v1", app.address), &app.address);
    for claim in ["iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert_eq!(claims["client_id"], client.id);

    let id_token = issued["id_token"].as_str().expect("an ID token for openid");
    let id = decode(id_token, &set, &client.id, &app.address);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["sub"], claims["sub"]);
    assert!(id["auth_time"].as_i64().is_some());
    assert_eq!(id["amr"], json!(["fed"]));
    assert!(id["email"].is_string() && id["name"].is_string());

    let (status, _, person) = me(&app, access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(person["id"], claims["sub"]);

    // A public app cannot prove who it is (anyone can use its id): it is asked again every time (RFC 8252 §8.6),
    // and prompt=none cannot be answered for it.
    assert_eq!(app.get(&authorize_path(&client.id, &pkce, &[])).await.status(), StatusCode::OK);
    let silent = app.get(&authorize_path(&client.id, &pkce, &[("prompt", "none")])).await;
    assert_eq!(query_of(&location(&silent))["error"], "consent_required");
    // A confidential app's consent is remembered: the next request for the same scopes goes straight back with a
    // code…
    let confidential = register(&app, true, "openid profile email profile:read sessions:read").await;
    code(&app, &confidential, &pkce, &[]).await;
    let again = app.get(&authorize_path(&confidential.id, &pkce, &[])).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(query_of(&location(&again)).contains_key("code"));
    // …but asking for more shows the consent page again.
    let more = app.get(&authorize_path(&confidential.id, &pkce, &[("scope", "openid sessions:read")])).await;
    assert_eq!(more.status(), StatusCode::OK);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert!(kinds.contains(&"app_authorized".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_client_or_a_redirect_uri_not_registered_exactly_gets_an_error_page_here() {
    let (_provider, app, client) = setup().await;
    let pkce = pkce();
    let unknown = app.get(&authorize_path("app_nobody", &pkce, &[])).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.headers().get("location").is_none());
    for variant in [
        "https://app.example/callback/",
        "https://app.example/callback?extra=1",
        "https://APP.example/callback",
        "https://app.example/Callback",
        "https://app.example/callback/more",
        "http://app.example/callback",
        "https://app.example/callback#fragment",
        "https://user@app.example/callback",
        "https://app.example.evil.example/callback",
    ] {
        let response = app.get(&authorize_path(&client.id, &pkce, &[("redirect_uri", variant)])).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{variant}");
        assert!(response.headers().get("location").is_none(), "never redirected to {variant}");
        assert!(response.text().await.expect("page").contains("not one the app registered"), "{variant}");
    }
    let missing = app.get(&authorize_path(&client.id, &pkce, &[("redirect_uri", "")])).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    // A loopback redirect URI registered without a port matches on any port (RFC 8252 §7.3).
    let cli = app.get(&authorize_path(&client.id, &pkce, &[("redirect_uri", "http://127.0.0.1:49152/cli")])).await;
    assert_eq!(cli.status(), StatusCode::OK, "the consent page");
}

/// The error an authorization request sends back to the app, with `state` and `iss`.
async fn error_back(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
    let params = query_of(&location(&response));
    assert_eq!(params.get("state").map(String::as_str), Some("st-123"), "state echoed on errors");
    assert_eq!(params.get("iss"), Some(&app.address), "iss on errors too");
    params["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_s256_is_required_and_the_verifier_must_match() {
    let (_provider, app, client) = setup().await;
    let pkce = pkce();
    let missing = authorize_path(&client.id, &pkce, &[("code_challenge", ""), ("code_challenge_method", "")]);
    assert_eq!(error_back(&app, &missing).await, "invalid_request", "PKCE missing");
    let plain = authorize_path(&client.id, &pkce, &[("code_challenge_method", "plain")]);
    assert_eq!(error_back(&app, &plain).await, "invalid_request", "plain is refused");
    let no_method = authorize_path(&client.id, &pkce, &[("code_challenge_method", "")]);
    assert_eq!(error_back(&app, &no_method).await, "invalid_request", "the method defaults to plain: refused");

    let code = code(&app, &client, &pkce, &[]).await;
    let wrong = pkce_with_other_verifier(&pkce);
    let response = exchange(&app, &client, &code, &wrong).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "invalid_grant", "wrong verifier");
    let without =
        token(&app, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)])
            .await;
    assert_eq!(json(without).await["error"], "invalid_request", "no verifier");
    // Every code has a challenge (the request is refused without one), so a verifier can never stand alone; the
    // right one still works after the failures above.
    assert_eq!(exchange(&app, &client, &code, &pkce).await.status(), StatusCode::OK);
}

fn pkce_with_other_verifier(pkce: &Pkce) -> Pkce {
    Pkce { verifier: format!("{}x", pkce.verifier), challenge: pkce.challenge.clone() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_code_is_refused_and_its_reuse_revokes_what_it_gave() {
    let (_provider, app, client) = setup().await;
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[("scope", "openid offline_access profile:read")]).await;
    let first = json(exchange(&app, &client, &code, &pkce).await).await;
    let access = first["access_token"].as_str().expect("access token").to_owned();
    assert_eq!(me(&app, &access).await.0, StatusCode::OK);

    let second = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(second).await["error"], "invalid_grant");
    let (status, challenge, _) = me(&app, &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the first exchange's access token is refused from the next request");
    assert!(challenge.contains("invalid_token"));
    let refresh = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().expect("rt"))],
    )
    .await;
    assert_eq!(json(refresh).await["error"], "invalid_grant", "and its refresh token");
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert_eq!(kinds.last().map(String::as_str), Some("app_token_reused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_or_one_redeemed_by_another_client_is_refused() {
    let (_provider, app, client) = setup().await;
    let other = register(&app, true, "openid profile:read").await;
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[]).await;
    let stolen = exchange(&app, &other, &code, &pkce).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(stolen).await["error"], "invalid_grant", "a code is bound to its client");

    sqlx::query("UPDATE oauth_codes SET expires_at = expires_at - 61").execute(&app.sql).await.expect("age the code");
    let expired = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(json(expired).await["error"], "invalid_grant", "codes live at most 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_whole_authorization() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let first = issued["refresh_token"].as_str().expect("refresh token").to_owned();
    let refresh = |token: String, scope: Option<&'static str>| {
        let (app, client) = (&app, &client);
        async move {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            if let Some(scope) = scope {
                form.push(("scope", scope));
            }
            token_owned(app, client, form).await
        }
    };
    let grown = refresh(first.clone(), Some("openid profile email profile:read sessions:read")).await;
    assert_eq!(grown.0, StatusCode::BAD_REQUEST);
    assert_eq!(grown.1["error"], "invalid_scope", "scope growth on refresh");

    let (status, second) = refresh(first.clone(), Some("openid profile:read")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["scope"], "openid profile:read", "narrowed");
    let second_token = second["refresh_token"].as_str().expect("a new refresh token").to_owned();
    assert_ne!(second_token, first, "rotated");
    let narrowed = refresh(second_token.clone(), Some("openid profile:read email")).await;
    assert_eq!(narrowed.1["error"], "invalid_scope", "a narrowed scope cannot grow back");

    // The first token comes back: theft. The whole family ends, the newest token too.
    let (status, reused) = refresh(first, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reused["error"], "invalid_grant");
    let (status, _) = refresh(second_token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the newest refresh token is revoked with its family");
    assert_eq!(me(&app, second["access_token"].as_str().expect("at")).await.0, StatusCode::UNAUTHORIZED);
}

pub(crate) async fn token_owned(app: &TestApp, client: &App, form: Vec<(&str, &str)>) -> (StatusCode, Value) {
    let response = token(app, client, &form).await;
    (response.status(), json(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_are_for_confidential_apps_and_act_for_no_person() {
    let (_provider, app) = signed_in(&[]).await;
    let service = register(&app, true, "profile:read sessions:read").await;
    let (status, issued) = token_owned(&app, &service, vec![("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(issued.get("refresh_token").is_none() && issued.get("id_token").is_none());
    let claims = decode(
        issued["access_token"].as_str().expect("at"),
        &jwks(&app).await,
        &format!("{}/api/v1", app.address),
        &app.address,
    );
    assert_eq!(claims["sub"], service.id, "sub is the client, never a person");
    assert_eq!(me(&app, issued["access_token"].as_str().expect("at")).await.0, StatusCode::FORBIDDEN);

    let wrong_secret = App { id: service.id.clone(), secret: Some("gcs_wrong".into()) };
    let response = token(&app, &wrong_secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(json(response).await["error"], "invalid_client");
    // client_secret_post works as well as Basic.
    let post = reqwest::Client::new()
        .post(format!("{}/oauth/token", app.address))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &service.id),
            ("client_secret", service.secret.as_deref().expect("secret")),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(post.status(), StatusCode::OK);

    let public = register(&app, false, "openid profile:read").await;
    let (_, refused) = token_owned(&app, &public, vec![("grant_type", "client_credentials")]).await;
    assert_eq!(refused["error"], "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_and_the_implicit_flow_do_not_exist() {
    let (_provider, app, client) = setup().await;
    let (status, body) =
        token_owned(&app, &client, vec![("grant_type", "password"), ("username", "a@b.c"), ("password", "x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    let implicit = authorize_path(&client.id, &pkce(), &[("response_type", "token")]);
    assert_eq!(error_back(&app, &implicit).await, "unsupported_response_type");
}

/// Signs `claims` with the app's own current key (as if Gatehouse had issued them), with `header`'s changes.
fn forge(app: &TestApp, claims: &Value, typ: &str, kid: Option<&str>) -> String {
    let key = app.state.keys.current(Algorithm::ES256);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(typ.to_owned());
    header.kid = Some(kid.unwrap_or(&key.kid).to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding()).expect("signs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_are_not_valid_access_tokens_are_refused_with_a_clear_reason() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let access = issued["access_token"].as_str().expect("at");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(access).expect("claims").claims;

    let (status, challenge, _) = me(&app, issued["id_token"].as_str().expect("id token")).await;
    assert_eq!((status, challenge.contains("invalid_token")), (StatusCode::UNAUTHORIZED, true), "an ID token");
    let (status, _, _) = me(&app, issued["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a refresh token");

    let parts: Vec<&str> = access.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    assert_eq!(me(&app, &format!("{none_header}.{}.", parts[1])).await.0, StatusCode::UNAUTHORIZED, "alg none");

    // HS256 keyed with the published public key (the algorithm-confusion attack).
    let public = serde_json::to_vec(&jwks(&app).await.keys[0]).expect("jwk");
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = Some(app.state.keys.current(Algorithm::ES256).kid.clone());
    let confused = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public)).expect("signs");
    assert_eq!(me(&app, &confused).await.0, StatusCode::UNAUTHORIZED, "HS256 with the public key");

    assert_eq!(
        me(&app, &forge(&app, &claims, "at+jwt", Some("no-such-key"))).await.0,
        StatusCode::UNAUTHORIZED,
        "unknown kid"
    );
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("https://elsewhere.example/api");
    assert_eq!(me(&app, &forge(&app, &wrong_aud, "at+jwt", None)).await.0, StatusCode::UNAUTHORIZED, "wrong aud");
    assert_eq!(me(&app, &forge(&app, &claims, "JWT", None)).await.0, StatusCode::UNAUTHORIZED, "typ must be at+jwt");
    assert_eq!(me(&app, &forge(&app, &claims, "at+jwt", None)).await.0, StatusCode::OK, "the forge itself is sound");

    let mut expired = claims.clone();
    expired["exp"] = json!(expired["iat"].as_i64().expect("iat") - 120);
    let (status, challenge, body) = me(&app, &forge(&app, &expired, "at+jwt", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error_description=\"token expired\""), "{challenge}");
    assert_eq!(body["error"], "invalid_token");
    let mut within_leeway = claims.clone();
    within_leeway["exp"] = json!(claims["iat"].as_i64().expect("iat") - 30);
    within_leeway["iat"] = json!(claims["iat"].as_i64().expect("iat") - 630);
    assert_eq!(me(&app, &forge(&app, &within_leeway, "at+jwt", None)).await.0, StatusCode::OK, "60 s leeway");
}

/// A token checked once is remembered (its signature is not checked again on the next call), and the memory changes
/// no answer: a copy with its signature altered is refused, and a remembered token is refused once it expires.
/// (Revocation is checked on every call: see the next test, which uses the token before revoking it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_access_token_is_still_refused_when_altered_or_expired() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let access = issued["access_token"].as_str().expect("at");
    assert_eq!(me(&app, access).await.0, StatusCode::OK);
    assert_eq!(me(&app, access).await.0, StatusCode::OK, "again: remembered");

    let signature_at = access.rfind('.').expect("three parts") + 10;
    let swapped = if &access[signature_at..=signature_at] == "A" { "B" } else { "A" };
    let altered = format!("{}{swapped}{}", &access[..signature_at], &access[signature_at + 1..]);
    assert_eq!(me(&app, &altered).await.0, StatusCode::UNAUTHORIZED, "one character of the signature changed");

    // Inside the 60 s leeway for five more seconds (room for a loaded machine), then not.
    let mut claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(access).expect("claims").claims;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    claims["exp"] = json!(now - 55);
    claims["iat"] = json!(now - 600);
    let expiring = forge(&app, &claims, "at+jwt", None);
    assert_eq!(me(&app, &expiring).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let (status, challenge, _) = me(&app, &expiring).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error_description=\"token expired\""), "{challenge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_app_stops_its_refresh_tokens_at_once_and_its_access_tokens_from_the_next_request() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let access = issued["access_token"].as_str().expect("at");
    assert_eq!(me(&app, access).await.0, StatusCode::OK);
    let user_id: String = sqlx::query_scalar("SELECT id FROM users").fetch_one(&app.sql).await.expect("user");
    let apps = grants::authorized_apps(&app.state.db, &user_id).await.expect("list");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].client_id, client.id);
    assert!(grants::revoke_app(&app.state, &user_id, &client.id, &ClientInfo::default()).await.expect("revoke"));
    assert_eq!(me(&app, access).await.0, StatusCode::UNAUTHORIZED, "refused from the next request (cache forgotten)");
    let (_, body) = token_owned(
        &app,
        &client,
        vec![("grant_type", "refresh_token"), ("refresh_token", issued["refresh_token"].as_str().expect("rt"))],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(grants::authorized_apps(&app.state.db, &user_id).await.expect("list").is_empty());
    // Revoked means asked again.
    assert_eq!(app.get(&authorize_path(&client.id, &pkce(), &[])).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_apps_authorized_in_that_session_but_not_offline_access() {
    let (_provider, app, client) = setup().await;
    let online = tokens(&app, &client).await;
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[("scope", "openid offline_access profile:read")]).await;
    let offline = json(exchange(&app, &client, &code, &pkce).await).await;
    let (online_at, offline_at) =
        (online["access_token"].as_str().expect("at"), offline["access_token"].as_str().expect("at"));
    assert_eq!(me(&app, online_at).await.0, StatusCode::OK);
    assert_eq!(app.post_from_page("/auth/logout").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&app, online_at).await.0, StatusCode::UNAUTHORIZED, "signed out: its session's authorization ends");
    assert_eq!(me(&app, offline_at).await.0, StatusCode::OK, "offline_access outlives signing out");
    let (status, _) = token_owned(
        &app,
        &client,
        vec![("grant_type", "refresh_token"), ("refresh_token", offline["refresh_token"].as_str().expect("rt"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_not_signed_in_signs_in_first_and_prompt_none_never_shows_a_page() {
    let (provider, app) = with_provider(&[]).await;
    let client = register(&app, false, "openid profile:read").await;
    let pkce = pkce();
    let silent = authorize_path(&client.id, &pkce, &[("scope", "openid profile:read"), ("prompt", "none")]);
    assert_eq!(error_back(&app, &silent).await, "login_required");

    let hinted = [("scope", "openid profile:read"), ("login_hint", "ada@example.com")];
    let response = app.get(&authorize_path(&client.id, &pkce, &hinted)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = location(&response);
    assert!(login.starts_with("/login?next=%2Foauth%2Fauthorize%2Fresume"), "{login}");
    assert!(login.ends_with("&login_hint=ada%40example.com"), "the app's login_hint reaches the login page: {login}");
    let resume = url::form_urlencoded::parse(login.split_once('?').expect("query").1.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .expect("next");
    let start = app
        .get(&format!(
            "/auth/login/oidc?next={}",
            url::form_urlencoded::byte_serialize(resume.as_bytes()).collect::<String>()
        ))
        .await;
    let query = provider.approve(&location(&start), "user-1");
    let callback = app.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(location(&callback), resume, "back to the authorization request after signing in");
    let consent = app.get(&resume).await;
    assert_eq!(consent.status(), StatusCode::OK, "then the consent page");
    let silent_consent = authorize_path(&client.id, &pkce, &[("scope", "openid profile:read"), ("prompt", "none")]);
    assert_eq!(error_back(&app, &silent_consent).await, "consent_required");
    // prompt=login sends a signed-in person to confirm who they are first.
    let relogin =
        app.get(&authorize_path(&client.id, &pkce, &[("scope", "openid profile:read"), ("prompt", "login")])).await;
    assert!(location(&relogin).starts_with("/confirm?next=%2Foauth%2Fauthorize%2Fresume"), "{}", location(&relogin));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_new_tokens_and_stays_published_for_the_old_ones() {
    let (_provider, app, client) = setup().await;
    let before = tokens(&app, &client).await;
    let old_kids = [Algorithm::ES256, Algorithm::RS256].map(|alg| app.state.keys.current(alg).kid.clone());
    let kids = keys::rotate(&app.state.db, &app.state.sealer, keys::keep_retired(&app.state.config.oauth))
        .await
        .expect("rotates");
    assert_eq!(kids.len(), 2, "a new key of each algorithm");
    assert!(kids.iter().all(|kid| !old_kids.contains(kid)));
    app.state.keys.reload(&app.state.db).await.expect("reload");
    let set = jwks(&app).await;
    assert_eq!(set.keys.len(), 4, "the retired keys stay published");
    let after = tokens(&app, &client).await;
    for token in ["access_token", "id_token"] {
        let header = jsonwebtoken::decode_header(after[token].as_str().expect("token")).expect("header");
        assert!(kids.contains(&header.kid.expect("kid")), "a new key signs the {token}");
    }
    assert_eq!(
        me(&app, before["access_token"].as_str().expect("at")).await.0,
        StatusCode::OK,
        "old tokens still check"
    );

    // Once every token the old key signed has expired, it is unpublished.
    for old_kid in &old_kids {
        sqlx::query("UPDATE oauth_signing_keys SET expires_at = 1 WHERE id = $1")
            .bind(old_kid)
            .execute(&app.sql)
            .await
            .expect("expire");
    }
    app.state.keys.reload(&app.state.db).await.expect("reload");
    assert_eq!(jwks(&app).await.keys.len(), 2);
}

/// Runs `gatehouse ARGS…` in `dir` (no `.env` there) on `database_url`.
fn command(dir: &std::path::Path, database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_add_list_and_remove_clients_and_rotate_keys_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = match crate::helpers::postgres_server() {
        Some(server) => crate::helpers::fresh_postgres_schema(&server).await,
        None => format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
    };
    let run = |args: &[&str]| command(dir.path(), &database_url, args);
    let added = run(&[
        "clients",
        "add",
        "--name",
        "CI tool",
        "--redirect-uri",
        "https://ci.example/cb",
        "--scope",
        "openid profile:read",
        "--allowed-ip",
        "10.1.2.3/16",
        "--allowed-ip",
        "2001:db8::/32",
    ]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let client: Value = serde_json::from_slice(&added.stdout).expect("JSON on stdout");
    let id = client["client_id"].as_str().expect("client_id (RFC 7591)").to_owned();
    assert_eq!(client["redirect_uris"], json!(["https://ci.example/cb"]));
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert!(client["client_secret"].as_str().expect("the secret, once").starts_with("gcs_"));
    assert_eq!(client["scope"], "openid profile:read");
    assert_eq!(client["allowed_ips"], json!(["10.1.0.0/16", "2001:db8::/32"]), "in canonical form");
    let bad =
        run(&["clients", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--allowed-ip", "x.example"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"x.example\" is not an address"));

    assert_eq!(client["id_token_signed_response_alg"], "RS256", "by default");

    let public = run(&[
        "clients",
        "add",
        "--name",
        "SPA",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--public",
        "--id-token-signed-response-alg",
        "ES256",
        "--require-pushed-authorization-requests",
    ]);
    let public: Value = serde_json::from_slice(&public.stdout).expect("JSON");
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["id_token_signed_response_alg"], "ES256", "as asked");
    assert_eq!(public["require_pushed_authorization_requests"], true);
    assert_eq!(client["require_pushed_authorization_requests"], false, "not unless asked");
    let bad = run(&[
        "clients",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://x.example/cb",
        "--id-token-signed-response-alg",
        "HS256",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("RS256 or ES256"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let listed: Value = serde_json::from_slice(&run(&["clients", "list"]).stdout).expect("JSON");
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.get("client_secret").is_none()), "never the secret again");

    let bad = run(&["clients", "add", "--name", "Bad", "--redirect-uri", "http://app.example/cb"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be https"), "{}", String::from_utf8_lossy(&bad.stderr));

    assert!(run(&["clients", "remove", &id]).status.success());
    assert_eq!(run(&["clients", "remove", &id]).status.code(), Some(2), "removing twice says so");
    let listed: Value = serde_json::from_slice(&run(&["clients", "list"]).stdout).expect("JSON");
    assert_eq!(listed.as_array().expect("list").len(), 1);

    let rotated = run(&["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("new signing keys"));
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("(ES256, RS256)"));
    let unknown = run(&["clients", "frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("usage"));
}

async fn post_form(app: &TestApp, path: &str, client: &App, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(format!("{}{path}", app.address));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    let response = request.form(&form).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_with_an_allow_list_is_refused_elsewhere_at_every_endpoint_and_with_its_tokens() {
    let (_provider, app) = signed_in(&[]).await;
    let client = register_allowed(&app, true, "openid profile email offline_access profile:read", "127.0.0.2").await;
    let secret = client.secret.clone().expect("confidential");
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let post = |from: &str, path: &str, form: &[(&str, &str)]| {
        client_from(from).post(format!("{}{path}", app.address)).basic_auth(&client.id, Some(&secret)).form(form).send()
    };

    // From elsewhere the app proves who it is, and is still refused, without using up the code.
    let refused = post("127.0.0.3", "/oauth/token", &form).await.expect("token");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body = json(refused).await;
    assert_eq!(body["error"], "unauthorized_client");
    assert!(body["error_description"].as_str().expect("description").contains("allow-list"), "{body}");
    let issued = post("127.0.0.2", "/oauth/token", &form).await.expect("token");
    assert_eq!(issued.status(), StatusCode::OK);
    let issued = json(issued).await;
    let access = issued["access_token"].as_str().expect("access token");
    let refresh = issued["refresh_token"].as_str().expect("refresh token");
    for (path, form) in [
        ("/oauth/token", vec![("grant_type", "refresh_token"), ("refresh_token", refresh)]),
        ("/oauth/introspect", vec![("token", access)]),
        ("/oauth/revoke", vec![("token", refresh)]),
        ("/oauth/device_authorization", vec![("scope", "profile:read")]),
    ] {
        let response = post("127.0.0.3", path, &form).await.expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }

    // Its access tokens work only from there too, on the API and at UserInfo.
    let api =
        |from: &str, path: &str| client_from(from).get(format!("{}{path}", app.address)).bearer_auth(access).send();
    assert_eq!(api("127.0.0.2", "/api/v1/me").await.expect("me").status(), StatusCode::OK);
    assert_eq!(api("127.0.0.2", "/oauth/userinfo").await.expect("userinfo").status(), StatusCode::OK);
    let refused = api("127.0.0.4", "/api/v1/me").await.expect("me");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(refused).await["error"], "address_not_allowed");
    let refused = api("127.0.0.4", "/oauth/userinfo").await.expect("userinfo");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The refresh token still works from the allowed address: the refusals above ended nothing.
    let refreshed = post("127.0.0.2", "/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
    assert_eq!(refreshed.await.expect("refresh").status(), StatusCode::OK);
    // The activity names the app and the address: the 1st, 2nd and 4th of the five refusals from the app's calls
    // (an operator's app: nobody's activity but the admins'), and both uses of the person's token, in theirs.
    let rows: Vec<(Option<String>, Option<String>, String)> =
        sqlx::query_as("SELECT user_id, ip, detail FROM audit_events WHERE kind = 'address_not_allowed' ORDER BY seq")
            .fetch_all(&app.sql)
            .await
            .expect("audit");
    assert!(rows.iter().all(|(_, _, detail)| detail.contains(&client.id)), "{rows:?}");
    let from = |ip: &str| rows.iter().filter(|(_, at, _)| at.as_deref() == Some(ip)).collect::<Vec<_>>();
    assert_eq!(from("127.0.0.3").len(), 3, "{rows:?}");
    assert!(from("127.0.0.3").iter().all(|(user, _, _)| user.is_none()));
    assert_eq!(from("127.0.0.4").len(), 2, "{rows:?}");
    assert!(from("127.0.0.4").iter().all(|(user, _, _)| user.is_some()), "the token's uses concern the person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_introspection_and_revocation_answer_for_the_apps_own_tokens() {
    let (_provider, app) = signed_in(&[]).await;
    let client = register(&app, true, "openid profile email profile:read").await;
    let other = register(&app, true, "openid profile:read").await;
    let issued = tokens(&app, &client).await;
    let (access, refresh) =
        (issued["access_token"].as_str().expect("at"), issued["refresh_token"].as_str().expect("rt"));

    let info = reqwest::Client::new()
        .get(format!("{}/oauth/userinfo", app.address))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), StatusCode::OK);
    let info = json(info).await;
    assert!(info["sub"].is_string() && info["name"].is_string() && info["email"].is_string(), "{info}");
    let anonymous =
        reqwest::Client::new().get(format!("{}/oauth/userinfo", app.address)).send().await.expect("userinfo");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let (status, active) = post_form(&app, "/oauth/introspect", &client, &[("token", access)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client.id);
    assert_eq!(active["scope"], "openid profile email profile:read");
    let (_, active_refresh) = post_form(&app, "/oauth/introspect", &client, &[("token", refresh)]).await;
    assert_eq!(active_refresh["active"], true);
    let (_, foreign) = post_form(&app, "/oauth/introspect", &other, &[("token", access)]).await;
    assert_eq!(foreign, json!({ "active": false }), "another app learns nothing");
    let (_, garbage) = post_form(&app, "/oauth/introspect", &client, &[("token", "not-a-token")]).await;
    assert_eq!(garbage, json!({ "active": false }));
    let public = register(&app, false, "openid").await;
    let (status, _) = post_form(&app, "/oauth/introspect", &public, &[("token", access)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "introspection is for confidential clients");

    // Another app cannot revoke it (and is told 200 all the same); its own app can.
    let (status, _) = post_form(&app, "/oauth/revoke", &other, &[("token", refresh)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(&app, access).await.0, StatusCode::OK);
    let (status, _) =
        post_form(&app, "/oauth/revoke", &client, &[("token", refresh), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(&app, access).await.0, StatusCode::UNAUTHORIZED, "revoking the refresh token ends its access tokens");
    let (_, inactive) = post_form(&app, "/oauth/introspect", &client, &[("token", access)]).await;
    assert_eq!(inactive, json!({ "active": false }));
    let (status, _) = post_form(&app, "/oauth/revoke", &client, &[("token", "gibberish")]).await;
    assert_eq!(status, StatusCode::OK, "an unknown token is answered 200 (RFC 7009)");
}

/// Submits the `/device` form as the signed-in browser does.
async fn device_form(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    page_form(app, "/device", form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_line_tool_signs_in_with_the_device_flow() {
    let (_provider, app) = signed_in(&[]).await;
    let cli = register(&app, false, "openid profile:read offline_access").await;
    let (status, started) =
        post_form(&app, "/oauth/device_authorization", &cli, &[("scope", "openid profile:read")]).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let (device_code, user_code) =
        (started["device_code"].as_str().expect("dc"), started["user_code"].as_str().expect("uc"));
    assert_eq!(started["verification_uri"], format!("{}/device", app.address));
    assert_eq!(started["interval"], 5);
    let poll_form = [("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", device_code)];
    let poll = || post_form(&app, "/oauth/token", &cli, &poll_form);
    assert_eq!(poll().await.1["error"], "authorization_pending");
    assert_eq!(poll().await.1["error"], "slow_down", "polled faster than the interval");

    // The person opens /device (signed in), types the code with their own spacing, sees the app, and allows it.
    assert_eq!(app.get("/device").await.status(), StatusCode::OK);
    let wrong = device_form(&app, &[("user_code", "BBBB-BBBB")]).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let typed = user_code.to_lowercase().replace('-', " ");
    let shown = device_form(&app, &[("user_code", &typed)]).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let page = shown.text().await.expect("approval page");
    assert!(page.contains("Sample app") && page.contains(user_code), "{page}");
    let done = device_form(&app, &[("user_code", user_code), ("decision", "allow")]).await;
    assert!(done.text().await.expect("page").contains("is connected"));

    sqlx::query("UPDATE oauth_device_codes SET last_polled_at = last_polled_at - 60")
        .execute(&app.sql)
        .await
        .expect("wait");
    let (status, issued) = poll().await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(issued["refresh_token"].is_string() && issued["id_token"].is_string());
    assert_eq!(me(&app, issued["access_token"].as_str().expect("at")).await.0, StatusCode::OK);
    let (_, again) = poll().await;
    assert_eq!(again["error"], "invalid_grant", "a device code is used once");
    assert_eq!(
        me(&app, issued["access_token"].as_str().expect("at")).await.0,
        StatusCode::UNAUTHORIZED,
        "and its reuse ends what it gave"
    );

    // A denied one says so; an expired one says so.
    let (_, second) = post_form(&app, "/oauth/device_authorization", &cli, &[("scope", "openid")]).await;
    let code = second["user_code"].as_str().expect("uc");
    device_form(&app, &[("user_code", code), ("decision", "deny")]).await;
    let (_, denied) = post_form(
        &app,
        "/oauth/token",
        &cli,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", second["device_code"].as_str().expect("dc")),
        ],
    )
    .await;
    assert_eq!(denied["error"], "access_denied");
    let (_, third) = post_form(&app, "/oauth/device_authorization", &cli, &[("scope", "openid")]).await;
    sqlx::query("UPDATE oauth_device_codes SET expires_at = 1").execute(&app.sql).await.expect("expire");
    let (_, expired) = post_form(
        &app,
        "/oauth/token",
        &cli,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", third["device_code"].as_str().expect("dc")),
        ],
    )
    .await;
    assert_eq!(expired["error"], "expired_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_user_codes_are_throttled_per_person() {
    let (_provider, app) = signed_in(&[]).await;
    for _ in 0..5 {
        assert_eq!(device_form(&app, &[("user_code", "BBBB-BBBB")]).await.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(device_form(&app, &[("user_code", "BBBB-BBBB")]).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_signs_out_and_returns_only_to_a_registered_address() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let hint = issued["id_token"].as_str().expect("id token");
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    let elsewhere = app
        .get(&format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
            encode("https://evil.example/")
        ))
        .await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST, "an unregistered address gets an error page here");
    assert!(elsewhere.headers().get("location").is_none());
    assert_eq!(app.me_status().await, 200, "and nobody was signed out");

    // Without a hint anyone could link here: the person is asked first.
    let asked = app.get("/oauth/logout").await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked.text().await.expect("page").contains("Sign out of Gatehouse?"));
    assert_eq!(app.me_status().await, 200);

    let back = app
        .get(&format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye",
            encode("https://app.example/signed-out")
        ))
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), "https://app.example/signed-out?state=bye");
    assert_eq!(app.me_status().await, 401, "signed out of Gatehouse");
    assert_eq!(
        me(&app, issued["access_token"].as_str().expect("at")).await.0,
        StatusCode::UNAUTHORIZED,
        "and the app's session-bound tokens end"
    );
}

/// Posts one of the site's plain forms (`/apps`, `/device`) as the browser does without JavaScript.
async fn page_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("origin", &app.address)
        .form(form)
        .send()
        .await
        .expect("form post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_registers_an_app_on_the_apps_page_and_sees_its_secret_once() {
    let (_provider, app) = signed_in(&[]).await;
    let registered = page_form(
        &app,
        "/apps/register",
        &[
            ("name", "My web app"),
            ("redirect_uris", "https://app.example/callback\r\nhttps://app.example/other\r\n"),
            ("post_logout_redirect_uris", ""),
            ("kind", "confidential"),
            ("scope", "openid"),
            ("scope", "profile:read"),
            ("allowed_ips", "127.0.0.0/8, 2001:db8::/32"),
            ("id_token_signed_response_alg", "ES256"),
            ("require_pushed_authorization_requests", "true"),
        ],
    )
    .await;
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&registered), "/apps#developer-apps");
    let alg: String = sqlx::query_scalar("SELECT id_token_signed_response_alg FROM oauth_clients")
        .fetch_one(&app.sql)
        .await
        .expect("client");
    assert_eq!(alg, "ES256", "the form's choice");
    let par: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM oauth_clients WHERE require_pushed_authorization_requests = TRUE")
            .fetch_one(&app.sql)
            .await
            .expect("client");
    assert_eq!(par, 1, "held to PAR, as the form asked");
    let page = app.get("/apps").await.text().await.expect("page");
    assert!(page.contains("My web app") && page.contains("data-testid=\"client-secret\""), "{page}");
    let shown = page.split("data-testid=\"app-allowed-ips\"").nth(1).and_then(|rest| rest.split("</span>").next());
    assert!(
        shown.is_some_and(|text| text.contains("127.0.0.0/8, 2001:db8::/32")),
        "the allow-list is shown: {shown:?}"
    );
    let secret = page
        .split("data-testid=\"client-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown")
        .to_owned();
    let client_id: String =
        sqlx::query_scalar("SELECT id FROM oauth_clients").fetch_one(&app.sql).await.expect("client");
    let owned = App { id: client_id.clone(), secret: Some(secret.clone()) };
    let (status, _) = token_owned(&app, &owned, vec![("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "the shown secret is the app's secret");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_hash FROM oauth_clients").fetch_one(&app.sql).await.expect("hash");
    assert_ne!(stored, secret.as_bytes(), "only a hash is stored");

    assert_eq!(page_form(&app, "/apps/dismiss", &[]).await.status(), StatusCode::SEE_OTHER);
    let page = app.get("/apps").await.text().await.expect("page");
    assert!(!page.contains(&secret), "never shown again");

    // A new secret replaces the old one at once.
    page_form(&app, "/apps/secret", &[("client_id", &client_id)]).await;
    let (status, _) = token_owned(&app, &owned, vec![("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old secret stopped working");

    let bad = page_form(
        &app,
        "/apps/register",
        &[("name", "Bad"), ("redirect_uris", "http://app.example/cb"), ("kind", "public"), ("scope", "openid")],
    )
    .await;
    let to = location(&bad);
    assert!(to.starts_with("/apps?error=") && to.contains("https"), "{to}");
    assert!(app.get(&to).await.text().await.expect("page").contains("must be https"));
    let bad_alg = [
        ("name", "Bad"),
        ("redirect_uris", "https://app.example/cb"),
        ("kind", "public"),
        ("scope", "openid"),
        ("id_token_signed_response_alg", "HS256"),
    ];
    let to = location(&page_form(&app, "/apps/register", &bad_alg).await);
    assert!(app.get(&to).await.text().await.expect("page").contains("RS256 or ES256"), "{to}");
    assert_eq!(app.count("oauth_clients").await, 1, "nothing half-written");

    // Someone else's app cannot be deleted from here; one's own can.
    let stranger = register(&app, false, "openid").await;
    page_form(&app, "/apps/delete", &[("client_id", &stranger.id)]).await;
    assert_eq!(app.count("oauth_clients").await, 2);
    page_form(&app, "/apps/delete", &[("client_id", &client_id)]).await;
    assert_eq!(app.count("oauth_clients").await, 1);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert!(kinds.contains(&"app_registered".to_owned()) && kinds.contains(&"app_removed".to_owned()), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_page_lists_allowed_apps_and_revokes_one() {
    let (_provider, app, client) = setup().await;
    let issued = tokens(&app, &client).await;
    let page = app.get("/apps").await.text().await.expect("page");
    assert!(page.contains("data-testid=\"authorized-app\"") && page.contains("Sample app"), "{page}");
    let revoked = page_form(&app, "/apps/revoke", &[("client_id", &client.id)]).await;
    assert_eq!(location(&revoked), "/apps#authorized-apps");
    assert_eq!(me(&app, issued["access_token"].as_str().expect("at")).await.0, StatusCode::UNAUTHORIZED);
    let page = app.get("/apps").await.text().await.expect("page");
    assert!(!page.contains("data-testid=\"authorized-app\""));
    // Signed out, the page and its forms send people to sign in.
    let anonymous = crate::helpers::browser_client();
    let response = anonymous.get(format!("{}/apps", app.address)).send().await.expect("page");
    assert!(location(&response).starts_with("/login?next="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_refuses_its_app_tokens_from_the_next_request() {
    let (_provider, app, client) = setup().await;
    let pkce = pkce();
    // offline_access: not tied to the session, so only the deletion itself can end it.
    let code = code(&app, &client, &pkce, &[("scope", "openid offline_access profile:read")]).await;
    let issued = json(exchange(&app, &client, &code, &pkce).await).await;
    let access = issued["access_token"].as_str().expect("at");
    assert_eq!(me(&app, access).await.0, StatusCode::OK);
    let email: String = sqlx::query_scalar("SELECT email FROM users").fetch_one(&app.sql).await.expect("user");
    let deleted = app.main_browser().call("account/delete", &[("confirm", &email)]).await;
    assert_eq!(location(&deleted), "/?deleted=1", "deleted by its signed-in owner");
    assert_eq!(me(&app, access).await.0, StatusCode::UNAUTHORIZED, "refused from the next request");
    let (_, refreshed) = token_owned(
        &app,
        &client,
        vec![("grant_type", "refresh_token"), ("refresh_token", issued["refresh_token"].as_str().expect("rt"))],
    )
    .await;
    assert_eq!(refreshed["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_rotates_a_key_that_has_signed_long_enough() {
    let (_provider, app) = with_provider(&[]).await;
    let first = app.state.keys.current(Algorithm::ES256).kid.clone();
    let keep = keys::keep_retired(&app.state.config.oauth);
    // Not due yet: nothing changes.
    app.state.keys.housekeeping(&app.state.db, std::time::Duration::from_secs(3600), keep).await.expect("runs");
    assert_eq!(app.state.keys.current(Algorithm::ES256).kid, first);
    // Due (the key is older than the rotation interval): a new key signs, the old one stays published.
    sqlx::query("UPDATE oauth_signing_keys SET created_at = created_at - 7200").execute(&app.sql).await.expect("age");
    app.state.keys.housekeeping(&app.state.db, std::time::Duration::from_secs(3600), keep).await.expect("runs");
    assert_ne!(app.state.keys.current(Algorithm::ES256).kid, first, "rotated on schedule");
    assert_eq!(jwks(&app).await.keys.len(), 4, "both algorithms' keys, new and retired");
}
