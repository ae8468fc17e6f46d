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

/// Starts the app with the default configuration plus `overrides`.
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

    let app = Application::build_with_listener(config, listener).await.expect("application starts");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("HTTP client");
    TestApp { address, client, state, db_path, stop: Some(stop), _dir: dir }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}
