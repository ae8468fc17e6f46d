//! Two-step verification: enrolling an authenticator app from the key the page shows, the challenge after a
//! password or provider sign-in (the only thing such a session can reach), replayed and wrong codes, recovery codes,
//! lockout, and step-up confirmation before sensitive changes.

use crate::{
    helpers::{Browser, TestApp, json, location, spawn_app_with},
    mail::MailCatcher,
    sessions::with_provider,
};

const EMAIL: &str = "grace@example.test";
const PASSWORD: &str = "tramway lagoon pistachio";

/// The code an authenticator app shows for `key` (as the page writes it: base32 in groups), `steps` steps from now.
pub fn code(key: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("a base32 key");
    let totp = totp_rs::Builder::new().with_secret(secret).build().expect("an RFC 6238 authenticator");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    totp.generate((now + 30 * steps) as u64).to_string()
}

/// A verified password account, signed in in `browser`.
async fn password_account() -> (MailCatcher, TestApp, Browser) {
    let mail = MailCatcher::start().await;
    let app = spawn_app_with(&[("SMTP_URL", mail.url.as_str())]).await;
    let browser = app.browser();
    browser
        .call("auth/password/sign-up", &[("email", EMAIL), ("display_name", "Grace Hopper"), ("password", PASSWORD)])
        .await;
    mail.wait_for(EMAIL, 1).await;
    sign_in(&browser).await;
    (mail, app, browser)
}

async fn sign_in(browser: &Browser) -> reqwest::Response {
    browser.call("auth/password/sign-in", &[("email", EMAIL), ("password", PASSWORD)]).await
}

/// Turns two-step verification on in `browser`'s account: returns the key and the recovery codes.
pub async fn enrol(browser: &Browser) -> (String, Vec<String>) {
    let started = browser.call("account/mfa/start", &[]).await;
    assert_eq!(location(&started), "/profile/two-step");
    let page = browser.get("/profile/two-step").await.text().await.expect("page");
    assert!(page.contains("<svg"), "a QR code drawn on the server");
    let key = between(&page, "data-testid=\"totp-key\"", "<").to_owned();
    assert_eq!(key.replace(' ', "").len(), 32, "160 bits in base32: {key}");

    let wrong = browser.call("account/mfa/confirm", &[("code", "000000")]).await;
    assert_eq!(wrong.status(), 400, "a wrong first code turns nothing on");
    let confirmed = browser.call("account/mfa/confirm", &[("code", &code(&key, 0))]).await;
    assert_eq!(location(&confirmed), "/profile/recovery-codes");
    let page = browser.get("/profile/recovery-codes").await.text().await.expect("page");
    let codes: Vec<String> = between(&page, "data-testid=\"recovery-codes\"", "<").lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), 10, "{page}");
    (key, codes)
}

/// The text of the element whose opening tag holds `attribute`, up to `end`.
fn between<'a>(text: &'a str, attribute: &str, end: &str) -> &'a str {
    let at = text.find(attribute).unwrap_or_else(|| panic!("{attribute} in {text}"));
    let from = text[at..].find('>').expect("the tag's end") + at + 1;
    let to = text[from..].find(end).expect("the end") + from;
    &text[from..to]
}

async fn me(browser: &Browser) -> u16 {
    browser.api(reqwest::Method::GET, "/me").send().await.expect("request").status().as_u16()
}

