//! The account server functions behind `/profile` and `/dashboard`: each one refuses a caller without a session
//! (401, no data), another person's ids (404, nothing changed) and malformed input (4xx); and each does its job.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    github::{GitHub, app_with_github},
    helpers::{Browser, TestApp, json, location},
    provider::{CLIENT_ID, CLIENT_SECRET, TestProvider},
};

/// An app with two providers (an OpenID Provider and the GitHub stand-in), so people can link a second method.
pub struct World {
    pub provider: TestProvider,
    pub github: GitHub,
    pub app: TestApp,
}

pub async fn world() -> World {
    let provider = TestProvider::start().await;
    let github = GitHub::start(json!([
        { "email": "octocat@example.test", "primary": true, "verified": true, "visibility": "public" }
    ]))
    .await;
    let app = app_with_github(
        &github,
        &[
            ("OIDC_ISSUER_URL", provider.issuer.as_str()),
            ("OIDC_CLIENT_ID", CLIENT_ID),
            ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
            // Tests here send every kind of wrong credential to every route: far more failures than block an
            // address. Blocking is tested in rate_limits.rs.
            ("BLOCK_AFTER_FAILURES", "0"),
        ],
    )
    .await;
    World { provider, github, app }
}

impl World {
    /// Signs `browser` in with the OpenID Provider as `subject`, whose verified email is `email`.
    pub async fn sign_in(&self, browser: &Browser, subject: &str, email: &str) {
        let email = email.to_owned();
        self.provider.set(|b| b.email = Some(email));
        let login = browser.get("/auth/login/oidc").await;
        let query = self.provider.approve(&location(&login), subject);
        let callback = browser.get(&format!("/auth/callback/oidc?{query}")).await;
        assert_eq!(callback.status(), 303, "sign-in completes");
        assert_eq!(browser.get("/api/v1/me").await.status(), 200);
    }

    /// A new browser, signed in as Ada.
    pub async fn ada(&self) -> Browser {
        let browser = self.app.browser();
        self.sign_in(&browser, "ada", "ada@example.test").await;
        browser
    }

    /// A new browser, signed in as Grace.
    pub async fn grace(&self) -> Browser {
        let browser = self.app.browser();
        self.sign_in(&browser, "grace", "grace@example.test").await;
        browser
    }

    /// Links GitHub to the person signed in on `browser`; returns the callback's response.
    pub async fn link_github(&self, browser: &Browser) -> reqwest::Response {
        let start = browser.post_from_page("/auth/link/github").await;
        assert_eq!(start.status(), 303, "linking starts at the provider");
        let query = self.github.approve(&location(&start));
        browser.get(&format!("/auth/callback/github?{query}")).await
    }

    pub async fn user_id(&self, email: &str) -> String {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.app.sql)
            .await
            .expect("user exists")
    }

    async fn sessions_of(&self, email: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT s.id FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1")
            .bind(email)
            .fetch_all(&self.app.sql)
            .await
            .expect("sessions")
    }
}

