//! `/metrics`: the Prometheus text an operator scrapes, counted from what really happened to this server, and who
//! may read it (loopback, `ADMIN_ALLOWED_IPS`, or the bearer `METRICS_TOKEN`; anyone else gets 404).

use reqwest::{Method, StatusCode};

use crate::{
    bearer::token,
    helpers::{TestApp, client_from, spawn_app_with},
    sessions::{signed_in, with_provider},
};

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/plain; version=0.0.4"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.text().await.expect("text")
}

/// The value of the sample `name{labels}`, whatever order the labels are written in.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let written: Vec<&str> = rest.trim_end_matches('}').split(',').filter(|l| !l.is_empty()).collect();
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        (metric == name && written.len() == wanted.len() && wanted.iter().all(|w| written.contains(&w.as_str())))
            .then(|| value.parse().expect("a number"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_route_pattern_status_and_time() {
    let app = spawn_app_with(&[]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/no-such-page-4711").await.status(), StatusCode::NOT_FOUND);
    let revoke = app
        .client
        .delete(format!("{}/api/v1/sessions/some-session-id", app.address))
        .header("origin", &app.address)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), StatusCode::UNAUTHORIZED);
    // Methods nobody uses here: any token is a method in HTTP, and each must not become a series of its own.
    for made_up in ["BREW", "WHEN", "PROPFIND"] {
        let method = reqwest::Method::from_bytes(made_up.as_bytes()).expect("a token");
        let answered = app.client.request(method, format!("{}/healthz", app.address)).send().await.expect("sent");
        assert_eq!(answered.status(), StatusCode::METHOD_NOT_ALLOWED, "{made_up}");
    }

    let text = scrape(&app).await;
    let healthz = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &healthz), Some(3.0), "{text}");
    let timed = [("route", "/healthz"), ("method", "GET")];
    assert_eq!(sample(&text, "gatehouse_http_request_duration_seconds_count", &timed), Some(3.0));
    let within_10s = [("route", "/healthz"), ("method", "GET"), ("le", "10")];
    assert_eq!(sample(&text, "gatehouse_http_request_duration_seconds_bucket", &within_10s), Some(3.0));
    // A route with an id is counted under its pattern; a path no route has, as unmatched: no label holds what a
    // caller typed.
    let pattern = [("route", "/api/v1/sessions/{id}"), ("method", "DELETE"), ("status", "401")];
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &pattern), Some(1.0), "{text}");
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &unmatched), Some(1.0), "{text}");
    assert!(!text.contains("no-such-page") && !text.contains("some-session-id"));
    let other = [("route", "/healthz"), ("method", "other"), ("status", "405")];
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &other), Some(3.0), "{text}");
    assert!(!text.contains("BREW") && !text.contains("PROPFIND"), "{text}");
    assert!(text.contains("# HELP gatehouse_http_requests_total HTTP requests answered"), "described: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_failures_sessions_tokens_and_refusals_are_counted() {
    let (_provider, app) = signed_in(&[("RATE_LIMIT_SIGN_IN", "4/1m")]).await;
    let (_, _) = token(&app.main_browser(), &["profile:read"]).await;
    // A forged callback (no attempt in this browser): a failure, with its reason.
    let forged = client_from("127.0.0.2");
    let callback = forged.get(format!("{}/auth/callback/oidc?state=forged&code=x", app.address)).send().await;
    assert_eq!(callback.expect("callback").status(), StatusCode::BAD_REQUEST);
    // Over the sign-in limit: 4 a minute from one address (the forged callback was one).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let start = forged.get(format!("{}/auth/login/oidc", app.address)).send().await.expect("start");
        statuses.push(start.status().as_u16());
    }
    assert_eq!(statuses, [303, 303, 303, 429]);

    // The hash chain is checked in full at start-up, in the background: wait for its outcome to be reported.
    let mut text = scrape(&app).await;
    for _ in 0..50 {
        if sample(&text, "gatehouse_audit_chain_intact", &[]).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        text = scrape(&app).await;
    }
    if let Some(path) = std::env::var_os("METRICS_SAMPLE") {
        std::fs::write(path, &text).expect("the sample is written");
    }
    let success = [("provider", "oidc"), ("outcome", "success")];
    assert_eq!(sample(&text, "gatehouse_sign_ins_total", &success), Some(1.0), "{text}");
    let failure = [("provider", "oidc"), ("outcome", "failure")];
    assert_eq!(sample(&text, "gatehouse_sign_ins_total", &failure), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_sign_in_failures_total", &[("reason", "invalid_state")]), Some(1.0));
    assert_eq!(sample(&text, "gatehouse_active_sessions", &[]), Some(1.0), "{text}");
    let pats = [("kind", "personal_access_token")];
    assert_eq!(sample(&text, "gatehouse_tokens_issued_total", &pats), Some(1.0), "{text}");
    let refused = [("limit", "sign_in"), ("reason", "rate_limited")];
    assert_eq!(sample(&text, "gatehouse_rate_limit_refusals_total", &refused), Some(1.0), "{text}");
    // The hash chain verified at its check at start-up (admin.rs shows a break turning this to 0).
    assert_eq!(sample(&text, "gatehouse_audit_chain_intact", &[]), Some(1.0), "{text}");
    assert!(sample(&text, "gatehouse_audit_chain_checked_timestamp_seconds", &[]).is_some_and(|at| at > 1.7e9));

    // Signing out ends the session the gauge counts.
    assert_eq!(app.post_from_page("/auth/logout").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(sample(&scrape(&app).await, "gatehouse_active_sessions", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_loopback_the_operators_addresses_or_the_metrics_token_may_read_them() {
    // Without ADMIN_ALLOWED_IPS: loopback (127.0.0.0/8) only.
    let (_provider, app) = with_provider(&[]).await;
    assert_eq!(
        client_from("127.0.0.9").get(format!("{}/metrics", app.address)).send().await.expect("scrape").status(),
        200
    );

    let token = "m".repeat(40);
    let (_provider, app) =
        with_provider(&[("ADMIN_ALLOWED_IPS", "127.0.0.2, 10.0.0.0/8"), ("METRICS_TOKEN", &token)]).await;
    let get = |from: &str, bearer: Option<&str>| {
        let mut request = client_from(from).get(format!("{}/metrics", app.address));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    assert_eq!(get("127.0.0.2", None).await.expect("scrape").status(), StatusCode::OK, "on the list");
    let refused = get("127.0.0.1", None).await.expect("scrape");
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "loopback is not on the list");
    assert!(!refused.text().await.expect("body").contains("gatehouse_"), "nothing leaks");
    assert_eq!(get("127.0.0.3", Some(&token)).await.expect("scrape").status(), StatusCode::OK, "the token");
    let wrong = "x".repeat(40);
    assert_eq!(get("127.0.0.3", Some(&wrong)).await.expect("scrape").status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get("127.0.0.2", Some(&wrong)).await.expect("scrape").status(),
        StatusCode::NOT_FOUND,
        "a wrong token is refused even from the list"
    );
    // A signed-in browser session counts for nothing here.
    let response = app.client.request(Method::GET, format!("{}/metrics", app.address)).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
