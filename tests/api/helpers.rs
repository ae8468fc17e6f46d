//! `spawn_app()`: the whole application on a fresh database and a free port, with a client that keeps cookies and
//! does not follow redirects.
//!
//! The database is a new SQLite file per test, or — when `TEST_POSTGRES_URL` names a PostgreSQL server (`make
//! test` runs the suite both ways) — a new schema per test in a database made for this run of the suite.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use gatehouse::server::{
    platform::config::{Config, ConfigError},
    startup::Application,
    state::AppState,
};
use sqlx::{AnyPool, Connection, PgConnection};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot};

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, also the app's `APP_URL`.
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// The SQLite file, when the suite runs on SQLite.
    pub db_path: PathBuf,
    /// The app's `DATABASE_URL`, for a second app (or a command) on the same database.
    pub database_url: String,
    /// A pool of the test's own on the app's database, for checking and changing rows behind the app's back. The
    /// Any driver runs the same SQL on both databases (`$1` placeholders).
    pub sql: AnyPool,
    stop: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestApp {
    /// Stops the server and its background work (as a crash would), keeping its database for another app.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request reaches the app")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the app with the default configuration plus `overrides`. `TEST_LOG=1` shows the app's logs.
pub async fn spawn_app_with(overrides: &[(&'static str, &str)]) -> TestApp {
    spawn_app_at("127.0.0.1", overrides).await
}

/// Starts the app at `http://localhost:PORT` (its `APP_URL` and the tests' address): a host name, as passkeys need.
pub async fn spawn_app_on_localhost(overrides: &[(&'static str, &str)]) -> TestApp {
    spawn_app_at("localhost", overrides).await
}

async fn spawn_app_at(host: &str, overrides: &[(&'static str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db_path = dir.path().join("data").join("gatehouse.db");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("free port");
    let address = format!("http://{host}:{}", listener.local_addr().expect("bound address").port());

    let database_url = match postgres_server() {
        Some(server) => fresh_postgres_schema(&server).await,
        None => format!("sqlite://{}", db_path.display()),
    };
    let mut vars: HashMap<&'static str, String> = HashMap::from([
        ("APP_URL", address.clone()),
        ("DATABASE_URL", database_url),
        ("LEPTOS_SITE_ROOT", dir.path().join("site").display().to_string()),
    ]);
    vars.extend(overrides.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let database_url = vars["DATABASE_URL"].clone();
    let config = Config::from_lookup(|key| Ok::<_, ConfigError>(vars.get(key).cloned())).expect("test configuration");
    if std::env::var_os("TEST_LOG").is_some() {
        gatehouse::server::platform::telemetry::init(&config.log);
    }

    let app = Application::build_with_listener(config, listener).await.expect("application starts");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    sqlx::any::install_default_drivers();
    let sql = sqlx::pool::PoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .expect("the test's own connection to the app's database");
    let client = browser_client();
    TestApp { address, client, state, db_path, database_url, sql, stop: Some(stop), _dir: dir }
}

/// The PostgreSQL server to run on (`TEST_POSTGRES_URL`, an administrator's URL such as
/// `postgres://postgres@127.0.0.1:5432/postgres`), or none for SQLite.
pub fn postgres_server() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL").ok().filter(|url| !url.trim().is_empty())
}

/// Whether this run is on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// A `DATABASE_URL` for an empty schema of its own, in this process's database `gatehouse_test_<pid>` (created on
/// first use; such databases left by earlier runs whose process is gone are dropped then).
pub async fn fresh_postgres_schema(server: &str) -> String {
    static SCHEMAS: AtomicU32 = AtomicU32::new(0);
    let database = format!("gatehouse_test_{}", std::process::id());
    let mut admin = PgConnection::connect(server).await.expect("TEST_POSTGRES_URL answers");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .expect("list databases");
    if !exists {
        drop_databases_of_finished_runs(&mut admin).await;
        // Tests start in parallel: another may create it first.
        if let Err(error) = sqlx::query(&format!("CREATE DATABASE \"{database}\"")).execute(&mut admin).await {
            let duplicate =
                error.as_database_error().and_then(|e| e.code()).is_some_and(|c| c == "42P04" || c == "23505");
            assert!(duplicate, "cannot create the test database: {error}");
        }
    }
    admin.close().await.ok();

    let base = url::Url::parse(server).expect("TEST_POSTGRES_URL is a URL");
    let mut url = base.clone();
    url.set_path(&database);
    let mut conn = PgConnection::connect(url.as_str()).await.expect("the test database answers");
    let schema = format!("t{}", SCHEMAS.fetch_add(1, Ordering::Relaxed));
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.expect("create the test's schema");
    conn.close().await.ok();
    url.query_pairs_mut().append_pair("options", &format!("-c search_path={schema}"));
    url.to_string()
}

async fn drop_databases_of_finished_runs(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'gatehouse\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.trim_start_matches("gatehouse_test_");
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut *admin).await;
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// A POST from one of the app's own pages (the browser sends `Origin`).
    pub async fn post_from_page(&self, path: &str) -> reqwest::Response {
        self.main_browser().post_from_page(path).await
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.sql).await.expect("count")
    }

    /// How long the newest session lasts from its sign-in to its absolute end, in seconds.
    pub async fn newest_session_lifetime(&self) -> i64 {
        let (created, expires): (i64, i64) =
            sqlx::query_as("SELECT created_at, expires_at FROM user_sessions ORDER BY created_at DESC, id LIMIT 1")
                .fetch_one(&self.sql)
                .await
                .expect("a session");
        expires - created
    }

    /// The status `GET /api/v1/me` answers with this client's cookies.
    pub async fn me_status(&self) -> u16 {
        self.get("/api/v1/me").await.status().as_u16()
    }

    /// Asserts that nothing of a failed sign-in stayed behind: no user, no session, no signed-in cookie.
    pub async fn assert_signed_out_with_nothing_created(&self) {
        assert_eq!(self.count("users").await, 0, "no user may be created");
        assert_eq!(self.count("identities").await, 0, "no identity may be created");
        assert_eq!(self.count("user_sessions").await, 0, "no session may be created");
        assert_eq!(self.me_status().await, 401, "the browser is not signed in");
    }
}

/// A response's JSON body.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("a JSON body")
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").expect("a Location header").to_str().expect("ASCII").to_owned()
}

/// The value of the session cookie a response sets, if any.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_session="))
        .map(|v| v.split(';').next().unwrap_or_default().trim_start_matches("gatehouse_session=").to_owned())
}

/// A client like a browser: its own cookie jar, redirects shown rather than followed. A request that gets no answer
/// fails after 30 s, so a hang is reported as one instead of stalling the suite.
pub fn browser_client() -> reqwest::Client {
    browser_builder().build().expect("HTTP client")
}

fn browser_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(30))
}

