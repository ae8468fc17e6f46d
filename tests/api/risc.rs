//! Google's Cross-Account Protection (RISC): security event tokens pushed to `POST /auth/risc/google`, from the
//! in-test provider standing in for Google (its RISC configuration and keys). Each event's effect, each refusal
//! (RFC 8935's error codes), and a token delivered twice acting once.

use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::{
    helpers::{Browser, TestApp, location, spawn_app_with},
    mail::MailCatcher,
    provider::{CLIENT_ID, CLIENT_SECRET, Signing, TestProvider},
};

async fn google_app(provider: &TestProvider, extra: &[(&'static str, &str)]) -> TestApp {
    let mut vars = vec![
        ("GOOGLE_ISSUER_URL", provider.issuer.as_str()),
        ("GOOGLE_CLIENT_ID", CLIENT_ID),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// A new browser signed in with "Google" as `subject`.
async fn google_browser(app: &TestApp, provider: &TestProvider, subject: &str) -> Browser {
    let browser = app.browser();
    let login = browser.get("/auth/login/google").await;
    let query = provider.approve(&location(&login), subject);
    assert_eq!(browser.get(&format!("/auth/callback/google?{query}")).await.status(), 303);
    assert_eq!(me(&browser).await, StatusCode::OK);
    browser
}

async fn me(browser: &Browser) -> StatusCode {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request").status()
}

/// Pushes `token` as Google does: the token is the body (RFC 8935 §2).
async fn push(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/auth/risc/google", app.address))
        .header("content-type", "application/secevent+jwt")
        .header("accept", "application/json")
        .body(token.to_owned())
        .send()
        .await
        .expect("request");
    let status = response.status();
    assert_eq!(response.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    (status, response.json().await.unwrap_or(Value::Null))
}

fn signed(provider: &TestProvider, claims: &Map<String, Value>) -> String {
    provider.logout_token(claims, &Signing::Key("rsa1"), Some("secevent+jwt"))
}

async fn events_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = $1 ORDER BY id")
        .bind(kind)
        .fetch_all(&app.sql)
        .await
        .expect("events");
    details.iter().map(|d| serde_json::from_str(d).expect("JSON")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revoked_at_google_end_the_persons_google_sessions_here_once() {
    let provider = TestProvider::start().await;
    let app = google_app(&provider, &[("GOOGLE_RISC", "true")]).await;
    let (laptop, phone) = (google_browser(&app, &provider, "g-1").await, google_browser(&app, &provider, "g-1").await);
    provider.set(|b| b.email = Some("grace@example.test".into()));
    let someone_else = google_browser(&app, &provider, "g-2").await;

    let token = signed(&provider, &provider.security_event_claims("sessions-revoked", "g-1", json!({})));
    assert_eq!(push(&app, &token).await.0, StatusCode::ACCEPTED);
    assert_eq!(me(&laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&someone_else).await, StatusCode::OK, "another person's sessions stay");
    let recorded = events_of(&app, "provider_security_event").await;
    assert_eq!(recorded, vec![json!({ "provider": "google", "event": "sessions-revoked", "sessions": 2 })]);

    // Google sends again what it did not see accepted: the same token is accepted and acts no more.
    assert_eq!(push(&app, &token).await.0, StatusCode::ACCEPTED);
    assert_eq!(events_of(&app, "provider_security_event").await.len(), 1, "recorded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hijacked_google_account_ends_everything_marks_the_account_and_mails_its_owner() {
    let mail = MailCatcher::start().await;
    let provider = TestProvider::start().await;
    let app = google_app(&provider, &[("GOOGLE_RISC", "true"), ("SMTP_URL", mail.url.as_str())]).await;
    let browser = google_browser(&app, &provider, "g-1").await;
    let created = browser
        .api(reqwest::Method::POST, "/tokens")
        .json(&json!({ "name": "ci", "scopes": ["profile:read"], "expires_in_days": 1 }))
        .send()
        .await
        .expect("token");
    assert_eq!(created.status(), StatusCode::CREATED);
    let secret = created.json::<Value>().await.expect("JSON")["secret"].as_str().expect("secret").to_owned();

    let claims = provider.security_event_claims("account-disabled", "g-1", json!({ "reason": "hijacking" }));
    assert_eq!(push(&app, &signed(&provider, &claims)).await.0, StatusCode::ACCEPTED);
    assert_eq!(me(&browser).await, StatusCode::UNAUTHORIZED, "signed out");
    let with_token = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.address))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("request");
    assert_eq!(with_token.status(), StatusCode::UNAUTHORIZED, "its tokens revoked");
    let attention: Option<String> =
        sqlx::query_scalar("SELECT attention FROM users").fetch_one(&app.sql).await.expect("the person");
    assert_eq!(attention.as_deref(), Some("google_hijacking"));
    let mails = mail.wait_for("ada@example.test", 1).await;
    assert!(mails[0].subject().contains("locked down"), "{}", mails[0].subject());
    assert!(mails[0].text.contains("taken over"), "{}", mails[0].text);
    let recorded = events_of(&app, "provider_security_event").await;
    assert_eq!(recorded[0]["reason"], "hijacking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_recorded_and_a_credential_change_asks_to_confirm_again() {
    let provider = TestProvider::start().await;
    let app = google_app(&provider, &[("GOOGLE_RISC", "true")]).await;
    let browser = google_browser(&app, &provider, "g-1").await;
    for (event, extra) in [
        ("account-credential-change-required", json!({})),
        ("account-disabled", json!({ "reason": "bulk-account" })),
        ("account-enabled", json!({})),
        ("verification", json!({ "state": "check-123" })),
    ] {
        let token = signed(&provider, &provider.security_event_claims(event, "g-1", extra));
        assert_eq!(push(&app, &token).await.0, StatusCode::ACCEPTED, "{event}");
    }
    assert_eq!(me(&browser).await, StatusCode::OK, "none of these signs anyone out");
    let confirmed: i64 =
        sqlx::query_scalar("SELECT confirmed_at FROM user_sessions").fetch_one(&app.sql).await.expect("session");
    assert_eq!(confirmed, 0, "a sensitive change asks to sign in at Google again");
    let kinds: Vec<Value> =
        events_of(&app, "provider_security_event").await.into_iter().map(|e| e["event"].clone()).collect();
    assert_eq!(
        kinds,
        vec![json!("account-credential-change-required"), json!("account-disabled"), json!("account-enabled")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_are_not_googles_for_this_site_are_refused_with_rfc_8935_errors() {
    let provider = TestProvider::start().await;
    let app = google_app(&provider, &[("GOOGLE_RISC", "true")]).await;
    let browser = google_browser(&app, &provider, "g-1").await;
    let good = || provider.security_event_claims("sessions-revoked", "g-1", json!({}));
    let edited = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut claims = good();
        f(&mut claims);
        claims
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another audience",
            signed(&provider, &edited(&|c| drop(c.insert("aud".into(), json!("other"))))),
            "invalid_audience",
        ),
        (
            "another issuer",
            signed(&provider, &edited(&|c| drop(c.insert("iss".into(), json!("https://evil.example/"))))),
            "invalid_issuer",
        ),
        ("an unknown key", provider.logout_token(&good(), &Signing::Key("rsa2"), None), "invalid_key"),
        (
            "a forged signature",
            provider.logout_token(&good(), &Signing::KeyClaimingKid("rsa2", "rsa1"), None),
            "invalid_key",
        ),
        ("alg none", provider.logout_token(&good(), &Signing::AlgNone, None), "invalid_request"),
        ("no jti", signed(&provider, &edited(&|c| drop(c.remove("jti")))), "invalid_request"),
        (
            "a month old",
            signed(&provider, &edited(&|c| drop(c.insert("iat".into(), json!(1_700_000_000))))),
            "invalid_request",
        ),
        ("not a JWT", "nonsense".to_owned(), "invalid_request"),
    ];
    for (what, token, err) in cases {
        let (status, body) = push(&app, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["err"], err, "{what}: {body}");
        assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
    }
    let wrong_type = reqwest::Client::new()
        .post(format!("{}/auth/risc/google", app.address))
        .header("content-type", "application/json")
        .body(signed(&provider, &good()))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    assert_eq!(me(&browser).await, StatusCode::OK, "nothing refused ended anything");
    assert!(events_of(&app, "provider_security_event").await.is_empty());

    // Off unless switched on.
    let off = google_app(&provider, &[]).await;
    assert_eq!(push(&off, &signed(&provider, &good())).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_named_by_google_drops_the_kept_tokens() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use sha2::{Digest, Sha512};
    let provider = TestProvider::start().await;
    let app = google_app(&provider, &[("GOOGLE_RISC", "true"), ("PROVIDER_TOKENS", "keep")]).await;
    google_browser(&app, &provider, "g-1").await;
    provider.set(|b| b.email = Some("grace@example.test".into()));
    google_browser(&app, &provider, "g-2").await;
    assert_eq!(app.count("provider_tokens").await, 2);
    let mut live = provider.live_refresh_tokens();
    live.sort();
    let by_prefix =
        |token: &str| json!({ "token_type": "refresh_token", "token_identifier_alg": "prefix", "token": &token[..16] });
    let by_hash = |token: &str| {
        let hash = STANDARD.encode(Sha512::digest(Sha512::digest(token.as_bytes())));
        json!({ "token_type": "refresh_token", "token_identifier_alg": "hash_base64_sha512_sha512", "token": hash })
    };
    for (n, subject) in [(1, by_prefix(&live[0])), (0, by_hash(&live[1]))] {
        let mut claims = provider.security_event_claims("token-revoked", "ignored", json!({}));
        claims["events"]["https://schemas.openid.net/secevent/oauth/event-type/token-revoked"]["subject"] =
            json!({ "subject_type": "oauth_token" })
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.extend(subject.as_object().expect("object").clone());
                    Value::Object(o)
                })
                .expect("subject");
        assert_eq!(push(&app, &signed(&provider, &claims)).await.0, StatusCode::ACCEPTED);
        assert_eq!(app.count("provider_tokens").await, n, "the named token's connection is gone");
    }
    assert_eq!(events_of(&app, "provider_security_event").await.len(), 2);
}

/// `gatehouse risc register` talks to Google, which is not reachable here; what it checks first is tested.
#[tokio::test]
async fn registering_with_google_names_what_is_missing_before_calling_it() {
    use gatehouse::server::auth::risc::register;
    let error = register("http://127.0.0.1:3000", "/nowhere.json").await.expect_err("http");
    assert!(error.contains("APP_URL"), "{error}");
    let error = register("https://login.example", "/nowhere.json").await.expect_err("no file");
    assert!(error.starts_with("GOOGLE_SERVICE_ACCOUNT_FILE"), "{error}");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("key.json");
    std::fs::write(
        &file,
        r#"{"client_email": "risc@p.iam.gserviceaccount.com", "private_key": "nope", "private_key_id": "k"}"#,
    )
    .expect("write");
    let error = register("https://login.example", file.to_str().expect("path")).await.expect_err("not a key");
    assert!(error.contains("not an RSA key"), "{error}");
}
