//! The real server binary: refusing bad configuration with a clear line, and stopping cleanly on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{fresh_postgres_schema, postgres_server};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// Runs the server binary in an empty directory (so no `.env` is found) with only the given variables.
fn run_server(dir: &std::path::Path, vars: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BINARY)
        .current_dir(dir)
        .env_clear()
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary starts");
    // A refused start ends at once; one that is still running after a while has failed the test.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server kept running instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn assert_clear_refusal(output: &Output, code: i32, mentions: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "exit code; stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line, got: {stderr}");
    for word in mentions {
        assert!(stderr.contains(word), "{word:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "no backtrace hint: {stderr}");
}

#[test]
fn a_database_url_of_another_kind_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run_server(dir.path(), &[("DATABASE_URL", "mysql://admin:hunter2@db.example/gatehouse")]);
    assert_clear_refusal(&output, 2, &["DATABASE_URL", "sqlite://", "postgres://", "\"mysql\""]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"), "the password is never printed");
}

#[test]
fn an_unreachable_postgres_is_a_clear_startup_error_without_the_password() {
    let dir = tempfile::tempdir().expect("dir");
    // Nothing listens on port 1.
    let output = run_server(
        dir.path(),
        &[("DATABASE_URL", "postgres://admin:hunter2@127.0.0.1:1/gatehouse"), ("DATABASE_CONNECT_TIMEOUT", "2s")],
    );
    assert_clear_refusal(&output, 1, &["DATABASE_URL", "127.0.0.1:1/gatehouse"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"), "the password is never printed");
}

#[test]
fn an_unreachable_redis_is_a_clear_startup_error_without_the_password() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    // Nothing listens on port 1.
    let output = run_server(dir.path(), &[("DATABASE_URL", &url), ("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")]);
    assert_clear_refusal(&output, 1, &["REDIS_URL", "cannot connect"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"), "the password is never printed");
}

#[test]
fn postgres_refusing_the_credentials_is_a_clear_startup_error_without_the_password() {
    let Some(server) = postgres_server() else { return };
    let mut url = url::Url::parse(&server).expect("URL");
    url.set_username("no_such_role").expect("user");
    url.set_password(Some("hunter2")).expect("password");
    let dir = tempfile::tempdir().expect("dir");
    let output = run_server(dir.path(), &[("DATABASE_URL", url.as_str())]);
    assert_clear_refusal(&output, 1, &["DATABASE_URL", "no_such_role"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"), "the password is never printed");
}

/// A migration that fails is named, and leaves nothing of itself: here the tokens table is already there (made by
/// hand, say), so the migration creating it fails after the ones before it applied.
#[test]
fn a_failing_migration_is_named_and_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().expect("dir");
    let url = match postgres_server() {
        Some(server) => tokio::runtime::Runtime::new().expect("runtime").block_on(fresh_postgres_schema(&server)),
        None => format!("sqlite://{}", dir.path().join("taken.db").display()),
    };
    let sql = |statement: &'static str| {
        let url = url.clone();
        tokio::runtime::Runtime::new().expect("runtime").block_on(async move {
            sqlx::any::install_default_drivers();
            let options: sqlx::any::AnyConnectOptions =
                format!("{url}{}", if url.starts_with("sqlite") { "?mode=rwc" } else { "" }).parse().expect("URL");
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options).await.expect("connect");
            sqlx::query_scalar::<_, i64>(statement).fetch_all(&mut conn).await.expect(statement)
        })
    };
    sql("CREATE TABLE api_tokens (id TEXT)");

    let output = run_server(dir.path(), &[("DATABASE_URL", &url)]);
    assert_clear_refusal(&output, 1, &["DATABASE_URL", "migration", "20261123000003", "api tokens"]);
    let applied = sql("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version");
    assert_eq!(applied, [20261123000001, 20261123000002], "the migrations before it stay applied, it does not");
    let left = sql("SELECT COUNT(*) FROM user_sessions");
    assert_eq!(left, [0], "the earlier migrations' tables are there");
    let columns = sql(if url.starts_with("sqlite") {
        "SELECT COUNT(*) FROM pragma_table_info('api_tokens')"
    } else {
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'api_tokens' AND table_schema = current_schema()"
    });
    assert_eq!(columns, [1], "the table made by hand is as it was");
}

#[test]
fn an_invalid_app_url_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run_server(dir.path(), &[("APP_URL", "login.example.com")]);
    assert_clear_refusal(&output, 2, &["APP_URL"]);
}

#[test]
fn an_https_site_without_secret_key_is_refused_and_a_bad_key_is_never_echoed() {
    let dir = tempfile::tempdir().expect("dir");
    let output = run_server(dir.path(), &[("APP_URL", "https://login.example.com")]);
    assert_clear_refusal(&output, 2, &["SECRET_KEY", "gatehouse secret"]);
    let output = run_server(dir.path(), &[("SECRET_KEY", "hunter2hunter2")]);
    assert_clear_refusal(&output, 2, &["SECRET_KEY", "64 hexadecimal"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"), "the key is never printed");
    let output = run_server(dir.path(), &[("PASSWORD_LOGIN", "true")]);
    assert_clear_refusal(&output, 2, &["PASSWORD_LOGIN", "SMTP_URL"]);
}

#[test]
fn a_damaged_development_key_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/secret_key"), "not a key\n").expect("write");
    let output = run_server(dir.path(), &[("DATABASE_URL", "sqlite://data/gatehouse.db")]);
    assert_clear_refusal(&output, 1, &["SECRET_KEY", "data/secret_key"]);
}

#[test]
fn a_corrupt_database_file_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("broken.db"), vec![0x42; 8192]).expect("write garbage");
    let output = run_server(dir.path(), &[("DATABASE_URL", "sqlite://broken.db")]);
    assert_clear_refusal(&output, 1, &["DATABASE_URL", "broken.db", "not a database"]);
}

#[test]
fn an_unreadable_database_location_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("dir");
    // A directory where the file should be: cannot be opened as a database, whoever runs the test (even root).
    std::fs::create_dir(dir.path().join("taken.db")).expect("mkdir");
    let output = run_server(dir.path(), &[("DATABASE_URL", "sqlite://taken.db")]);
    assert_clear_refusal(&output, 1, &["DATABASE_URL", "taken.db"]);
}

