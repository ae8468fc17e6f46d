//! The cache of checked sessions and tokens never serves what has ended or changed: each test first uses the
//! credential (so it is cached), then ends or changes it, and checks the very next request. Each would fail if the
//! cache answered from a stale entry.

use std::time::Duration;

use gatehouse::server::platform::cache::REVALIDATE_AFTER;
use reqwest::Method;

use crate::{
    account::world,
    bearer::{other_session, program, token},
    helpers::json,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_use_is_refused_right_after_another_device_revokes_it() {
    let world = world().await;
    let (laptop, phone) = (world.ada().await, world.ada().await);
    assert_eq!(phone.get("/api/v1/me").await.status(), 200, "in use, so cached");
    let phone_session = other_session(&laptop).await.expect("the phone's session");
    assert_eq!(
        laptop.api(Method::DELETE, &format!("/sessions/{phone_session}")).send().await.expect("revoke").status(),
        204
    );
    assert_eq!(phone.get("/api/v1/me").await.status(), 401);
    assert_eq!(phone.get("/dashboard").await.status(), 303);
    assert_eq!(laptop.get("/api/v1/me").await.status(), 200, "the other session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_use_are_refused_right_after_signing_out_all_others() {
    let world = world().await;
    let (laptop, phone) = (world.ada().await, world.ada().await);
    assert_eq!(phone.get("/dashboard").await.status(), 200, "in use, so cached");
    assert_eq!(laptop.call("account/sessions/revoke-others", &[]).await.status(), 200);
    assert_eq!(phone.get("/dashboard").await.status(), 303);
    assert_eq!(laptop.get("/dashboard").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_use_is_refused_right_after_revocation() {
    let world = world().await;
    let ada = world.ada().await;
    let (id, secret) = token(&ada, &["profile:read"]).await;
    let me = || program(&world, Method::GET, "/me").bearer_auth(&secret);
    assert_eq!(me().send().await.expect("use").status(), 200);
    assert_eq!(me().send().await.expect("use").status(), 200, "served from the cache");
    assert_eq!(ada.api(Method::DELETE, &format!("/tokens/{id}")).send().await.expect("revoke").status(), 204);
    assert_eq!(me().send().await.expect("use").status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_refuses_its_sessions_and_tokens_in_use() {
    let world = world().await;
    let (laptop, phone) = (world.ada().await, world.ada().await);
    let (_, secret) = token(&laptop, &["profile:read"]).await;
    let me = || program(&world, Method::GET, "/me").bearer_auth(&secret);
    assert_eq!(me().send().await.expect("use").status(), 200);
    assert_eq!(phone.get("/api/v1/me").await.status(), 200);
    let deleted = laptop.call("account/delete", &[("confirm", "ada@example.test")]).await;
    assert!(deleted.status().is_success() || deleted.status().is_redirection(), "{}", deleted.status());
    assert_eq!(me().send().await.expect("use").status(), 401);
    assert_eq!(phone.get("/api/v1/me").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_name_and_a_new_sign_in_method_show_on_every_credentials_next_request() {
    let world = world().await;
    let (laptop, phone) = (world.ada().await, world.ada().await);
    let (_, secret) = token(&laptop, &["profile:read"]).await;
    let token_me =
        || async { json(program(&world, Method::GET, "/me").bearer_auth(&secret).send().await.expect("me")).await };
    assert_eq!(token_me().await["display_name"], "Ada Lovelace");
    assert_eq!(json(phone.get("/api/v1/me").await).await["display_name"], "Ada Lovelace");

    let renamed = laptop.call("account/display-name", &[("display_name", "Countess of Lovelace")]).await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(json(phone.get("/api/v1/me").await).await["display_name"], "Countess of Lovelace");
    assert_eq!(token_me().await["display_name"], "Countess of Lovelace");
    assert!(phone.get("/").await.text().await.expect("page").contains("Countess of Lovelace"), "the header too");

    assert_eq!(world.link_github(&laptop).await.status(), 303);
    let has_github = |me: serde_json::Value| me["providers"].as_array().expect("providers").contains(&"github".into());
    assert!(has_github(json(phone.get("/api/v1/me").await).await));
    assert!(has_github(token_me().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_outside_this_process_is_refused_once_the_cache_revalidates() {
    let world = world().await;
    let ada = world.ada().await;
    let (id, secret) = token(&ada, &["profile:read"]).await;
    let me = || program(&world, Method::GET, "/me").bearer_auth(&secret);
    assert_eq!(me().send().await.expect("use").status(), 200);
    // What another instance, or an operator with SQL, does: this process is not told.
    sqlx::query("DELETE FROM api_tokens WHERE id = $1").bind(&id).execute(&world.app.sql).await.expect("rm");
    tokio::time::sleep(REVALIDATE_AFTER + Duration::from_millis(100)).await;
    assert_eq!(me().send().await.expect("use").status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pages_touch_neither_the_database_nor_the_session_store() {
    let world = world().await;
    // The session store lives in the same database: with the pool closed, any query at all would fail the page.
    world.app.state.db.close().await;
    for path in ["/", "/login", "/developers"] {
        let response = world.app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.text().await.expect("page").contains("</html>"), "{path} renders completely");
    }
    assert_eq!(world.app.get("/readyz").await.status(), 503, "and the database really is unreachable");
}

/// `/dashboard` and `/profile` read their data before they render (`web::preload`): a read that fails shows the page
/// with the error where the data would be, answered with the error's status, as a page's server function did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preloaded_page_whose_data_cannot_be_read_says_so_with_the_errors_status() {
    let world = world().await;
    let ada = world.ada().await;
    for path in ["/dashboard", "/profile"] {
        assert_eq!(ada.get(path).await.status(), 200, "{path}");
    }
    // A table each page's statement reads and the session check does not: the session still checks out.
    for table in ["api_tokens", "recovery_codes"] {
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}_gone"))
            .execute(&world.app.sql)
            .await
            .expect("rename");
    }
    for path in ["/dashboard", "/profile"] {
        let response = ada.get(path).await;
        assert_eq!(response.status(), 500, "{path}");
        let page = response.text().await.expect("page");
        assert!(
            page.contains(r#"class="problem">Something went wrong on our side."#) && page.contains(r#"role="alert""#),
            "{path}: {page}"
        );
        assert!(page.contains("Sign out") && page.contains("</html>"), "{path}: the whole page, signed in");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_person_never_gets_the_anonymous_copy_of_a_page() {
    let world = world().await;
    let anonymous = world.app.get("/").await.text().await.expect("page");
    assert!(anonymous.contains("Sign in"), "the anonymous header");
    let ada = world.ada().await;
    let page = ada.get("/").await.text().await.expect("page");
    assert!(page.contains("Ada Lovelace") && page.contains("Sign out"), "the signed-in header");
    assert!(!world.app.get("/").await.text().await.expect("page").contains("Ada Lovelace"), "and not the reverse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_with_a_query_is_rendered_for_that_request() {
    let world = world().await;
    let carries_next = r#"name="next" value="/profile""#;
    assert!(!world.app.get("/login").await.text().await.expect("page").contains(carries_next), "kept without next");
    let page = world.app.get("/login?next=%2Fprofile").await.text().await.expect("page");
    assert!(page.contains(carries_next), "the sign-in form carries next");
    assert!(page.contains(r#"formaction="/auth/login/oidc""#), "to the provider's sign-in start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_islands_does_not_load_the_webassembly() {
    let world = world().await;
    let page = |browser: &crate::helpers::Browser, path: &'static str| {
        let browser = browser.client.clone();
        let url = format!("{}{path}", world.app.address);
        async move { browser.get(url).send().await.expect("page").text().await.expect("body") }
    };
    let visitor = world.app.browser();
    for path in ["/login", "/developers"] {
        let html = page(&visitor, path).await;
        assert!(html.contains("/pkg/gatehouse.css"), "{path} keeps its stylesheet");
        assert!(!html.contains(".wasm") && !html.contains("/pkg/gatehouse.js"), "{path}: {html}");
    }
    let home = page(&visitor, "/").await;
    assert!(home.contains("/pkg/gatehouse.js") && home.contains(".wasm"), "the home page's walkthrough is an island");
    let ada = world.ada().await;
    assert!(page(&ada, "/login").await.contains("/pkg/gatehouse.js"), "signed in, the header's sign-out is one");
}
