//! Sessions after sign-in: sign-out, cross-site refusal, protected pages, revocation, idle expiry, cookie flags, and
//! the refusal to merge accounts silently.

use std::time::Duration;

use gatehouse::server::{
    people::{accounts, session::ClientInfo},
    platform::cache::REVALIDATE_AFTER,
};

use crate::{
    github::{GitHub, app_with_github, github_sign_in},
    helpers::{Browser, TestApp, location, on_postgres, spawn_app_with},
    provider::{CLIENT_ID, CLIENT_SECRET, TestProvider},
};

/// An app signing in with the in-test OpenID Provider (plus `extra` settings), nobody signed in yet.
pub async fn with_provider(extra: &[(&'static str, &str)]) -> (TestProvider, TestApp) {
    let provider = TestProvider::start().await;
    let app = spawn_app_with(&provider_settings(&provider, extra)).await;
    (provider, app)
}

/// The settings of an app that signs in with `provider` (the in-test OpenID Provider), and `extra`.
pub fn provider_settings<'a>(
    provider: &'a TestProvider,
    extra: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    let mut vars = vec![
        ("OIDC_ISSUER_URL", provider.issuer.as_str()),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ];
    vars.extend_from_slice(extra);
    vars
}

/// Signs `browser` in at `provider` as `subject`.
pub async fn sign_in_as(browser: &Browser, provider: &TestProvider, subject: &str) {
    let login = browser.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), subject);
    assert_eq!(browser.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);
    let me = browser.api(reqwest::Method::GET, "/me").send().await.expect("request").status();
    assert_eq!(me, 200, "signed in at the provider");
}