/// A program (no cookies, redirects shown) whose connections come from `ip`: 127.0.0.2, 127.0.0.3, … are other
/// clients on this machine, for the tests that limit or allow by address.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().expect("an address"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Another browser (its own cookie jar) on the same app.
pub struct Browser {
    pub address: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        Browser { address: self.address.clone(), client: browser_client() }
    }

    /// Another browser, set up by `configure` (its address, its user agent, headers it always sends).
    pub fn browser_with(&self, configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder) -> Browser {
        Browser { address: self.address.clone(), client: configure(browser_builder()).build().expect("HTTP client") }
    }

    /// The app's own browser, as a [`Browser`] (same cookie jar as `self.client`).
    pub fn main_browser(&self) -> Browser {
        Browser { address: self.address.clone(), client: self.client.clone() }
    }
}

impl Browser {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request reaches the app")
    }

    /// A POST from one of the app's own pages (the browser sends `Origin`).
    pub async fn post_from_page(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("origin", &self.address)
            .send()
            .await
            .expect("request reaches the app")
    }

    /// Calls a server function the way the hydrated page does: a form-encoded POST from our origin.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{endpoint}", self.address))
            .header("origin", &self.address)
            .form(form)
            .send()
            .await
            .expect("request reaches the app")
    }

    /// A JSON API request with this browser's cookies, from our origin.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}/api/v1{path}", self.address)).header("origin", &self.address)
    }
}
