//! Liveness and readiness probes.

use serde_json::Value;

use gatehouse::server::platform::db::Db;

use crate::helpers::{on_postgres, spawn_app};

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
async fn the_database_is_created_with_the_schema_applied() {
    let app = spawn_app().await;
    let tables: Vec<String> = if on_postgres() {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()
             ORDER BY table_name",
        )
        .fetch_all(&app.sql)
        .await
        .expect("table list")
    } else {
        assert!(app.db_path.exists(), "the SQLite file (and its folder) is created");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&app.sql).await.expect("pragma");
        assert_eq!(mode, "wal");
        if let Db::Sqlite(pool) = &app.state.db {
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.expect("pragma");
            assert_eq!(foreign_keys, 1, "the app's connections enforce foreign keys");
        }
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(&app.sql)
        .await
        .expect("table list")
    };
    for table in ["api_tokens", "audit_events", "identities", "tower_sessions", "user_sessions", "users"] {
        assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
    }
}
