//! Rate limits and address blocks, from real client addresses: each client binds its socket to its own loopback
//! address (127.0.0.2, 127.0.0.3, …), or, behind `TRUSTED_PROXIES`, names its address in `X-Forwarded-For`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use gatehouse::server::security::rate_limit::{self, Subject};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{
    bearer::token,
    helpers::{TestApp, client_from, json, spawn_app_with},
    sessions::{signed_in, with_provider},
};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().expect("ascii").parse().expect("whole seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_starts_are_limited_per_address_with_a_page_for_people_and_json_for_programs() {
    let (_provider, app) = with_provider(&[("RATE_LIMIT_SIGN_IN", "5/1m")]).await;
    let (first, second) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let start = format!("{}/auth/login/oidc", app.address);
    for _ in 0..5 {
        assert_eq!(first.get(&start).send().await.expect("start").status(), 303);
    }
    let sessions = app.count("tower_sessions").await;

    let refused = first.get(&start).header("accept", "text/html").send().await.expect("start");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // One request per 12 s comes back; the answer says when.
    assert!((1..=12).contains(&retry_after(&refused)), "{:?}", refused.headers());
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let page = refused.text().await.expect("page");
    assert!(page.contains("Too many requests") && page.contains("try again"), "{page}");
    let refused = first.get(&start).header("accept", "application/json").send().await.expect("start");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = json(refused).await;
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].as_str().expect("message").contains("wait"), "{body}");
    assert_eq!(app.count("tower_sessions").await, sessions, "a refused start stores nothing");

    // Another address is not affected, and neither is the page that starts sign-in.
    assert_eq!(second.get(&start).send().await.expect("start").status(), 303);
    assert_eq!(first.get(format!("{}/login", app.address)).send().await.expect("login page").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_limited_per_credential_wherever_its_calls_come_from() {
    let (_provider, app) = signed_in(&[("RATE_LIMIT_API", "5/1m")]).await;
    let (_, busy) = token(&app.main_browser(), &["profile:read"]).await;
    let (_, quiet) = token(&app.main_browser(), &["profile:read"]).await;
    let me = format!("{}/api/v1/me", app.address);
    let (here, there) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..5 {
        assert_eq!(here.get(&me).bearer_auth(&busy).send().await.expect("me").status(), 200);
    }
    let refused = here.get(&me).bearer_auth(&busy).send().await.expect("me");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=12).contains(&retry_after(&refused)));
    assert_eq!(refused.headers()["cache-control"], "no-store");
    assert_eq!(json(refused).await["error"], "rate_limited");
    let moved = there.get(&me).bearer_auth(&busy).send().await.expect("me");
    assert_eq!(moved.status(), 429, "the same token from another address is the same credential");
    assert_eq!(here.get(&me).bearer_auth(&quiet).send().await.expect("me").status(), 200, "another token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_block_an_address_which_is_recorded_and_can_be_lifted() {
    let (_provider, app) =
        signed_in(&[("BLOCK_AFTER_FAILURES", "5"), ("BLOCK_DURATION", "2m"), ("RATE_LIMIT_SIGN_IN", "100/1m")]).await;
    let (_, good) = token(&app.main_browser(), &["profile:read"]).await;
    let me = format!("{}/api/v1/me", app.address);
    let (guesser, neighbour) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for n in 0..5 {
        let guess = format!("gh_pat_not{n}");
        assert_eq!(guesser.get(&me).bearer_auth(guess).send().await.expect("me").status(), 401);
    }
    // Blocked now, even with a good token, on every limited route; the answer says for how long.
    let blocked = guesser.get(&me).bearer_auth(&good).send().await.expect("me");
    assert_eq!(blocked.status(), 429);
    assert!((110..=120).contains(&retry_after(&blocked)), "{:?}", blocked.headers());
    assert_eq!(json(blocked).await["error"], "address_blocked");
    let start = format!("{}/auth/login/oidc", app.address);
    let page = guesser.get(&start).header("accept", "text/html").send().await.expect("start");
    assert_eq!(page.status(), 429);
    assert!(page.text().await.expect("page").contains("blocked for 2 minutes"));
    let token_endpoint = format!("{}/oauth/token", app.address);
    let oauth =
        guesser.post(&token_endpoint).form(&[("grant_type", "client_credentials")]).send().await.expect("token");
    assert_eq!(oauth.status(), 429);
    assert_eq!(json(oauth).await["error"], "address_blocked", "in OAuth's error shape");
    // Pages that are not limited, and other addresses, are served.
    assert_eq!(guesser.get(format!("{}/healthz", app.address)).send().await.expect("health").status(), 200);
    assert_eq!(neighbour.get(&me).bearer_auth(&good).send().await.expect("me").status(), 200);

    // Recorded once: the audit event, and the block admins see.
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT ip, detail FROM audit_events WHERE kind = 'address_blocked'")
            .fetch_all(&app.sql)
            .await
            .expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "127.0.0.2");
    let detail: Value = serde_json::from_str(&events[0].1).expect("detail");
    assert_eq!(
        (detail["failures"].as_u64(), detail["seconds"].as_u64(), detail["times"].as_u64()),
        (Some(5), Some(120), Some(1))
    );
    let blocks = rate_limit::blocks_in_force(&app.state.db).await.expect("blocks");
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].address.as_str(), blocks[0].failures), ("127.0.0.2", 5));

    app.state.limiter.lift(&Subject::of("127.0.0.2".parse().expect("ip"))).await.expect("lifted");
    assert_eq!(guesser.get(&me).bearer_auth(&good).send().await.expect("me").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_from_one_address_are_counted_in_a_few_rows() {
    let (_provider, app) = with_provider(&[("BLOCK_AFTER_FAILURES", "0")]).await;
    let forger = client_from("127.0.0.2");
    for n in 0..20 {
        let callback = format!("{}/auth/callback/oidc?state=forged{n}&code=x", app.address);
        assert_eq!(forger.get(&callback).send().await.expect("callback").status(), 400);
    }
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT detail FROM audit_events WHERE kind = 'sign_in_failed' AND ip = '127.0.0.2' ORDER BY id",
    )
    .fetch_all(&app.sql)
    .await
    .expect("events");
    let repeated: Vec<Option<u64>> = rows
        .iter()
        .map(|(detail,)| serde_json::from_str::<Value>(detail).expect("json")["repeated"].as_u64())
        .collect();
    assert_eq!(repeated, [None, Some(2), Some(4), Some(8), Some(16)], "the 1st, 2nd, 4th, 8th and 16th");
    // Another address starts its own count.
    let callback = format!("{}/auth/callback/oidc?state=forged&code=x", app.address);
    client_from("127.0.0.3").get(&callback).send().await.expect("callback");
    let other: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE ip = '127.0.0.3'")
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(other, 1);
}