async fn kinds(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_seals_the_seed_and_hashes_the_recovery_codes() {
    let (_mail, app, browser) = password_account().await;
    let (key, codes) = enrol(&browser).await;

    let (seed, enabled): (Vec<u8>, Option<i64>) =
        sqlx::query_as("SELECT seed, enabled_at FROM totp").fetch_one(&app.sql).await.expect("row");
    assert!(enabled.is_some());
    let raw = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("key").as_bytes().to_vec();
    assert!(!seed.windows(raw.len()).any(|w| w == raw.as_slice()), "the seed is not stored in the clear");
    assert_eq!(app.count("recovery_codes").await, 10);
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.sql).await.expect("hashes");
    assert!(stored.iter().all(|h| h.len() == 32 && !codes.iter().any(|c| h == c.as_bytes())));
    assert!(kinds(&app).await.contains(&"mfa_enabled".to_owned()));

    // Shown once: after "I have saved them", the page no longer has them.
    assert_eq!(location(&browser.call("account/mfa/fresh-codes/dismiss", &[]).await), "/profile");
    let page = browser.get("/profile/recovery-codes").await.text().await.expect("page");
    assert!(!page.contains(&codes[0]));
    let profile = browser.get("/profile").await.text().await.expect("page");
    assert!(profile.contains("10 recovery codes left"), "{profile}");
    // Turning it on twice is refused.
    assert_eq!(browser.call("account/mfa/start", &[]).await.status(), 409);

    // The export says it is on, and never holds the seed, a code or the password's hash.
    let export = browser.get("/account/export").await.text().await.expect("export");
    let export: serde_json::Value = serde_json::from_str(&export).expect("JSON");
    assert_eq!(export["two_step_verification"]["recovery_codes_left"], 10);
    assert_eq!(export["password"]["email"], EMAIL);
    let text = export.to_string();
    assert!(!text.contains(&key.replace(' ', "")) && !text.contains(&codes[1]) && !text.contains("argon2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_sign_in_then_needs_a_code_and_until_then_reaches_nothing() {
    let (_mail, app, browser) = password_account().await;
    let (key, _) = enrol(&browser).await;

    let other = app.browser();
    let first = sign_in(&other).await;
    assert_eq!(location(&first), "/login/mfa");
    let challenge_cookie = crate::helpers::session_cookie(&first).expect("the challenge's cookie");
    // Between the steps: signed out everywhere but /login/mfa.
    assert_eq!(me(&other).await, 401);
    let dashboard = other.get("/dashboard").await;
    assert_eq!(location(&dashboard), "/login?next=%2Fdashboard");
    assert_eq!(other.call("account/profile", &[]).await.status(), 401);
    assert!(other.get("/login/mfa").await.text().await.expect("page").contains("challenge-form"));

    let wrong = other.call("auth/mfa", &[("code", "123456")]).await;
    assert_eq!(wrong.status(), 401);
    let next_code = code(&key, 1);
    let passed = other.call("auth/mfa", &[("code", &next_code)]).await;
    assert_eq!(location(&passed), "/dashboard");
    let session_cookie = crate::helpers::session_cookie(&passed).expect("a new cookie");
    assert_ne!(session_cookie, challenge_cookie, "the session id rotates when the challenge is passed");
    assert_eq!(me(&other).await, 200);

    // The same code never works twice.
    let third = app.browser();
    sign_in(&third).await;
    assert_eq!(third.call("auth/mfa", &[("code", &next_code)]).await.status(), 401, "replayed");
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'sign_in' ORDER BY id DESC")
        .fetch_one(&app.sql)
        .await
        .expect("event");
    assert!(detail.contains("\"second_factor\":\"totp\""), "{detail}");
    assert!(kinds(&app).await.contains(&"mfa_failed".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_works_once() {
    let (_mail, app, browser) = password_account().await;
    let (_, codes) = enrol(&browser).await;

    let other = app.browser();
    sign_in(&other).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(location(&other.call("auth/mfa", &[("code", &typed)]).await), "/dashboard");
    let again = app.browser();
    sign_in(&again).await;
    assert_eq!(again.call("auth/mfa", &[("code", &codes[3])]).await.status(), 401, "used up");
    let profile = other.get("/profile").await.text().await.expect("page");
    assert!(profile.contains("9 recovery codes left"), "{profile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_codes_lock_the_account_with_retry_after() {
    let (mail, app, browser) = password_account().await;
    // The owner's address is confirmed, so the lock can be told to them.
    sqlx::query("UPDATE passwords SET verified_at = 1").execute(&app.sql).await.expect("verify");
    let (key, _) = enrol(&browser).await;
    let other = app.browser();
    sign_in(&other).await;
    for attempt in 1..=4 {
        assert_eq!(other.call("auth/mfa", &[("code", "000000")]).await.status(), 401, "attempt {attempt}");
    }
    let locked = other.call("auth/mfa", &[("code", "000000")]).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    // Even the right code waits.
    assert_eq!(other.call("auth/mfa", &[("code", &code(&key, 1))]).await.status(), 429);
    assert!(kinds(&app).await.contains(&"account_locked".to_owned()));
    // The owner was told two-step verification was turned on, then of the lock.
    let messages = mail.wait_for(EMAIL, 3).await;
    assert!(messages.iter().any(|m| m.subject().contains("Two-step verification was turned on")), "{messages:#?}");
    assert!(messages.iter().any(|m| m.subject().contains("Wrong codes")), "the owner is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_changes_need_a_recent_confirmation_of_identity() {
    let (_mail, app, browser) = password_account().await;
    let (key, _) = enrol(&browser).await;
    // Ten minutes and more since this session last confirmed who it is.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");

    for (endpoint, form) in [
        ("account/mfa/disable", vec![]),
        ("account/mfa/recovery-codes", vec![]),
        ("account/delete", vec![("confirm", EMAIL)]),
        ("tokens/create", vec![("name", "ci"), ("scopes[0]", "profile:write"), ("expires_in_days", "30")]),
    ] {
        let refused = browser.call(endpoint, &form).await;
        assert_eq!(refused.status(), 403, "{endpoint}");
        assert_eq!(json(refused).await, serde_json::json!("ConfirmIdentity"), "{endpoint}");
    }
    // A read-only token needs no confirmation.
    let read_only = browser
        .call("tokens/create", &[("name", "ci"), ("scopes[0]", "profile:read"), ("expires_in_days", "30")])
        .await;
    assert_eq!(read_only.status(), 200);
    assert_eq!(app.count("users").await, 1, "nothing was deleted");

    // Without JavaScript, the refused form leads to the confirmation page and back.
    let form_post = browser
        .client
        .post(format!("{}/api/account/mfa/disable", app.address))
        .header("origin", &app.address)
        .header("referer", format!("{}/profile", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(location(&form_post), "/confirm?next=%2Fprofile");

    let wrong = browser.call("account/confirm", &[("password", "not my password at all")]).await;
    assert_eq!(wrong.status(), 401);
    let confirmed = browser.call("account/confirm", &[("code", &code(&key, 1)), ("next", "/profile")]).await;
    assert_eq!(location(&confirmed), "/profile");
    assert!(kinds(&app).await.contains(&"step_up".to_owned()));

    // Confirmed: new recovery codes replace the old ones, which stop working.
    let old_hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.sql).await.expect("hashes");
    let regenerated = browser.call("account/mfa/recovery-codes", &[]).await;
    assert_eq!(location(&regenerated), "/profile/recovery-codes");
    let page = browser.get("/profile/recovery-codes").await.text().await.expect("page");
    assert_eq!(between(&page, "data-testid=\"recovery-codes\"", "<").lines().count(), 10);
    let new_hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM recovery_codes").fetch_all(&app.sql).await.expect("hashes");
    assert_eq!(new_hashes.len(), 10);
    assert!(new_hashes.iter().all(|h| !old_hashes.contains(h)), "the old codes are gone");
    assert!(kinds(&app).await.contains(&"recovery_codes_regenerated".to_owned()));
    assert_eq!(location(&browser.call("account/mfa/disable", &[]).await), "/profile?two_step=off");
    assert_eq!(app.count("totp").await, 0);
    assert_eq!(app.count("recovery_codes").await, 0);
    assert!(kinds(&app).await.contains(&"mfa_disabled".to_owned()));

    // A password confirms too.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    assert_eq!(browser.call("account/delete", &[("confirm", EMAIL)]).await.status(), 403);
    assert_eq!(location(&browser.call("account/confirm", &[("password", PASSWORD)]).await), "/profile");
    assert_eq!(location(&browser.call("account/delete", &[("confirm", EMAIL)]).await), "/?deleted=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_sign_in_gets_the_challenge_too_and_a_provider_can_confirm_identity() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    let provider_sign_in = |browser: Browser| {
        let provider = &provider;
        async move {
            let login = browser.get("/auth/login/oidc").await;
            let query = provider.approve(&location(&login), "user-1");
            browser.get(&format!("/auth/callback/oidc?{query}")).await
        }
    };
    let browser = app.browser();
    assert_eq!(
        location(&provider_sign_in(Browser { address: app.address.clone(), client: browser.client.clone() }).await),
        "/dashboard"
    );
    let (key, _) = enrol(&browser).await;

    let other = app.browser();
    let first = provider_sign_in(Browser { address: app.address.clone(), client: other.client.clone() }).await;
    assert_eq!(location(&first), "/login/mfa");
    assert_eq!(me(&other).await, 401);
    assert_eq!(location(&other.call("auth/mfa", &[("code", &code(&key, 1))]).await), "/dashboard");
    assert_eq!(me(&other).await, 200);

    // Step-up at the provider: it is asked to check again (prompt=login), and the identity must be this person's.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    let start = other.get("/auth/confirm/oidc?next=/profile").await;
    let authorize = location(&start);
    assert!(authorize.contains("prompt=login") && authorize.contains("max_age=0"), "{authorize}");
    let query = provider.approve(&authorize, "user-1");
    let back = other.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(location(&back), "/profile");
    let confirmed: Option<i64> =
        sqlx::query_scalar("SELECT MAX(confirmed_at) FROM user_sessions").fetch_one(&app.sql).await.expect("row");
    assert!(confirmed.unwrap_or(0) > 1);

    // A provider that did not check again (its auth_time is old) confirms nothing.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    provider.set(|b| b.auth_age = std::time::Duration::from_secs(3600));
    let start = other.get("/auth/confirm/oidc").await;
    let query = provider.approve(&location(&start), "user-1");
    let refused = other.get(&format!("/auth/callback/oidc?{query}")).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.expect("page").contains("did not check it was you"));
    assert_eq!(other.call("account/mfa/disable", &[]).await.status(), 403);
    provider.set(|b| b.auth_age = std::time::Duration::ZERO);

    // Someone else's provider account confirms nothing.
    sqlx::query("UPDATE user_sessions SET confirmed_at = 1").execute(&app.sql).await.expect("age");
    let start = other.get("/auth/confirm/oidc").await;
    let query = provider.approve(&location(&start), "someone-else");
    assert_eq!(other.get(&format!("/auth/callback/oidc?{query}")).await.status(), 403);
    assert_eq!(other.call("account/mfa/disable", &[]).await.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_sealed_with_the_previous_key_still_works_and_is_sealed_again_with_the_current_one() {
    use gatehouse::server::platform::secret_key::{Purpose, Sealer, SecretKey};
    const OLD: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const NEW: &str = "f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101";
    let mail = MailCatcher::start().await;
    let app =
        spawn_app_with(&[("SMTP_URL", mail.url.as_str()), ("SECRET_KEY", NEW), ("SECRET_KEY_PREVIOUS", OLD)]).await;
    let browser = app.browser();
    browser
        .call("auth/password/sign-up", &[("email", EMAIL), ("display_name", "Grace Hopper"), ("password", PASSWORD)])
        .await;
    mail.wait_for(EMAIL, 1).await;
    sign_in(&browser).await;
    let (key, _) = enrol(&browser).await;

    // As if it had been sealed before the rotation: with the key that is now SECRET_KEY_PREVIOUS.
    let user_id: String = sqlx::query_scalar("SELECT user_id FROM totp").fetch_one(&app.sql).await.expect("row");
    let raw = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("key").as_bytes().to_vec();
    let old = Sealer::new(SecretKey::parse(OLD).expect("key"), None);
    let sealed_before = old.seal(Purpose::TotpSeed, &user_id, &raw);
    sqlx::query("UPDATE totp SET seed = $1").bind(&sealed_before).execute(&app.sql).await.expect("reseal");

    let other = app.browser();
    sign_in(&other).await;
    assert_eq!(location(&other.call("auth/mfa", &[("code", &code(&key, 1))]).await), "/dashboard");
    let now: Vec<u8> = sqlx::query_scalar("SELECT seed FROM totp").fetch_one(&app.sql).await.expect("row");
    assert_ne!(now, sealed_before, "sealed again");
    let current = Sealer::new(SecretKey::parse(NEW).expect("key"), None);
    assert_eq!(current.open(Purpose::TotpSeed, &user_id, &now).expect("opens with SECRET_KEY alone"), raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_secret_key_an_http_site_keeps_one_development_key_beside_its_database() {
    if crate::helpers::on_postgres() {
        return; // The key file sits beside the SQLite file; on PostgreSQL it is data/secret_key.
    }
    let (mail, app, browser) = password_account().await;
    let path = app.db_path.parent().expect("the data folder").join("secret_key");
    let key = std::fs::read_to_string(&path).expect("a development key was written");
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }
    let (totp_key, _) = enrol(&browser).await;

    // Another start on the same database reuses the key: the seed still opens.
    let url = format!("sqlite://{}", app.db_path.display());
    let again = spawn_app_with(&[("SMTP_URL", mail.url.as_str()), ("DATABASE_URL", &url)]).await;
    assert_eq!(std::fs::read_to_string(&path).expect("key"), key, "not replaced");
    let other = again.browser();
    sign_in(&other).await;
    assert_eq!(location(&other.call("auth/mfa", &[("code", &code(&totp_key, 1))]).await), "/dashboard");
}
