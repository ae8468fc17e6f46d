//! The JSON API with personal access tokens: every route against every kind of credential, scopes, one person's
//! token against another's data, malformed requests, CORS and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    account::{World, world},
    helpers::{Browser, json, spawn_app_with},
};

const ALL_SCOPES: [&str; 7] =
    ["profile:read", "profile:write", "sessions:read", "sessions:write", "audit:read", "tokens:read", "tokens:write"];

/// The id of one of the person's sessions other than `browser`'s own, if there is one.
pub async fn other_session(browser: &Browser) -> Option<String> {
    let sessions = json(browser.api(Method::GET, "/sessions").send().await.expect("list")).await;
    sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| s["id"].as_str().expect("id").to_owned())
}

/// Creates a token for the person signed in on `browser` (through the API, with the session cookie).
pub async fn token(browser: &Browser, scopes: &[&str]) -> (String, String) {
    let response = browser
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": format!("test token with {} scopes", scopes.len()), "scopes": scopes }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response).await;
    (body["token"]["id"].as_str().expect("id").to_owned(), body["secret"].as_str().expect("secret").to_owned())
}

/// A request with no cookies: what a program sends.
pub fn program(world: &World, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}/api/v1{path}", world.app.address))
        .timeout(std::time::Duration::from_secs(30))
}

/// Each route, the scope it needs, and a body that is valid for it.
fn routes(session_id: &str, token_id: &str) -> Vec<(Method, String, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/me".into(), "profile:read", None),
        (Method::PATCH, "/me".into(), "profile:write", Some(json!({ "display_name": "Ada L." }))),
        (Method::GET, "/sessions".into(), "sessions:read", None),
        (Method::DELETE, format!("/sessions/{session_id}"), "sessions:write", None),
        (Method::GET, "/audit".into(), "audit:read", None),
        (Method::GET, "/tokens".into(), "tokens:read", None),
        (Method::POST, "/tokens".into(), "tokens:write", Some(json!({ "name": "minted", "scopes": ["tokens:write"] }))),
        (Method::DELETE, format!("/tokens/{token_id}"), "tokens:write", None),
    ]
}

