//! IP allow-lists on personal access tokens: set at creation, listed with the token, enforced on every call (403
//! `address_not_allowed` and an event in the person's activity), inherited by the tokens a token creates. The
//! callers bind their sockets to their own loopback addresses (127.0.0.2, 127.0.0.3, …).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{Browser, TestApp, client_from, json},
    sessions::signed_in,
};

/// Creates a token through the API with `allowed_ips`; the answer's status and body.
async fn create(browser: &Browser, allowed_ips: Value) -> (StatusCode, Value) {
    let response = browser
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "deploy", "scopes": ["profile:read", "tokens:write"], "allowed_ips": allowed_ips }))
        .send()
        .await
        .expect("create");
    (response.status(), json(response).await)
}

async fn me_from(app: &TestApp, ip: &str, secret: &str) -> (StatusCode, Value) {
    let response =
        client_from(ip).get(format!("{}/api/v1/me", app.address)).bearer_auth(secret).send().await.expect("me");
    (response.status(), json(response).await)
}

/// The person's `address_not_allowed` events: (address, detail).
async fn refusals(app: &TestApp) -> Vec<(Option<String>, Value)> {
    let rows: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT ip, detail FROM audit_events WHERE kind = 'address_not_allowed' ORDER BY seq")
            .fetch_all(&app.sql)
            .await
            .expect("audit");
    rows.into_iter().map(|(ip, detail)| (ip, serde_json::from_str(&detail).expect("json"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_works_only_from_the_networks_it_was_given() {
    let (_provider, app) = signed_in(&[]).await;
    let browser = app.main_browser();
    let (status, created) = create(&browser, json!(["127.0.0.2", "127.0.0.16/29", "2001:db8::1/32"])).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["token"]["allowed_ips"], json!(["127.0.0.2/32", "127.0.0.16/29", "2001:db8::/32"]));
    let secret = created["secret"].as_str().expect("secret");

    assert_eq!(me_from(&app, "127.0.0.2", secret).await.0, StatusCode::OK);
    assert_eq!(me_from(&app, "127.0.0.21", secret).await.0, StatusCode::OK, "inside the /29");
    let (status, body) = me_from(&app, "127.0.0.3", secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "address_not_allowed");
    assert!(body["message"].as_str().expect("message").contains("allow-list"), "{body}");

    // The person sees it in their activity, with the address it came from.
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0.as_deref(), Some("127.0.0.3"));
    assert_eq!(refused[0].1["token"], created["token"]["id"]);
    let activity = json(browser.api(Method::GET, "/audit").send().await.expect("activity")).await;
    let summaries: Vec<&str> =
        activity["events"].as_array().expect("events").iter().filter_map(|e| e["summary"].as_str()).collect();
    assert!(summaries.iter().any(|s| s.contains("deploy") && s.contains("not allowed from")), "{summaries:?}");

    // The token list shows the allow-list; a token without one is listed without.
    let (_, open) = create(&browser, json!([])).await;
    assert_eq!(open["token"]["allowed_ips"], json!([]));
    let listed = json(browser.api(Method::GET, "/tokens").send().await.expect("list")).await;
    let tokens = listed["tokens"].as_array().expect("tokens");
    let find = |id: &Value| tokens.iter().find(|t| &t["id"] == id).expect("listed").clone();
    assert_eq!(find(&created["token"]["id"])["allowed_ips"].as_array().map(Vec::len), Some(3));
    assert_eq!(find(&open["token"]["id"])["allowed_ips"], json!([]));
    let open_secret = open["secret"].as_str().expect("secret");
    assert_eq!(me_from(&app, "127.0.0.3", open_secret).await.0, StatusCode::OK, "no list: from anywhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_entry_is_refused_by_name_and_nothing_is_created() {
    let (_provider, app) = signed_in(&[]).await;
    let browser = app.main_browser();
    let before = app.count("api_tokens").await;
    for bad in [json!(["10.0.0.0/8", "office.example"]), json!(["10.0.0.0/33"])] {
        let (status, body) = create(&browser, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        let message = body["message"].as_str().expect("message");
        assert!(message.starts_with("Allowed addresses:"), "{message}");
    }
    let (status, body) = create(&browser, json!((0..33).map(|i| format!("10.0.{i}.0/24")).collect::<Vec<_>>())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().expect("message").contains("at most 32"), "{body}");
    assert_eq!(app.count("api_tokens").await, before);

    // The dashboard's form takes the same list as text.
    let from_form = async |allowed_ips: &str| {
        let form =
            [("name", "form"), ("scopes[0]", "profile:read"), ("expires_in_days", "7"), ("allowed_ips", allowed_ips)];
        browser.call("tokens/create", &form).await
    };
    let response = from_form("bad, 10.0.0.1").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(body.contains("Allowed addresses") && body.contains("bad"), "{body}");
    let response = from_form("10.0.0.1, 10.1.0.0/16").await;
    assert_eq!(response.status(), StatusCode::OK);
    let created = json(response).await;
    assert_eq!(created["token"]["allowed_ips"], json!(["10.0.0.1/32", "10.1.0.0/16"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_by_a_token_is_held_to_its_parents_list() {
    let (_provider, app) = signed_in(&[]).await;
    let (_, parent) = create(&app.main_browser(), json!(["127.0.0.0/29"])).await;
    let parent_secret = parent["secret"].as_str().expect("secret");
    let mint = |allowed: Value| {
        client_from("127.0.0.2")
            .post(format!("{}/api/v1/tokens", app.address))
            .bearer_auth(parent_secret)
            .json(&json!({ "name": "child", "scopes": ["profile:read"], "allowed_ips": allowed }))
            .send()
    };
    let inherited = json(mint(json!([])).await.expect("mint")).await;
    assert_eq!(inherited["token"]["allowed_ips"], json!(["127.0.0.0/29"]), "{inherited}");
    let narrower = json(mint(json!(["127.0.0.2"])).await.expect("mint")).await;
    assert_eq!(narrower["token"]["allowed_ips"], json!(["127.0.0.2/32"]), "{narrower}");
    let wider = mint(json!(["127.0.0.0/8"])).await.expect("mint");
    assert_eq!(wider.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(wider).await["message"].as_str().expect("message").contains("127.0.0.0/29"));
    let child = inherited["secret"].as_str().expect("secret");
    assert_eq!(me_from(&app, "127.0.0.9", child).await.0, StatusCode::FORBIDDEN, "outside the parent's list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_list_is_checked_against_the_forwarded_client() {
    let (_provider, app) = signed_in(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let (_, created) = create(&app.main_browser(), json!(["203.0.113.0/24"])).await;
    let secret = created["secret"].as_str().expect("secret");
    let via_proxy = |client: &str| {
        client_from("127.0.0.1")
            .get(format!("{}/api/v1/me", app.address))
            .bearer_auth(secret)
            .header("x-forwarded-for", client)
            .send()
    };
    assert_eq!(via_proxy("203.0.113.77").await.expect("me").status(), StatusCode::OK);
    assert_eq!(via_proxy("198.51.100.1").await.expect("me").status(), StatusCode::FORBIDDEN);
    // From a peer that is not a trusted proxy, the header is ignored: the peer itself is not on the list.
    let forged = client_from("127.0.0.2")
        .get(format!("{}/api/v1/me", app.address))
        .bearer_auth(secret)
        .header("x-forwarded-for", "203.0.113.77")
        .send()
        .await
        .expect("me");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let addresses: Vec<Option<String>> = refusals(&app).await.into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(addresses, [Some("198.51.100.1".to_owned()), Some("127.0.0.2".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_outside_the_list_adds_a_handful_of_events_and_then_a_block() {
    let (_provider, app) = signed_in(&[("BLOCK_AFTER_FAILURES", "20")]).await;
    let (_, created) = create(&app.main_browser(), json!(["127.0.0.2"])).await;
    let secret = created["secret"].as_str().expect("secret");
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(me_from(&app, "127.0.0.3", secret).await.0);
    }
    assert!(statuses[..20].iter().all(|s| *s == StatusCode::FORBIDDEN), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "blocked after 20: {statuses:?}");
    // The 1st, 2nd, 4th, 8th and 16th refusals are recorded, with their number.
    let repeated: Vec<Option<u64>> = refusals(&app).await.iter().map(|(_, d)| d["repeated"].as_u64()).collect();
    assert_eq!(repeated, [None, Some(2), Some(4), Some(8), Some(16)]);
    assert_eq!(me_from(&app, "127.0.0.2", secret).await.0, StatusCode::OK, "the allowed address is not blocked");
}
