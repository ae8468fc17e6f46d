//! Pushed authorization requests (RFC 9126): an app POSTs its authorization request to `/oauth/par`, authenticated as
//! at the token endpoint, and sends the browser with `client_id` + the one-time `request_uri` it got. Each rule is
//! tried with a request that breaks it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    authorization_server::{App, REDIRECT, code_from, exchange, pkce, query_of, register, setup},
    helpers::{TestApp, json, location},
};

/// The parameters of a good authorization request of `client_id`, with `changes` (an empty value removes one).
fn request(client_id: &str, challenge: &str, changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut params: Vec<(&'static str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", client_id.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "openid profile email profile:read".into()),
        ("state", "st-123".into()),
        ("nonce", "n-456".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, (*value).to_owned()));
        }
    }
    params
}

/// POSTs `params` to `/oauth/par` as `client` (its secret by HTTP Basic, if it has one).
async fn push(app: &TestApp, client: &App, params: &[(&'static str, String)]) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().post(format!("{}/oauth/par", app.address));
    if let Some(secret) = &client.secret {
        request = request.basic_auth(&client.id, Some(secret));
    }
    let response = request.form(params).send().await.expect("request");
    let status = response.status();
    if status == StatusCode::CREATED {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

fn authorize_with(client_id: &str, request_uri: &str, extra: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    format!("/oauth/authorize?{query}{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_is_used_once_and_only_what_was_pushed_counts() {
    let (_provider, app, client) = setup().await;
    let discovery = json(app.get("/.well-known/openid-configuration").await).await;
    assert_eq!(discovery["pushed_authorization_request_endpoint"], format!("{}/oauth/par", app.address));
    assert_eq!(discovery["require_pushed_authorization_requests"], false);

    let pkce = pkce();
    let (status, pushed) = push(&app, &client, &request(&client.id, &pkce.challenge, &[])).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"].as_str().expect("request_uri").to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");

    // The front channel tries to widen the scope and send the code elsewhere: ignored, the pushed request counts.
    let tampered = "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid%20sessions%3Aread&state=forged";
    let path = authorize_with(&client.id, &request_uri, tampered);
    let code = code_from(&app, &path).await;
    let issued = json(exchange(&app, &client, &code, &pkce).await).await;
    assert_eq!(issued["scope"], "openid profile email profile:read", "{issued}");

    // Used once.
    let again = app.get(&path).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.expect("page").contains("expired or was already used"));
    assert_eq!(app.count("pushed_authorization_requests").await, 0, "taken as it was used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_is_checked_as_a_browsers_would_be_before_anything_is_stored() {
    let (_provider, app, client) = setup().await;
    let challenge = pkce().challenge;
    type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
    let cases: [Case; 6] = [
        (&[("redirect_uri", "https://evil.example/cb")], "invalid_request", "redirect_uri"),
        (&[("code_challenge", "")], "invalid_request", "PKCE"),
        (&[("code_challenge_method", "plain")], "invalid_request", "S256"),
        (&[("scope", "openid audit:read")], "invalid_scope", "may not ask"),
        (&[("response_type", "token")], "unsupported_response_type", "code"),
        (&[("request_uri", "urn:ietf:params:oauth:request_uri:x")], "invalid_request", "cannot be pushed"),
    ];
    for (changes, error, says) in cases {
        let (status, body) = push(&app, &client, &request(&client.id, &challenge, changes)).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{changes:?}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| d.contains(says)), "{changes:?}: {body}");
    }
    assert_eq!(app.count("pushed_authorization_requests").await, 0, "nothing stored for a bad request");

    // A confidential app must authenticate, as at the token endpoint.
    let confidential = register(&app, true, "openid profile:read").await;
    let scope_ok = [("scope", "openid profile:read")];
    let without_secret = App { id: confidential.id.clone(), secret: None };
    let (status, body) = push(&app, &without_secret, &request(&confidential.id, &challenge, &scope_ok)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    let wrong = App { id: confidential.id.clone(), secret: Some("gcs_wrong".into()) };
    assert_eq!(push(&app, &wrong, &request(&confidential.id, &challenge, &scope_ok)).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = push(&app, &confidential, &request(&confidential.id, &challenge, &scope_ok)).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_apps_or_an_expired_request_uri_is_refused_and_uses_nothing_up() {
    let (_provider, app, client) = setup().await;
    let other = register(&app, false, "openid profile email offline_access profile:read").await;
    let pkce = pkce();
    let (_, pushed) = push(&app, &client, &request(&client.id, &pkce.challenge, &[])).await;
    let request_uri = pushed["request_uri"].as_str().expect("request_uri");

    let stolen = app.get(&authorize_with(&other.id, request_uri, "")).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST, "another app's reference");
    assert_eq!(app.count("pushed_authorization_requests").await, 1, "and the owner's request is still there");
    let made_up = app.get(&authorize_with(&client.id, "urn:ietf:params:oauth:request_uri:made-up", "")).await;
    assert_eq!(made_up.status(), StatusCode::BAD_REQUEST);
    let not_ours = app.get(&authorize_with(&client.id, "https://app.example/request.jwt", "")).await;
    assert_eq!(not_ours.status(), StatusCode::BAD_REQUEST);

    // Past its minute it is refused, and housekeeping purges it.
    sqlx::query("UPDATE pushed_authorization_requests SET expires_at = 1").execute(&app.sql).await.expect("age");
    assert_eq!(app.get(&authorize_with(&client.id, request_uri, "")).await.status(), StatusCode::BAD_REQUEST);
    gatehouse::server::oauth::grants::purge_expired(&app.state.db).await.expect("purge");
    assert_eq!(app.count("pushed_authorization_requests").await, 0);

    // Bounded per app: a hundred waiting, the next is refused until some are used or expire.
    for _ in 0..100 {
        assert_eq!(push(&app, &client, &request(&client.id, &pkce.challenge, &[])).await.0, StatusCode::CREATED);
    }
    let (status, body) = push(&app, &client, &request(&client.id, &pkce.challenge, &[])).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("temporarily_unavailable")));
    assert_eq!(push(&app, &other, &request(&other.id, &pkce.challenge, &[])).await.0, StatusCode::CREATED, "per app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_held_to_par_cannot_send_a_plain_request() {
    let (_provider, app, _) = setup().await;
    let new = gatehouse::server::oauth::clients::NewClient::parse(
        "Sample app",
        &[REDIRECT.to_owned()],
        &[],
        false,
        "openid profile email profile:read",
        "",
    )
    .expect("a valid client")
    .with_par_required(true);
    let who = gatehouse::server::people::session::ClientInfo::default();
    let created = gatehouse::server::oauth::clients::create(&app.state.db, None, new, &who).await.expect("registered");
    assert!(created.require_pushed_authorization_requests);
    let client = App { id: created.client_id, secret: None };
    let pkce = pkce();

    let plain = crate::authorization_server::authorize_path(&client.id, &pkce, &[]);
    let refused = app.get(&plain).await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER, "back to the app with the error");
    let back = query_of(&location(&refused));
    assert_eq!(back.get("error").map(String::as_str), Some("invalid_request"));
    assert!(back.get("error_description").is_some_and(|d| d.contains("PAR")), "{back:?}");
    assert_eq!(back.get("state").map(String::as_str), Some("st-123"));

    let (status, pushed) = push(&app, &client, &request(&client.id, &pkce.challenge, &[])).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let code = code_from(&app, &authorize_with(&client.id, pushed["request_uri"].as_str().expect("uri"), "")).await;
    let issued = exchange(&app, &client, &code, &pkce).await;
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(json(issued).await["token_type"], json!("Bearer"));
}