pub async fn signed_in(extra: &[(&'static str, &str)]) -> (TestProvider, TestApp) {
    let (provider, app) = with_provider(extra).await;
    sign_in(&app, &provider).await;
    (provider, app)
}

async fn sign_in(app: &TestApp, provider: &TestProvider) {
    sign_in_as(&app.main_browser(), provider, "user-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_deletes_the_session_on_the_server() {
    let (_provider, app) = signed_in(&[]).await;
    let stored_id: String =
        sqlx::query_scalar("SELECT id FROM tower_sessions").fetch_one(&app.sql).await.expect("one stored session");
    let response = app.post_from_page("/auth/logout").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    assert_eq!(app.me_status().await, 401);
    assert_eq!(app.count("user_sessions").await, 0);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions WHERE id = $1")
        .bind(&stored_id)
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(stored, 0, "the session data is gone from the store");
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert_eq!(kinds.last().map(String::as_str), Some("sign_out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let (_provider, app) = signed_in(&[]).await;
    let from_elsewhere = app
        .client
        .post(format!("{}/auth/logout", app.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(from_elsewhere.status(), 403);
    let without_origin = app.client.post(format!("{}/auth/logout", app.address)).send().await.expect("request");
    assert_eq!(without_origin.status(), 403, "a cookie-carrying POST with neither Origin nor Sec-Fetch-Site");
    let cross_site_fetch = app
        .client
        .post(format!("{}/auth/logout", app.address))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(cross_site_fetch.status(), 403);
    let null_origin_cross_site = app
        .client
        .post(format!("{}/auth/logout", app.address))
        .header("origin", "null")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(null_origin_cross_site.status(), 403, "Origin: null defers to Sec-Fetch-Site");
    assert_eq!(app.me_status().await, 200, "still signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_header_does_not_open_cookie_routes_to_other_sites() {
    let (_provider, app) = signed_in(&[]).await;
    for path in ["/auth/logout", "/apps/revoke", "/api/account/delete"] {
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .header("origin", "https://evil.example")
            .header("authorization", "Bearer anything")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{path}: the cookie still decides, and it came from another site");
    }
    assert_eq!(app.me_status().await, 200, "still signed in");
    // The API with a bearer token, and the endpoints apps call, never read the cookie: a same-site app's page (its
    // request carries our cookie, from another origin) reaches them.
    let token = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .header("origin", "https://app.example")
        .form(&[("grant_type", "client_credentials"), ("client_id", "app_nobody")])
        .send()
        .await
        .expect("request");
    assert_eq!(token.status(), 401, "the token endpoint answers for the app (invalid_client), not the CSRF check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_form_post_with_a_null_origin_is_accepted() {
    let (_provider, app) = signed_in(&[]).await;
    let response = app
        .client
        .post(format!("{}/auth/logout", app.address))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 303);
    assert_eq!(app.me_status().await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_pages_redirect_signed_out_visitors_to_login_before_rendering() {
    let app = spawn_app_with(&[]).await;
    let response = app.get("/dashboard").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login?next=%2Fdashboard");
    assert!(response.text().await.expect("body").is_empty(), "no page content is sent");
    let response = app.get("/profile?tab=security").await;
    assert_eq!(location(&response), "/login?next=%2Fprofile%3Ftab%3Dsecurity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_pages_render_for_the_signed_in_person() {
    let (_provider, app) = signed_in(&[]).await;
    let response = app.get("/dashboard").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("Welcome, "), "{html}");
    assert!(html.contains("Ada Lovelace"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_is_refused_on_its_next_request() {
    let (_provider, app) = signed_in(&[]).await;
    // The session was just used, so it is in the cache: revocation must clear it there too.
    let (user_id, session_id): (String, String) =
        sqlx::query_as("SELECT user_id, id FROM user_sessions").fetch_one(&app.sql).await.expect("a session");
    accounts::revoke_session(&app.state, &user_id, &session_id, &ClientInfo::default()).await.expect("revoke");
    assert_eq!(app.me_status().await, 401);
    assert_eq!(app.get("/dashboard").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_outside_this_process_is_refused_once_the_cache_revalidates() {
    let (_provider, app) = signed_in(&[]).await;
    // What another instance, or an operator with SQL, does: this process is not told.
    sqlx::query("DELETE FROM user_sessions").execute(&app.sql).await.expect("revoke");
    tokio::time::sleep(REVALIDATE_AFTER + Duration::from_millis(100)).await;
    assert_eq!(app.me_status().await, 401);
    assert_eq!(app.get("/dashboard").await.status(), 303);
}

/// Moves the session's last use `seconds` into the past, as that much idle time would.
async fn idle_for(app: &TestApp, seconds: i64) {
    sqlx::query("UPDATE user_sessions SET last_seen_at = last_seen_at - $1")
        .bind(seconds)
        .execute(&app.sql)
        .await
        .expect("rewind");
    // Past the cache's trust in what it read before.
    tokio::time::sleep(REVALIDATE_AFTER + Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_on_the_server() {
    // Idle time is rewound in the database rather than waited for: a one-second limit measured in whole seconds
    // ended sessions between sign-in and the first request whenever a second boundary fell there.
    let (_provider, app) = signed_in(&[("SESSION_IDLE_TIMEOUT", "1m")]).await;
    idle_for(&app, 50).await;
    assert_eq!(app.me_status().await, 200, "50 s idle is within a minute, and using it resets the clock");
    idle_for(&app, 61).await;
    assert_eq!(app.me_status().await, 401);
    assert_eq!(app.count("user_sessions").await, 0, "the expired session is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_httponly_lax_and_host_prefixed_secure_on_https() {
    let provider = TestProvider::start().await;
    let plain = spawn_app_with(&[
        ("OIDC_ISSUER_URL", &provider.issuer),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ])
    .await;
    let cookie = plain.get("/auth/login/oidc").await.headers()["set-cookie"].to_str().expect("ASCII").to_owned();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag over plain http: {cookie}");

    let https = spawn_app_with(&[
        ("APP_URL", "https://login.example.test"),
        ("SECRET_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        ("OIDC_ISSUER_URL", &provider.issuer),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ])
    .await;
    let response = https.get("/auth/login/oidc").await;
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
    let cookie = response.headers()["set-cookie"].to_str().expect("ASCII").to_owned();
    assert!(cookie.starts_with("__Host-gatehouse_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "__Host- cookies have no Domain: {cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_identity_with_an_existing_verified_email_is_not_merged() {
    let provider = TestProvider::start().await;
    let github = GitHub::start(serde_json::json!([
        { "email": "ada@example.test", "primary": true, "verified": true, "visibility": null }
    ]))
    .await;
    let app = app_with_github(
        &github,
        &[("OIDC_ISSUER_URL", &provider.issuer), ("OIDC_CLIENT_ID", CLIENT_ID), ("OIDC_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    sign_in(&app, &provider).await;
    assert_eq!(app.post_from_page("/auth/logout").await.status(), 303);

    let response = github_sign_in(&app, &github).await;
    assert_eq!(response.status(), 409);
    let page = response.text().await.expect("body");
    assert!(page.contains("You already have an account"), "{page}");
    // Naming the account's sign-in methods would tell anyone with a provider account how someone else signs in.
    assert!(!page.contains("Single sign-on"), "does not name the provider the account uses: {page}");
    assert!(page.contains("Sign in the way you usually do"), "{page}");
    assert_eq!(app.count("users").await, 1, "no second account");
    assert_eq!(app.count("identities").await, 1, "the GitHub identity is not attached");
    assert_eq!(app.me_status().await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_that_cannot_be_written_whole_leaves_nothing_behind() {
    let (provider, app) = with_provider(&[]).await;
    // The last write of a sign-in (its audit event) fails: the person, identity and session before it must go too.
    let trigger: &[&str] = if on_postgres() {
        &[
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN RAISE EXCEPTION 'the audit log refuses'; END $$",
            "CREATE TRIGGER refuse_sign_in BEFORE INSERT ON audit_events FOR EACH ROW
             WHEN (NEW.kind = 'sign_in') EXECUTE FUNCTION refuse()",
        ]
    } else {
        &["CREATE TRIGGER refuse_sign_in BEFORE INSERT ON audit_events WHEN NEW.kind = 'sign_in'
           BEGIN SELECT RAISE(ABORT, 'the audit log refuses'); END"]
    };
    for statement in trigger {
        sqlx::raw_sql(statement).execute(&app.sql).await.expect("trigger");
    }
    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    let callback = app.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(callback.status(), 500);
    assert!(callback.text().await.expect("page").contains("Something went wrong on our side"));
    app.assert_signed_out_with_nothing_created().await;
}

/// "Keep me signed in": without it, a browser-session cookie (no `Max-Age`) and at most 12 hours; with it, a cookie
/// and a session that last `SESSION_MAX_LIFETIME`. The choice survives the trip through the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_me_signed_in_decides_how_long_the_cookie_and_the_session_last() {
    let (provider, app) = with_provider(&[("SESSION_MAX_LIFETIME", "30d")]).await;
    for (remember, lifetime) in [("", 12 * 3600), ("?remember=1", 30 * 86_400)] {
        let browser = app.browser();
        let login = browser.get(&format!("/auth/login/oidc{remember}")).await;
        let query = provider.approve(&location(&login), "keeper");
        let done = browser.get(&format!("/auth/callback/oidc?{query}")).await;
        assert_eq!(done.status(), 303);
        let cookie = done
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("gatehouse_session="))
            .expect("a session cookie")
            .to_ascii_lowercase();
        let persistent = cookie.contains("max-age=") || cookie.contains("expires=");
        assert_eq!(persistent, !remember.is_empty(), "{remember:?}: {cookie}");
        assert_eq!(app.newest_session_lifetime().await, lifetime, "{remember:?}");
        sqlx::query("DELETE FROM user_sessions").execute(&app.sql).await.expect("clean");
    }
}
