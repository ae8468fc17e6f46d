//! Sign-in with an OpenID Connect provider (the in-test provider of `provider.rs`): the happy path, and every way a
//! response must be refused. Each refusal is a 4xx page and leaves no user and no session behind.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, location, session_cookie, spawn_app_with},
    provider::{CLIENT_ID, CLIENT_SECRET, Signing, TestProvider},
};

async fn app_with(provider: &TestProvider, extra: &[(&'static str, &str)]) -> TestApp {
    let mut vars = vec![
        ("OIDC_ISSUER_URL", provider.issuer.as_str()),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_PROVIDER_NAME", "Test SSO"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

async fn setup() -> (TestProvider, TestApp) {
    let provider = TestProvider::start().await;
    let app = app_with(&provider, &[]).await;
    (provider, app)
}

/// Starts a sign-in and returns the provider's authorization URL.
async fn start(app: &TestApp, next: &str) -> String {
    let response = app.get(&format!("/auth/login/oidc?next={next}")).await;
    assert_eq!(response.status(), 303, "login redirects to the provider");
    location(&response)
}

/// A full sign-in as `subject`; returns the callback's response.
async fn sign_in(app: &TestApp, provider: &TestProvider, subject: &str) -> reqwest::Response {
    let authorize = start(app, "/profile").await;
    let query = provider.approve(&authorize, subject);
    app.get(&format!("/auth/callback/oidc?{query}")).await
}

/// Asserts a refused sign-in: a 4xx page that says so, and nothing created.
async fn assert_refused(app: &TestApp, response: reqwest::Response, says: &str) {
    let status = response.status().as_u16();
    let page = response.text().await.expect("body");
    assert!((400..500).contains(&status), "expected 4xx, got {status}: {page}");
    assert!(page.contains("Try again"), "the page offers to try again");
    assert!(page.contains(says), "the page should say {says:?}: {page}");
    app.assert_signed_out_with_nothing_created().await;
}

async fn refused_with(change: impl FnOnce(&mut crate::provider::Behaviour), says: &str) {
    let (provider, app) = setup().await;
    provider.set(change);
    let response = sign_in(&app, &provider, "user-1").await;
    assert_refused(&app, response, says).await;
}

fn edit(f: impl Fn(&mut serde_json::Map<String, Value>) + Send + Sync + 'static) -> crate::provider::Behaviour {
    crate::provider::Behaviour { edit_claims: Arc::new(f), ..Default::default() }
}

const NOT_VERIFIED: &str = "We could not sign you in";

// --- The happy path -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_request_uses_code_pkce_s256_state_and_nonce() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/profile").await;
    assert!(authorize.starts_with(&format!("{}/authorize?", provider.issuer)), "{authorize}");
    let url = url::Url::parse(&authorize).expect("URL");
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("redirect_uri"), Some(format!("{}/auth/callback/oidc", app.address)));
    assert!(param("scope").expect("scope").split(' ').any(|s| s == "openid"));
    for name in ["state", "nonce"] {
        let value = param(name).expect(name);
        assert!(value.len() >= 22, "{name} carries at least 128 random bits: {value}");
    }
    assert_ne!(
        param("state"),
        start(&app, "/profile").await.split("state=").nth(1).map(|s| s.split('&').next().unwrap_or("").to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_sign_in_creates_the_user_and_a_rotated_session_then_goes_to_next() {
    let (provider, app) = setup().await;
    let login = app.get("/auth/login/oidc?next=/profile").await;
    let before = session_cookie(&login).expect("the attempt starts a session");
    let query = provider.approve(&location(&login), "user-1");
    let callback = app.get(&format!("/auth/callback/oidc?{query}")).await;

    assert_eq!(callback.status(), 303);
    assert_eq!(location(&callback), "/profile");
    let after = session_cookie(&callback).expect("a session cookie is set");
    assert_ne!(before, after, "the session id is rotated at sign-in");

    let me: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(me["display_name"], "Ada Lovelace");
    assert_eq!(me["email"], "ada@example.test");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["providers"], json!(["oidc"]));
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("user_sessions").await, 1);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert_eq!(kinds, ["account_created", "sign_in"]);

    // The cookie from before sign-in is worth nothing now.
    let stale = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.address))
        .header("cookie", format!("gatehouse_session={before}"))
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status(), 401, "session fixation: the pre-login session id is not signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_again_finds_the_same_person() {
    let (provider, app) = setup().await;
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303);
    let first: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303);
    let second: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("user_sessions").await, 2, "each sign-in is its own session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_must_be_a_same_site_path() {
    let (provider, app) = setup().await;
    for (next, expected) in [
        ("https://evil.example/", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("%2F%5Cevil.example", "/dashboard"),
        ("%2Fprofile%3Ftab%3Dsecurity", "/profile?tab=security"),
    ] {
        let authorize = start(&app, next).await;
        let query = provider.approve(&authorize, "user-1");
        let callback = app.get(&format!("/auth/callback/oidc?{query}")).await;
        assert_eq!(location(&callback), expected, "next={next}");
    }
}

