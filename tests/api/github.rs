//! Sign-in with GitHub against a faithful stand-in for its authorize, token, `/user` and `/user/emails` endpoints:
//! GitHub answers token errors with HTTP 200 and an `error` field, identifies people by a numeric id, and lists
//! email addresses with their verification state. With `PROVIDER_TOKENS=keep` the person's token is kept: an OAuth
//! app's never expires; a GitHub App's user token expires after `expires_in` and is refreshed with a rotating refresh
//! token (a refused one is `bad_refresh_token`, sent with HTTP 200); removing GitHub deletes the app's grant there.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, location, spawn_app_with};

const CLIENT_ID: &str = "Iv1.gatehouse-test";
const CLIENT_SECRET: &str = "github-test-secret";
const ACCESS_TOKEN: &str = "gho_test_access_token";

#[derive(Clone, Default)]
struct StandIn {
    /// code → (PKCE challenge, redirect URI)
    codes: Arc<Mutex<HashMap<String, (String, String)>>>,
    emails: Arc<Mutex<Value>>,
    /// As a GitHub App: user tokens expire after this many seconds and come with a refresh token. `None`: an OAuth
    /// app, whose tokens never expire.
    expires_in: Arc<Mutex<Option<i64>>>,
    /// Live access tokens (the first is always `ACCESS_TOKEN`) and refresh tokens; grants deleted, by access token.
    access_tokens: Arc<Mutex<Vec<String>>>,
    refresh_tokens: Arc<Mutex<Vec<String>>>,
    refreshes: Arc<std::sync::atomic::AtomicUsize>,
    deleted_grants: Arc<Mutex<Vec<String>>>,
}

pub struct GitHub {
    pub url: String,
    state: StandIn,
}

impl GitHub {
    pub async fn start(emails: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = StandIn {
            emails: Arc::new(Mutex::new(emails)),
            access_tokens: Arc::new(Mutex::new(vec![ACCESS_TOKEN.to_owned()])),
            ..Default::default()
        };
        let router = Router::new()
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/user", get(user))
            .route("/api/user/emails", get(emails_endpoint))
            .route("/api/applications/{client_id}/grant", delete(delete_grant))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// Acts as a GitHub App whose user tokens expire after `seconds` (with refresh tokens).
    pub fn expiring_tokens(&self, seconds: i64) {
        *self.state.expires_in.lock().expect("lock") = Some(seconds);
    }

    /// Forgets every refresh token it gave (as when the person revokes the app at GitHub).
    pub fn forget_refresh_tokens(&self) {
        self.state.refresh_tokens.lock().expect("lock").clear();
    }

    pub fn refresh_count(&self) -> usize {
        self.state.refreshes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The access tokens whose grant our app deleted.
    pub fn deleted_grants(&self) -> Vec<String> {
        self.state.deleted_grants.lock().expect("lock").clone()
    }

    /// GitHub's authorize page, for a person who approves: checks the request and returns the callback query.
    pub fn approve(&self, authorize_url: &str) -> String {
        let url = url::Url::parse(authorize_url).expect("URL");
        assert!(authorize_url.starts_with(&format!("{}/login/oauth/authorize?", self.url)), "{authorize_url}");
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params["client_id"], CLIENT_ID);
        assert_eq!(params["code_challenge_method"], "S256");
        assert!(params["scope"].contains("user:email"));
        let code = format!("gh-code-{}", params["state"].len());
        self.state
            .codes
            .lock()
            .expect("lock")
            .insert(code.clone(), (params["code_challenge"].clone(), params["redirect_uri"].clone()));
        format!("code={code}&state={}", params["state"])
    }
}

async fn access_token(
    State(state): State<StandIn>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    assert_eq!(headers.get("accept").and_then(|v| v.to_str().ok()), Some("application/json"));
    // GitHub's quirk: errors come with HTTP 200.
    let error = |e: &str| {
        Json(json!({ "error": e, "error_description": "The code passed is incorrect or expired." })).into_response()
    };
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return error("incorrect_client_credentials");
    }
    let expires_in = *state.expires_in.lock().expect("lock");
    let access_token = if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let used = form.get("refresh_token").cloned().unwrap_or_default();
        let mut live = state.refresh_tokens.lock().expect("lock");
        let Some(at) = live.iter().position(|t| *t == used) else { return error("bad_refresh_token") };
        live.remove(at); // rotated: each refresh token is used once
        let n = state.refreshes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let token = format!("ghu_refreshed_{n}");
        state.access_tokens.lock().expect("lock").push(token.clone());
        token
    } else {
        let Some((challenge, redirect_uri)) =
            form.get("code").and_then(|c| state.codes.lock().expect("lock").remove(c))
        else {
            return error("bad_verification_code");
        };
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge
            || form.get("redirect_uri") != Some(&redirect_uri)
        {
            return error("bad_verification_code");
        }
        ACCESS_TOKEN.to_owned()
    };
    match expires_in {
        None => Json(json!({ "access_token": access_token, "token_type": "bearer", "scope": "read:user,user:email" })),
        Some(seconds) => {
            let refresh_token = format!("ghr_{}", state.refreshes.load(std::sync::atomic::Ordering::SeqCst));
            state.refresh_tokens.lock().expect("lock").push(refresh_token.clone());
            Json(json!({
                "access_token": access_token,
                "expires_in": seconds,
                "refresh_token": refresh_token,
                "refresh_token_expires_in": 15_811_200,
                "token_type": "bearer",
                "scope": "",
            }))
        }
    }
    .into_response()
}

