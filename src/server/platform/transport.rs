//! Transport limits, so no single request can hold the server: how large a request body may be, how long a request
//! may take (`REQUEST_TIMEOUT`), and how many may be in progress at once (`MAX_CONCURRENT_REQUESTS`). How long a
//! client may take to send its headers (`HEADER_READ_TIMEOUT`) is set on the connection, in `startup::serve`.

use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The largest body a page form, server function or OAuth endpoint takes: they carry a few fields. The JSON API
/// (`/api/v1`) has its own, smaller limit, with its own error shape.
pub const MAX_FORM_BODY: usize = 64 * 1024;

/// Refuses a body over [`MAX_FORM_BODY`] with 413 — at once when `Content-Length` says so, else when the body
/// grows past it while being read. Called by `web::front` for every request.
pub async fn limit_body(request: Request) -> Result<Request, Response> {
    // An empty body (every GET a browser sends) needs no limit, nor the wrapper that counts it.
    if request.uri().path().starts_with("/api/v1/") || axum::body::HttpBody::is_end_stream(request.body()) {
        return Ok(request);
    }
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > MAX_FORM_BODY as u64) {
        // Closing a connection with unread data resets it, and the client may lose the answer with it. A body that
        // is only somewhat too large is read and thrown away first (as nginx's lingering close does), so the 413
        // arrives; a huge one is not worth reading.
        if length <= DRAIN_AT_MOST as u64 {
            drain(request.into_body()).await;
        }
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, MAX_FORM_BODY));
    Ok(Request::from_parts(parts, limited))
}

/// How much of a declared-too-large body is read (and dropped) before the 413, so the client gets it.
const DRAIN_AT_MOST: usize = 1024 * 1024;

async fn drain(body: Body) {
    use http_body_util::BodyExt;
    let mut body = http_body_util::Limited::new(body, DRAIN_AT_MOST);
    while let Some(Ok(_)) = body.frame().await {}
}

fn too_large() -> Response {
    let message = format!("The request is larger than {} KB.", MAX_FORM_BODY / 1024);
    (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({ "error": "body_too_large", "message": message }))).into_response()
}

/// The answer when `MAX_CONCURRENT_REQUESTS` are already in progress: 503 at once, with `Retry-After`.
pub fn overloaded() -> Response {
    let body = json!({ "error": "overloaded", "message": "Gatehouse is busy. Please try again in a moment." });
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], Json(body)).into_response()
}

/// The answer to a request that ran past `REQUEST_TIMEOUT`.
pub fn timed_out() -> Response {
    tracing::warn!("a request took longer than REQUEST_TIMEOUT and was cut off");
    let body = json!({ "error": "timeout", "message": "The request took too long. Please try again." });
    (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response()
}

/// The answer to a request whose handling panicked: the panic is logged, the connection kept.
pub fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(message, "a request panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "internal", "message": "Something went wrong." })))
        .into_response()
}