// --- ID token signature and algorithm -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rs256_signature_is_refused() {
    refused_with(|b| b.signing = Signing::KeyClaimingKid("attacker_rsa", "rsa1"), NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_es256_signature_is_refused() {
    refused_with(|b| b.signing = Signing::KeyClaimingKid("attacker_ec", "ec1"), NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_es256_signature_is_accepted() {
    let (provider, app) = setup().await;
    provider.set(|b| b.signing = Signing::Key("ec1"));
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_is_refused() {
    refused_with(|b| b.signing = Signing::AlgNone, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_keyed_with_the_public_key_is_refused() {
    refused_with(|b| b.signing = Signing::HmacWithPublicKey("rsa1"), NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_embedded_in_the_token_header_is_never_used() {
    refused_with(|b| b.signing = Signing::EmbeddedJwk("attacker_rsa"), NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_is_refused_after_one_refetch() {
    refused_with(|b| b.signing = Signing::Key("rsa2"), NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_kid_is_accepted_when_the_provider_has_one_key() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        b.published_keys = vec!["rsa1"];
        b.signing = Signing::KeyWithoutKid("rsa1");
    });
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_accepted_after_refetching_the_jwks() {
    let (provider, app) = setup().await;
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303, "first sign-in loads the keys");
    provider.set(|b| {
        b.published_keys = vec!["rsa2"];
        b.signing = Signing::Key("rsa2");
    });
    assert_eq!(sign_in(&app, &provider, "user-1").await.status(), 303, "the new key is fetched and accepted");
}

// --- ID token claims ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_iss_claim_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("iss".into(), json!("https://evil.example"));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_aud_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("aud".into(), json!(["someone-else"]));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_aud_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.remove("aud");
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_extra_audience_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("aud".into(), json!([CLIENT_ID, "another-client"]));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_azp_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("azp".into(), json!("another-client"));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_azp_is_accepted() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("azp".into(), json!(CLIENT_ID));
        })
    });
    assert_eq!(sign_in(&app, &provider, "u").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_iat_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.remove("iat");
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sub_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.remove("sub");
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            let iat = c["iat"].as_i64().expect("iat");
            c.insert("iat".into(), json!(iat - 600));
            c.insert("exp".into(), json!(iat - 10));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iat_in_the_future_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            let iat = c["iat"].as_i64().expect("iat");
            c.insert("iat".into(), json!(iat + 600));
            c.insert("exp".into(), json!(iat + 900));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iat_within_the_clock_leeway_is_accepted() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            let iat = c["iat"].as_i64().expect("iat");
            c.insert("iat".into(), json!(iat + 30));
        })
    });
    assert_eq!(sign_in(&app, &provider, "u").await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_mismatch_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.insert("nonce".into(), json!("not-the-nonce"));
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_nonce_is_refused() {
    let (provider, app) = setup().await;
    provider.set(|b| {
        *b = edit(|c| {
            c.remove("nonce");
        })
    });
    assert_refused(&app, sign_in(&app, &provider, "u").await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_userinfo_sub_that_differs_from_the_id_token_is_refused() {
    refused_with(|b| b.userinfo_sub = Some("someone-else".into()), NOT_VERIFIED).await;
}

// --- State, issuer and provider answers -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_state_is_refused() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u").replace("state=", "state=forged");
    assert_refused(&app, app.get(&format!("/auth/callback/oidc?{query}")).await, "not valid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_from_another_browser_is_refused() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u");
    let other_browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response =
        other_browser.get(format!("{}/auth/callback/oidc?{query}", app.address)).send().await.expect("request");
    assert_refused(&app, response, "not valid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_is_refused() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);
    let replay = app.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.expect("body").contains("not valid"));
    assert_eq!(app.count("user_sessions").await, 1, "the replay created no second session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_attempt_is_refused() {
    let provider = TestProvider::start().await;
    let app = app_with(&provider, &[("LOGIN_ATTEMPT_LIFETIME", "1s")]).await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_refused(&app, app.get(&format!("/auth/callback/oidc?{query}")).await, "took too long").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iss_parameter_naming_another_issuer_is_refused() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u").replace("iss=", "iss=https%3A%2F%2Fevil.example&was=");
    assert_refused(&app, app.get(&format!("/auth/callback/oidc?{query}")).await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_iss_parameter_is_refused_when_the_provider_promises_one() {
    let (provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u");
    let without_iss: String = query.split('&').filter(|p| !p.starts_with("iss=")).collect::<Vec<_>>().join("&");
    assert_refused(&app, app.get(&format!("/auth/callback/oidc?{without_iss}")).await, NOT_VERIFIED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_iss_parameter_is_accepted_when_the_provider_does_not_promise_one() {
    // Set before the app starts: it reads the discovery document while starting up.
    let provider = TestProvider::start().await;
    provider.set(|b| b.iss_parameter_supported = false);
    let app = app_with(&provider, &[]).await;
    let authorize = start(&app, "/").await;
    let query = provider.approve(&authorize, "u");
    let without_iss: String = query.split('&').filter(|p| !p.starts_with("iss=")).collect::<Vec<_>>().join("&");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{without_iss}")).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_is_shown_escaped_and_creates_nothing() {
    let (_provider, app) = setup().await;
    let authorize = start(&app, "/").await;
    let state = url::Url::parse(&authorize)
        .expect("URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .expect("state")
        .1
        .into_owned();
    let response = app
        .get(&format!(
            "/auth/callback/oidc?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={state}&iss={}",
            url::form_urlencoded::byte_serialize(_provider.issuer.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("body");
    assert!(page.contains("Sign-in was cancelled"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the description is shown, escaped: {page}");
    assert!(!page.contains("<script>alert"), "never raw: {page}");
    app.assert_signed_out_with_nothing_created().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_document_naming_another_issuer_disables_the_provider() {
    let provider = TestProvider::start().await;
    provider.set(|b| b.discovery_issuer = Some("https://impostor.example".into()));
    let app = app_with(&provider, &[]).await;
    let response = app.get("/auth/login/oidc").await;
    assert_eq!(response.status(), 503);
    assert!(response.text().await.expect("body").contains("not available right now"));
    assert_eq!(app.get("/healthz").await.status(), 200, "the app itself keeps running");
    app.assert_signed_out_with_nothing_created().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_does_not_answer_in_time_is_refused() {
    let provider = TestProvider::start().await;
    provider.set(|b| b.token_delay = Duration::from_secs(3));
    let app = app_with(&provider, &[("PROVIDER_TIMEOUT", "1s")]).await;
    let response = sign_in(&app, &provider, "u").await;
    assert_refused(&app, response, "did not answer in time").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_provider_is_a_404_page() {
    let (_provider, app) = setup().await;
    let response = app.get("/auth/login/nope").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.expect("body").contains("Unknown sign-in method"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_for_an_unknown_provider_is_a_404_that_writes_nothing() {
    let (_provider, app) = setup().await;
    // The path segment is the caller's: tens of kilobytes of it must not reach the audit trail (or the log).
    let segment = "x".repeat(60_000);
    let response = app.get(&format!("/auth/callback/{segment}?state=s&code=c")).await;
    assert_eq!(response.status(), 404);
    assert!(crate::helpers::session_cookie(&response).is_none(), "no session for it either");
    assert_eq!(app.count("audit_events").await, 0);
    assert_eq!(app.count("tower_sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_is_an_openid_provider_at_its_own_urls() {
    let provider = TestProvider::start().await;
    let app = spawn_app_with(&[
        ("GOOGLE_ISSUER_URL", &provider.issuer),
        ("GOOGLE_CLIENT_ID", CLIENT_ID),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
    ])
    .await;
    let login = app.get("/auth/login/google?next=/profile").await;
    assert_eq!(login.status(), 303);
    let authorize = location(&login);
    assert!(authorize.contains("redirect_uri=http%3A%2F%2F127.0.0.1"), "{authorize}");
    assert!(authorize.contains("%2Fauth%2Fcallback%2Fgoogle"), "the redirect URI names the provider: {authorize}");
    let query = provider.approve(&authorize, "google-user");
    let callback = app.get(&format!("/auth/callback/google?{query}")).await;
    assert_eq!(location(&callback), "/profile");
    let me: Value = app.get("/api/v1/me").await.json().await.expect("JSON");
    assert_eq!(me["providers"], json!(["google"]));
    // A callback naming a provider that is not configured is a 404, and leaves the attempt usable.
    let authorize = location(&app.get("/auth/login/google").await);
    let query = provider.approve(&authorize, "google-user");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{query}")).await.status(), 404, "no such provider here");
    assert_eq!(app.get(&format!("/auth/callback/google?{query}")).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointing_a_provider_at_another_issuer_is_refused_at_start_up_with_the_way_to_move_on_purpose() {
    let (provider, app) = crate::sessions::signed_in(&[]).await;
    let other = TestProvider::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let vars: std::collections::HashMap<&str, String> = [
        ("APP_URL", address),
        ("DATABASE_URL", app.database_url.clone()),
        ("OIDC_ISSUER_URL", other.issuer.clone()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
    ]
    .into_iter()
    .collect();
    let config =
        gatehouse::server::platform::config::Config::from_lookup(|k| Ok(vars.get(k).cloned())).expect("config");
    let refused = gatehouse::server::startup::Application::build_with_listener(config, listener)
        .await
        .err()
        .expect("start-up is refused")
        .to_string();
    assert!(refused.starts_with("OIDC_ISSUER_URL: "), "{refused}");
    assert!(refused.contains(&provider.issuer) && refused.contains(&other.issuer), "{refused}");
    assert!(refused.contains("UPDATE identities SET issuer"), "says how to move them deliberately: {refused}");
}
