//! Provider tokens kept (`PROVIDER_TOKENS=keep`): sealed at rest, handed out only to a token with `connections:token`
//! (never to a session cookie), refreshed once however many ask at the same moment, and a refused refresh marking the
//! connection "reconnect needed" without losing the identity.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    provider::TestProvider,
    sessions::{sign_in_as, with_provider},
};

const KEEP: (&str, &str) = ("PROVIDER_TOKENS", "keep");

/// A personal access token of the signed-in main browser with `scopes`.
pub(crate) async fn token_with(app: &TestApp, scopes: &[&str]) -> String {
    let created = app
        .main_browser()
        .api(reqwest::Method::POST, "/tokens")
        .json(&json!({ "name": "script", "scopes": scopes, "expires_in_days": 1 }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), StatusCode::CREATED);
    created.json::<Value>().await.expect("JSON")["secret"].as_str().expect("secret").to_owned()
}

pub(crate) async fn provider_token(app: &TestApp, bearer: &str, provider: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/connections/{provider}/token", app.address))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("request");
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn connections(app: &TestApp, bearer: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON")
}

async fn signed_in_keeping(extra: &[(&'static str, &str)]) -> (TestProvider, TestApp) {
    let mut vars = vec![KEEP];
    vars.extend_from_slice(extra);
    let (provider, app) = with_provider(&vars).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    (provider, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_tokens_are_sealed_and_handed_only_to_a_token_with_connections_token() {
    let (_provider, app) = signed_in_keeping(&[]).await;
    let (access, refresh): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT access_token, refresh_token FROM provider_tokens WHERE provider = 'oidc'")
            .fetch_one(&app.sql)
            .await
            .expect("kept");
    let raw = String::from_utf8_lossy(&access);
    assert!(!raw.contains("access-user-1"), "sealed at rest");
    assert!(refresh.is_some_and(|r| !String::from_utf8_lossy(&r).contains("refresh-")), "the refresh token too");

    // A session cookie never gets one, though it may make a token that can.
    let with_cookie =
        app.main_browser().api(reqwest::Method::POST, "/connections/oidc/token").send().await.expect("request");
    assert_eq!(with_cookie.status(), StatusCode::FORBIDDEN);
    let without_scope = token_with(&app, &["profile:read"]).await;
    assert_eq!(provider_token(&app, &without_scope, "oidc").await.0, StatusCode::FORBIDDEN);

    let script = token_with(&app, &["connections:token"]).await;
    let listed = connections(&app, &script).await;
    assert_eq!(listed["connections"][0]["provider"], "oidc");
    assert_eq!(listed["connections"][0]["state"], "connected");
    let (status, body) = provider_token(&app, &script, "oidc").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["access_token"], "access-user-1");
    assert!(body.get("refresh_token").is_none(), "never the refresh token");
    assert_eq!(provider_token(&app, &script, "github").await.0, StatusCode::NOT_FOUND);
    let issued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'connection_token_issued'")
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(issued, 1, "each token handed out is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_about_to_expire_is_refreshed_once_however_many_ask_at_once() {
    let provider = TestProvider::start().await;
    provider.set(|b| b.access_lifetime = 30);
    let app = crate::helpers::spawn_app_with(&crate::sessions::provider_settings(&provider, &[KEEP])).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let script = token_with(&app, &["connections:token"]).await;
    // The next token lasts; the provider takes its time, so every request arrives while the first refresh runs.
    provider.set(|b| {
        b.access_lifetime = 3600;
        b.token_delay = Duration::from_millis(400);
    });
    let asks = (0..8).map(|_| provider_token(&app, &script, "oidc"));
    let answers = futures_util::future::join_all(asks).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["access_token"], "refreshed-1-user-1", "every request got the one refresh's token");
    }
    assert_eq!(provider.refresh_count(), 1, "one refresh grant at the provider");
    let (status, body) = provider_token(&app, &script, "oidc").await;
    assert_eq!((status, &body["access_token"]), (StatusCode::OK, &json!("refreshed-1-user-1")), "fresh now");
    assert_eq!(provider.refresh_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_asks_to_reconnect_and_signing_in_again_reconnects() {
    let provider = TestProvider::start().await;
    provider.set(|b| b.access_lifetime = 30);
    let app = crate::helpers::spawn_app_with(&crate::sessions::provider_settings(&provider, &[KEEP])).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let script = token_with(&app, &["connections:token"]).await;
    provider.set(|b| b.refuse_refresh = true);
    let (status, body) = provider_token(&app, &script, "oidc").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("reconnect_needed")), "{body}");
    assert_eq!(connections(&app, &script).await["connections"][0]["state"], "reconnect_needed");
    assert_eq!(app.count("identities").await, 1, "the identity stays");

    let profile = app.get("/profile").await.text().await.expect("the profile");
    assert!(profile.contains("reconnect needed") && profile.contains("data-testid=\"reconnect\""), "{profile}");

    // "Reconnect": the link flow with the same identity keeps the new tokens.
    provider.set(|b| {
        b.refuse_refresh = false;
        b.access_lifetime = 3600;
    });
    let link = app.post_from_page("/auth/link/oidc").await;
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    let query = provider.approve(&crate::helpers::location(&link), "user-1");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{query}")).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(connections(&app, &script).await["connections"][0]["state"], "connected");
    let profile = app.get("/profile").await.text().await.expect("the profile");
    assert!(profile.contains("data-testid=\"connection-state\" class=\"badge\">connected<"), "{profile}");
    assert_eq!(provider_token(&app, &script, "oidc").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_kept_unless_provider_tokens_says_keep() {
    let (provider, app) = with_provider(&[]).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    assert_eq!(app.count("provider_tokens").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_sign_in_method_revokes_its_kept_tokens_at_the_provider() {
    let (provider, app) = signed_in_keeping(&[]).await;
    let refresh = provider.live_refresh_tokens().pop().expect("a refresh token was given");
    remove_the_provider(&app, "ada@example.test").await;
    assert_eq!(app.count("provider_tokens").await, 0, "the kept tokens are gone here");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while provider.revoked().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revoked = provider.revoked();
    assert_eq!(
        revoked,
        vec![(refresh, "refresh_token".to_owned()), ("access-user-1".to_owned(), "access_token".to_owned())],
        "and revoked at the provider, the refresh token first"
    );
}

/// Removes the main browser's one provider identity as the person would (`account/unlink`), after giving the account
/// a password at `email` as a second way in, so that it may be removed.
pub(crate) async fn remove_the_provider(app: &TestApp, email: &str) {
    sqlx::query(
        "INSERT INTO passwords (user_id, email, hash, verified_at, created_at, updated_at)
         SELECT id, $1, 'not-a-hash', 0, 0, 0 FROM users",
    )
    .bind(email)
    .execute(&app.sql)
    .await
    .expect("a password");
    let identity: String = sqlx::query_scalar("SELECT id FROM identities").fetch_one(&app.sql).await.expect("identity");
    let removed = app.main_browser().call("account/unlink", &[("id", identity.as_str())]).await;
    assert_eq!(removed.status(), StatusCode::OK, "{}", removed.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_is_asked_for_offline_access_only_when_tokens_are_kept() {
    let provider = TestProvider::start().await;
    for (keep, asked) in [("keep", true), ("discard", false)] {
        let app = crate::helpers::spawn_app_with(&[
            ("GOOGLE_ISSUER_URL", &provider.issuer),
            ("GOOGLE_CLIENT_ID", crate::provider::CLIENT_ID),
            ("GOOGLE_CLIENT_SECRET", crate::provider::CLIENT_SECRET),
            ("PROVIDER_TOKENS", keep),
        ])
        .await;
        let authorize = crate::helpers::location(&app.get("/auth/login/google").await);
        let query: std::collections::HashMap<String, String> =
            url::Url::parse(&authorize).expect("URL").query_pairs().into_owned().collect();
        assert_eq!(query.get("access_type").map(String::as_str) == Some("offline"), asked, "{keep}: {authorize}");
        let consent = query.get("prompt").is_some_and(|p| p.split(' ').any(|p| p == "consent"));
        assert_eq!(consent, asked, "a refresh token comes only with consent: {authorize}");
    }
}