#[test]
fn the_server_starts_serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(BINARY)
        .current_dir(dir.path())
        .env_clear()
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary starts");

    // The first log line with an address says where it listens.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("server logs before exiting").expect("utf-8 log line");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON log line: {line}"));
        if let Some(address) = entry["address"].as_str() {
            break address.to_owned();
        }
    };
    assert!(dir.path().join("data/gatehouse.db").exists(), "default database file is created");

    let body = get_blocking(&format!("http://{address}/readyz"));
    assert!(body.contains("ready"), "{body}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
}

/// A one-off GET from a synchronous test, on a throwaway runtime.
fn get_blocking(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async { reqwest::get(url).await.expect("request").text().await.expect("body") })
}

/// `gatehouse secret` prints a new `SECRET_KEY` (64 hexadecimal characters, a different one each time) and starts
/// nothing; an unknown command is refused with the usage and exit code 2.
#[test]
fn the_secret_command_prints_a_new_key_and_unknown_commands_are_refused() {
    let secret = || Command::new(BINARY).arg("secret").env_clear().output().expect("runs");
    let (first, second) = (secret(), secret());
    assert!(first.status.success());
    let key = String::from_utf8(first.stdout).expect("text");
    let key = key.trim_end();
    assert!(key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()), "{key:?}");
    assert!(gatehouse::server::platform::secret_key::SecretKey::parse(key).is_ok());
    assert_ne!(key.as_bytes(), second.stdout.trim_ascii_end(), "a new key each time");

    let unknown = Command::new(BINARY).arg("serve-please").env_clear().output().expect("runs");
    assert_clear_refusal(&unknown, 2, &["unknown command", "serve-please", "usage: gatehouse [secret | clients"]);
}
