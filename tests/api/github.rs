//! Sign-in with GitHub against a faithful stand-in for its authorize, token, `/user` and `/user/emails` endpoints:
//! GitHub answers token errors with HTTP 200 and an `error` field, identifies people by a numeric id, and lists
//! email addresses with their verification state.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
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
}

pub struct GitHub {
    pub url: String,
    state: StandIn,
}

impl GitHub {
    pub async fn start(emails: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = StandIn { emails: Arc::new(Mutex::new(emails)), ..Default::default() };
        let router = Router::new()
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/user", get(user))
            .route("/api/user/emails", get(emails_endpoint))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
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
    let Some((challenge, redirect_uri)) = form.get("code").and_then(|c| state.codes.lock().expect("lock").remove(c))
    else {
        return error("bad_verification_code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge
        || form.get("redirect_uri") != Some(&redirect_uri)
    {
        return error("bad_verification_code");
    }
    Json(json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "read:user,user:email" }))
        .into_response()
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
