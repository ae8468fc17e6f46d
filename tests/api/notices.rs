//! New-sign-in notices: a sign-in from a browser and network never seen for the person is mailed to them and shown in
//! their activity, with a "this wasn't me" link that works once, only by a POST from its page, and ends that session
//! and the tokens made in it.

use reqwest::StatusCode;

use crate::{
    bearer::token,
    helpers::{Browser, TestApp, location},
    mail::MailCatcher,
    provider::TestProvider,
    sessions::with_provider,
};

const EMAIL: &str = "ada@example.test";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/18.1 Mobile/15E148 Safari/604.1";

async fn sign_in(provider: &TestProvider, browser: &Browser) {
    let login = browser.get("/auth/login/oidc").await;
    let query = provider.approve(&location(&login), "ada");
    assert_eq!(browser.get(&format!("/auth/callback/oidc?{query}")).await.status(), 303);
}

pub(crate) async fn count_kind(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind = $1")
        .bind(kind)
        .fetch_one(&app.sql)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_browser_is_mailed_and_its_link_ends_that_session_and_its_tokens_once() {
    let mail = MailCatcher::start().await;
    let (provider, app) = with_provider(&[("SMTP_URL", mail.url.as_str())]).await;
    let home = app.browser_with(|b| b.user_agent(FIREFOX));
    sign_in(&provider, &home).await;
    sign_in(&provider, &home).await;
    assert_eq!(count_kind(&app, "new_sign_in").await, 0, "the first browser, and the same one again: no notice");

    // Someone signs in on an iPhone and makes a token there.
    let stranger = app.browser_with(|b| b.user_agent(SAFARI));
    sign_in(&provider, &stranger).await;
    let (_, stolen) = token(&stranger, &["profile:read"]).await;
    let (_, own) = token(&home, &["profile:read"]).await;
    assert_eq!(count_kind(&app, "new_sign_in").await, 1);
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'new_sign_in'")
        .fetch_one(&app.sql)
        .await
        .expect("event");
    assert!(detail.contains("Safari on iPhone") && detail.contains("127.0.0.0/24"), "{detail}");
    let message = &mail.wait_for(EMAIL, 1).await[0];
    assert!(message.text.contains("New sign-in to your Gatehouse account") && message.text.contains("Safari"));
    let link = message.link(&app.address, "/account/not-me?n=").expect("the link");

    // The dashboard shows it too, with the same kind of link.
    let dashboard = home.get("/dashboard").await.text().await.expect("page");
    assert!(dashboard.contains("Signed in from a new browser or network") && dashboard.contains("not-me-link"));

    // Opening the link (a mail scanner would) only asks.
    let asked = home.get(&link).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let page = asked.text().await.expect("page");
    assert!(page.contains("Someone else signed in?"), "{page}");
    assert_eq!(stranger.get("/api/v1/me").await.status(), StatusCode::OK, "nothing ended yet");

    let token_value = link.trim_start_matches("/account/not-me?n=");
    let post = |browser: &Browser, value: String| {
        let request = browser
            .client
            .post(format!("{}/account/not-me", app.address))
            .header("origin", &app.address)
            .form(&[("n", value)]);
        async move { request.send().await.expect("post") }
    };
    let done = post(&home, token_value.to_owned()).await;
    assert_eq!(done.status(), StatusCode::OK);
    let page = done.text().await.expect("page");
    assert!(
        page.contains(
            "That browser is signed out. Ended with it: 1 API token(s) it created, and 0 app authorization(s)"
        ),
        "{page}"
    );
    assert!(page.contains("href=\"/login?next=/profile\""), "then to securing the account");
    assert_eq!(stranger.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED, "that session ended");
    let me = |secret: String| {
        let address = app.address.clone();
        async move {
            reqwest::Client::new().get(format!("{address}/api/v1/me")).bearer_auth(secret).send().await.expect("me")
        }
    };
    assert_eq!(me(stolen).await.status(), StatusCode::UNAUTHORIZED, "its token was revoked");
    assert_eq!(me(own).await.status(), StatusCode::OK, "a token made elsewhere was not");
    assert_eq!(home.get("/api/v1/me").await.status(), StatusCode::OK, "this browser stays signed in");
    assert_eq!(count_kind(&app, "sign_in_disowned").await, 1);

    // Once only; a forged or altered link does nothing; the dashboard no longer offers it.
    let again = post(&home, token_value.to_owned()).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let mut altered = token_value.to_owned();
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    assert_eq!(post(&home, altered).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&home, "not-a-link".into()).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count_kind(&app, "sign_in_disowned").await, 1);
    let dashboard = home.get("/dashboard").await.text().await.expect("page");
    assert!(!dashboard.contains("not-me-link"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_network_counts_and_an_expired_link_does_nothing_without_mail_too() {
    let (provider, app) = with_provider(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    // Behind the trusted proxy (this machine), each browser names its own address.
    let from = |address: &str| {
        let forwarded =
            [(reqwest::header::HeaderName::from_static("x-forwarded-for"), address.parse().expect("value"))];
        app.browser_with(|b| b.user_agent(FIREFOX).default_headers(forwarded.into_iter().collect()))
    };
    sign_in(&provider, &from("203.0.113.5")).await;
    sign_in(&provider, &from("203.0.113.200")).await;
    assert_eq!(count_kind(&app, "new_sign_in").await, 0, "the same /24");
    let elsewhere = from("198.51.100.7");
    sign_in(&provider, &elsewhere).await;
    assert_eq!(count_kind(&app, "new_sign_in").await, 1, "another network; no mail configured, still recorded");

    // The notice expires: its link does nothing.
    let dashboard = from("203.0.113.5");
    sign_in(&provider, &dashboard).await;
    let page = dashboard.get("/dashboard").await.text().await.expect("page");
    let link = page.split("data-testid=\"not-me-link\"").next().and_then(|before| before.rsplit("href=\"").next());
    let link = link.and_then(|l| l.split('"').next()).expect("a link on the dashboard").replace("&amp;", "&");
    sqlx::query("UPDATE sign_in_notices SET expires_at = 1").execute(&app.sql).await.expect("expire");
    let value = link.split("n=").nth(1).expect("token").to_owned();
    let expired = dashboard
        .client
        .post(format!("{}/account/not-me", app.address))
        .header("origin", &app.address)
        .form(&[("n", value)])
        .send()
        .await
        .expect("post");
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    assert_eq!(elsewhere.get("/api/v1/me").await.status(), StatusCode::OK, "nothing ended");
}
