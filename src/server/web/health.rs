//! What operators and their tools ask of a running instance: liveness (`/healthz`) and readiness (`/readyz`) for
//! load balancers and orchestrators, and `/metrics` for Prometheus.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::server::{security::client_addr::ClientAddr, state::AppState};

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

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    if !may_read(&state, &request) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match state.metrics.render(&state.db, &state.chain).await {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics: could not count the active sessions");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The metrics token, or an address on the operators' allow-list (loopback, without one).
fn may_read(state: &AppState, request: &Request) -> bool {
    let operators = &state.config.operators;
    if let Some(expected) = &operators.metrics_token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(presented) = presented {
            // Comparing digests: the time taken says nothing about how much of the token was right.
            return Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.expose_secret().as_bytes());
        }
    }
    let Some(&ClientAddr(ip)) = request.extensions().get::<ClientAddr>() else { return false };
    operators.metrics_readable_from(ip)
}
