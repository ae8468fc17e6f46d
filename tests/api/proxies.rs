//! The client's address behind reverse proxies: forwarded headers count only from `TRUSTED_PROXIES`, read from the
//! right; everything that records an address uses that one value; `X-Request-Id` is kept only from a trusted proxy.

use reqwest::Method;

use crate::{
    bearer::token,
    helpers::{TestApp, json},
    sessions::signed_in,
};

/// Calls the API with a fresh `profile:read`/`tokens:read` token and `headers`, and returns the address the token's
/// use was recorded from, and the request id the answer carried.
async fn recorded_address(app: &TestApp, headers: &[(&str, &str)]) -> (String, String) {
    let (id, secret) = token(&app.main_browser(), &["profile:read", "tokens:read"]).await;
    let mut request = reqwest::Client::new().get(format!("{}/api/v1/me", app.address)).bearer_auth(&secret);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("me");
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
    let tokens = json(app.main_browser().api(Method::GET, "/tokens").send().await.expect("list")).await;
    let this = tokens["tokens"].as_array().expect("tokens").iter().find(|t| t["id"] == id.as_str()).expect("listed");
    let ip = this["last_used_ip"].as_str().expect("the use was recorded").to_owned();
    (ip, request_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_header_from_an_untrusted_peer_changes_nothing() {
    let (_provider, app) = signed_in(&[]).await;
    let (ip, request_id) = recorded_address(
        &app,
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=198.51.100.7"),
            ("x-request-id", "chosen-by-the-client"),
        ],
    )
    .await;
    assert_eq!(ip, "127.0.0.1", "the peer, not what it claims");
    assert_ne!(request_id, "chosen-by-the-client", "a request id from an untrusted peer is replaced");
    let addresses: Vec<Option<String>> =
        sqlx::query_scalar("SELECT ip FROM audit_events").fetch_all(&app.sql).await.expect("audit");
    assert!(addresses.iter().flatten().all(|a| a == "127.0.0.1"), "{addresses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let (_provider, app) = signed_in(&[("TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8")]).await;
    let (ip, request_id) = recorded_address(
        &app,
        &[("x-forwarded-for", "192.0.2.1, 203.0.113.9, 10.0.0.5"), ("x-request-id", "from-the-proxy-1234")],
    )
    .await;
    assert_eq!(ip, "203.0.113.9", "the left-most entry is the client's own claim; the proxies' hops are skipped");
    assert_eq!(request_id, "from-the-proxy-1234", "a trusted proxy's request id is kept");
    let (ip, _) = recorded_address(&app, &[("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#)]).await;
    assert_eq!(ip, "2001:db8::7");
    let kinds: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, ip FROM audit_events WHERE kind = 'token_used' ORDER BY id")
            .fetch_all(&app.sql)
            .await
            .expect("audit");
    assert_eq!(kinds.first().and_then(|(_, ip)| ip.clone()).as_deref(), Some("203.0.113.9"), "the audit trail agrees");
}