/// Every account server function, with arguments that would be valid for a signed-in person.
const SERVER_FUNCTIONS: [(&str, &[(&str, &str)]); 13] = [
    ("account/dashboard", &[]),
    ("account/profile", &[]),
    ("account/display-name", &[("display_name", "Mallory")]),
    ("account/unlink", &[("id", "x")]),
    ("account/delete", &[("confirm", "ada@example.test")]),
    ("account/summary", &[]),
    ("account/sessions", &[]),
    ("account/sessions/revoke", &[("id", "x")]),
    ("account/sessions/revoke-others", &[]),
    ("account/activity", &[]),
    ("tokens/list", &[]),
    ("tokens/create", &[("name", "x"), ("scopes[0]", "profile:read"), ("expires_in_days", "30")]),
    ("tokens/revoke", &[("id", "x")]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_function_refuses_a_caller_without_a_session() {
    let world = world().await;
    let _ada = world.ada().await;
    let before: Vec<i64> = [world.app.count("users").await, world.app.count("audit_events").await].into();
    let stranger = world.app.browser();
    for (endpoint, form) in SERVER_FUNCTIONS {
        let response = stranger.call(endpoint, form).await;
        assert_eq!(response.status(), 401, "{endpoint}");
        let body = response.text().await.expect("body");
        assert!(body.contains("Unauthorized"), "{endpoint}: {body}");
        assert!(!body.contains("ada"), "{endpoint} leaks nothing: {body}");
    }
    let after: Vec<i64> = [world.app.count("users").await, world.app.count("audit_events").await].into();
    assert_eq!(before, after, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_functions_answer_malformed_input_with_400() {
    let world = world().await;
    let ada = world.ada().await;
    for (endpoint, form) in [
        ("account/display-name", &[][..]),
        ("account/unlink", &[("wrong", "x")][..]),
        ("account/activity", &[("before", "not-a-number")][..]),
        ("tokens/create", &[("name", "x"), ("expires_in_days", "-3")][..]),
    ] {
        let response = ada.call(endpoint, form).await;
        assert_eq!(response.status(), 400, "{endpoint}");
    }
    let not_json = ada
        .client
        .post(format!("{}/api/account/display-name", ada.address))
        .header("origin", &ada.address)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), 400, "a body that is not a form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_display_name_is_trimmed_validated_and_audited() {
    let world = world().await;
    let ada = world.ada().await;
    let saved = ada.call("account/display-name", &[("display_name", "  Countess of Lovelace ")]).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(json(saved).await, "Countess of Lovelace");
    assert_eq!(json(ada.get("/api/v1/me").await).await["display_name"], "Countess of Lovelace");

    for bad in ["", "   ", &"x".repeat(65), "Ada\u{7}", "two\nlines"] {
        let refused = ada.call("account/display-name", &[("display_name", bad)]).await;
        assert_eq!(refused.status(), 400, "{bad:?}");
        let error = json(refused).await;
        assert!(error["Invalid"].as_str().is_some_and(|m| !m.is_empty()), "a reason: {error}");
    }
    assert_eq!(json(ada.get("/api/v1/me").await).await["display_name"], "Countess of Lovelace", "unchanged");
    let renames: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'profile_updated'")
        .fetch_one(&world.app.sql)
        .await
        .expect("count");
    assert_eq!(renames, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_lists_sign_in_methods_and_what_can_still_be_linked() {
    let world = world().await;
    let ada = world.ada().await;
    let profile = json(ada.call("account/profile", &[]).await).await;
    assert_eq!(profile["user"]["email"], "ada@example.test");
    let identities = profile["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["provider"], "oidc");
    let linkable: Vec<&str> =
        profile["linkable"].as_array().expect("linkable").iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(linkable, ["github"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_attaches_a_second_method_and_unlinking_the_last_is_refused() {
    let world = world().await;
    let ada = world.ada().await;
    let linked = world.link_github(&ada).await;
    assert_eq!(linked.status(), 303);
    assert_eq!(location(&linked), "/profile");
    let profile = json(ada.call("account/profile", &[]).await).await;
    let identities = profile["identities"].as_array().expect("identities").clone();
    assert_eq!(identities.len(), 2);
    assert_eq!(world.app.count("users").await, 1, "no second account");

    // The linked method signs in to the same account.
    let elsewhere = world.app.browser();
    let login = elsewhere.get("/auth/login/github").await;
    let query = world.github.approve(&location(&login));
    assert_eq!(elsewhere.get(&format!("/auth/callback/github?{query}")).await.status(), 303);
    assert_eq!(json(elsewhere.get("/api/v1/me").await).await["email"], "ada@example.test");

    let id_of = |provider: &str| {
        identities.iter().find(|i| i["provider"] == provider).expect("identity")["id"].as_str().expect("id").to_owned()
    };
    assert_eq!(ada.call("account/unlink", &[("id", &id_of("github"))]).await.status(), 200);
    let refused = ada.call("account/unlink", &[("id", &id_of("oidc"))]).await;
    assert_eq!(refused.status(), 409);
    assert!(json(refused).await["Conflict"].as_str().expect("reason").contains("only way to sign in"));
    assert_eq!(world.app.count("identities").await, 1);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&world.app.sql).await.expect("audit");
    assert!(kinds.contains(&"identity_linked".to_owned()) && kinds.contains(&"identity_unlinked".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_an_identity_that_belongs_to_someone_else_changes_nothing() {
    let world = world().await;
    let ada = world.ada().await;
    assert_eq!(world.link_github(&ada).await.status(), 303);
    let grace = world.grace().await;
    let refused = world.link_github(&grace).await;
    assert_eq!(refused.status(), 409);
    let page = refused.text().await.expect("page");
    assert!(page.contains("belongs to someone else"), "{page}");
    assert!(page.contains("Nothing was changed"));
    let owner: String = sqlx::query_scalar(
        "SELECT u.email FROM identities i JOIN users u ON u.id = i.user_id WHERE provider = 'github'",
    )
    .fetch_one(&world.app.sql)
    .await
    .expect("owner");
    assert_eq!(owner, "ada@example.test", "still Ada's");
    assert_eq!(world.app.count("identities").await, 3);
    let grace_id = world.user_id("grace@example.test").await;
    let failed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = 'link_failed' AND user_id = $1")
            .bind(&grace_id)
            .fetch_one(&world.app.sql)
            .await
            .expect("count");
    assert_eq!(failed, 1, "Grace's activity shows the refused link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_needs_a_session_and_a_post_from_our_pages() {
    let world = world().await;
    let stranger = world.app.browser();
    let response = stranger.post_from_page("/auth/link/github").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login?next=%2Fprofile");
    let ada = world.ada().await;
    let cross_site = ada
        .client
        .post(format!("{}/auth/link/github", ada.address))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(cross_site.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_a_revoked_one_is_refused_on_its_next_request() {
    let world = world().await;
    let laptop = world.ada().await;
    let phone = world.ada().await;
    let list = json(laptop.call("account/sessions", &[]).await).await;
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_id =
        sessions.iter().find(|s| s["current"] == false).expect("the other session")["id"].as_str().expect("id");

    assert_eq!(laptop.call("account/sessions/revoke", &[("id", phone_id)]).await.status(), 200);
    assert_eq!(phone.get("/api/v1/me").await.status(), 401, "refused on its very next request");
    assert_eq!(phone.get("/dashboard").await.status(), 303);
    assert_eq!(laptop.get("/api/v1/me").await.status(), 200, "the revoking session lives on");
    assert_eq!(laptop.call("account/sessions/revoke", &[("id", phone_id)]).await.status(), 404, "already gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_session_cannot_be_revoked() {
    let world = world().await;
    let ada = world.ada().await;
    let grace = world.grace().await;
    let grace_sessions = world.sessions_of("grace@example.test").await;
    let response = ada.call("account/sessions/revoke", &[("id", &grace_sessions[0])]).await;
    assert_eq!(response.status(), 404);
    assert_eq!(world.sessions_of("grace@example.test").await, grace_sessions, "nothing changed");
    assert_eq!(grace.get("/api/v1/me").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_all_other_sessions_leaves_only_this_one() {
    let world = world().await;
    let here = world.ada().await;
    let others = [world.ada().await, world.ada().await];
    let grace = world.grace().await;
    let response = here.call("account/sessions/revoke-others", &[]).await;
    assert_eq!(json(response).await, 2);
    for other in &others {
        assert_eq!(other.get("/api/v1/me").await.status(), 401);
    }
    assert_eq!(here.get("/api/v1/me").await.status(), 200);
    assert_eq!(world.sessions_of("ada@example.test").await.len(), 1);
    assert_eq!(grace.get("/api/v1/me").await.status(), 200, "other people are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_summary_counts_this_persons_things() {
    let world = world().await;
    let ada = world.ada().await;
    let _second = world.ada().await;
    let _grace = world.grace().await;
    let summary = json(ada.call("account/summary", &[]).await).await;
    assert_eq!(summary["active_sessions"], 2);
    assert_eq!(summary["linked_providers"], 1);
    assert_eq!(summary["api_tokens"], 0);
    assert_eq!(summary["last_sign_in"]["provider"], "oidc", "the sign-in before this one: {summary}");
    assert_eq!(summary["last_sign_in"]["ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_activity_is_this_persons_newest_first_in_pages() {
    let world = world().await;
    let ada = world.ada().await;
    let _grace = world.grace().await;
    for n in 0..25 {
        let name = format!("Ada {n}");
        assert_eq!(ada.call("account/display-name", &[("display_name", &name)]).await.status(), 200);
    }
    let first = json(ada.call("account/activity", &[]).await).await;
    let events = first["events"].as_array().expect("events");
    assert_eq!(events.len(), 20);
    assert_eq!(events[0]["kind"], "profile_updated");
    assert_eq!(events[0]["summary"], "Changed display name");
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let next = first["next"].as_i64().expect("a next page");

    let second = json(ada.call("account/activity", &[("before", &next.to_string())]).await).await;
    let events = second["events"].as_array().expect("events");
    // 25 renames + account created + sign-in = 27 events.
    assert_eq!(events.len(), 7);
    assert!(second["next"].is_null());
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.ends_with(&["sign_in", "account_created"]), "{kinds:?}");
    assert!(events.iter().all(|e| e["summary"] != "Signed in with Single sign-on" || e["ip"] == "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_holds_this_persons_data_and_nobody_elses() {
    let world = world().await;
    let ada = world.ada().await;
    let grace = world.grace().await;
    let created = ada
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "laptop script", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let secret = json(created).await["secret"].as_str().expect("secret").to_owned();
    let _ = grace.call("account/display-name", &[("display_name", "Grace Hopper")]).await;

    let response = ada.get("/account/export").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().expect("ASCII").starts_with("attachment"), "a download");
    let text = response.text().await.expect("body");
    let export: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(export["profile"]["email"], "ada@example.test");
    assert_eq!(export["identities"].as_array().expect("identities").len(), 1);
    assert_eq!(export["sessions"].as_array().expect("sessions").len(), 1);
    assert_eq!(export["api_tokens"][0]["name"], "laptop script");
    assert!(export["security_activity"].as_array().expect("activity").len() >= 3);
    assert!(!text.contains("grace") && !text.contains("Grace"), "nothing about anyone else");
    assert!(!text.contains(&secret[4..]), "never a token secret");
    assert!(!text.contains("secret_hash"));

    assert_eq!(world.app.browser().get("/account/export").await.status(), 303, "signed out: to the login page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_needs_the_email_and_then_removes_everything() {
    let world = world().await;
    let ada = world.ada().await;
    let other_device = world.ada().await;
    let grace = world.grace().await;
    assert_eq!(world.link_github(&ada).await.status(), 303);
    let created = ada
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "ci", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("request");
    let secret = json(created).await["secret"].as_str().expect("secret").to_owned();
    let ada_id = world.user_id("ada@example.test").await;

    let refused = ada.call("account/delete", &[("confirm", "grace@example.test")]).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(world.app.count("users").await, 2, "nothing deleted");

    let deleted = ada.call("account/delete", &[("confirm", " ADA@example.test ")]).await;
    assert_eq!(deleted.status(), 200);
    for table in ["identities", "user_sessions", "api_tokens"] {
        let left: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"))
            .bind(&ada_id)
            .fetch_one(&world.app.sql)
            .await
            .expect("count");
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(world.app.count("users").await, 1);
    assert_eq!(ada.get("/api/v1/me").await.status(), 401);
    assert_eq!(other_device.get("/api/v1/me").await.status(), 401, "signed out everywhere");
    let with_token = world
        .app
        .client
        .get(format!("{}/api/v1/me", world.app.address))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("request");
    assert_eq!(with_token.status(), 401, "tokens die with the account");
    assert_eq!(grace.get("/api/v1/me").await.status(), 200);

    let (user_id, ip, detail): (Option<String>, Option<String>, String) =
        sqlx::query_as("SELECT user_id, ip, detail FROM audit_events WHERE kind = 'account_deleted'")
            .fetch_one(&world.app.sql)
            .await
            .expect("an anonymous record of the deletion");
    assert_eq!((user_id, ip), (None, None));
    assert_eq!(serde_json::from_str::<Value>(&detail).expect("JSON")["identities"], 2);
    let traces: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE user_id = $1 OR detail LIKE '%ada@%'")
            .bind(&ada_id)
            .fetch_one(&world.app.sql)
            .await
            .expect("count");
    assert_eq!(traces, 0, "the remaining trail is anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_sign_in_method_or_token_cannot_be_touched() {
    let world = world().await;
    let ada = world.ada().await;
    let grace = world.grace().await;
    assert_eq!(world.link_github(&grace).await.status(), 303, "Grace has two methods, so one could be removed");
    let grace_identity: String = sqlx::query_scalar(
        "SELECT i.id FROM identities i JOIN users u ON u.id = i.user_id WHERE u.email = 'grace@example.test' LIMIT 1",
    )
    .fetch_one(&world.app.sql)
    .await
    .expect("identity");
    let created = grace
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "grace's", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("request");
    let grace_token = json(created).await["token"]["id"].as_str().expect("id").to_owned();
    let before = (world.app.count("identities").await, world.app.count("api_tokens").await);

    assert_eq!(ada.call("account/unlink", &[("id", &grace_identity)]).await.status(), 404);
    assert_eq!(ada.call("tokens/revoke", &[("id", &grace_token)]).await.status(), 404);
    let listed = json(ada.call("tokens/list", &[]).await).await;
    assert_eq!(listed["tokens"].as_array().expect("tokens").len(), 0, "Ada sees none of Grace's tokens");
    assert_eq!((world.app.count("identities").await, world.app.count("api_tokens").await), before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_listed_and_revoked_through_the_server_functions() {
    let world = world().await;
    let ada = world.ada().await;
    let created = ada
        .call(
            "tokens/create",
            &[
                ("name", "laptop"),
                ("scopes[0]", "audit:read"),
                ("scopes[1]", "profile:read"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(created.status(), 200);
    let created = json(created).await;
    assert!(created["secret"].as_str().expect("secret").starts_with("gth_"));
    assert_eq!(created["token"]["scopes"], json!(["profile:read", "audit:read"]));
    let listed = json(ada.call("tokens/list", &[]).await).await;
    assert_eq!(listed["tokens"][0]["name"], "laptop");
    assert!(listed["tokens"][0].get("secret").is_none() && !listed.to_string().contains("gth_"), "never the secret");
    assert_eq!(listed["allow_non_expiring"], false);

    let never = ada.call("tokens/create", &[("name", "forever"), ("scopes[0]", "profile:read")]).await;
    assert_eq!(never.status(), 400, "no expiry is refused unless the server allows it");
    let id = created["token"]["id"].as_str().expect("id");
    assert_eq!(ada.call("tokens/revoke", &[("id", id)]).await.status(), 200);
    assert_eq!(json(ada.call("tokens/list", &[]).await).await["tokens"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_a_refused_form_comes_back_to_the_page_with_the_reason() {
    let world = world().await;
    let ada = world.ada().await;
    let profile = format!("{}/profile", ada.address);
    let refused = ada
        .client
        .post(format!("{}/api/account/display-name", ada.address))
        .header("origin", &ada.address)
        .header("accept", "text/html")
        .header("referer", &profile)
        .form(&[("display_name", "   ")])
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 302, "a plain form post is sent back to its page");
    let back = location(&refused);
    assert!(back.starts_with(&profile), "{back}");
    let page = ada.client.get(&back).send().await.expect("page").text().await.expect("body");
    assert!(page.contains("Enter a display name."), "the page shows why, next to the field");
    assert_eq!(json(ada.get("/api/v1/me").await).await["display_name"], "Ada Lovelace", "nothing saved");
}

/// A form posted without JavaScript: the server function sends the browser back to the page with its error in the
/// URL, and the page (rendered on the server) shows it where the form is, for a form inside an island (rename) and
/// for a row's button whose row may be gone (revoke).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_without_javascript_comes_back_with_its_error_on_the_page() {
    let world = world().await;
    let ada = world.ada().await;
    for (endpoint, form, page, message) in [
        ("account/display-name", &[("display_name", "   ")][..], "/profile", "Enter a display name."),
        ("account/sessions/revoke", &[("id", "no-such-session")][..], "/dashboard", "That was not found."),
        ("tokens/revoke", &[("id", "no-such-token")][..], "/dashboard", "That was not found."),
    ] {
        let posted = ada
            .client
            .post(format!("{}/api/{endpoint}", ada.address))
            .header("origin", &ada.address)
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", format!("{}{page}", ada.address))
            .form(form)
            .send()
            .await
            .expect("request reaches the app");
        assert!(posted.status().is_redirection(), "{endpoint}: a form post is sent back to its page");
        let back = location(&posted);
        assert!(back.contains(page) && back.contains("__err="), "{endpoint}: {back}");

        let shown = ada.client.get(&back).send().await.expect("page");
        assert_eq!(shown.status(), 200, "{endpoint}");
        let html = shown.text().await.expect("body");
        assert!(html.contains(message), "{endpoint}: the page shows “{message}”");
    }
    let profile = ada.get("/profile").await.text().await.expect("body");
    assert!(!profile.contains("Enter a display name."), "without the error in the URL, no error is shown");
}

/// Deleting the account without JavaScript lands on the home page's notice, as it does with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_without_javascript_lands_on_the_home_page() {
    let world = world().await;
    let ada = world.ada().await;
    let posted = ada
        .client
        .post(format!("{}/api/account/delete", ada.address))
        .header("origin", &ada.address)
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{}/profile", ada.address))
        .form(&[("confirm", "ada@example.test")])
        .send()
        .await
        .expect("request reaches the app");
    assert!(posted.status().is_redirection(), "{}", posted.status());
    let home = location(&posted);
    assert!(home.ends_with("/?deleted=1"), "{home}");
    let page = ada.client.get(format!("{}{home}", ada.address)).send().await.expect("home").text().await.unwrap();
    assert!(page.contains("Your account was deleted"));
    assert_eq!(world.app.count("users").await, 0);
}
