//! Server-rendered pages: status codes, content and the headers every page carries.

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_is_rendered_on_the_server_with_hydration_scripts() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let html = response.text().await.expect("body");
    assert!(html.contains("Sign in once. Stay in control."), "home page content is server-rendered");
    assert!(html.contains("<title>Gatehouse</title>"), "title set");
    assert!(html.contains("/pkg/gatehouse.js"), "hydration script is referenced");
    assert!(html.contains("/pkg/gatehouse.css"), "stylesheet is referenced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_a_styled_404_page() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.expect("body");
    assert!(html.contains("Page not found"), "the not-found page is rendered");
    assert!(html.contains("/pkg/gatehouse.css"), "inside the normal layout");
    assert!(html.contains("Go to the home page"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_nonce_content_security_policy_matching_their_scripts() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    let csp = response.headers()["content-security-policy"].to_str().expect("ASCII header").to_owned();
    let nonce = csp
        .split_whitespace()
        .find_map(|part| part.strip_prefix("'nonce-").and_then(|rest| rest.strip_suffix('\'')))
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    assert!(nonce.len() >= 22, "nonce has at least 128 bits: {nonce}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"), "no inline script escape hatch: {csp}");
    assert_eq!(response.headers()["cache-control"], "no-store");

    let html = response.text().await.expect("body");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "inline hydration script carries the header's nonce");

    let second = app.get("/").await;
    let second_csp = second.headers()["content-security-policy"].to_str().expect("ASCII header");
    assert!(!second_csp.contains(nonce), "each response gets a fresh nonce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_baseline_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/missing"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert!(!headers.contains_key("strict-transport-security"), "no HSTS over plain http: {path}");
        assert!(!headers["x-request-id"].is_empty(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_is_compressed_for_clients_that_accept_it() {
    let app = spawn_app().await;
    let response =
        app.client.get(format!("{}/", app.address)).header("accept-encoding", "gzip").send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_visits_create_no_session_cookie() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert!(response.headers().get("set-cookie").is_none(), "visiting must not create a session");
}

/// The nonce of a page's policy, and the page with every occurrence of it replaced by `NONCE`.
async fn nonce_and_page(response: reqwest::Response) -> (String, String, String) {
    let policy = response.headers()["content-security-policy"].to_str().expect("ASCII").to_owned();
    let nonce = policy.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce").to_owned();
    let html = response.text().await.expect("body");
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the scripts carry this response's nonce");
    (nonce.clone(), html.replace(&nonce, "NONCE"), policy.replace(&nonce, "NONCE"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_home_and_login_pages_are_the_same_page_with_a_fresh_nonce_every_time() {
    let app = spawn_app().await;
    for path in ["/", "/login"] {
        let (first_nonce, first_page, first_policy) = nonce_and_page(app.get(path).await).await;
        let (second_nonce, second_page, second_policy) = nonce_and_page(app.get(path).await).await;
        assert_ne!(first_nonce, second_nonce, "{path}: a nonce is never reused");
        assert_eq!(first_page, second_page, "{path}: otherwise the same page");
        assert_eq!(first_policy, second_policy);
        assert!(!second_page.contains(&first_nonce));
    }
}