/// How a burst's client is told apart: its own loopback address, or a forwarded header through a trusted proxy.
#[derive(Clone, Copy)]
enum Origin {
    Socket(&'static str),
    Forwarded(&'static str),
}

impl Origin {
    fn client(self) -> reqwest::Client {
        match self {
            Self::Socket(ip) => client_from(ip),
            Self::Forwarded(_) => client_from("127.0.0.1"),
        }
    }

    fn request(self, client: &reqwest::Client, method: Method, url: &str) -> reqwest::RequestBuilder {
        let request = client.request(method, url);
        match self {
            Self::Socket(_) => request,
            Self::Forwarded(ip) => request.header("x-forwarded-for", ip),
        }
    }
}

/// 10,000 requests from one client at each of the sign-in start, the token endpoint and the API, 64 at a time.
/// Throughout, another client keeps starting sign-ins, calling the API with its own token and asking `/healthz`,
/// and is served every time, promptly.
async fn burst(app: &TestApp, attacker: Origin, bystander: Origin) {
    let (_, attacker_token) = token(&app.main_browser(), &["profile:read"]).await;
    let (_, bystander_token) = token(&app.main_browser(), &["profile:read"]).await;
    let done = Arc::new(AtomicBool::new(false));

    let watcher = {
        let (address, done) = (app.address.clone(), done.clone());
        tokio::spawn(async move {
            let client = bystander.client();
            let (mut checks, mut slowest) = (0, Duration::ZERO);
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let health = bystander.request(&client, Method::GET, &format!("{address}/healthz")).send().await;
                assert_eq!(health.expect("health").status(), 200);
                slowest = slowest.max(started.elapsed());
                let me = bystander.request(&client, Method::GET, &format!("{address}/api/v1/me"));
                assert_eq!(me.bearer_auth(&bystander_token).send().await.expect("me").status(), 200);
                // Well inside the bystander's own sign-in allowance (a burst of 30, then one per 2 s).
                if checks % 10 == 0 {
                    let start = bystander.request(&client, Method::GET, &format!("{address}/auth/login/oidc"));
                    assert_eq!(start.send().await.expect("start").status(), 303);
                }
                checks += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (checks, slowest)
        })
    };

    let token_form = [("grant_type", "client_credentials"), ("client_id", "no-such-app"), ("client_secret", "guess")];
    for (method, path) in
        [(Method::GET, "/auth/login/oidc"), (Method::POST, "/oauth/token"), (Method::GET, "/api/v1/me")]
    {
        let url = format!("{}{path}", app.address);
        let client = attacker.client();
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..64 {
            let (client, url, method, secret) = (client.clone(), url.clone(), method.clone(), attacker_token.clone());
            workers.spawn(async move {
                let mut statuses = Vec::new();
                for _ in (worker..10_000).step_by(64) {
                    let request = attacker.request(&client, method.clone(), &url);
                    let request = match path {
                        "/oauth/token" => request.form(&token_form),
                        "/api/v1/me" => request.bearer_auth(&secret),
                        _ => request,
                    };
                    statuses.push(request.send().await.expect("an answer").status().as_u16());
                }
                statuses
            });
        }
        let statuses = workers.join_all().await;
        let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        let served = statuses.len() - refused;
        assert_eq!(statuses.len(), 10_000);
        // What got through is the allowance: a burst (30 starts, 600 API calls) plus what refilled while the burst
        // ran; at the token endpoint, the 50 failures that block the address, plus the requests already past the
        // check (at most one per worker) when the block began.
        let allowed = match path {
            "/auth/login/oidc" => 30 + 30,
            "/oauth/token" => 50 + 64,
            _ => 600 + 100,
        };
        assert!(served <= allowed, "{path}: {served} served, at most {allowed} expected");
        assert!(statuses.iter().all(|s| matches!(s, 303 | 200 | 401 | 429)), "{path}: only answers, never errors");
    }

    done.store(true, Ordering::Relaxed);
    let (checks, slowest) = watcher.await.expect("the bystander was served throughout");
    assert!(checks >= 3, "the bystander kept checking ({checks})");
    // A liveness bound, not a speed measurement: a starved server would take seconds.
    assert!(slowest < Duration::from_secs(3), "/healthz took {slowest:?} during the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_address_is_refused_while_another_is_served() {
    let (_provider, app) = signed_in(&[]).await;
    burst(&app, Origin::Socket("127.0.0.2"), Origin::Socket("127.0.0.3")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited_on_its_own() {
    let (_provider, app) = signed_in(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    burst(&app, Origin::Forwarded("203.0.113.5"), Origin::Forwarded("203.0.113.6")).await;
    // The proxy's own address was never the one limited.
    let start = format!("{}/auth/login/oidc", app.address);
    let fresh = client_from("127.0.0.1").get(&start).header("x-forwarded-for", "198.51.100.1").send().await;
    assert_eq!(fresh.expect("start").status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_a_forged_forwarded_header_does_not_escape_the_limit() {
    let (_provider, app) = with_provider(&[("RATE_LIMIT_SIGN_IN", "3/1m")]).await;
    let client = client_from("127.0.0.2");
    let start = format!("{}/auth/login/oidc", app.address);
    for n in 0..3 {
        let response = client.get(&start).header("x-forwarded-for", format!("203.0.113.{n}")).send().await;
        assert_eq!(response.expect("start").status(), 303);
    }
    let forged = client.get(&start).header("x-forwarded-for", "203.0.113.99").send().await.expect("start");
    assert_eq!(forged.status(), 429);
}

/// The Redis the suite was given (`TEST_REDIS_URL`, set by `make test`, which starts one where none answers).
fn test_redis() -> Option<String> {
    std::env::var("TEST_REDIS_URL").ok().filter(|url| !url.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_count_and_block_together() {
    let Some(redis) = test_redis() else {
        eprintln!("TEST_REDIS_URL is not set: the shared-limits test needs Redis (make test provides one)");
        return;
    };
    let settings = [
        ("REDIS_URL", redis.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_SIGN_IN", "4/1m"),
        ("BLOCK_AFTER_FAILURES", "3"),
        ("BLOCK_DURATION", "1m"),
    ];
    let (_provider, one) = with_provider(&settings).await;
    let two = spawn_app_with(&settings).await;
    // An address of this run's own, so runs (and the SQLite and PostgreSQL passes) never share counts.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").subsec_nanos();
    let address = format!("10.{}.{}.{}", nanos % 250, (nanos / 250) % 250, (nanos / 62_500) % 250 + 1);
    let client = client_from("127.0.0.1");
    let get = |app: &TestApp, path: &str| {
        client.get(format!("{}{path}", app.address)).header("x-forwarded-for", address.as_str()).send()
    };

    // Four starts between the two instances use up the one allowance.
    for app in [&one, &two, &one, &two] {
        let status = get(app, "/auth/login/oidc").await.expect("start").status();
        assert!(status == 303 || status == 404, "an allowed start ({status})");
    }
    assert_eq!(get(&one, "/auth/login/oidc").await.expect("start").status(), 429);
    assert_eq!(get(&two, "/auth/login/oidc").await.expect("start").status(), 429);

    // Failures on either instance block the address on both.
    for app in [&one, &two, &one] {
        assert_eq!(get(app, "/api/v1/me").await.expect("me").status(), 401);
    }
    for app in [&one, &two] {
        let blocked = get(app, "/api/v1/me").await.expect("me");
        assert_eq!(blocked.status(), 429);
        assert_eq!(json(blocked).await["error"], "address_blocked");
    }
    two.state.limiter.lift(&Subject::of(address.parse().expect("ip"))).await.expect("lifted");
    assert_eq!(get(&one, "/api/v1/me").await.expect("me").status(), 401, "lifted everywhere");
}
