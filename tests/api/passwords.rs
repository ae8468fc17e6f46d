//! Email and password accounts: sign-up and the verification link, sign-in, throttling, resets, changing and adding
//! a password, and the rules that keep addresses from being enumerated or captured. Mail goes to a real SMTP
//! conversation with the in-test catcher.

use serde_json::Value;

use crate::{
    helpers::{Browser, TestApp, json, location, spawn_app_with},
    mail::MailCatcher,
    sessions::with_provider,
};

const EMAIL: &str = "grace@example.test";
const PASSWORD: &str = "tramway lagoon pistachio";
const NEW_PASSWORD: &str = "orchard kettle semaphore";

/// An app with mail going to a fresh catcher.
async fn app_with_mail(extra: &[(&'static str, &str)]) -> (MailCatcher, TestApp) {
    let mail = MailCatcher::start().await;
    let mut vars = vec![("SMTP_URL", mail.url.as_str())];
    vars.extend_from_slice(extra);
    (mail.clone(), spawn_app_with(&vars).await)
}

async fn sign_up(browser: &Browser, email: &str, password: &str) -> reqwest::Response {
    browser
        .call("auth/password/sign-up", &[("email", email), ("display_name", "Grace Hopper"), ("password", password)])
        .await
}

async fn sign_in(browser: &Browser, email: &str, password: &str) -> reqwest::Response {
    browser.call("auth/password/sign-in", &[("email", email), ("password", password)]).await
}

async fn me(browser: &Browser) -> reqwest::Response {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request reaches the app")
}

/// Signs up `EMAIL` and follows the verification mail's link.
async fn signed_up_and_verified(app: &TestApp, mail: &MailCatcher) {
    let browser = app.browser();
    assert_eq!(location(&sign_up(&browser, EMAIL, PASSWORD).await), "/signup?sent=1");
    let token = verify_token(app, &mail.wait_for(EMAIL, 1).await[0]);
    let confirmed = browser.call("auth/password/verify", &[("token", &token)]).await;
    assert_eq!(location(&confirmed), "/login?verified=1");
}

fn verify_token(app: &TestApp, message: &crate::mail::Caught) -> String {
    let link = message.link(&app.address, "/verify-email?token=").expect("a verification link");
    link.trim_start_matches("/verify-email?token=").to_owned()
}

/// Whether the (one) account's email address is verified.
async fn verified(app: &TestApp) -> bool {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email_verified").fetch_one(&app.sql).await.expect("count");
    count == 1
}

/// The reset link in the mail to `to`, as a path.
async fn reset_link(app: &TestApp, mail: &MailCatcher, to: &str, count: usize) -> String {
    let messages = mail.wait_for(to, count).await;
    messages.iter().rev().find_map(|m| m.link(&app.address, "/reset/new?token=")).expect("a reset link")
}

async fn kinds(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_mails_a_single_use_link_that_confirms_the_address() {
    let (mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();

    let response = sign_up(&browser, EMAIL, PASSWORD).await;
    assert_eq!(location(&response), "/signup?sent=1");
    // The account is made after the answer (so its time tells nothing); the mail says it is there.
    mail.wait_for(EMAIL, 1).await;
    let hash: String = sqlx::query_scalar("SELECT hash FROM passwords").fetch_one(&app.sql).await.expect("the account");
    assert!(!verified(&app).await, "unverified until the link is used");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "argon2id with OWASP's parameters: {hash}");
    assert!(!hash.contains(PASSWORD));

    let messages = mail.wait_for(EMAIL, 1).await;
    assert_eq!(messages[0].subject(), "Confirm your email address for Gatehouse");
    assert!(messages[0].text.contains("text/plain") && messages[0].text.contains("text/html"), "both parts");
    assert!(!messages[0].text.contains(PASSWORD), "never the password");
    let token = verify_token(&app, &messages[0]);
    // Only the token's hash is stored.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_tokens WHERE token_hash = $1")
        .bind(token.as_bytes().to_vec())
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(stored, 0, "the token itself is not stored");

    // Opening the link shows a button; it changes nothing by itself (mail scanners follow links).
    let page = browser.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("Confirm my address"));
    assert!(!verified(&app).await);

    let confirmed = browser.call("auth/password/verify", &[("token", &token)]).await;
    assert_eq!(location(&confirmed), "/login?verified=1");
    assert!(verified(&app).await);

    // Used once.
    let again = browser.call("auth/password/verify", &[("token", &token)]).await;
    assert_eq!(again.status(), 400);
    assert!(json(again).await["Invalid"].as_str().expect("reason").contains("already used"));
    let forged = browser.call("auth/password/verify", &[("token", "not-a-token")]).await;
    assert_eq!(forged.status(), 400);
    assert_eq!(kinds(&app).await, ["account_created", "password_set", "email_verified"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_verification_link_is_refused_and_changes_nothing() {
    let (mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();
    sign_up(&browser, EMAIL, PASSWORD).await;
    let token = verify_token(&app, &mail.wait_for(EMAIL, 1).await[0]);
    sqlx::query("UPDATE email_tokens SET expires_at = 1").execute(&app.sql).await.expect("expire");
    let response = browser.call("auth/password/verify", &[("token", &token)]).await;
    assert_eq!(response.status(), 400);
    assert!(json(response).await["Invalid"].as_str().expect("reason").contains("expired"));
    assert!(!verified(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_refuses_weak_or_malformed_input_with_a_reason_and_creates_nothing() {
    let (mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();
    for (email, name, password, says) in [
        (EMAIL, "Grace", "short", "at least 8 characters"),
        (EMAIL, "Grace", "password123", "too easy to guess"),
        (EMAIL, "Grace", "grace@example.test", "too easy to guess"),
        (EMAIL, "Grace", &"x".repeat(129), "at most 128 characters"),
        ("not-an-address", "Grace", PASSWORD, "email address"),
        (&format!("{}@example.test", "a".repeat(300)), "Grace", PASSWORD, "254"),
        (EMAIL, "", PASSWORD, "display name"),
    ] {
        let response = browser
            .call("auth/password/sign-up", &[("email", email), ("display_name", name), ("password", password)])
            .await;
        assert_eq!(response.status(), 400, "{says}");
        let body = json(response).await;
        assert!(body["Invalid"].as_str().expect("a reason").contains(says), "{says}: {body}");
        assert!(!body.to_string().contains(password) || password.len() < 8, "the password is not echoed");
    }
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("passwords").await, 0);
    mail.assert_no_more(EMAIL, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_with_a_taken_address_looks_the_same_and_mails_the_owner_instead() {
    let (mail, app) = app_with_mail(&[]).await;
    let first = sign_up(&app.browser(), EMAIL, PASSWORD).await;
    // The work happens after each answer: the first account exists once its mail has gone.
    mail.wait_for(EMAIL, 1).await;
    let second = sign_up(&app.browser(), &EMAIL.to_uppercase(), NEW_PASSWORD).await;
    assert_eq!((first.status(), location(&first)), (second.status(), location(&second)));
    assert_eq!(first.text().await.expect("body"), second.text().await.expect("body"));

    let messages = mail.wait_for(EMAIL, 2).await;
    assert_eq!(app.count("users").await, 1, "no second account");
    let notice = messages.iter().find(|m| m.subject().starts_with("Someone tried")).expect("a notice to the owner");
    assert!(notice.link(&app.address, "/verify-email").is_none(), "no verification link for whoever tried");
    assert!(notice.link(&app.address, "/reset").is_some(), "offers a reset instead");
    // The first password still signs in; the second never became anything.
    assert_eq!(sign_in(&app.browser(), EMAIL, NEW_PASSWORD).await.status(), 401);
    assert_eq!(location(&sign_in(&app.browser(), EMAIL, PASSWORD).await), "/dashboard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_up_with_a_provider_accounts_address_mails_its_owner_and_creates_nothing() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);

    let response = sign_up(&app.browser(), "ada@example.test", PASSWORD).await;
    assert_eq!(location(&response), "/signup?sent=1");
    let messages = mail.wait_for("ada@example.test", 1).await;
    assert!(messages[0].text.contains("signs in with an external provider"));
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("passwords").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_a_password_starts_a_session_and_any_mismatch_gets_one_answer() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;

    // Wrong password, unknown address, malformed address, empty and overlong password: one status, one body.
    let mut answers = Vec::new();
    for (email, password) in [
        (EMAIL, NEW_PASSWORD),
        ("nobody@example.test", PASSWORD),
        ("not an address", PASSWORD),
        (EMAIL, ""),
        (EMAIL, &"x".repeat(10_000)),
    ] {
        let response = sign_in(&app.browser(), email, password).await;
        answers.push((response.status().as_u16(), response.text().await.expect("body")));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert_eq!(answers[0].0, 401);
    assert!(answers[0].1.contains("do not match"));

    let browser = app.browser();
    let response = sign_in(&browser, &format!("  {}  ", EMAIL.to_uppercase()), PASSWORD).await;
    assert_eq!(location(&response), "/dashboard");
    let me: Value = json(me(&browser).await).await;
    assert_eq!(me["email"], EMAIL);
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["providers"], serde_json::json!(["password"]));
    let session_method: String =
        sqlx::query_scalar("SELECT provider FROM user_sessions").fetch_one(&app.sql).await.expect("session");
    assert_eq!(session_method, "password");

    // `next` is honoured, and only within the site.
    let next = app
        .browser()
        .call("auth/password/sign-in", &[("email", EMAIL), ("password", PASSWORD), ("next", "/profile")])
        .await;
    assert_eq!(location(&next), "/profile");
    let away = app
        .browser()
        .call("auth/password/sign-in", &[("email", EMAIL), ("password", PASSWORD), ("next", "https://evil.test/")])
        .await;
    assert_eq!(location(&away), "/dashboard");
    let failures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'sign_in_failed'")
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(failures, 3, "recorded on the account for the wrong, empty and overlong passwords");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_account_can_sign_in_and_shows_its_address_unconfirmed() {
    let (mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();
    sign_up(&browser, EMAIL, PASSWORD).await;
    mail.wait_for(EMAIL, 1).await;
    assert_eq!(location(&sign_in(&browser, EMAIL, PASSWORD).await), "/dashboard");
    assert_eq!(json(me(&browser).await).await["email_verified"], false);
    let profile = browser.get("/profile").await.text().await.expect("page");
    assert!(profile.contains("address not confirmed yet"), "{profile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_address_for_a_while_and_tell_its_owner() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let browser = app.browser();
    for attempt in 1..=4 {
        assert_eq!(sign_in(&browser, EMAIL, "wrong but long enough").await.status(), 401, "attempt {attempt}");
    }
    let locked = sign_in(&browser, EMAIL, "wrong but long enough").await;
    assert_eq!(locked.status(), 429);
    let retry_after: i64 = locked.headers()["retry-after"].to_str().expect("ASCII").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(json(locked).await["Throttled"]["retry_after"].as_i64().is_some());

    // Even the right password is refused while locked, without being checked.
    let refused = sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(kinds(&app).await.contains(&"account_locked".to_owned()));
    let messages = mail.wait_for(EMAIL, 2).await;
    assert!(messages.iter().any(|m| m.subject().contains("paused")), "the owner is told");

    // The owner can still reset by email while locked: asking for a link is not a guess.
    let asked = app.browser().call("auth/password/forgot", &[("email", EMAIL)]).await;
    assert_eq!(location(&asked), "/reset?sent=1");
    reset_link(&app, &mail, EMAIL, 3).await;

    // When the lock runs out, the right password works again and the count starts over.
    sqlx::query("UPDATE throttles SET locked_until = 1").execute(&app.sql).await.expect("unlock");
    assert_eq!(location(&sign_in(&browser, EMAIL, PASSWORD).await), "/dashboard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses_lock_the_same_way_so_a_lock_reveals_nothing() {
    let (mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(sign_in(&browser, "nobody@example.test", PASSWORD).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    mail.assert_no_more("nobody@example.test", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failures_from_one_client_lock_that_client() {
    let (_mail, app) = app_with_mail(&[]).await;
    let browser = app.browser();
    for n in 0..19 {
        let response = sign_in(&browser, &format!("person{n}@example.test"), PASSWORD).await;
        assert_eq!(response.status(), 401, "attempt {n}");
    }
    let locked = sign_in(&browser, "person19@example.test", PASSWORD).await;
    assert_eq!(locked.status(), 429);
    // Every address is refused from this client now, a fresh one too.
    assert_eq!(sign_in(&browser, "someone.else@example.test", PASSWORD).await.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let elsewhere = app.browser();
    sign_in(&elsewhere, EMAIL, PASSWORD).await;
    assert_eq!(me(&elsewhere).await.status(), 200);

    let browser = app.browser();
    let asked = browser.call("auth/password/forgot", &[("email", EMAIL)]).await;
    assert_eq!(location(&asked), "/reset?sent=1");
    let link = reset_link(&app, &mail, EMAIL, 2).await;
    let token = link.trim_start_matches("/reset/new?token=").to_owned();
    assert_eq!(browser.get(&link).await.status(), 200);

    let weak = browser.call("auth/password/reset", &[("token", &token), ("password", "password1")]).await;
    assert_eq!(weak.status(), 400, "refused with a reason; the link still works");
    let done = browser.call("auth/password/reset", &[("token", &token), ("password", NEW_PASSWORD)]).await;
    assert_eq!(location(&done), "/login?reset=1");

    assert_eq!(me(&elsewhere).await.status(), 401, "every session ended");
    assert_eq!(app.count("user_sessions").await, 0);
    assert_eq!(sign_in(&app.browser(), EMAIL, PASSWORD).await.status(), 401);
    assert_eq!(location(&sign_in(&app.browser(), EMAIL, NEW_PASSWORD).await), "/dashboard");
    let again = browser.call("auth/password/reset", &[("token", &token), ("password", "another fine sentence")]).await;
    assert_eq!(again.status(), 400, "used once");
    assert!(kinds(&app).await.contains(&"password_reset".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_form_answers_alike_for_every_address_and_mails_only_owners() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let known = app.browser().call("auth/password/forgot", &[("email", EMAIL)]).await;
    let unknown = app.browser().call("auth/password/forgot", &[("email", "nobody@example.test")]).await;
    assert_eq!((known.status(), location(&known)), (unknown.status(), location(&unknown)));
    mail.wait_for(EMAIL, 2).await;
    mail.assert_no_more("nobody@example.test", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_proves_the_address_and_an_expired_link_is_refused() {
    let (mail, app) = app_with_mail(&[]).await;
    sign_up(&app.browser(), EMAIL, PASSWORD).await;
    mail.wait_for(EMAIL, 1).await;
    app.browser().call("auth/password/forgot", &[("email", EMAIL)]).await;
    let token = reset_link(&app, &mail, EMAIL, 2).await.replace("/reset/new?token=", "");

    sqlx::query("UPDATE email_tokens SET expires_at = 1 WHERE purpose = 'reset'")
        .execute(&app.sql)
        .await
        .expect("expire");
    let expired = app.browser().call("auth/password/reset", &[("token", &token), ("password", NEW_PASSWORD)]).await;
    assert_eq!(expired.status(), 400);
    sqlx::query("UPDATE email_tokens SET expires_at = 99999999999 WHERE purpose = 'reset'")
        .execute(&app.sql)
        .await
        .expect("renew");
    let done = app.browser().call("auth/password/reset", &[("token", &token), ("password", NEW_PASSWORD)]).await;
    assert_eq!(location(&done), "/login?reset=1");
    assert!(verified(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let (here, elsewhere) = (app.browser(), app.browser());
    sign_in(&here, EMAIL, PASSWORD).await;
    sign_in(&elsewhere, EMAIL, PASSWORD).await;

    let wrong =
        here.call("account/password/change", &[("current", "not my password"), ("password", NEW_PASSWORD)]).await;
    assert_eq!(wrong.status(), 401);
    let weak = here.call("account/password/change", &[("current", PASSWORD), ("password", "12345678")]).await;
    assert_eq!(weak.status(), 400);
    let changed = here.call("account/password/change", &[("current", PASSWORD), ("password", NEW_PASSWORD)]).await;
    assert_eq!(location(&changed), "/profile?password=changed");
    assert_eq!(me(&here).await.status(), 200, "this session stays");
    assert_eq!(me(&elsewhere).await.status(), 401, "the others end");
    assert_eq!(location(&sign_in(&app.browser(), EMAIL, NEW_PASSWORD).await), "/dashboard");
    assert!(kinds(&app).await.contains(&"password_changed".to_owned()));

    let signed_out =
        app.browser().call("account/password/change", &[("current", NEW_PASSWORD), ("password", PASSWORD)]).await;
    assert_eq!(signed_out.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_made_with_weaker_parameters_is_replaced_at_sign_in() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let weaker = gatehouse::server::people::passwords::Hasher::with_params(8_192, 1, 1)
        .hash(&gatehouse::server::people::passwords::Password::new(PASSWORD.into()))
        .await
        .expect("hash");
    sqlx::query("UPDATE passwords SET hash = $1").bind(&weaker).execute(&app.sql).await.expect("weaken");
    assert_eq!(location(&sign_in(&app.browser(), EMAIL, PASSWORD).await), "/dashboard");
    let hash: String = sqlx::query_scalar("SELECT hash FROM passwords").fetch_one(&app.sql).await.expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "rehashed: {hash}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_account_can_add_a_password_for_its_verified_address() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    app.get(&format!("/auth/callback/oidc?{query}")).await;
    let browser = app.main_browser();

    let added = browser.call("account/password/add", &[("password", PASSWORD)]).await;
    assert_eq!(location(&added), "/profile?password=added");
    let twice = browser.call("account/password/add", &[("password", PASSWORD)]).await;
    assert_eq!(twice.status(), 409);
    let other = app.browser();
    assert_eq!(location(&sign_in(&other, "ada@example.test", PASSWORD).await), "/dashboard");
    assert_eq!(json(me(&other).await).await["providers"], serde_json::json!(["oidc", "password"]));

    // With two methods, the provider can go; then the password is the last and stays.
    let identity: String = sqlx::query_scalar("SELECT id FROM identities").fetch_one(&app.sql).await.expect("id");
    assert_eq!(browser.call("account/unlink", &[("id", &identity)]).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_password_account_never_blocks_or_captures_a_provider_sign_in() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    // Someone who does not own ada@example.test signs up with it first, and never verifies it.
    sign_up(&app.browser(), "ada@example.test", PASSWORD).await;
    mail.wait_for("ada@example.test", 1).await;

    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    assert_eq!(app.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303, "signed in, not refused");
    assert_eq!(app.count("users").await, 1, "the squatting account is gone");
    assert_eq!(app.count("passwords").await, 0);
    assert_eq!(sign_in(&app.browser(), "ada@example.test", PASSWORD).await.status(), 401, "its password opens nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_password_account_is_never_merged_into_by_a_provider_sign_in() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    provider.set(|b| b.email = Some(EMAIL.into()));
    signed_up_and_verified(&app, &mail).await;

    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    let response = app.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(response.status(), 409);
    let page = response.text().await.expect("page");
    assert!(page.contains("You already have an account") && !page.contains("password"), "{page}");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("identities").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_password_login_off_the_forms_are_gone_and_the_endpoints_refuse() {
    let (_mail, app) = app_with_mail(&[("PASSWORD_LOGIN", "false")]).await;
    let login = app.get("/login").await.text().await.expect("page");
    assert!(!login.contains("password-form"), "no password form");
    assert_eq!(app.get("/signup").await.status(), 404);
    assert_eq!(app.get("/reset").await.status(), 404);
    assert_eq!(sign_up(&app.browser(), EMAIL, PASSWORD).await.status(), 404);
    assert_eq!(sign_in(&app.browser(), EMAIL, PASSWORD).await.status(), 404);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_work_without_javascript_and_show_errors_with_their_status() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    let login = app.get("/login").await.text().await.expect("page");
    assert!(login.contains("data-testid=\"password-form\""), "the login page has the password form");

    // A browser without JavaScript posts the form and follows the redirect back to the page.
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let client = app.client.clone();
        let address = app.address.clone();
        async move {
            client
                .post(format!("{address}/api/{path}"))
                .header("origin", &address)
                .header("referer", format!("{address}/login"))
                .header("accept", "text/html")
                .form(&form)
                .send()
                .await
                .expect("request")
        }
    };
    let wrong =
        post("auth/password/sign-in", vec![("email", EMAIL.into()), ("password", "nope nope nope".into())]).await;
    assert!(wrong.status().is_redirection());
    let back = location(&wrong).trim_start_matches(&app.address).to_owned();
    assert!(back.starts_with("/login?") && back.contains("__err="), "{back}");
    assert!(!back.contains("nope"), "the password is not in the URL");
    let page = app.get(&back).await;
    assert_eq!(page.status(), 401);
    assert!(page.text().await.expect("page").contains("do not match"));

    let right = post("auth/password/sign-in", vec![("email", EMAIL.into()), ("password", PASSWORD.into())]).await;
    assert_eq!(location(&right), "/dashboard");
    assert_eq!(app.get("/dashboard").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_cannot_flood_an_inbox() {
    let (mail, app) = app_with_mail(&[]).await;
    sign_up(&app.browser(), EMAIL, PASSWORD).await;
    mail.wait_for(EMAIL, 1).await;
    for _ in 0..8 {
        let asked = app.browser().call("auth/password/forgot", &[("email", EMAIL)]).await;
        assert_eq!(location(&asked), "/reset?sent=1", "the form answers the same");
    }
    mail.wait_for(EMAIL, 5).await;
    mail.assert_no_more(EMAIL, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_account_links_a_provider_by_the_explicit_link_flow() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    signed_up_and_verified(&app, &mail).await;
    let browser = app.main_browser();
    sign_in(&browser, EMAIL, PASSWORD).await;

    let start = browser.post_from_page("/auth/link/oidc").await;
    let query = provider.approve(&location(&start), "user-1");
    assert_eq!(location(&browser.get(&format!("/auth/callback/oidc?{query}")).await), "/profile");
    // Both ways in (in the order added, by the second; the order within a second is by name, so compare as a set).
    let mut methods: Vec<String> =
        serde_json::from_value(json(me(&browser).await).await["providers"].clone()).expect("a list");
    methods.sort();
    assert_eq!(methods, ["oidc", "password"]);
    // Now the provider signs in to the same account.
    let other = app.browser();
    let login = other.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "user-1");
    other.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(json(me(&other).await).await["email"], EMAIL);
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_login_hint_fills_in_the_address_and_nothing_else_does() {
    let (_mail, app) = app_with_mail(&[]).await;
    let page = app.get("/login?next=%2Fdashboard&login_hint=ada%40example.com").await.text().await.expect("page");
    assert!(page.contains(r#"value="ada@example.com""#), "the address is filled in");
    let page = app.get("/login?login_hint=%22%3E%3Cscript%3Ex@y").await.text().await.expect("page");
    assert!(!page.contains("<script>x"), "escaped like any value");
    let page = app.get("/login?login_hint=someone").await.text().await.expect("page");
    assert!(!page.contains(r#"value="someone""#), "a hint that is not an address fills in nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_forms_keep_me_signed_in_sets_how_long_the_session_lasts() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    for (remember, lifetime) in [(None, 12 * 3600), (Some("1"), 30 * 86_400)] {
        let browser = app.browser();
        let mut form = vec![("email", EMAIL), ("password", PASSWORD)];
        form.extend(remember.map(|value| ("remember", value)));
        let signed_in = browser.call("auth/password/sign-in", &form).await;
        assert!(signed_in.status().is_success() || signed_in.status().is_redirection(), "{}", signed_in.status());
        assert_eq!(app.newest_session_lifetime().await, lifetime, "{remember:?}");
        sqlx::query("DELETE FROM user_sessions").execute(&app.sql).await.expect("clean");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_is_told_so_at_sign_in_only_after_the_right_password() {
    let (mail, app) = app_with_mail(&[]).await;
    signed_up_and_verified(&app, &mail).await;
    sqlx::query("UPDATE users SET disabled_at = 1 WHERE email = $1")
        .bind(EMAIL)
        .execute(&app.sql)
        .await
        .expect("disable");
    let browser = app.browser();
    // A wrong password gets the answer anyone gets: being disabled is told only to who knows the password.
    let wrong = sign_in(&browser, EMAIL, NEW_PASSWORD).await;
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.text().await.expect("body").contains("disabled"));
    let refused = sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.expect("body").contains("An administrator has disabled this Gatehouse account"));
    assert_eq!(me(&browser).await.status(), 401);
    assert_eq!(app.count("user_sessions").await, 0);
}

/// With passwords offered, the login page's provider buttons post the password form to `/auth/login/{provider}`: its
/// one "Keep me signed in" box and `next` go with them, and whatever was typed into the password field is dropped,
/// never carried into a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_pages_one_form_starts_a_provider_sign_in_with_its_choice_and_no_password() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SESSION_MAX_LIFETIME", "30d"), ("SMTP_URL", mail.url.as_str())]).await;
    let page = app.get("/login").await.text().await.expect("page");
    assert_eq!(page.matches("Keep me signed in").count(), 1, "one box for every way in");
    assert!(page.contains(r#"formaction="/auth/login/oidc" formmethod="post""#), "{page}");

    for (remember, lifetime) in [(None, 12 * 3600), (Some("1"), 30 * 86_400)] {
        let browser = app.browser();
        let mut form = vec![("next", "/profile"), ("email", "a@example.test"), ("password", "typed by mistake")];
        form.extend(remember.map(|value| ("remember", value)));
        let started = browser
            .client
            .post(format!("{}/auth/login/oidc", app.address))
            .header("origin", &app.address)
            .form(&form)
            .send()
            .await
            .expect("request reaches the app");
        assert_eq!(started.status(), 303);
        let authorize = location(&started);
        assert!(!authorize.contains("typed") && !authorize.contains("a%40example"), "{authorize}");
        let query = provider.approve(&authorize, "poster");
        let done = browser.get(&format!("/auth/callback/oidc?{query}")).await;
        assert_eq!(location(&done), "/profile");
        assert_eq!(app.newest_session_lifetime().await, lifetime, "{remember:?}");
        sqlx::query("DELETE FROM user_sessions").execute(&app.sql).await.expect("clean");
    }

    // From another site, a browser with our cookie is refused, as on every cookie route's POST.
    let browser = app.browser();
    assert_eq!(browser.get("/auth/login/oidc").await.status(), 303, "a session cookie, for a started attempt");
    let forged = browser
        .client
        .post(format!("{}/auth/login/oidc", app.address))
        .header("origin", "https://evil.example")
        .form(&[("remember", "1")])
        .send()
        .await
        .expect("request reaches the app");
    assert_eq!(forged.status(), 403);
}
