//! `spawn_app()`: the whole application on a fresh SQLite file and a free port, with a client that keeps cookies
//! and does not follow redirects.

use std::{collections::HashMap, path::PathBuf};

use gatehouse::server::{
    config::{Config, ConfigError},
    startup::Application,
    state::AppState,
};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot};

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, also the app's `APP_URL`.
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestApp {
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
    let dir = tempfile::tempdir().expect("temporary directory");
    let db_path = dir.path().join("data").join("gatehouse.db");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("free port");
    let address = format!("http://{}", listener.local_addr().expect("bound address"));

    let mut vars: HashMap<&'static str, String> = HashMap::from([
        ("APP_URL", address.clone()),
        ("DATABASE_URL", format!("sqlite://{}", db_path.display())),
        ("LEPTOS_SITE_ROOT", dir.path().join("site").display().to_string()),
    ]);
    vars.extend(overrides.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = Config::from_lookup(|key| Ok::<_, ConfigError>(vars.get(key).cloned())).expect("test configuration");
    if std::env::var_os("TEST_LOG").is_some() {
        gatehouse::server::telemetry::init(&config.log);
    }

    let app = Application::build_with_listener(config, listener).await.expect("application starts");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let client = browser_client();
    TestApp { address, client, state, db_path, stop: Some(stop), _dir: dir }
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
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.state.db).await.expect("count")
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
fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
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
