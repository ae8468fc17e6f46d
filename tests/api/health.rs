//! Liveness and readiness probes.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_ready_when_the_database_answers() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.db.close().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "database");

    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_file_is_created_in_wal_mode_with_the_schema_applied() {
    let app = spawn_app().await;
    assert!(app.db_path.exists(), "the SQLite file (and its folder) is created");

    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&app.state.db).await.expect("pragma");
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&app.state.db).await.expect("pragma");
    assert_eq!(foreign_keys, 1);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("table list");
    for table in ["audit_events", "identities", "users"] {
        assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
    }
}
