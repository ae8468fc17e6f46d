//! Liveness (`/healthz`) and readiness (`/readyz`) probes for load balancers and orchestrators.

use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;

use super::state::AppState;

/// How long readiness waits for the database before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The probes' paths.
pub const PROBES: [&str; 2] = ["/healthz", "/readyz"];

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(liveness)).route("/readyz", get(readiness))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// The process is up and serving requests; says nothing about its dependencies.
async fn liveness() -> impl IntoResponse {
    Json(Health { status: "ok", reason: None })
}

/// The process can do useful work: the database answers within the timeout.
async fn readiness(State(state): State<AppState>) -> impl IntoResponse {
    let problem = match tokio::time::timeout(READINESS_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(Health { status: "ready", reason: None })),
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {READINESS_TIMEOUT:?}"),
    };
    tracing::warn!(%problem, "readiness: database unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", reason: Some("database") }))
}
