//! The security review of December 2026 (issue 24), each finding tested as the class it belongs to: every sensitive
//! change behind one gate, whatever asks for it; the owner told of every change to how they sign in; what a session
//! did (not what the account has) in tokens and the admin area; nothing stored for a stranger's authorization request;
//! guesses counted before they are checked; no redirect to a user's app before sign-in; recovery ending everything.

use gatehouse::server::{
    oauth::clients::{self, NewClient},
    people::session::ClientInfo,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authorization_server::{
        App, REDIRECT, authorize_path, code, decode, exchange, jwks, me as app_me, pkce, query_of, register, setup,
        tokens,
    },
    helpers::{Browser, TestApp, client_from, json, location},
    mail::MailCatcher,
    notices::count_kind,
    provider::TestProvider,
    sessions::{signed_in, with_provider},
    two_step::{code as totp_code, enrol},
};

const EMAIL: &str = "grace@example.test";
const PASSWORD: &str = "tramway lagoon pistachio";

/// A confirmed password account on an app with a provider and a mail catcher, signed in in the app's own browser.
async fn account() -> (MailCatcher, TestProvider, TestApp, Browser) {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str()), ("RATE_LIMIT_SIGN_IN", "off")]).await;
    let browser = app.main_browser();
    let form = [("email", EMAIL), ("display_name", "Grace Hopper"), ("password", PASSWORD)];
    assert_eq!(location(&browser.call("auth/password/sign-up", &form).await), "/signup?sent=1");
    let link = mail.wait_for(EMAIL, 1).await[0].link(&app.address, "/verify-email?token=").expect("a link");
    let confirmed =
        browser.call("auth/password/verify", &[("token", link.trim_start_matches("/verify-email?token="))]).await;
    assert_eq!(location(&confirmed), "/login?verified=1");
    sign_in(&browser, PASSWORD).await;
    assert_eq!(app.me_status().await, 200);
    (mail, provider, app, browser)
}

async fn sign_in(browser: &Browser, password: &str) -> reqwest::Response {
    browser.call("auth/password/sign-in", &[("email", EMAIL), ("password", password)]).await
}

/// Makes every session's last confirmation of identity eleven minutes old.
async fn stale(app: &TestApp) {
    sqlx::query("UPDATE user_sessions SET confirmed_at = created_at - 660").execute(&app.sql).await.expect("stale");
}

