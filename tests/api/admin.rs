//! The admin area: only the operators in `ADMIN_EMAILS`, from `ADMIN_ALLOWED_IPS`, with two-step verification when
//! local accounts exist; people and one person in full; disabling an account (everything it holds ends at once, and
//! its owner is told at sign-in) and enabling it; the audit viewer with filters, exports and the chain's status;
//! lifting an address block. Every change is an audit event.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    bearer::token,
    helpers::{Browser, TestApp, json, location},
    provider::TestProvider,
    sessions::with_provider,
};

const ADMIN: &str = "ada@example.test";

/// An app whose administrator is Ada, signed in on the main browser, and Grace, signed in on another, with a token.
struct Area {
    provider: TestProvider,
    app: TestApp,
    admin: Browser,
    grace: Browser,
    grace_token: String,
    grace_id: String,
}

async fn sign_in(provider: &TestProvider, browser: &Browser, subject: &str, email: &str) -> reqwest::Response {
    let email = email.to_owned();
    provider.set(|b| b.email = Some(email));
    let login = browser.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), subject);
    browser.get(&format!("/auth/callback/oidc?{query}")).await
}

async fn area(extra: &[(&'static str, &str)]) -> Area {
    let mut vars = vec![("ADMIN_EMAILS", "someone@example.test, Ada@Example.test")];
    vars.extend_from_slice(extra);
    let (provider, app) = with_provider(&vars).await;
    let admin = app.main_browser();
    assert_eq!(sign_in(&provider, &admin, "ada", ADMIN).await.status(), 303);
    let grace = app.browser();
    assert_eq!(sign_in(&provider, &grace, "grace", "grace@example.test").await.status(), 303);
    let (_, grace_token) = token(&grace, &["profile:read"]).await;
    let grace_id = sqlx::query_scalar("SELECT id FROM users WHERE email = 'grace@example.test'")
        .fetch_one(&app.sql)
        .await
        .expect("grace");
    Area { provider, app, admin, grace, grace_token, grace_id }
}

/// A page's status and HTML, without the markers Leptos puts between text nodes.
async fn page(browser: &Browser, path: &str) -> (StatusCode, String) {
    let response = browser.get(path).await;
    (response.status(), response.text().await.expect("page").replace("<!>", ""))
}

async fn kinds(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_listed_operators_from_the_allowed_addresses_see_anything() {
    let area = area(&[]).await;
    let (status, admin_page) = page(&area.admin, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        admin_page.contains("data-testid=\"admin-people\"") && admin_page.contains("grace@example.test"),
        "{admin_page}"
    );

    // The header links the area for the operator, and for nobody else.
    let admin_link = r#"href="/admin""#;
    assert!(page(&area.admin, "/dashboard").await.1.contains(admin_link), "the operator's header links the area");
    assert!(!page(&area.grace, "/dashboard").await.1.contains(admin_link), "nobody else's does");

    // Grace is signed in, and not an operator: the same 404 as an address with nothing at it, for every part.
    for path in ["/admin", "/admin/audit", &format!("/admin/people/{}", area.grace_id)] {
        let (status, body) = page(&area.grace, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("admin-people") && !body.contains("grace@example.test"), "{path}: {body}");
    }
    let export = post(&area.grace, "/admin/audit/export", &[("format", "json")]).await;
    assert_eq!(export.status(), StatusCode::NOT_FOUND);
    assert_eq!(area.grace.get("/admin/audit/export").await.status(), StatusCode::METHOD_NOT_ALLOWED, "no GET");
    let disable = area
        .grace
        .client
        .post(format!("{}/admin/people/disable", area.app.address))
        .header("origin", &area.app.address)
        .form(&[("user_id", area.grace_id.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(disable.status(), StatusCode::NOT_FOUND);
    // Signed out: sent to sign in.
    let (status, _) = page(&area.app.browser(), "/admin/audit").await;
    assert_ne!(status, StatusCode::OK);
    let server_fn = area.grace.call("admin/overview", &[]).await;
    assert_eq!(server_fn.status(), StatusCode::NOT_FOUND);

    // An operator from outside ADMIN_ALLOWED_IPS is turned away too; from inside, served.
    let (provider, app) = with_provider(&[("ADMIN_EMAILS", ADMIN), ("ADMIN_ALLOWED_IPS", "127.0.0.2")]).await;
    let outside = app.main_browser();
    assert_eq!(sign_in(&provider, &outside, "ada", ADMIN).await.status(), 303);
    assert_eq!(page(&outside, "/admin").await.0, StatusCode::NOT_FOUND, "127.0.0.1 is not on the list");
    assert!(!page(&outside, "/dashboard").await.1.contains(admin_link), "nor linked from there");
    let inside = app.browser_with(|b| b.local_address("127.0.0.2".parse::<IpAddr>().ok()));
    assert_eq!(sign_in(&provider, &inside, "ada", ADMIN).await.status(), 303);
    assert_eq!(page(&inside, "/admin").await.0, StatusCode::OK);
}

async fn post(browser: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    browser
        .client
        .post(format!("{}{path}", browser.address))
        .header("origin", &browser.address)
        .form(form)
        .send()
        .await
        .expect("post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_searched_and_one_person_is_shown_in_full() {
    let area = area(&[]).await;
    let (_, found) = page(&area.admin, "/admin?q=GRACE%40example").await;
    assert!(found.contains("grace@example.test") && !found.contains("ada@example.test"), "{found}");
    let (_, none) = page(&area.admin, "/admin?q=%25").await;
    assert!(none.contains("Nobody matches."), "a % is searched for literally: {none}");
    let (status, person) = page(&area.admin, &format!("/admin/people/{}", area.grace_id)).await;
    assert_eq!(status, StatusCode::OK);
    for shown in ["grace@example.test", "data-testid=\"person-sessions\"", "test token with 1 scopes", "Signed in with"]
    {
        assert!(person.contains(shown), "{shown}: {person}");
    }
    assert!(person.contains("data-testid=\"disable-account\""));
    let (_, own) = page(&area.admin, "/admin/people/nobody-has-this-id").await;
    assert!(own.contains("Page not found"), "an unknown id is a 404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_ends_everything_at_once_and_the_person_is_told_at_sign_in() {
    let area = area(&[]).await;
    // Grace has let an app in too: its authorization ends with the rest.
    assert_eq!(area.grace.get("/api/v1/me").await.status(), StatusCode::OK);
    let me = |secret: String| {
        let address = area.app.address.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{address}/api/v1/me"))
                .bearer_auth(secret)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(me(area.grace_token.clone()).await, StatusCode::OK);

    let disabled = post(&area.admin, "/admin/people/disable", &[("user_id", &area.grace_id)]).await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&disabled), format!("/admin/people/{}", area.grace_id));
    assert_eq!(area.grace.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED, "her session ended");
    assert_eq!(me(area.grace_token.clone()).await, StatusCode::UNAUTHORIZED, "her token was revoked");
    let (_, person) = page(&area.admin, &format!("/admin/people/{}", area.grace_id)).await;
    assert!(person.contains("data-testid=\"person-disabled\"") && person.contains("enable-account"), "{person}");

    // She is told, and nothing is made for her.
    let sessions = area.app.count("user_sessions").await;
    let refused = sign_in(&area.provider, &area.grace, "grace", "grace@example.test").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.expect("page");
    assert!(text.contains("This account is disabled") && text.contains("administrator"), "{text}");
    assert_eq!(area.app.count("user_sessions").await, sessions);

    // The trail: who did it, and what it ended, on her account; her refused sign-in too.
    let row: (String, String) =
        sqlx::query_as("SELECT user_id, detail FROM audit_events WHERE kind = 'account_disabled'")
            .fetch_one(&area.app.sql)
            .await
            .expect("event");
    assert_eq!(row.0, area.grace_id);
    let detail: Value = serde_json::from_str(&row.1).expect("json");
    assert_eq!(detail["admin_email"], ADMIN);
    assert_eq!((detail["sessions_ended"].as_u64(), detail["tokens_revoked"].as_u64()), (Some(1), Some(1)));
    assert!(kinds(&area.app).await.ends_with(&["account_disabled".to_owned(), "sign_in_failed".to_owned()]));

    // An administrator cannot disable themselves; enabling lets Grace back in.
    let ada_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(ADMIN)
        .fetch_one(&area.app.sql)
        .await
        .expect("ada");
    let own = post(&area.admin, "/admin/people/disable", &[("user_id", &ada_id)]).await;
    assert!(location(&own).contains("error="), "{}", location(&own));
    assert_eq!(area.admin.get("/api/v1/me").await.status(), StatusCode::OK);
    let enabled = post(&area.admin, "/admin/people/enable", &[("user_id", &area.grace_id)]).await;
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(sign_in(&area.provider, &area.grace, "grace", "grace@example.test").await.status(), 303);
    assert!(kinds(&area.app).await.contains(&"account_enabled".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_viewer_filters_exports_and_says_whether_the_chain_verifies() {
    let area = area(&[]).await;
    let (status, all) = page(&area.admin, "/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(all.contains("The hash chain verifies"), "{all}");
    assert!(all.contains("Created API token") && all.contains("Signed in with"), "{all}");

    let (_, tokens_only) = page(&area.admin, "/admin/audit?kind=token_created").await;
    assert!(tokens_only.contains("Created API token") && !tokens_only.contains("data-kind=\"sign_in\""));
    let (_, graces) = page(&area.admin, "/admin/audit?person=GRACE@example.test").await;
    assert!(graces.contains("data-kind=\"token_created\"") && graces.contains("data-kind=\"sign_in\""));
    let (_, elsewhere) = page(&area.admin, "/admin/audit?address=203.0.113.9").await;
    assert!(elsewhere.contains("No events match."));
    let (_, future) = page(&area.admin, "/admin/audit?from=2999-01-01").await;
    assert!(future.contains("No events match."));
    let (status, bad) = page(&area.admin, "/admin/audit?from=yesterday&kind=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("is not a kind of event") || bad.contains("is not a date"), "{bad}");

    // Exports: what the filter matches, as CSV and JSON; each export is itself recorded.
    let csv = post(&area.admin, "/admin/audit/export", &[("format", "csv"), ("kind", "sign_in")]).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment; filename=\"gatehouse-audit-")
    );
    let csv = csv.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,seq,time,kind,summary,user_id,person,ip,browser,detail");
    assert_eq!(lines.len(), 3, "two sign-ins: {csv}");
    assert!(lines[1..].iter().all(|l| l.contains(",sign_in,")), "{csv}");
    let exported =
        json(post(&area.admin, "/admin/audit/export", &[("format", "json"), ("person", "grace@example.test")]).await)
            .await;
    let events = exported["events"].as_array().expect("events");
    assert!(events.len() >= 2 && events.iter().all(|e| e["user_id"] == area.grace_id.as_str()), "{exported}");
    assert_eq!(kinds(&area.app).await.iter().filter(|k| *k == "audit_exported").count(), 2);

    // Someone edits an event in the database. "Check now" checks the chain in full, and then the viewer says what
    // broke, and names it.
    assert!(all.contains("Checked in full"), "with when: {all}");
    sqlx::query("UPDATE audit_events SET detail = '{\"provider\":\"github\"}' WHERE kind = 'sign_in'")
        .execute(&area.app.sql)
        .await
        .expect("tamper");
    let checked = post(&area.admin, "/admin/audit/verify", &[]).await;
    assert_eq!((checked.status(), location(&checked)), (StatusCode::SEE_OTHER, "/admin/audit#chain".to_owned()));
    let (_, broken) = page(&area.admin, "/admin/audit").await;
    assert!(broken.contains("The hash chain does not verify") && broken.contains("was changed"), "{broken}");
    let scrape = area.app.get("/metrics").await.text().await.expect("metrics");
    assert!(scrape.contains("\ngatehouse_audit_chain_intact 0\n"), "{scrape}");
    // Only operators may start a check.
    assert_eq!(post(&area.grace, "/admin/audit/verify", &[]).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_is_listed_and_lifted_and_the_lift_is_recorded() {
    let area = area(&[("BLOCK_AFTER_FAILURES", "3")]).await;
    let attacker = area.app.browser_with(|b| b.local_address("127.0.0.7".parse::<IpAddr>().ok()));
    for _ in 0..3 {
        let forged = attacker.get("/auth/callback/oidc?state=forged&code=x").await;
        assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(attacker.get("/auth/login/oidc").await.status(), StatusCode::TOO_MANY_REQUESTS, "blocked");
    let (_, overview) = page(&area.admin, "/admin").await;
    assert!(overview.contains("<code>127.0.0.7</code>") && overview.contains("after 3 failures"), "{overview}");

    let lifted = post(&area.admin, "/admin/blocks/lift", &[("address", "127.0.0.7")]).await;
    assert_eq!(location(&lifted), "/admin#blocks");
    assert_eq!(attacker.get("/auth/login/oidc").await.status(), StatusCode::SEE_OTHER, "let in again");
    let (_, overview) = page(&area.admin, "/admin").await;
    assert!(overview.contains("No address is blocked."), "{overview}");
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'block_lifted'")
        .fetch_one(&area.app.sql)
        .await
        .expect("recorded");
    assert!(detail.contains("127.0.0.7"), "{detail}");
    let again = post(&area.admin, "/admin/blocks/lift", &[("address", "127.0.0.7")]).await;
    assert!(location(&again).contains("error="), "nothing left to lift");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_local_accounts_an_administrator_needs_two_step_verification() {
    let area = area(&[]).await;
    // Someone has a password: local accounts exist.
    sqlx::query("INSERT INTO passwords (user_id, email, hash, created_at, updated_at) VALUES ($1, 'grace@example.test', 'x', 0, 0)")
        .bind(&area.grace_id)
        .execute(&area.app.sql)
        .await
        .expect("password");
    let (status, refused) = page(&area.admin, "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused.contains("two-step verification"), "{refused}");
    let (key, _) = crate::two_step::enrol(&area.admin).await;
    // What counts is what this session did: it signed in with one factor, and turning two-step on is no second
    // one. It confirms with a code first.
    let (status, asked) = page(&area.admin, "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{asked}");
    assert!(asked.contains("passed two-step verification") && asked.contains("/confirm?next=%2Fadmin"), "{asked}");
    let confirmed = area.admin.call("account/confirm", &[("code", &crate::two_step::code(&key, 1))]).await;
    assert_eq!(location(&confirmed), "/profile");
    assert_eq!(page(&area.admin, "/admin").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_changes_and_exports_need_a_recent_confirmation() {
    let area = area(&[]).await;
    sqlx::query("UPDATE user_sessions SET confirmed_at = created_at - 660").execute(&area.app.sql).await.expect("old");
    let person = format!("/admin/people/{}", area.grace_id);
    for (path, form, back) in [
        ("/admin/people/disable", vec![("user_id", area.grace_id.as_str())], person.as_str()),
        ("/admin/people/enable", vec![("user_id", area.grace_id.as_str())], person.as_str()),
        ("/admin/blocks/lift", vec![("address", "192.0.2.1")], "/admin"),
        ("/admin/audit/export", vec![("format", "csv")], "/admin/audit"),
    ] {
        let answer = post(&area.admin, path, &form).await;
        let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        assert_eq!(location(&answer), format!("/confirm?next={next}"), "{path}");
    }
    assert_eq!(kinds(&area.app).await.iter().filter(|k| *k == "account_disabled" || *k == "audit_exported").count(), 0);
    assert_eq!(area.grace.get("/api/v1/me").await.status(), StatusCode::OK, "nothing was disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_person_suspends_the_apps_they_registered_until_they_are_enabled() {
    use gatehouse::server::{
        oauth::clients::{self, NewClient},
        people::session::ClientInfo,
    };
    let area = area(&[]).await;
    let new = NewClient::parse("Grace's app", &["https://grace.example/cb".to_owned()], &[], true, "openid", "")
        .expect("valid");
    let created =
        clients::create(&area.app.state.db, Some(&area.grace_id), new, &ClientInfo::default()).await.expect("made");
    let secret = created.client_secret.expect("a confidential app");
    let own_token = |app: &TestApp| {
        let request = reqwest::Client::new()
            .post(format!("{}/oauth/token", app.address))
            .basic_auth(&created.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.expect("token").status() }
    };
    assert_eq!(own_token(&area.app).await, StatusCode::OK);
    let disabled = post(&area.admin, "/admin/people/disable", &[("user_id", area.grace_id.as_str())]).await;
    assert!(!location(&disabled).contains("error="), "{}", location(&disabled));
    assert_eq!(own_token(&area.app).await, StatusCode::UNAUTHORIZED, "the app is suspended for everyone");
    let authorize =
        format!("/oauth/authorize?client_id={}&redirect_uri=https%3A%2F%2Fgrace.example%2Fcb", created.client_id);
    assert_eq!(area.admin.get(&authorize).await.status(), StatusCode::BAD_REQUEST, "nobody signs in to it");
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'account_disabled'")
        .fetch_one(&area.app.sql)
        .await
        .expect("recorded");
    assert!(detail.contains("\"apps_suspended\":1"), "{detail}");
    post(&area.admin, "/admin/people/enable", &[("user_id", area.grace_id.as_str())]).await;
    assert_eq!(own_token(&area.app).await, StatusCode::OK, "enabling the person lifts it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_on_this_machine_that_is_not_trusted_is_pointed_out() {
    let area = area(&[]).await;
    let (_, overview) = page(&area.admin, "/admin").await;
    assert!(!overview.contains("untrusted-proxy"), "plain requests say nothing");
    let forwarded = reqwest::Client::new()
        .get(format!("{}/healthz", area.app.address))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .expect("request");
    assert!(forwarded.status().is_success());
    let (_, overview) = page(&area.admin, "/admin").await;
    assert!(overview.contains("data-testid=\"untrusted-proxy\"") && overview.contains("TRUSTED_PROXIES"), "{overview}");
}
