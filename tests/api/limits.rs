//! Transport limits: request bodies, slow clients, and providers that answer too much.

use crate::{
    helpers::{json, spawn_app_with},
    sessions::signed_in,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_everywhere_with_413() {
    let (_provider, app) = signed_in(&[]).await;
    let big = "x".repeat(100 * 1024);
    for path in ["/api/auth/password/sign-in", "/oauth/token", "/apps/register", "/auth/logout"] {
        let declared = app
            .client
            .post(format!("{}{path}", app.address))
            .header("origin", &app.address)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("a={big}"))
            .send()
            .await
            .expect("request");
        assert_eq!(declared.status(), 413, "{path} with Content-Length");
    }
    // Without a Content-Length (chunked), the body is cut off as it arrives (these two read it without a session).
    for path in ["/api/auth/password/sign-in", "/oauth/token"] {
        let status = chunked_post(&app.address, path, &format!("a={big}")).await;
        assert!(status == 413 || status == 400, "{path} chunked: {status}");
    }
    assert_eq!(app.me_status().await, 200, "nothing was done: still signed in");
    // The JSON API keeps its own (smaller) limit and its own error shape.
    let api = app
        .main_browser()
        .api(reqwest::Method::PATCH, "/me")
        .header("content-type", "application/json")
        .body(format!("{{\"display_name\": \"{big}\"}}"))
        .send()
        .await
        .expect("request");
    assert_eq!(api.status(), 413);
    assert_eq!(json(api).await["error"], "body_too_large");
}

/// POSTs `body` in 8 KB chunks with `Transfer-Encoding: chunked` (no `Content-Length`), from no page (no cookie), and
/// returns the status.
async fn chunked_post(address: &str, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for chunk in body.as_bytes().chunks(8 * 1024) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before taking it all.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_forms_still_fit() {
    let app = spawn_app_with(&[]).await;
    let response = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .form(&[("grant_type", "client_credentials"), ("client_id", "app_nobody")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401, "a normal form reaches the endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_cut_off_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(&[("HEADER_READ_TIMEOUT", "1s")]).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&host).await.expect("connect");
    let started = std::time::Instant::now();
    // A byte every 200 ms: the headers never finish within the second they are given.
    let trickle = async {
        for byte in format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").bytes().chain(std::iter::repeat(b'a'))
        {
            if slow.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if started.elapsed() > std::time::Duration::from_secs(10) {
                break;
            }
        }
    };
    let others = async {
        // Meanwhile everyone else is served as usual.
        let response = app.get("/healthz").await;
        assert_eq!(response.status(), 200);
    };
    tokio::join!(trickle, others);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(2), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the slow connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_settings_are_checked() {
    for (key, bad) in [("HEADER_READ_TIMEOUT", "2m"), ("REQUEST_TIMEOUT", "1h"), ("MAX_CONCURRENT_REQUESTS", "0")] {
        let vars: std::collections::HashMap<&str, String> = [(key, bad.to_owned())].into_iter().collect();
        let refused = gatehouse::server::platform::config::Config::from_lookup(|k| Ok(vars.get(k).cloned()))
            .expect_err("refused");
        assert_eq!(refused.var, key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_answers_megabytes_is_refused_not_read() {
    // A valid discovery document, padded to 3 MB: read whole, it would work; it is refused instead.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "padding": "x".repeat(3 * 1024 * 1024),
    })
    .to_string();
    let giant = axum::Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(move || async move { document }))
        .route("/jwks", axum::routing::get(|| async { r#"{"keys":[]}"# }));
    tokio::spawn(async move { axum::serve(listener, giant).await });
    let app = spawn_app_with(&[
        ("OIDC_ISSUER_URL", &issuer),
        ("OIDC_CLIENT_ID", crate::provider::CLIENT_ID),
        ("OIDC_CLIENT_SECRET", crate::provider::CLIENT_SECRET),
    ])
    .await;
    let response = app.get("/auth/login/oidc").await;
    assert_eq!(response.status(), 503, "the provider counts as unavailable");

    // A provider whose token response and UserInfo carry a name of 2 MB: the sign-in fails cleanly.
    let (provider, app) = crate::sessions::with_provider(&[]).await;
    provider.set(|b| b.name = "n".repeat(2 * 1024 * 1024));
    let login = app.get("/auth/login/oidc").await;
    let query = provider.approve(&crate::helpers::location(&login), "user-1");
    let callback = app.get(&format!("/auth/callback/oidc?{query}")).await;
    assert!(callback.status().is_client_error() || callback.status().is_server_error(), "{}", callback.status());
    assert_ne!(callback.status(), 500, "a clear refusal, not a crash");
    app.assert_signed_out_with_nothing_created().await;
}