fn send(request: reqwest::RequestBuilder, body: &Option<Value>) -> reqwest::RequestBuilder {
    match body {
        Some(body) => request.json(body),
        None => request,
    }
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers().get("www-authenticate").map(|v| v.to_str().expect("ASCII").to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_missing_malformed_unknown_expired_and_revoked_tokens() {
    let world = world().await;
    let ada = world.ada().await;
    let (expired_id, expired) = token(&ada, &ALL_SCOPES).await;
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE id = $1")
        .bind(&expired_id)
        .execute(&world.app.sql)
        .await
        .expect("expire");
    let (revoked_id, revoked) = token(&ada, &["profile:read"]).await;
    assert_eq!(ada.api(Method::DELETE, &format!("/tokens/{revoked_id}")).send().await.expect("revoke").status(), 204);
    let unknown = {
        // Well-formed, checksum and all, but never issued here.
        let (id, secret) = token(&ada, &["profile:read"]).await;
        sqlx::query("DELETE FROM api_tokens WHERE id = $1").bind(&id).execute(&world.app.sql).await.expect("rm");
        secret
    };
    let mut tampered = revoked.clone();
    tampered.pop();
    tampered.push('x');

    for (method, path, _, body) in routes("s", "t") {
        let none = send(program(&world, method.clone(), &path), &body).send().await.expect("request");
        assert_eq!(none.status(), 401, "{method} {path} without a token");
        assert_eq!(challenge(&none), "Bearer realm=\"gatehouse\"");
        assert_eq!(json(none).await["error"], "unauthorized");

        for header in ["Basic YWRhOnNlY3JldA==", "Bearer", "Bearer ", "Bearer a b", "gth_abc"] {
            let malformed = send(program(&world, method.clone(), &path), &body)
                .header("authorization", header)
                .send()
                .await
                .expect("request");
            assert_eq!(malformed.status(), 401, "{method} {path} with {header:?}");
            assert_eq!(challenge(&malformed), "Bearer realm=\"gatehouse\"");
        }

        for (what, secret) in [
            ("expired", &expired),
            ("revoked", &revoked),
            ("unknown", &unknown),
            ("tampered", &tampered),
            ("foreign", &"ghp_abc".to_owned()),
        ] {
            let refused =
                send(program(&world, method.clone(), &path), &body).bearer_auth(secret).send().await.expect("request");
            assert_eq!(refused.status(), 401, "{method} {path} with an {what} token");
            assert!(challenge(&refused).contains("error=\"invalid_token\""), "{what}: {}", challenge(&refused));
            assert_eq!(json(refused).await["error"], "invalid_token");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_scope_and_works_with_it_or_with_a_session() {
    let world = world().await;
    let ada = world.ada().await;
    let _spare_session = world.ada().await;

    for (method, path, scope, body) in routes("placeholder", "placeholder") {
        // Fresh targets for the routes that delete something.
        let other_session = other_session(&ada).await;
        let (victim_token, _) = token(&ada, &["profile:read"]).await;
        let path = path
            .replace("/sessions/placeholder", &format!("/sessions/{}", other_session.unwrap_or_default()))
            .replace("/tokens/placeholder", &format!("/tokens/{victim_token}"));

        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != scope).collect();
        let (_, wrong) = token(&ada, &others).await;
        let refused =
            send(program(&world, method.clone(), &path), &body).bearer_auth(&wrong).send().await.expect("request");
        assert_eq!(refused.status(), 403, "{method} {path} without {scope}");
        assert_eq!(refused.headers()["cache-control"], "no-store", "{method} {path}: no cache keeps an API answer");
        assert_eq!(
            challenge(&refused),
            format!("Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"{scope}\"")
        );
        let error = json(refused).await;
        assert_eq!(error["error"], "insufficient_scope");
        assert!(error["message"].as_str().expect("message").contains(scope));

        let (_, right) = token(&ada, &[scope]).await;
        let allowed =
            send(program(&world, method.clone(), &path), &body).bearer_auth(&right).send().await.expect("request");
        assert!(allowed.status().is_success(), "{method} {path} with {scope}: {}", allowed.status());
        assert_eq!(allowed.headers()["cache-control"], "no-store", "{method} {path}: no cache keeps an API answer");
    }

    // The session cookie carries every scope.
    let _another_device = world.ada().await;
    let other_session = other_session(&ada).await.expect("another session");
    let (victim_token, _) = token(&ada, &["profile:read"]).await;
    for (method, path, _, body) in routes(&other_session, &victim_token) {
        let response = send(ada.api(method.clone(), &path), &body).send().await.expect("request");
        assert!(response.status().is_success(), "{method} {path} with the session: {}", response.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_reaches_another_persons_data() {
    let world = world().await;
    let ada = world.ada().await;
    let grace = world.grace().await;
    let (_, ada_token) =
        token(&ada, &["profile:read", "sessions:read", "sessions:write", "tokens:read", "tokens:write", "audit:read"])
            .await;
    let (grace_token_id, grace_token) = token(&grace, &["profile:read"]).await;
    let grace_sessions: Vec<String> = sqlx::query_scalar(
        "SELECT s.id FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'grace@example.test'",
    )
    .fetch_all(&world.app.sql)
    .await
    .expect("sessions");

    let me = json(program(&world, Method::GET, "/me").bearer_auth(&ada_token).send().await.expect("me")).await;
    assert_eq!(me["email"], "ada@example.test");
    let revoke_session = program(&world, Method::DELETE, &format!("/sessions/{}", grace_sessions[0]))
        .bearer_auth(&ada_token)
        .send()
        .await
        .expect("request");
    assert_eq!(revoke_session.status(), 404);
    assert_eq!(json(revoke_session).await["error"], "not_found");
    let revoke_token = program(&world, Method::DELETE, &format!("/tokens/{grace_token_id}"))
        .bearer_auth(&ada_token)
        .send()
        .await
        .expect("request");
    assert_eq!(revoke_token.status(), 404);
    let tokens =
        json(program(&world, Method::GET, "/tokens").bearer_auth(&ada_token).send().await.expect("list")).await;
    assert!(tokens["tokens"].as_array().expect("tokens").iter().all(|t| t["id"] != grace_token_id.as_str()));
    let audit = program(&world, Method::GET, "/audit").bearer_auth(&ada_token).send().await.expect("audit");
    assert!(!audit.text().await.expect("body").contains("grace"));

    assert_eq!(grace.get("/api/v1/me").await.status(), 200, "Grace's session lives");
    let grace_me = program(&world, Method::GET, "/me").bearer_auth(&grace_token).send().await.expect("me");
    assert_eq!(json(grace_me).await["email"], "grace@example.test", "and so does her token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_cannot_mint_a_more_powerful_one() {
    let world = world().await;
    let ada = world.ada().await;
    let (_, writer) = token(&ada, &["tokens:write"]).await;
    let refused = program(&world, Method::POST, "/tokens")
        .bearer_auth(&writer)
        .json(&json!({ "name": "escalate", "scopes": ["tokens:write", "sessions:write"] }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    assert!(challenge(&refused).contains("scope=\"sessions:write\""));
    let allowed = program(&world, Method::POST, "/tokens")
        .bearer_auth(&writer)
        .json(&json!({ "name": "same", "scopes": ["tokens:write"], "expires_in_days": 7 }))
        .send()
        .await
        .expect("request");
    assert_eq!(allowed.status(), 201);
    let created = json(allowed).await;
    let lifetime = created["token"]["expires_at"].as_i64().expect("expiry")
        - created["token"]["created_at"].as_i64().expect("created");
    assert_eq!(lifetime, 7 * 86_400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_query_string_are_ignored() {
    let world = world().await;
    let ada = world.ada().await;
    let (_, secret) = token(&ada, &["profile:read"]).await;
    for query in ["access_token", "token", "bearer"] {
        let response = program(&world, Method::GET, &format!("/me?{query}={secret}")).send().await.expect("request");
        assert_eq!(response.status(), 401, "?{query}=");
        assert_eq!(challenge(&response), "Bearer realm=\"gatehouse\"", "treated as no token at all");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_a_4xx_with_a_reason_and_change_nothing() {
    let world = world().await;
    let ada = world.ada().await;
    let (_, secret) = token(&ada, &["profile:write", "tokens:write", "audit:read"]).await;
    let tokens_before = world.app.count("api_tokens").await;
    let cases: Vec<(&str, Option<&str>, String, StatusCode, &str)> = vec![
        (
            "/me",
            Some("text/plain"),
            r#"{"display_name":"x"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("/me", None, r#"{"display_name":"x"}"#.into(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("/me", Some("application/json"), r#"{"display_name":"#.into(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("/me", Some("application/json"), "not json".into(), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            "/me",
            Some("application/json"),
            r#"{"display_name":"x","admin":true}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/me",
            Some("application/json"),
            r#"{"display_name":42}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/me",
            Some("application/json"),
            r#"{"display_name":"   "}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/me",
            Some("application/json"),
            format!(r#"{{"display_name":"{}"}}"#, "x".repeat(17 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "/tokens",
            Some("application/json"),
            r#"{"name":"x","scopes":["admin"]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/tokens",
            Some("application/json"),
            r#"{"name":"x","scopes":[]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/tokens",
            Some("application/json"),
            r#"{"name":"x","scopes":["profile:write"],"expires_in_days":0}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/tokens",
            Some("application/json"),
            r#"{"name":"x","scopes":["profile:write"],"expires_in_days":null}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("/tokens", Some("application/json"), r#"[1,2,3]"#.into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (path, content_type, body, status, error) in cases {
        let method = if path == "/me" { Method::PATCH } else { Method::POST };
        let mut request = program(&world, method, path).bearer_auth(&secret).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{path} {content_type:?} {}", &body[..body.len().min(60)]);
        let reply = json(response).await;
        assert_eq!(reply["error"], error, "{reply}");
        assert!(reply["message"].as_str().is_some_and(|m| m.len() > 10), "a reason: {reply}");
    }
    assert_eq!(json(ada.get("/api/v1/me").await).await["display_name"], "Ada Lovelace", "unchanged");
    assert_eq!(world.app.count("api_tokens").await, tokens_before, "no token created");

    let unknown_route =
        program(&world, Method::GET, "/nothing-here").bearer_auth(&secret).send().await.expect("request");
    assert_eq!(unknown_route.status(), 404);
    assert_eq!(json(unknown_route).await["error"], "not_found");
    let wrong_method = program(&world, Method::PUT, "/me").bearer_auth(&secret).send().await.expect("request");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(json(wrong_method).await["error"], "method_not_allowed");
    let bad_limit = program(&world, Method::GET, "/audit?limit=0").bearer_auth(&secret).send().await.expect("request");
    assert_eq!(bad_limit.status(), 400);
    assert_eq!(json(bad_limit).await["error"], "invalid_query");
    let bad_cursor =
        program(&world, Method::GET, "/audit?before=yesterday").bearer_auth(&secret).send().await.expect("request");
    assert_eq!(bad_cursor.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_expiring_tokens_need_the_server_to_allow_them() {
    let world = world().await;
    let ada = world.ada().await;
    let never = json!({ "name": "forever", "scopes": ["profile:read"], "expires_in_days": null });
    let refused = ada.api(Method::POST, "/tokens").json(&never).send().await.expect("request");
    assert_eq!(refused.status(), 422);
    assert!(json(refused).await["message"].as_str().expect("message").contains("must expire"));
    let default = ada
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "default", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("request");
    let created = json(default).await;
    let lifetime = created["token"]["expires_at"].as_i64().expect("expiry")
        - created["token"]["created_at"].as_i64().expect("created");
    assert_eq!(lifetime, 30 * 86_400, "30 days by default");

    let provider = crate::provider::TestProvider::start().await;
    let app = spawn_app_with(&[
        ("OIDC_ISSUER_URL", provider.issuer.as_str()),
        ("OIDC_CLIENT_ID", crate::provider::CLIENT_ID),
        ("OIDC_CLIENT_SECRET", crate::provider::CLIENT_SECRET),
        ("ALLOW_NON_EXPIRING_TOKENS", "true"),
    ])
    .await;
    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&crate::helpers::location(&login), "ada");
    app.get(&format!("/auth/callback/oidc?{query}")).await;
    let allowed = app.main_browser().api(Method::POST, "/tokens").json(&never).send().await.expect("request");
    assert_eq!(allowed.status(), 201);
    assert!(json(allowed).await["token"]["expires_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_is_recorded_at_most_once_a_minute_and_new_addresses_are_audited() {
    let world = world().await;
    let ada = world.ada().await;
    let (id, secret) = token(&ada, &["profile:read"]).await;
    for _ in 0..3 {
        let response = program(&world, Method::GET, "/me").bearer_auth(&secret).send().await.expect("request");
        assert_eq!(response.status(), 200);
    }
    let (last_used, ip): (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT last_used_at, last_used_ip FROM api_tokens WHERE id = $1")
            .bind(&id)
            .fetch_one(&world.app.sql)
            .await
            .expect("token");
    assert!(last_used.is_some());
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM audit_events WHERE kind LIKE 'token_%' ORDER BY id")
        .fetch_all(&world.app.sql)
        .await
        .expect("audit");
    assert_eq!(kinds, ["token_created", "token_used"], "one use from a new address, however many requests");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens WHERE id = $1")
        .bind(&id)
        .fetch_one(&world.app.sql)
        .await
        .expect("hash");
    assert_ne!(stored, secret.as_bytes(), "only a hash is stored");
    assert_eq!(stored.len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_api_write_with_the_session_cookie_is_refused() {
    let world = world().await;
    let ada = world.ada().await;
    let response = ada
        .client
        .patch(format!("{}/api/v1/me", ada.address))
        .header("origin", "https://evil.example")
        .json(&json!({ "display_name": "Pwned" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    assert_eq!(json(ada.get("/api/v1/me").await).await["display_name"], "Ada Lovelace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_for_the_api_only_and_only_for_configured_origins() {
    let closed = spawn_app_with(&[]).await;
    let preflight = |app: &crate::helpers::TestApp, path: &str, origin: &str| {
        app.client
            .request(Method::OPTIONS, format!("{}{path}", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let response = preflight(&closed, "/api/v1/me", "https://app.example.com").await.expect("request");
    assert!(response.headers().get("access-control-allow-origin").is_none(), "empty API_CORS_ORIGINS: no CORS");

    let open = spawn_app_with(&[("API_CORS_ORIGINS", "https://app.example.com")]).await;
    let allowed = preflight(&open, "/api/v1/me", "https://app.example.com").await.expect("request");
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(allowed.headers()["access-control-allow-headers"].to_str().expect("ASCII").contains("authorization"));
    assert!(allowed.headers().get("access-control-allow-credentials").is_none(), "tokens, never cookies");
    let other = preflight(&open, "/api/v1/me", "https://evil.example").await.expect("request");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let page = preflight(&open, "/dashboard", "https://app.example.com").await.expect("request");
    assert!(page.headers().get("access-control-allow-origin").is_none(), "pages never get CORS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app_with(&[]).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc = json(response).await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/me", "get"),
        ("/api/v1/me", "patch"),
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions/{id}", "delete"),
        ("/api/v1/audit", "get"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/connections", "get"),
        ("/api/v1/connections/{provider}/token", "post"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path}");
        assert!(operation["responses"]["401"].is_object(), "{method} {path} documents 401");
        assert!(operation["security"].is_array(), "{method} {path} names its scope");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let scopes = &doc["components"]["schemas"]["Scope"]["enum"];
    // The seven of the first API, and `connections:token` (issue 28).
    assert_eq!(scopes.as_array().expect("scope names").len(), 8, "{scopes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_by_a_token_never_outlives_it() {
    let world = world().await;
    let ada = world.ada().await;
    // A parent that expires in 3 days mints a child asking for 30: the child gets the parent's expiry.
    let response = ada
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "parent", "scopes": ["tokens:write", "profile:read"], "expires_in_days": 3 }))
        .send()
        .await
        .expect("parent");
    let parent = json(response).await;
    let parent_secret = parent["secret"].as_str().expect("secret");
    let minted = program(&world, Method::POST, "/tokens")
        .bearer_auth(parent_secret)
        .json(&json!({ "name": "child", "scopes": ["profile:read"], "expires_in_days": 30 }))
        .send()
        .await
        .expect("child");
    assert_eq!(minted.status(), 201);
    let child = json(minted).await;
    assert_eq!(child["token"]["expires_at"], parent["token"]["expires_at"], "capped at the parent's expiry");
    let child_secret = child["secret"].as_str().expect("secret").to_owned();
    let grandchild = program(&world, Method::POST, "/tokens")
        .bearer_auth(parent_secret)
        .json(&json!({ "name": "second child", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("second child");
    let grandchild_secret = json(grandchild).await["secret"].as_str().expect("secret").to_owned();
    for secret in [&child_secret, &grandchild_secret] {
        let me = program(&world, Method::GET, "/me").bearer_auth(secret).send().await.expect("me");
        assert_eq!(me.status(), 200);
    }

    // Revoking the parent revokes what it minted, from the next request.
    let parent_id = parent["token"]["id"].as_str().expect("id");
    let revoked = ada.api(Method::DELETE, &format!("/tokens/{parent_id}")).send().await.expect("revoke");
    assert_eq!(revoked.status(), 204);
    for secret in [&child_secret, &grandchild_secret] {
        let me = program(&world, Method::GET, "/me").bearer_auth(secret).send().await.expect("me");
        assert_eq!(me.status(), 401, "a minted token goes with its parent");
    }
    assert_eq!(world.app.count("api_tokens").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_person_are_capped_and_all_can_be_revoked_at_once() {
    let (_provider, app) = crate::sessions::signed_in(&[("TOKENS_PER_PERSON", "3")]).await;
    let browser = app.main_browser();
    let mut secrets = Vec::new();
    for _ in 0..3 {
        secrets.push(token(&browser, &["profile:read", "tokens:write"]).await.1);
    }
    let fourth = browser
        .api(Method::POST, "/tokens")
        .json(&json!({ "name": "one too many", "scopes": ["profile:read"] }))
        .send()
        .await
        .expect("request");
    assert_eq!(fourth.status(), 409);
    assert!(json(fourth).await["message"].as_str().expect("message").contains("Revoke some"));

    // "Revoke all", with one of the tokens itself: every one is refused from the next request, that one too.
    let all = reqwest::Client::new()
        .delete(format!("{}/api/v1/tokens", app.address))
        .bearer_auth(&secrets[0])
        .send()
        .await
        .expect("revoke all");
    assert_eq!(all.status(), 200);
    assert_eq!(json(all).await["revoked"], 3);
    for secret in &secrets {
        let me = reqwest::Client::new()
            .get(format!("{}/api/v1/me", app.address))
            .bearer_auth(secret)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 401);
    }
    // The dashboard's button (a plain form, no JavaScript needed) does the same.
    token(&browser, &["profile:read"]).await;
    let posted = browser
        .client
        .post(format!("{}/api/tokens/revoke-all", app.address))
        .header("origin", &app.address)
        .header("accept", "text/html")
        .header("referer", format!("{}/dashboard", app.address))
        .send()
        .await
        .expect("form post");
    assert!(posted.status().is_redirection(), "{}", posted.status());
    assert_eq!(app.count("api_tokens").await, 0);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events ORDER BY id").fetch_all(&app.sql).await.expect("audit");
    assert_eq!(kinds.iter().filter(|k| *k == "all_tokens_revoked").count(), 2);
}