async fn api_token(browser: &Browser, scope: &str) -> reqwest::Response {
    browser.api(Method::POST, "/tokens").json(&json!({ "name": "t", "scopes": [scope] })).send().await.expect("request")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sensitive_change_needs_a_recent_confirmation_whichever_way_it_is_asked_for() {
    let (_mail, _provider, app, browser) = account().await;
    stale(&app).await;
    let sensitive: [(&str, &[(&str, &str)]); 8] = [
        ("account/mfa/start", &[]),
        ("account/mfa/confirm", &[("code", "123456")]),
        ("account/mfa/recovery-codes", &[]),
        ("account/mfa/disable", &[]),
        ("account/password/add", &[("password", "an entirely new passphrase")]),
        ("account/unlink", &[("id", "any")]),
        ("account/delete", &[("confirm", EMAIL)]),
        ("tokens/create", &[("name", "w"), ("scopes[0]", "profile:write"), ("expires_in_days", "30")]),
    ];
    for (endpoint, form) in sensitive {
        let refused = browser.call(endpoint, form).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{endpoint}");
        let body = refused.text().await.expect("body");
        assert!(body.contains("ConfirmIdentity"), "{endpoint}: {body}");
    }
    // The JSON API and the plain routes go through the same gate.
    let minted = api_token(&browser, "profile:write").await;
    assert_eq!(minted.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(minted).await["error"], "confirm_identity");
    assert_eq!(location(&browser.post_from_page("/auth/link/oidc").await), "/confirm?next=%2Fprofile");
    for table in ["totp", "recovery_codes", "api_tokens", "identities"] {
        assert_eq!(app.count(table).await, 0, "nothing changed in {table}");
    }
    assert_eq!(app.count("users").await, 1, "the account is still there");

    // What cannot change anything needs no confirmation.
    assert_eq!(api_token(&browser, "profile:read").await.status(), StatusCode::CREATED);
    // A password opens the gate for ten minutes.
    assert_eq!(location(&browser.call("account/confirm", &[("password", PASSWORD)]).await), "/profile");
    assert_eq!(location(&browser.call("account/mfa/start", &[]).await), "/profile/two-step");
    assert_eq!(api_token(&browser, "profile:write").await.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_is_no_confirmation_and_the_owner_hears_of_every_change_to_how_they_sign_in() {
    let (mail, provider, app, browser) = account().await;
    sqlx::query("UPDATE user_sessions SET confirmed_at = created_at - 500").execute(&app.sql).await.expect("older");
    let before: Option<i64> =
        sqlx::query_scalar("SELECT confirmed_at FROM user_sessions").fetch_one(&app.sql).await.expect("session");
    enrol(&browser).await;
    let (after, second): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT confirmed_at, second_factor_at FROM user_sessions")
            .fetch_one(&app.sql)
            .await
            .expect("row");
    assert_eq!(after, before, "turning two-step on confirms nothing");
    assert_eq!(second, None, "nor is it a second factor for this session");

    let mailed = |n: usize| {
        let mail = mail.clone();
        async move { mail.wait_for(EMAIL, n).await[n - 1].clone() }
    };
    let on = mailed(2).await;
    assert_eq!(on.subject(), "Two-step verification was turned on for your Gatehouse account");
    assert!(!on.text.contains("Grace Hopper"), "no text a stranger could choose");
    assert_eq!(location(&browser.call("account/mfa/recovery-codes", &[]).await), "/profile/recovery-codes");
    assert_eq!(mailed(3).await.subject(), "New recovery codes were made for your Gatehouse account");
    assert_eq!(location(&browser.call("account/mfa/disable", &[]).await), "/profile?two_step=off");
    assert_eq!(mailed(4).await.subject(), "Two-step verification was turned off for your Gatehouse account");
    let changed =
        browser.call("account/password/change", &[("current", PASSWORD), ("password", "a brand new passphrase")]).await;
    assert_eq!(location(&changed), "/profile?password=changed");
    assert_eq!(mailed(5).await.subject(), "The password of your Gatehouse account was changed");

    // Linking a provider is a way in, too.
    let start = browser.post_from_page("/auth/link/oidc").await;
    let provider_query = provider.approve(&location(&start), "grace-elsewhere");
    assert_eq!(browser.get(&format!("/auth/callback/oidc?{provider_query}")).await.status(), 303);
    assert_eq!(app.count("identities").await, 1);
    let linked = mailed(6).await;
    assert_eq!(linked.subject(), "A new way to sign in was added to your Gatehouse account");
    mail.assert_no_more(EMAIL, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_password_to_a_provider_account_is_mailed_to_its_owner() {
    let mail = MailCatcher::start().await;
    let (_provider, app) = signed_in(&[("SMTP_URL", mail.url.as_str())]).await;
    let added = app.main_browser().call("account/password/add", &[("password", "a password for the first time")]).await;
    assert_eq!(location(&added), "/profile?password=added");
    let message = &mail.wait_for("ada@example.test", 1).await[0];
    assert_eq!(message.subject(), "A password was added to your Gatehouse account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amr_acr_and_the_admin_area_go_by_what_this_session_did() {
    let (_provider, app, client) = setup().await;
    let (key, _) = enrol(&app.main_browser()).await;
    let set = jwks(&app).await;
    let id_token = |issued: Value| issued["id_token"].as_str().expect("an ID token").to_owned();
    // Two-step is on for the account, but this session signed in with its provider alone.
    let claims = decode(&id_token(tokens(&app, &client).await), &set, &client.id, &app.address);
    assert_eq!(claims["amr"], json!(["fed"]), "{claims}");
    assert_eq!(claims["acr"], "urn:gatehouse:acr:1fa");
    // A code passes in this session: now it has done both.
    let confirmed = app.main_browser().call("account/confirm", &[("code", &totp_code(&key, 1))]).await;
    assert_eq!(location(&confirmed), "/profile");
    let claims = decode(&id_token(tokens(&app, &client).await), &set, &client.id, &app.address);
    assert_eq!(claims["amr"], json!(["fed", "otp", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "urn:gatehouse:acr:2fa");
    let discovery = json(app.get("/.well-known/openid-configuration").await).await;
    assert_eq!(discovery["acr_values_supported"], json!(["urn:gatehouse:acr:1fa", "urn:gatehouse:acr:2fa"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_authorization_requests_store_nothing_and_still_finish_after_sign_in() {
    let (provider, app) = with_provider(&[("RATE_LIMIT_OAUTH", "off")]).await;
    let client = register(&app, false, "openid profile").await;
    let pkce = pkce();
    let path = authorize_path(&client.id, &pkce, &[("scope", "openid profile")]);
    let stranger = client_from("127.0.0.1");
    for _ in 0..1000 {
        let answer = stranger.get(format!("{}{path}", app.address)).send().await.expect("request");
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert!(answer.headers().get("set-cookie").is_none(), "no session for a stranger");
    }
    assert_eq!(app.count("tower_sessions").await, 0, "1,000 requests stored nothing");
    assert_eq!(app.count("user_sessions").await, 0);

    // The request rides through sign-in, sealed in its own URL, and picks up where it left off.
    let login = location(&app.get(&path).await);
    let next = query_of(&format!("http://here{login}"))["next"].clone();
    assert!(next.starts_with("/oauth/authorize/resume?sealed="), "{next}");
    let started = app.get(&format!("/auth/login/oidc?next={}", encode(&next))).await;
    let query = provider.approve(&location(&started), "user-1");
    assert_eq!(location(&app.get(&format!("/auth/callback/oidc?{query}")).await), next);
    let resumed = app.get(&next).await;
    assert_eq!(resumed.status(), StatusCode::OK);
    assert!(resumed.text().await.expect("page").contains("Sample app"), "the consent page");

    // A sealed request cannot be altered or made up.
    let mut altered = next.clone().into_bytes();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(app.get(&String::from_utf8(altered).expect("ASCII")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/oauth/authorize/resume?sealed=AAAA").await.status(), StatusCode::BAD_REQUEST);

    // What a stranger could make us keep is bounded: redirect URIs (names and state already were).
    let long = format!("https://app.example/{}", "a".repeat(600));
    let refused = NewClient::parse("Long", &[long], &[], false, "openid", "").expect_err("too long");
    assert!(refused.to_string().contains("512"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_guesses_at_once_are_checked_at_most_five_times() {
    let (_mail, _provider, app, browser) = account().await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let other = app.browser();
        guesses.spawn(async move { sign_in(&other, &format!("wrong guess number {i}")).await.status().as_u16() });
    }
    let statuses = guesses.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 5, "{statuses:?}");
    assert_eq!(count_kind(&app, "sign_in_failed").await, 5, "five passwords checked, no more: {statuses:?}");

    // The same for second-step codes.
    let (_key, _) = enrol(&browser).await;
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let browser = app.main_browser();
        guesses.spawn(async move { browser.call("account/confirm", &[("code", "000000")]).await.status().as_u16() });
    }
    let statuses = guesses.join_all().await;
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 5, "{statuses:?}");
    assert_eq!(count_kind(&app, "mfa_failed").await, 5, "five codes checked, no more: {statuses:?}");
}

/// An app that a Gatehouse user registered (not the operators), with the usual redirect URIs.
async fn users_app(app: &TestApp) -> App {
    let owner: String = sqlx::query_scalar("SELECT id FROM users").fetch_one(&app.sql).await.expect("a user");
    let new = NewClient::parse(
        "Someone's app",
        &[REDIRECT.to_owned()],
        &["https://app.example/signed-out".to_owned()],
        false,
        "openid profile",
        "",
    )
    .expect("valid");
    let created = clients::create(&app.state.db, Some(&owner), new, &ClientInfo::default()).await.expect("registered");
    App { id: created.client_id, secret: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_broken_request_for_a_users_app_is_answered_here_and_not_sent_on() {
    let (_provider, app, operators) = setup().await;
    let theirs = users_app(&app).await;
    let stranger = client_from("127.0.0.1");
    let pkce = pkce();
    for extra in [("response_type", "token"), ("scope", "openid tokens:write"), ("prompt", "none")] {
        let path = authorize_path(&theirs.id, &pkce, &[extra]);
        let answer = stranger.get(format!("{}{path}", app.address)).send().await.expect("request");
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        assert!(answer.headers().get("location").is_none(), "{extra:?}: not sent anywhere");
        // The operators' own app is trusted with its errors; and so is any app once the person signed in here.
        let path = authorize_path(&operators.id, &pkce, &[extra]);
        let answer = stranger.get(format!("{}{path}", app.address)).send().await.expect("request");
        assert!(location(&answer).starts_with(REDIRECT), "{extra:?}");
        if extra.0 != "prompt" {
            assert!(location(&app.get(&authorize_path(&theirs.id, &pkce, &[extra])).await).starts_with(REDIRECT));
        }
    }

    // The consent page marks a user's app as unverified; the operators' is not.
    let page = app.get(&authorize_path(&theirs.id, &pkce, &[("scope", "openid profile")])).await;
    assert!(page.text().await.expect("page").contains("data-testid=\"unverified-app\""));
    let page = app.get(&authorize_path(&operators.id, &pkce, &[])).await;
    assert!(!page.text().await.expect("page").contains("unverified-app"));

    // Signing out at an app's request: a bare client_id sends nobody anywhere (a link back is offered).
    let back = encode("https://app.example/signed-out");
    let bare = format!("{}/oauth/logout?client_id={}&post_logout_redirect_uri={back}", app.address, theirs.id);
    let answer = stranger.get(bare).send().await.expect("request");
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.expect("page").contains("data-testid=\"back-to-app\""));
    // With an ID token issued to the app for the person signed in here: signed out and sent back at once.
    let hint = tokens(&app, &operators).await["id_token"].as_str().expect("an ID token").to_owned();
    let out = app.get(&format!("/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={back}")).await;
    assert!(location(&out).starts_with("https://app.example/signed-out"), "{}", location(&out));
    assert_eq!(app.me_status().await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_every_credential_and_says_so() {
    let (mail, _provider, app, browser) = account().await;
    let client = register(&app, false, "openid offline_access profile:read").await;
    let pat = json(api_token(&browser, "profile:read").await).await["secret"].as_str().expect("a token").to_owned();
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[("scope", "openid offline_access profile:read")]).await;
    let issued = json(exchange(&app, &client, &code, &pkce).await).await;
    let access = issued["access_token"].as_str().expect("access").to_owned();
    assert_eq!(app_me(&app, &access).await.0, StatusCode::OK);

    let other = app.browser();
    assert_eq!(location(&other.call("auth/password/forgot", &[("email", EMAIL)]).await), "/reset?sent=1");
    let link = mail.wait_for(EMAIL, 2).await[1].link(&app.address, "/reset/new?token=").expect("a reset link");
    let form = [("token", link.trim_start_matches("/reset/new?token=")), ("password", "a fresh passphrase for Grace")];
    assert_eq!(location(&other.call("auth/password/reset", &form).await), "/login?reset=1");

    assert_eq!(app_me(&app, &access).await.0, StatusCode::UNAUTHORIZED, "the app's access token");
    let refresh = issued["refresh_token"].as_str().expect("refresh");
    let (_, refreshed) = crate::authorization_server::token_owned(
        &app,
        &client,
        vec![("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed["error"], "invalid_grant", "its refresh token");
    let with_pat = reqwest::Client::new().get(format!("{}/api/v1/me", app.address)).bearer_auth(&pat).send().await;
    assert_eq!(with_pat.expect("request").status(), StatusCode::UNAUTHORIZED, "the personal access token");
    for table in ["user_sessions", "api_tokens", "oauth_authorizations"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    let told = &mail.wait_for(EMAIL, 3).await[2];
    assert_eq!(told.subject(), "The password of your Gatehouse account was reset");
    assert!(
        told.text.contains("every API token and app") && told.text.contains("authorization was ended"),
        "{}",
        told.text
    );
    let page = other.get("/login?reset=1").await.text().await.expect("page");
    assert!(page.contains("every API token and app authorization was ended"), "the page says so");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_wasnt_me_ends_the_app_grants_made_in_that_session_too() {
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    let home = app.browser_with(|b| b.user_agent(FIREFOX));
    for browser in [&home, &home, &app.main_browser()] {
        let login = browser.get("/auth/login/oidc").await;
        let query = provider.approve(&location(&login), "ada");
        assert_eq!(browser.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);
    }
    // The stranger's browser (the app's own) lets an app in for good (offline_access outlives the session).
    let client = register(&app, false, "openid offline_access profile:read").await;
    let pkce = pkce();
    let code = code(&app, &client, &pkce, &[("scope", "openid offline_access profile:read")]).await;
    let issued = json(exchange(&app, &client, &code, &pkce).await).await;
    let access = issued["access_token"].as_str().expect("access").to_owned();
    assert_eq!(app_me(&app, &access).await.0, StatusCode::OK);

    let link = mail.wait_for("ada@example.test", 1).await[0].link(&app.address, "/account/not-me?n=").expect("link");
    let done = home
        .client
        .post(format!("{}/account/not-me", app.address))
        .header("origin", &app.address)
        .form(&[("n", link.trim_start_matches("/account/not-me?n="))])
        .send()
        .await
        .expect("post");
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.expect("page").contains("1 app authorization(s) granted in it"));
    assert_eq!(app_me(&app, &access).await.0, StatusCode::UNAUTHORIZED, "the grant made there ended");
    assert_eq!(app.count("oauth_authorizations").await, 0);
    assert_eq!(home.get("/api/v1/me").await.status(), StatusCode::OK, "the owner's own session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letting_an_app_change_things_needs_a_recent_confirmation() {
    let (_provider, app) = signed_in(&[]).await;
    let client = register(&app, false, "openid profile:write").await;
    let pkce = pkce();
    let path = authorize_path(&client.id, &pkce, &[("scope", "openid profile:write")]);
    let page = app.get(&path).await.text().await.expect("the consent page");
    let request = page.split("name=\"request\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("id");

    // The confirmation runs out while the question is open: the answer gives the app nothing.
    stale(&app).await;
    let answer = app
        .client
        .post(format!("{}/oauth/authorize/decision", app.address))
        .header("origin", &app.address)
        .form(&[("request", request), ("decision", "allow")])
        .send()
        .await
        .expect("decision");
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("oauth_consents").await, 0);
    assert_eq!(app.count("oauth_codes").await, 0);
    // Asked again, the person confirms first; the request waits for them.
    let again = location(&app.get(&path).await);
    assert!(again.starts_with("/confirm?next=%2Foauth%2Fauthorize%2Fresume%3Frequest%3D"), "{again}");
    // A read-only app needs nothing more than the sign-in.
    let reader = register(&app, false, "openid profile:read").await;
    assert!(code(&app, &reader, &pkce, &[("scope", "openid profile:read")]).await.starts_with("gac_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rotating_through_its_ipv6_64_is_still_one_client() {
    let mail = MailCatcher::start().await;
    let app = crate::helpers::spawn_app_with(&[
        ("SMTP_URL", mail.url.as_str()),
        ("RATE_LIMIT_SIGN_IN", "off"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let guess = |from: String, n: u32| {
        let request = app
            .client
            .post(format!("{}/api/auth/password/sign-in", app.address))
            .header("origin", &app.address)
            .header("x-forwarded-for", from)
            .form(&[("email", format!("nobody{n}@example.test")), ("password", "not the password".into())]);
        async move { request.send().await.expect("request").status().as_u16() }
    };
    // A new address of the same /64 for every guess, at a new account each time (so no account locks first).
    let mut statuses = Vec::new();
    for n in 1..=21 {
        statuses.push(guess(format!("2001:db8:5:6::{n:x}"), n).await);
    }
    assert_eq!(statuses[..19], [401; 19], "{statuses:?}");
    assert_eq!(statuses[19..], [429, 429], "the twentieth failure from the /64 locks it: {statuses:?}");
    assert_eq!(guess("2001:db8:5:7::1".into(), 99).await, 401, "another network is another client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_strangers_start_is_removed_in_time_and_their_words_are_never_mailed() {
    let mail = MailCatcher::start().await;
    let app = crate::helpers::spawn_app_with(&[("SMTP_URL", mail.url.as_str())]).await;
    // Anyone can sign up with anyone's address; the mail it sends says nothing the form was given.
    let spam = "Cheap watches at spam.example, click now";
    let form = [("email", "victim@example.test"), ("display_name", spam), ("password", PASSWORD)];
    assert_eq!(location(&app.browser().call("auth/password/sign-up", &form).await), "/signup?sent=1");
    let message = &mail.wait_for("victim@example.test", 1).await[0];
    assert!(!message.text.contains("spam.example") && !message.text.contains("Cheap"), "{}", message.text);
    assert!(message.text.contains("removed after 7 days"), "{}", message.text);
    // A confirmed account of the same age stays.
    let form = [("email", EMAIL), ("display_name", "Grace Hopper"), ("password", PASSWORD)];
    app.browser().call("auth/password/sign-up", &form).await;
    mail.wait_for(EMAIL, 1).await;
    sqlx::query("UPDATE passwords SET verified_at = 1 WHERE email = $1")
        .bind(EMAIL)
        .execute(&app.sql)
        .await
        .expect("ok");

    let purge = || gatehouse::server::people::local_accounts::purge_expired(&app.state.db);
    assert_eq!(purge().await.expect("purge"), 0, "a week to confirm");
    sqlx::query("UPDATE users SET created_at = created_at - 8 * 86400").execute(&app.sql).await.expect("older");
    assert_eq!(purge().await.expect("purge"), 1, "the unconfirmed one goes");
    let left: Vec<String> = sqlx::query_scalar("SELECT email FROM passwords").fetch_all(&app.sql).await.expect("rows");
    assert_eq!(left, [EMAIL]);
    assert_eq!(app.count("users").await, 1);
    let report = gatehouse::server::security::audit::chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, None, "its events were anonymised by a recorded deletion");
    let reason: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'account_deleted'")
        .fetch_one(&app.sql)
        .await
        .expect("recorded");
    assert!(reason.contains("address not confirmed in time"), "{reason}");

    // Device requests that anyone's tool can start are gone an hour after they expire.
    let client = register(&app, false, "openid profile").await;
    let started = reqwest::Client::new()
        .post(format!("{}/oauth/device_authorization", app.address))
        .form(&[("client_id", client.id.as_str()), ("scope", "openid")])
        .send()
        .await
        .expect("request");
    assert_eq!(started.status(), StatusCode::OK);
    assert_eq!(app.count("oauth_device_codes").await, 1);
    let grants = || gatehouse::server::oauth::grants::purge_expired(&app.state.db);
    grants().await.expect("purge");
    assert_eq!(app.count("oauth_device_codes").await, 1, "still waiting for its person");
    sqlx::query("UPDATE oauth_device_codes SET expires_at = expires_at - 7200").execute(&app.sql).await.expect("old");
    grants().await.expect("purge");
    assert_eq!(app.count("oauth_device_codes").await, 0);
}

/// The lower quartile of `times`: work on the answer's path shows in every answer, so it moves this as much as the
/// median; what other work on the machine adds (tests running beside this one, a build) falls on some answers and
/// not others, and moves it much less. With the median, a loaded machine once made one side 4.7 ms slower.
fn lower_quartile(mut times: Vec<std::time::Duration>) -> std::time::Duration {
    times.sort();
    times[times.len() / 4]
}

/// Times `rounds` pairs of the same form, alternating an address that has an account with ones that have not, a
/// pause after each so that one answer's after-work does not fall on the next; returns the two lower quartiles.
async fn timed_pairs(
    browser: &Browser,
    endpoint: &str,
    rounds: usize,
    pause: std::time::Duration,
    form: impl Fn(&str) -> Vec<(&'static str, String)>,
) -> (std::time::Duration, std::time::Duration) {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (address, times) in [(EMAIL.to_owned(), &mut known), (format!("nobody{round}@example.test"), &mut unknown)]
        {
            let started = std::time::Instant::now();
            let answer = browser
                .client
                .post(format!("{}/api/{endpoint}", browser.address))
                .header("origin", &browser.address)
                .form(&form(&address))
                .send()
                .await
                .expect("request");
            times.push(started.elapsed());
            assert!(answer.headers().contains_key("location"), "{endpoint}: {}", answer.status());
            tokio::time::sleep(pause).await;
        }
    }
    (lower_quartile(known), lower_quartile(unknown))
}

/// Whether two times are the same within a generous bound: two milliseconds, or a third of the faster one. The
/// differences this guards against are a password hash (tens of milliseconds) or a few writes with a mail.
fn alike(a: std::time::Duration, b: std::time::Duration) -> bool {
    let (fast, slow) = if a < b { (a, b) } else { (b, a) };
    slow - fast <= std::time::Duration::from_millis(2).max(fast / 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whether_an_address_has_an_account_cannot_be_told_by_the_time_an_answer_takes() {
    let (_mail, _provider, app, _) = account().await;
    let browser = app.browser();
    let ms = std::time::Duration::from_millis;
    let (known, unknown) =
        timed_pairs(&browser, "auth/password/forgot", 40, ms(25), |a| vec![("email", a.to_owned())]).await;
    assert!(alike(known, unknown), "reset: {known:?} for an account, {unknown:?} for none");
    let (known, unknown) = timed_pairs(&browser, "auth/password/sign-up", 24, ms(150), |a| {
        vec![("email", a.to_owned()), ("display_name", "Someone".into()), ("password", PASSWORD.into())]
    })
    .await;
    assert!(alike(known, unknown), "sign-up: {known:?} for an account, {unknown:?} for none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_never_waits_for_the_work_that_differs_between_addresses() {
    let (_mail, _provider, app, _) = account().await;
    let browser = app.browser();
    // Hold the database's writes, as a long transaction elsewhere would: only work done before the answer waits.
    let mut holder = app.sql.acquire().await.expect("a connection");
    let lock = if crate::helpers::on_postgres() {
        "LOCK TABLE email_tokens, throttles, users, passwords IN EXCLUSIVE MODE"
    } else {
        "BEGIN IMMEDIATE"
    };
    if crate::helpers::on_postgres() {
        sqlx::query("BEGIN").execute(&mut *holder).await.expect("begin");
    }
    sqlx::query(lock).execute(&mut *holder).await.expect("writes held");
    for (endpoint, address) in [
        ("auth/password/forgot", EMAIL),
        ("auth/password/forgot", "nobody@example.test"),
        ("auth/password/sign-up", EMAIL),
        ("auth/password/sign-up", "somebody@example.test"),
    ] {
        let form = [("email", address), ("display_name", "Someone"), ("password", PASSWORD)];
        let started = std::time::Instant::now();
        let answer = browser.call(endpoint, &form).await;
        assert!(answer.headers().contains_key("location"), "{endpoint}: {}", answer.status());
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_millis(1500), "{endpoint} for {address} waited {took:?}");
    }
    sqlx::query("ROLLBACK").execute(&mut *holder).await.expect("released");
    holder.close().await.ok();
}

/// Issue 24 item 11: a page's response options must stay its own. Pages render while static files are served from
/// the same worker threads; each answer must carry exactly its own headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_its_own_headers_while_pages_and_files_are_served_together() {
    let (provider, app) = with_provider(&[("RATE_LIMIT_SIGN_IN", "off")]).await;
    let site = app.state.leptos_options.site_root.to_string();
    std::fs::create_dir_all(&site).expect("site root");
    std::fs::write(format!("{site}/plain.txt"), "a static file").expect("a static file");
    let mut browsers = Vec::new();
    for _ in 0..6 {
        let browser = app.browser();
        let login = browser.get("/auth/login/oidc").await;
        let query = provider.approve(&location(&login), "ada");
        assert_eq!(browser.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);
        browsers.push(browser);
    }
    let mut answers = tokio::task::JoinSet::new();
    for round in 0..600 {
        let browser = browsers[round % browsers.len()].client.clone();
        let address = app.address.clone();
        answers.spawn(async move {
            let path = match round % 3 {
                0 => "/dashboard".to_owned(),
                1 => format!("/login?round={round}"),
                _ => "/plain.txt".to_owned(),
            };
            let response = browser.get(format!("{address}{path}")).send().await.expect("request");
            let header = |name: &str| {
                response.headers().get(name).map(|v| v.to_str().unwrap_or_default().to_owned()).unwrap_or_default()
            };
            (path.clone(), response.status().as_u16(), header("content-security-policy"), header("cache-control"))
        });
    }
    let mut wrong = Vec::new();
    for (path, status, policy, cache) in answers.join_all().await {
        let page = path != "/plain.txt";
        let own = if page {
            status == 200 && policy.contains("'nonce-") && cache == "no-store"
        } else {
            status == 200 && !policy.contains("'nonce-") && cache != "no-store"
        };
        if !own {
            wrong.push(format!("{path} {status} policy={policy:?} cache={cache:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} answers carried another's headers or lost their own: {wrong:#?}", wrong.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_grant_that_lives_with_a_session_ends_with_its_idle_or_absolute_limit() {
    let (_provider, app, client) = setup().await;
    for (limit, expire) in
        [("idle", "UPDATE user_sessions SET last_seen_at = 0"), ("absolute", "UPDATE user_sessions SET expires_at = 1")]
    {
        let issued = tokens(&app, &client).await;
        let refresh = issued["refresh_token"].as_str().expect("a refresh token");
        sqlx::query(expire).execute(&app.sql).await.expect("expired");
        let (status, answer) = crate::authorization_server::token_owned(
            &app,
            &client,
            vec![("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{limit}");
        // Sign in again for the next round.
        sqlx::query("UPDATE user_sessions SET last_seen_at = created_at, expires_at = created_at + 3600")
            .execute(&app.sql)
            .await
            .expect("renewed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_used_from_addresses_in_turn_is_audited_once_per_address() {
    let (_mail, _provider, app, browser) = account().await;
    let secret = json(api_token(&browser, "profile:read").await).await["secret"].as_str().expect("secret").to_owned();
    let (here, there) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..10 {
        for program in [&here, &there] {
            let response = program.get(format!("{}/api/v1/me", app.address)).bearer_auth(&secret).send().await;
            assert_eq!(response.expect("request").status(), StatusCode::OK);
        }
    }
    assert_eq!(count_kind(&app, "token_used").await, 2, "each address once, not every call");
    let recent: String =
        sqlx::query_scalar("SELECT recent_ips FROM api_tokens").fetch_one(&app.sql).await.expect("row");
    assert_eq!(recent, "127.0.0.2 127.0.0.3");
    // A third address is still news.
    let response = client_from("127.0.0.4").get(format!("{}/api/v1/me", app.address)).bearer_auth(&secret).send().await;
    assert_eq!(response.expect("request").status(), StatusCode::OK);
    assert_eq!(count_kind(&app, "token_used").await, 3);
}
