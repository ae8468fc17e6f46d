//! Back-channel logout from a sign-in provider (OpenID Connect Back-Channel Logout 1.0, as a relying party): the
//! in-test provider signs logout tokens as a real one does, and each rule of §2.6 is tried with a token that breaks
//! it. A refused token is a 400 with a reason and ends nothing.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::{
    authorization_server::{me, register, tokens},
    helpers::{Browser, TestApp},
    provider::{Signing, TestProvider},
    sessions::{sign_in_as, with_provider},
};

const ON: (&str, &str) = ("OIDC_BACKCHANNEL_LOGOUT", "true");

/// Signs a new browser in as `subject`, in the provider session `sid`.
async fn browser_in(app: &TestApp, provider: &TestProvider, subject: &str, sid: &str) -> Browser {
    let browser = app.browser();
    sign_in_at(&browser, provider, subject, sid).await;
    browser
}

/// Signs `browser` in as `subject`, in the provider session `sid` (the ID token's `sid`).
async fn sign_in_at(browser: &Browser, provider: &TestProvider, subject: &str, sid: &str) {
    let sid = sid.to_owned();
    provider.set(move |b| {
        b.edit_claims = Arc::new(move |claims| {
            claims.insert("sid".into(), json!(sid));
        })
    });
    sign_in_as(browser, provider, subject).await;
}

async fn me_status(browser: &Browser) -> StatusCode {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request").status()
}

