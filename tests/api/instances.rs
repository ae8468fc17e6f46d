//! Several instances behind a load balancer: two Gatehouse processes (the real binary) on one PostgreSQL, behind
//! nginx with round robin, as "Deploying" in the README describes. Sign-ins, sessions, tokens and revocations are
//! checked through the balancer and through each instance directly. Runs when the suite runs on PostgreSQL.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    helpers::{Browser, browser_client, fresh_postgres_schema, json, location, postgres_server},
    provider::{CLIENT_ID, CLIENT_SECRET, TestProvider},
};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// How soon a change on one instance is seen on the other, though the other has just checked (and cached) what
/// changed: by the bus's NOTIFY, well before the cache's own revalidation (`REVALIDATE_AFTER`, 1 s) would.
const NOTIFIED: Duration = Duration::from_millis(500);

/// A port nothing listens on now (the OS picks it; the process told to use it binds it moments later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").port()
}

/// A running process, killed when the test ends however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One Gatehouse instance: the release-built binary of this test run, on a port of its own.
struct Instance {
    address: String,
    _process: Process,
}

impl Instance {
    async fn start(vars: &[(&str, String)], log: &Path) -> Self {
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let child = Command::new(BINARY)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("gatehouse starts");
        let instance = Self { address, _process: Process(child) };
        wait_until_ready(&instance.address, log).await;
        instance
    }
}

/// nginx in front of the instances, round robin, with a configuration written for this test.
struct Balancer {
    address: String,
    _process: Process,
}

impl Balancer {
    async fn start(port: u16, instances: &[&Instance], dir: &Path) -> Self {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx is needed for the two-instance test: `make test` installs it (.ci/install-tools servers)");
        let servers: String = instances
            .iter()
            .map(|i| format!("        server {};\n", i.address.trim_start_matches("http://")))
            .collect();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n\
             client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             upstream gatehouse {{\n{servers}    }}\n\
             server {{\n        listen 127.0.0.1:{port};\n        location / {{\n\
                         proxy_pass http://gatehouse;\n            proxy_set_header Host $http_host;\n\
                         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                         proxy_set_header X-Forwarded-Proto $scheme;\n        }}\n    }}\n}}\n"
        );
        let path: PathBuf = dir.join("nginx.conf");
        std::fs::write(&path, config).expect("write nginx.conf");
        let child = Command::new(nginx)
            .args(["-p", &d.to_string(), "-e", &format!("{d}/nginx-error.log"), "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let balancer = Self { address: format!("http://127.0.0.1:{port}"), _process: Process(child) };
        wait_until_ready(&balancer.address, &dir.join("nginx-error.log")).await;
        balancer
    }
}

async fn wait_until_ready(address: &str, log: &Path) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(answer) = client.get(format!("{address}/readyz")).send().await
            && answer.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{address} did not become ready; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

/// One person's browser (one cookie jar) sending requests to any of the addresses: the cookie of 127.0.0.1 goes to
/// every port, as one site's cookie goes to every instance behind a balancer. Its pages are the public site's, so
/// what it posts carries the public origin (`APP_URL`), whichever instance receives it.
struct Person {
    client: reqwest::Client,
    origin: String,
}

impl Person {
    fn new(origin: &str) -> Self {
        Self { client: browser_client(), origin: origin.to_owned() }
    }

    fn at(&self, address: &str) -> Browser {
        Browser { address: address.to_owned(), client: self.client.clone() }
    }

    fn api(&self, address: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{address}/api/v1{path}")).header("origin", &self.origin)
    }

    async fn call(&self, address: &str, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let request = self.client.post(format!("{address}/api/{endpoint}")).header("origin", &self.origin);
        request.form(form).send().await.expect("answer")
    }