/// `DELETE /applications/{client_id}/grant`: our app, authenticated with its credentials, names a person's token.
async fn delete_grant(
    State(state): State<StandIn>,
    axum::extract::Path(client_id): axum::extract::Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if client_id != CLIENT_ID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return StatusCode::UNAUTHORIZED;
    }
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    let mut live = state.access_tokens.lock().expect("lock");
    let Some(at) = live.iter().position(|t| *t == token) else { return StatusCode::NOT_FOUND };
    live.remove(at);
    state.refresh_tokens.lock().expect("lock").clear();
    state.deleted_grants.lock().expect("lock").push(token);
    StatusCode::NO_CONTENT
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {ACCESS_TOKEN}"))
}

async fn user(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({
        "login": "octocat",
        "id": 583231,
        "name": "The Octocat",
        "email": "public-unverified@example.test",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4"
    }))
    .into_response()
}

async fn emails_endpoint(State(state): State<StandIn>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(state.emails.lock().expect("lock").clone()).into_response()
}

pub async fn app_with_github(github: &GitHub, extra: &[(&'static str, &str)]) -> TestApp {
    let api = format!("{}/api", github.url);
    let mut vars = vec![
        ("GITHUB_CLIENT_ID", CLIENT_ID),
        ("GITHUB_CLIENT_SECRET", CLIENT_SECRET),
        ("GITHUB_URL", github.url.as_str()),
        ("GITHUB_API_URL", api.as_str()),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

pub async fn github_sign_in(app: &TestApp, github: &GitHub) -> reqwest::Response {
    let login = app.get("/auth/login/github").await;
    assert_eq!(login.status(), 303);
    let query = github.approve(&location(&login));
    app.get(&format!("/auth/callback/github?{query}")).await
}

fn emails() -> Value {
    json!([
        { "email": "octo-unverified@example.test", "primary": false, "verified": false, "visibility": null },
        { "email": "octocat@example.test", "primary": true, "verified": true, "visibility": "public" },
        { "email": "octo-secondary@example.test", "primary": false, "verified": true, "visibility": null }
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_sign_in_uses_the_numeric_id_and_the_primary_verified_email() {
    let github = GitHub::start(emails()).await;
    let app = app_with_github(&github, &[]).await;
    let callback = github_sign_in(&app, &github).await;
    assert_eq!(callback.status(), 303);
    assert_eq!(location(&callback), "/dashboard");

    let me: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(me["display_name"], "The Octocat");
    assert_eq!(me["email"], "octocat@example.test");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["providers"], json!(["github"]));
    let (subject, issuer): (String, String) =
        sqlx::query_as("SELECT subject, issuer FROM identities").fetch_one(&app.sql).await.expect("identity");
    assert_eq!(subject, "583231", "identified by the numeric id, never the login name");
    assert_eq!(issuer, github.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_github_emails_are_ignored() {
    let github = GitHub::start(json!([
        { "email": "octo-unverified@example.test", "primary": true, "verified": false, "visibility": "public" }
    ]))
    .await;
    let app = app_with_github(&github, &[]).await;
    assert_eq!(github_sign_in(&app, &github).await.status(), 303);
    let me: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(me["email"], Value::Null, "neither the unverified address nor the public profile email is used");
    assert_eq!(me["email_verified"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_error_sent_with_http_200_is_refused() {
    let github = GitHub::start(emails()).await;
    let app = app_with_github(&github, &[]).await;
    let login = app.get("/auth/login/github").await;
    let query = github.approve(&location(&login)).replace("code=", "code=wrong");
    let response = app.get(&format!("/auth/callback/github?{query}")).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("body").contains("We could not sign you in"));
    app.assert_signed_out_with_nothing_created().await;
}

// --- Kept tokens (`PROVIDER_TOKENS=keep`) ---------------------------------------------------------------------------

/// A personal access token of the signed-in main browser that may take provider tokens.
async fn script_token(app: &TestApp) -> String {
    crate::connections::token_with(app, &["connections:token"]).await
}

async fn github_token(app: &TestApp, bearer: &str) -> (StatusCode, Value) {
    crate::connections::provider_token(app, bearer, "github").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_apps_github_token_is_kept_as_it_never_expires() {
    let github = GitHub::start(emails()).await;
    let app = app_with_github(&github, &[("PROVIDER_TOKENS", "keep")]).await;
    assert_eq!(github_sign_in(&app, &github).await.status(), 303);
    let script = script_token(&app).await;
    let (status, body) = github_token(&app, &script).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["access_token"], ACCESS_TOKEN);
    assert_eq!(body["expires_at"], Value::Null, "an OAuth app's token does not expire");
    assert_eq!(github.refresh_count(), 0);
    let scopes: String = sqlx::query_scalar("SELECT scopes FROM provider_tokens WHERE provider = 'github'")
        .fetch_one(&app.sql)
        .await
        .expect("kept");
    assert_eq!(scopes, "read:user user:email", "GitHub's comma-separated scopes, kept space-separated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_apps_expiring_token_is_refreshed_a_refused_refresh_asks_to_reconnect() {
    let github = GitHub::start(emails()).await;
    github.expiring_tokens(30);
    let app = app_with_github(&github, &[("PROVIDER_TOKENS", "keep")]).await;
    assert_eq!(github_sign_in(&app, &github).await.status(), 303);
    let script = script_token(&app).await;

    // Within a minute of its expiry: refreshed first, with the refresh token GitHub gave, which it rotates.
    github.expiring_tokens(28_800);
    let (status, body) = github_token(&app, &script).await;
    assert_eq!((status, &body["access_token"]), (StatusCode::OK, &json!("ghu_refreshed_1")), "{body}");
    assert_eq!(github_token(&app, &script).await.1["access_token"], "ghu_refreshed_1", "fresh for eight hours");
    assert_eq!(github.refresh_count(), 1);

    // The next refresh is refused (`bad_refresh_token`, with HTTP 200): reconnect, and the identity stays.
    sqlx::query("UPDATE provider_tokens SET expires_at = 0").execute(&app.sql).await.expect("expired");
    github.forget_refresh_tokens();
    let (status, body) = github_token(&app, &script).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("reconnect_needed")), "{body}");
    assert_eq!(app.count("identities").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_github_deletes_our_grant_there() {
    let github = GitHub::start(emails()).await;
    github.expiring_tokens(28_800);
    let app = app_with_github(&github, &[("PROVIDER_TOKENS", "keep")]).await;
    assert_eq!(github_sign_in(&app, &github).await.status(), 303);
    crate::connections::remove_the_provider(&app, "octocat@example.test").await;
    assert_eq!(app.count("provider_tokens").await, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while github.deleted_grants().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(github.deleted_grants(), vec![ACCESS_TOKEN.to_owned()], "the grant is deleted with the kept token");
}