/// POSTs `token` as the provider would; returns the status, `Cache-Control` and the body.
async fn deliver(app: &TestApp, provider: &str, token: &str) -> (StatusCode, String, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout/{provider}", app.address))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("request");
    let status = response.status();
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, cache, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_naming_a_provider_session_ends_the_sessions_from_it_and_their_apps() {
    let (provider, app) = with_provider(&[ON]).await;
    let laptop = app.main_browser();
    sign_in_at(&laptop, &provider, "user-1", "sid-laptop").await;
    let phone = browser_in(&app, &provider, "user-1", "sid-phone").await;
    // An app authorized in the laptop's session: bound to it, as signing out would end it.
    let client = register(&app, false, "openid profile email profile:read").await;
    let access = tokens(&app, &client).await["access_token"].as_str().expect("an access token").to_owned();
    assert_eq!(me(&app, &access).await.0, StatusCode::OK);

    let claims = provider.logout_claims(Some("user-1"), Some("sid-laptop"));
    let token = provider.logout_token(&claims, &Signing::Key("rsa1"), Some("logout+jwt"));
    let (status, cache, body) = deliver(&app, "oidc", &token).await;
    assert_eq!((status, cache.as_str(), body.as_str()), (StatusCode::OK, "no-store", ""));

    assert_eq!(me_status(&laptop).await, StatusCode::UNAUTHORIZED, "the laptop's session ended");
    assert_eq!(me(&app, &access).await.0, StatusCode::UNAUTHORIZED, "and the app authorized in it");
    assert_eq!(me_status(&phone).await, StatusCode::OK, "another provider session of the same person stays");
    let (kind, detail): (String, String) =
        sqlx::query_as("SELECT kind, detail FROM audit_events ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.sql)
            .await
            .expect("an event");
    assert_eq!(kind, "signed_out_at_provider");
    let detail: Value = serde_json::from_str(&detail).expect("JSON");
    assert_eq!(detail, json!({ "provider": "oidc", "sessions": 1 }));

    // The same token again is a replay.
    let (status, _, body) = deliver(&app, "oidc", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("already used"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_naming_only_the_person_ends_every_session_of_that_identity() {
    let (provider, app) = with_provider(&[ON]).await;
    let first = browser_in(&app, &provider, "user-1", "sid-1").await;
    let second = browser_in(&app, &provider, "user-1", "sid-2").await;
    provider.set(|b| b.email = Some("grace@example.test".into()));
    let someone_else = browser_in(&app, &provider, "user-2", "sid-3").await;

    // A session from before sessions kept the provider's `sub` is found through the identity.
    sqlx::query("UPDATE user_sessions SET provider_subject = NULL, provider_sid = NULL WHERE provider_sid = 'sid-1'")
        .execute(&app.sql)
        .await
        .expect("an older session");
    let token = provider.logout_token(&provider.logout_claims(Some("user-1"), None), &Signing::Key("ec1"), None);
    assert_eq!(deliver(&app, "oidc", &token).await.0, StatusCode::OK);
    assert_eq!(me_status(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&someone_else).await, StatusCode::OK, "another person's session stays");

    // A `sid` whose `sub` is someone else's ends nothing: both must match.
    let token =
        provider.logout_token(&provider.logout_claims(Some("user-1"), Some("sid-3")), &Signing::Key("rsa1"), None);
    assert_eq!(deliver(&app, "oidc", &token).await.0, StatusCode::OK, "valid, though nothing matched");
    assert_eq!(me_status(&someone_else).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_of_a_logout_token_is_checked_and_a_refusal_ends_nothing() {
    let (provider, app) = with_provider(&[ON]).await;
    let browser = browser_in(&app, &provider, "user-1", "sid-1").await;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;

    type Edit = Box<dyn Fn(&mut Map<String, Value>)>;
    let edit = |f: fn(&mut Map<String, Value>)| -> Edit { Box::new(f) };
    let issued = move |age: i64| -> Edit {
        Box::new(move |c: &mut Map<String, Value>| {
            c.insert("iat".into(), json!(now() - age));
        })
    };
    let rsa = Signing::Key("rsa1");
    let typed = Some("logout+jwt");
    let cases: Vec<(&str, Edit, Signing, Option<&str>, &str)> = vec![
        ("alg none", edit(|_| {}), Signing::AlgNone, typed, "not accepted"),
        ("HS256 with the public key", edit(|_| {}), Signing::HmacWithPublicKey("rsa1"), typed, "not accepted"),
        ("a key the provider never published", edit(|_| {}), Signing::Key("rsa2"), typed, "unknown kid"),
        ("a signature by another key", edit(|_| {}), Signing::KeyClaimingKid("rsa2", "rsa1"), typed, "does not verify"),
        ("an access token's type", edit(|_| {}), rsa.clone(), Some("at+jwt"), "type"),
        (
            "another issuer",
            edit(|c| drop(c.insert("iss".into(), json!("https://evil.example")))),
            rsa.clone(),
            typed,
            "iss",
        ),
        ("another audience", edit(|c| drop(c.insert("aud".into(), json!("someone-else")))), rsa.clone(), typed, "aud"),
        (
            "an extra audience",
            edit(|c| drop(c.insert("aud".into(), json!([crate::provider::CLIENT_ID, "someone-else"])))),
            rsa.clone(),
            typed,
            "aud",
        ),
        ("issued ten minutes ago", issued(600), rsa.clone(), typed, "older than"),
        ("issued in the future", issued(-600), rsa.clone(), typed, "future"),
        ("expired", edit(|c| drop(c.insert("exp".into(), json!(1)))), rsa.clone(), typed, "expired"),
        ("no exp", edit(|c| drop(c.remove("exp"))), rsa.clone(), typed, "exp is missing"),
        ("no logout event", edit(|c| drop(c.insert("events".into(), json!({})))), rsa.clone(), typed, "event"),
        ("a nonce", edit(|c| drop(c.insert("nonce".into(), json!("n")))), rsa.clone(), typed, "nonce"),
        ("no jti", edit(|c| drop(c.remove("jti"))), rsa.clone(), typed, "jti"),
        ("neither sub nor sid", edit(|c| drop((c.remove("sub"), c.remove("sid")))), rsa.clone(), typed, "neither"),
        ("an overlong sid", edit(|c| drop(c.insert("sid".into(), json!("s".repeat(300))))), rsa.clone(), typed, "sid"),
    ];
    for (what, change, signing, typ, says) in cases {
        let mut claims = provider.logout_claims(Some("user-1"), Some("sid-1"));
        change(&mut claims);
        let token = provider.logout_token(&claims, &signing, typ);
        let (status, cache, body) = deliver(&app, "oidc", &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(cache, "no-store", "{what}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["error"], "invalid_request", "{what}");
        let reason = error["error_description"].as_str().unwrap_or_default();
        assert!(reason.contains(says), "{what}: the reason {reason:?} should say {says:?}");
        assert_eq!(me_status(&browser).await, StatusCode::OK, "{what}: nothing ended");
    }
    for (body, what) in [("", "no token"), ("logout_token=not.a.jwt", "not a JWT"), ("logout_token=x", "one part")] {
        let response = reqwest::Client::new()
            .post(format!("{}/auth/backchannel-logout/oidc", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    assert_eq!(app.count("single_use").await, 0, "nothing refused was remembered");
    assert_eq!(me_status(&browser).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_is_off_unless_switched_on_and_only_for_configured_providers() {
    let (provider, app) = with_provider(&[]).await;
    let browser = browser_in(&app, &provider, "user-1", "sid-1").await;
    let token =
        provider.logout_token(&provider.logout_claims(Some("user-1"), Some("sid-1")), &Signing::Key("rsa1"), None);
    let (status, _, body) = deliver(&app, "oidc", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not switched on"), "{body}");
    assert_eq!(deliver(&app, "nowhere", &token).await.0, StatusCode::NOT_FOUND);
    assert_eq!(me_status(&browser).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_remembers_the_provider_session_it_came_from() {
    let (provider, app) = with_provider(&[ON]).await;
    browser_in(&app, &provider, "user-1", "sid-remembered").await;
    let (subject, sid): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT provider_subject, provider_sid FROM user_sessions")
            .fetch_one(&app.sql)
            .await
            .expect("row");
    assert_eq!((subject.as_deref(), sid.as_deref()), (Some("user-1"), Some("sid-remembered")));
}

// --- Sent: Gatehouse as the provider tells apps ---------------------------------------------------------------------

/// An app's back-channel logout endpoint: keeps every logout token POSTed to it, and answers 500 to the first
/// `failures` of them.
pub(crate) struct Receiver {
    pub url: String,
    tokens: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(failures: usize) -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port"), failures)
    }

    /// The receiver on `port`, which a test may have named to an app before anything listened there.
    pub(crate) async fn on_port(port: u16) -> Self {
        Self::on(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the app's port"), 0)
    }

    fn on(listener: tokio::net::TcpListener, failures: usize) -> Self {
        use axum::{Form, Router, http::StatusCode as Status, routing::post};
        let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
        let failures = Arc::new(std::sync::atomic::AtomicUsize::new(failures));
        let (kept, failing) = (tokens.clone(), failures.clone());
        let router = Router::new().route(
            "/logout",
            post(move |Form(form): Form<std::collections::HashMap<String, String>>| {
                let (kept, failing) = (kept.clone(), failing.clone());
                async move {
                    let failing_now = failing
                        .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                            n.checked_sub(1)
                        })
                        .is_ok();
                    if failing_now {
                        return Status::INTERNAL_SERVER_ERROR;
                    }
                    kept.lock().expect("lock").push(form.get("logout_token").cloned().unwrap_or_default());
                    Status::OK
                }
            }),
        );
        let url = format!("http://{}/logout", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, tokens }
    }

    /// The logout tokens received so far, after waiting up to `within` for the `n`th.
    pub(crate) async fn received(&self, n: usize, within: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let tokens = self.tokens.lock().expect("lock").clone();
            if tokens.len() >= n || std::time::Instant::now() > deadline {
                return tokens;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Registers an app told of ended authorizations at `uri` (an operator's: no owner).
async fn app_with_logout_uri(app: &TestApp, uri: &str) -> crate::authorization_server::App {
    app_of(app, None, uri).await
}

/// The same, registered by `owner` on `/apps`.
async fn app_of(app: &TestApp, owner: Option<&str>, uri: &str) -> crate::authorization_server::App {
    let new = gatehouse::server::oauth::clients::NewClient::parse(
        "Sample app",
        &[crate::authorization_server::REDIRECT.to_owned()],
        &[],
        false,
        "openid profile email offline_access profile:read",
        "",
    )
    .and_then(|new| new.with_backchannel_logout(uri, true))
    .expect("a valid client");
    let created = gatehouse::server::oauth::clients::create(
        &app.state.db,
        owner,
        new,
        &gatehouse::server::people::session::ClientInfo::default(),
    )
    .await
    .expect("registered");
    crate::authorization_server::App { id: created.client_id, secret: created.client_secret }
}

/// Checks `token` as an app would (Back-Channel Logout 1.0 §2.6): our key, ES256, `typ: logout+jwt`, for the app,
/// the event, no nonce, two minutes of life. Returns its claims.
async fn checked_logout_token(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let claims = crate::authorization_server::decode(
        token,
        &crate::authorization_server::jwks(app).await,
        client_id,
        &app.address,
    );
    assert_eq!(claims["events"], json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
    assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 120);
    claims
}

/// The person revokes the app, as on `/apps`; whether it had access.
async fn revoke_app(app: &TestApp, user_id: &str, client_id: &str) -> bool {
    let who = gatehouse::server::people::session::ClientInfo::default();
    gatehouse::server::oauth::grants::revoke_app(&app.state, user_id, client_id, &who).await.expect("revoked")
}

const DELIVERED: std::time::Duration = std::time::Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_told_when_an_authorization_ends_however_it_ends() {
    let (provider, app) = with_provider(&[]).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let receiver = Receiver::start(0).await;
    let client = app_with_logout_uri(&app, &receiver.url).await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.expect("JSON");
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    // The person revokes the app: told, with the `sid` its ID token carried.
    let issued = tokens(&app, &client).await;
    let id_token = crate::authorization_server::decode(
        issued["id_token"].as_str().expect("an ID token"),
        &crate::authorization_server::jwks(&app).await,
        &client.id,
        &app.address,
    );
    let user_id = id_token["sub"].as_str().expect("sub").to_owned();
    assert!(revoke_app(&app, &user_id, &client.id).await);
    let received = receiver.received(1, DELIVERED).await;
    assert_eq!(received.len(), 1, "one logout token for the revoked app");
    let claims = checked_logout_token(&app, &received[0], &client.id).await;
    assert_eq!((claims["sub"].as_str(), &claims["sid"]), (Some(user_id.as_str()), &id_token["sid"]));

    // The person signs out: the authorization bound to the session ends with it (a cascade in the database).
    tokens(&app, &client).await;
    assert_eq!(app.post_from_page("/auth/logout").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(receiver.received(2, DELIVERED).await.len(), 2, "told of the sign-out");

    // The account is deleted: every authorization ends, each told.
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    tokens(&app, &client).await;
    let deleted = app.main_browser().call("account/delete", &[("confirm", "ada@example.test")]).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let received = receiver.received(3, DELIVERED).await;
    assert_eq!(received.len(), 3, "told of the deleted account");
    checked_logout_token(&app, &received[2], &client.id).await;

    // A session past its limits, purged: told too.
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    tokens(&app, &client).await;
    sqlx::query("UPDATE user_sessions SET expires_at = 1").execute(&app.sql).await.expect("expired");
    gatehouse::server::people::session::purge_expired(&app.state.db, &app.state.config.sessions).await.expect("purged");
    assert_eq!(receiver.received(4, DELIVERED).await.len(), 4, "told of the expired session");

    let outcome: (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT logout_delivered_at, logout_outcome FROM oauth_clients WHERE id = $1")
            .bind(&client.id)
            .fetch_one(&app.sql)
            .await
            .expect("the app");
    assert_eq!(outcome.1.as_deref(), Some("delivered"));
    assert_eq!(app.count("backchannel_logouts").await, 0, "nothing left to send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_fails_is_tried_again_and_its_developer_sees_how_it_went() {
    let (provider, app) = with_provider(&[]).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let receiver = Receiver::start(1).await;
    let developer: String = sqlx::query_scalar("SELECT id FROM users").fetch_one(&app.sql).await.expect("the person");
    let client = app_of(&app, Some(&developer), &receiver.url).await;
    let page = app.get("/apps").await.text().await.expect("the apps page");
    assert!(page.contains(&receiver.url) && page.contains("nothing sent yet"), "{page}");
    tokens(&app, &client).await;
    // Signed out, then signed in again to see the page: the authorization of the first session ended.
    assert_eq!(app.post_from_page("/auth/logout").await.status(), StatusCode::SEE_OTHER);
    let received = receiver.received(1, DELIVERED).await;
    assert_eq!(received.len(), 1, "the second attempt is delivered");
    checked_logout_token(&app, &received[0], &client.id).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let page = app.get("/apps").await.text().await.expect("the apps page");
    assert!(page.contains("data-testid=\"app-backchannel-outcome\">delivered<"), "the developer sees it: {page}");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for outcome in ["retried", "delivered"] {
        let line = format!(
            "gatehouse_backchannel_logout_deliveries_total{{client=\"{}\",outcome=\"{outcome}\"}} 1",
            client.id
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_link_local_addresses_are_never_called() {
    let (provider, app) = with_provider(&[]).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    for (uri, address) in
        [("https://169.254.169.254/logout", "169.254.169.254"), ("https://10.1.2.3/logout", "10.1.2.3")]
    {
        let client = app_with_logout_uri(&app, uri).await;
        tokens(&app, &client).await;
        let user_id: String = sqlx::query_scalar("SELECT user_id FROM oauth_authorizations WHERE client_id = $1")
            .bind(&client.id)
            .fetch_one(&app.sql)
            .await
            .expect("an authorization");
        revoke_app(&app, &user_id, &client.id).await;
        let deadline = std::time::Instant::now() + DELIVERED;
        let outcome = loop {
            let outcome: Option<String> = sqlx::query_scalar("SELECT logout_outcome FROM oauth_clients WHERE id = $1")
                .bind(&client.id)
                .fetch_one(&app.sql)
                .await
                .expect("the app");
            if outcome.is_some() || std::time::Instant::now() > deadline {
                break outcome.unwrap_or_default();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(outcome, format!("failed ({address} is not a public address)"), "{uri}");
    }
}

#[test]
fn a_back_channel_logout_uri_is_https_or_loopback_http() {
    use gatehouse::server::oauth::clients::BackchannelLogout;
    assert!(BackchannelLogout::parse("https://app.example/logout", false).expect("valid").is_some());
    assert!(BackchannelLogout::parse("http://127.0.0.1:9000/logout", true).expect("valid").is_some());
    assert_eq!(BackchannelLogout::parse("  ", false).expect("none"), None);
    for bad in ["http://app.example/logout", "https://app.example/logout#x", "javascript:alert(1)"] {
        let error = BackchannelLogout::parse(bad, false).expect_err(bad).to_string();
        assert!(error.contains("Back-channel logout URI"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_authorization_is_delivered_by_the_next_instance_after_a_crash() {
    let (provider, mut app) = with_provider(&[]).await;
    sign_in_as(&app.main_browser(), &provider, "user-1").await;
    let receiver = Receiver::start(0).await;
    let client = app_with_logout_uri(&app, &receiver.url).await;
    tokens(&app, &client).await;
    app.stop().await;

    // The authorization ends in a committed transaction, and the instance that made it goes before it delivers.
    sqlx::query("DELETE FROM oauth_authorizations").execute(&app.sql).await.expect("ended");
    assert_eq!(app.count("backchannel_logouts").await, 1, "the outbox row was written with the change");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(receiver.received(1, std::time::Duration::ZERO).await.is_empty(), "nobody is running to deliver it");

    let next = crate::helpers::spawn_app_with(&[("DATABASE_URL", app.database_url.as_str())]).await;
    let received = receiver.received(1, DELIVERED).await;
    assert_eq!(received.len(), 1, "the next instance delivers it");
    let header = jsonwebtoken::decode_header(&received[0]).expect("a JWT");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(next.count("backchannel_logouts").await, 0);
}