    /// Signs in at the provider as `subject`: the sign-in starts at `start` and the provider sends the browser back
    /// to `finish`.
    async fn sign_in(&self, provider: &TestProvider, subject: &str, start: &str, finish: &str) {
        let login = self.at(start).get("/auth/login/oidc").await;
        assert_eq!(login.status(), 303, "the sign-in starts");
        let query = provider.approve(&location(&login), subject);
        let callback = self.at(finish).get(&format!("/auth/callback/oidc?{query}")).await;
        assert_eq!(callback.status(), 303, "the sign-in completes: {}", callback.text().await.unwrap_or_default());
    }

    /// A personal access token made at `address`: its id and secret.
    async fn create_token(&self, address: &str, name: &str) -> (String, String) {
        self.create_token_with(address, name, &["profile:read"]).await
    }

    async fn create_token_with(&self, address: &str, name: &str, scopes: &[&str]) -> (String, String) {
        let created = self
            .api(address, Method::POST, "/tokens")
            .json(&json!({ "name": name, "scopes": scopes, "expires_in_days": 7 }))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
        let created = json(created).await;
        (
            created["token"]["id"].as_str().expect("id").to_owned(),
            created["secret"].as_str().expect("secret").to_owned(),
        )
    }

    async fn me(&self, address: &str) -> StatusCode {
        self.api(address, Method::GET, "/me").send().await.expect("answer").status()
    }
}

async fn with_token(address: &str, secret: &str) -> StatusCode {
    let answer = reqwest::Client::new().get(format!("{address}/api/v1/me")).bearer_auth(secret).send().await;
    answer.expect("answer").status()
}

/// Polls `check` until it gives `want`, for at most `within`; returns how long it took.
async fn refused_within<F, Fut>(within: Duration, want: StatusCode, check: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = StatusCode>,
{
    let started = Instant::now();
    loop {
        let got = check().await;
        if got == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "still {got} after {within:?}, expected {want}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Two instances on one fresh PostgreSQL schema behind nginx, signing in at `provider`, with `extra` settings.
struct Cluster {
    vars: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
    a: Instance,
    b: Instance,
    balancer: Balancer,
}

impl Cluster {
    async fn start(server: &str, provider: &TestProvider, extra: &[(&'static str, &str)]) -> Self {
        let database = fresh_postgres_schema(server).await;
        let dir = tempfile::tempdir().expect("dir");
        let balancer_port = free_port();
        let mut vars = vec![
            // The public URL is the balancer's, the same on both instances.
            ("APP_URL", format!("http://127.0.0.1:{balancer_port}")),
            ("DATABASE_URL", database),
            ("OIDC_ISSUER_URL", provider.issuer.clone()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            ("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("LEPTOS_SITE_ROOT", dir.path().join("site").display().to_string()),
            ("RUST_LOG", "warn".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let a = Instance::start(&vars, &dir.path().join("a.log")).await;
        let b = Instance::start(&vars, &dir.path().join("b.log")).await;
        let balancer = Balancer::start(balancer_port, &[&a, &b], dir.path()).await;
        Self { vars, dir, a, b, balancer }
    }

    /// The address of the balancer, which is the public one.
    fn public(&self) -> &str {
        &self.balancer.address
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_share_sign_ins_sessions_and_revocations() {
    let Some(server) = postgres_server() else { return };
    let provider = TestProvider::start().await;
    let cluster = Cluster::start(&server, &provider, &[("OIDC_BACKCHANNEL_LOGOUT", "true")]).await;
    let (a, b, lb) = (cluster.a.address.as_str(), cluster.b.address.as_str(), cluster.public());

    // A sign-in started on A completes on B (the login attempt is in the shared session store), and the session B
    // made is valid on A, on B and through the balancer, whichever instance it picks.
    let ada = Person::new(lb);
    ada.sign_in(&provider, "ada", a, b).await;
    for address in [a, b, lb, lb, lb, lb] {
        assert_eq!(ada.me(address).await, StatusCode::OK, "Ada's session at {address}");
    }
    let dashboard = ada.at(lb).get("/dashboard").await;
    assert_eq!(dashboard.status(), 200);

    // Entirely through the balancer: round robin sends the start and the return to different instances.
    provider.set(|b| b.email = Some("grace@example.test".into()));
    let grace = Person::new(lb);
    grace.sign_in(&provider, "grace", lb, lb).await;
    assert_eq!(grace.me(a).await, StatusCode::OK);
    assert_eq!(grace.me(b).await, StatusCode::OK);

    // A session revoked on B is refused on A at once, though A has just checked (and cached) it.
    provider.set(|b| b.email = Some("ada@example.test".into()));
    let ada_laptop = Person::new(lb);
    ada_laptop.sign_in(&provider, "ada", a, a).await;
    assert_eq!(ada_laptop.me(a).await, StatusCode::OK);
    let sessions = json(ada.api(b, Method::GET, "/sessions").send().await.expect("sessions")).await;
    let laptop = sessions["sessions"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the laptop's session")
        .to_owned();
    let revoked = ada.api(b, Method::DELETE, &format!("/sessions/{laptop}")).send().await.expect("revoke");
    assert_eq!(revoked.status(), 204);
    refused_within(NOTIFIED, StatusCode::UNAUTHORIZED, || ada_laptop.me(a)).await;
    assert_eq!(ada.me(a).await, StatusCode::OK, "Ada's other session is untouched");

    // A token made on A and revoked on B is refused on A at once.
    let (token_id, secret) = ada.create_token(a, "ci").await;
    let secret = secret.as_str();
    assert_eq!(with_token(a, secret).await, StatusCode::OK);
    assert_eq!(with_token(b, secret).await, StatusCode::OK);
    let revoked = ada.api(b, Method::DELETE, &format!("/tokens/{token_id}")).send().await.expect("revoke");
    assert_eq!(revoked.status(), 204);
    refused_within(NOTIFIED, StatusCode::UNAUTHORIZED, || with_token(a, secret)).await;

    // An account deleted on B: A refuses its sessions and its tokens at once.
    let (_, grace_secret) = grace.create_token(a, "grace").await;
    assert_eq!(with_token(a, &grace_secret).await, StatusCode::OK);
    assert_eq!(grace.me(a).await, StatusCode::OK);
    let deleted = grace.call(b, "account/delete", &[("confirm", "grace@example.test")]).await;
    assert_eq!(deleted.status(), 200);
    refused_within(NOTIFIED, StatusCode::UNAUTHORIZED, || grace.me(a)).await;
    refused_within(NOTIFIED, StatusCode::UNAUTHORIZED, || with_token(a, &grace_secret)).await;
    assert_eq!(ada.me(lb).await, StatusCode::OK, "nobody else is affected");

    // Signed out at the provider, which tells B: A refuses the session at once, though it has just checked it.
    provider.set(|b| {
        b.email = Some("ada@example.test".into());
        b.edit_claims = std::sync::Arc::new(|claims| drop(claims.insert("sid".into(), json!("provider-sid-tablet"))));
    });
    let ada_tablet = Person::new(lb);
    ada_tablet.sign_in(&provider, "ada", a, a).await;
    assert_eq!(ada_tablet.me(a).await, StatusCode::OK);
    let claims = provider.logout_claims(Some("ada"), Some("provider-sid-tablet"));
    let token = provider.logout_token(&claims, &crate::provider::Signing::Key("rsa1"), Some("logout+jwt"));
    let told = browser_client()
        .post(format!("{b}/auth/backchannel-logout/oidc"))
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .expect("logout token");
    assert_eq!(told.status(), StatusCode::OK);
    refused_within(NOTIFIED, StatusCode::UNAUTHORIZED, || ada_tablet.me(a)).await;
    assert_eq!(ada.me(a).await, StatusCode::OK, "Ada's sessions from other provider sessions stay");
}

/// `POST /api/v1/connections/oidc/token` with `bearer` at `address`: the status and the access token or error.
async fn provider_token(address: &str, bearer: &str) -> (StatusCode, String) {
    let answer = reqwest::Client::new()
        .post(format!("{address}/api/v1/connections/oidc/token"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("answer");
    let status = answer.status();
    let body = json(answer).await;
    let said = body["access_token"].as_str().or(body["error"].as_str()).unwrap_or_default().to_owned();
    (status, said)
}

/// Eight programs asking for the provider token at the same moment, half through each instance.
async fn eight_at_once(a: &str, b: &str, bearer: &str) -> Vec<(StatusCode, String)> {
    let asks = (0..8).map(|i| provider_token(if i % 2 == 0 { a } else { b }, bearer));
    futures_util::future::join_all(asks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_are_refreshed_once_across_instances_and_a_slow_provider_is_given_up_on() {
    let Some(server) = postgres_server() else { return };
    let provider = TestProvider::start().await;
    provider.set(|b| b.access_lifetime = 30);
    // PROVIDER_TIMEOUT 1 s: a refresh's lease is 3 s.
    let settings = [("PROVIDER_TOKENS", "keep"), ("PROVIDER_TIMEOUT", "1s")];
    let cluster = Cluster::start(&server, &provider, &settings).await;
    let (a, b, lb) = (cluster.a.address.as_str(), cluster.b.address.as_str(), cluster.public());
    let ada = Person::new(lb);
    ada.sign_in(&provider, "ada", lb, lb).await;
    let (_, script) = ada.create_token_with(a, "script", &["connections:token"]).await;

    // A provider slower than the lease (4 s): the refresh is given up on at the timeout, every request waiting for
    // it on either instance answers as it did, and nobody starts a second refresh meanwhile.
    provider.set(|b| b.token_delay = Duration::from_secs(4));
    for (status, said) in eight_at_once(a, b, &script).await {
        assert_eq!((status, said.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    }
    assert_eq!(provider.refresh_count(), 1, "one refresh was tried, by one instance");
    assert_eq!(provider.most_refreshes_at_once(), 1);
    let listed = ada.api(lb, Method::GET, "/connections").bearer_auth(&script).send().await.expect("list");
    assert_eq!(json(listed).await["connections"][0]["state"], "connected", "a slow provider is not a refused grant");

    // The provider answers again, taking its time: many requests through both instances, one refresh grant, no
    // `invalid_grant`, and every request gets the one new token.
    provider.set(|b| {
        b.token_delay = Duration::from_millis(400);
        b.access_lifetime = 3600;
    });
    for (status, said) in eight_at_once(a, b, &script).await {
        assert_eq!((status, said.as_str()), (StatusCode::OK, "refreshed-2-ada"));
    }
    assert_eq!(provider.refresh_count(), 2, "exactly one more refresh grant at the provider");
    assert_eq!(provider.most_refreshes_at_once(), 1, "never two at once");
    assert_eq!(provider_token(lb, &script).await, (StatusCode::OK, "refreshed-2-ada".to_owned()), "fresh now");
    assert_eq!(provider.refresh_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_authorization_is_delivered_after_both_instances_crash() {
    use crate::authorization_server::{REDIRECT, authorize_path, pkce, query_of};

    let Some(server) = postgres_server() else { return };
    let provider = TestProvider::start().await;
    let cluster = Cluster::start(&server, &provider, &[]).await;
    let lb = cluster.public().to_owned();
    // The app's back-channel logout endpoint is down until both instances have crashed.
    let receiver_port = free_port();
    let receiver_url = format!("http://127.0.0.1:{receiver_port}/logout");

    // An operator registers the app with the command line, on the shared database.
    let registered = Command::new(BINARY)
        .env_clear()
        .envs(cluster.vars.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["clients", "add", "--name", "Sample app", "--redirect-uri", REDIRECT, "--public"])
        .args(["--scope", "openid profile email profile:read", "--backchannel-logout-uri", &receiver_url])
        .output()
        .expect("gatehouse clients add");
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let registered: serde_json::Value = serde_json::from_slice(&registered.stdout).expect("JSON");
    let client_id = registered["client_id"].as_str().expect("client_id").to_owned();

    // Ada signs in and lets the app in, through the balancer.
    let ada = Person::new(&lb);
    ada.sign_in(&provider, "ada", &lb, &lb).await;
    let pkce = pkce();
    let consent = ada.at(&lb).get(&authorize_path(&client_id, &pkce, &[])).await;
    assert_eq!(consent.status(), StatusCode::OK, "the consent page");
    let page = consent.text().await.expect("page");
    let request = page.split("name=\"request\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("request");
    let allowed = ada
        .client
        .post(format!("{lb}/oauth/authorize/decision"))
        .header("origin", &lb)
        .form(&[("request", request), ("decision", "allow")])
        .send()
        .await
        .expect("decision");
    let code = query_of(&location(&allowed)).remove("code").expect("a code");
    let exchanged = reqwest::Client::new()
        .post(format!("{lb}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(exchanged.status(), StatusCode::OK);
    let id_token = json(exchanged).await["id_token"].as_str().expect("an ID token").to_owned();

    // Ada signs out on A: the authorization ends, and the outbox row is written with it. Both instances try the
    // app, find it down, and crash before it is back.
    let signed_out = ada.client.post(format!("{}/auth/logout", cluster.a.address)).header("origin", &lb).send().await;
    assert_eq!(signed_out.expect("sign-out").status(), StatusCode::SEE_OTHER);
    let database = sqlx::PgPool::connect(&cluster.vars[1].1).await.expect("the shared database");
    let waiting = || async {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM backchannel_logouts")
            .fetch_one(&database)
            .await
            .expect("the outbox");
        count
    };
    assert_eq!(waiting().await, 1, "written in the sign-out's transaction");
    let attempted = Instant::now() + Duration::from_secs(5);
    // Tried and settled (the lease given back, the next attempt set): a crash now leaves the row due soon. (A crash
    // in the middle of an attempt leaves it to the lease's end, 15 s; the in-process test covers a row never tried.)
    let tried = "SELECT COUNT(*) FROM backchannel_logouts WHERE attempts > 0 AND leased_until = 0";
    while sqlx::query_scalar::<_, i64>(tried).fetch_one(&database).await.expect("the row") == 0 {
        assert!(Instant::now() < attempted, "an instance tries to deliver within seconds");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Cluster { vars, dir, a, b, balancer } = cluster;
    drop((balancer, a, b)); // SIGKILL: no orderly shutdown
    assert_eq!(waiting().await, 1, "still owed after the crash");

    // The app comes back, then one instance: it delivers what the crashed ones owed.
    let receiver = crate::backchannel::Receiver::on_port(receiver_port).await;
    let restarted = Instance::start(&vars, &dir.path().join("c.log")).await;
    // Within the backoff's next step, or — had an instance claimed it again just before the crash — the lease's 15 s.
    let received = receiver.received(1, Duration::from_secs(25)).await;
    assert_eq!(received.len(), 1, "delivered once after the restart");
    let keys = json(reqwest::get(format!("{}/oauth/jwks.json", restarted.address)).await.expect("keys")).await;
    let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(keys).expect("a JWK set");
    let claims = crate::authorization_server::decode(&received[0], &keys, &client_id, &lb);
    let id_claims = crate::authorization_server::decode(&id_token, &keys, &client_id, &lb);
    assert_eq!(claims["sid"], id_claims["sid"], "the session the app knows from its ID token");
    assert_eq!(claims["events"], json!({ "http://schemas.openid.net/event/backchannel-logout": {} }), "a logout token");
    let done = Instant::now() + Duration::from_secs(5);
    while waiting().await != 0 {
        assert!(Instant::now() < done, "the delivered row is struck off the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
