//! The front of every request, in one layer: what used to be ten (request ids, client address, metrics, the access
//! log, the concurrency limit, the timeout, panic catching, baseline headers, the reactive-owner scope, body limits
//! and the address limits), each boxing the request's future and cloning the state. Here they are steps of one async
//! function over state made once ([`Front`]), in the order a request meets them:
//!
//! 0. where `APP_URL` is `http://localhost:PORT` (as `make run` serves it), a page opened at 127.0.0.1 or [::1] on
//!    that port is sent to localhost: one origin, so that passkeys, cookies and the same-site check all agree;
//! 1. an incoming `X-Request-Id` is kept only from a trusted proxy; otherwise the request gets a fresh one;
//! 2. the client's address is worked out once (`ClientAddr`);
//! 3. the server's capacity: a request over `MAX_CONCURRENT_REQUESTS` is answered 503 at once;
//! 4. the body limit outside `/api/v1` (64 KB, 413) and the address limits (429);
//! 5. the rest runs in its own reactive-owner scope ([`owner_scope`]), within `REQUEST_TIMEOUT` (408), with a panic
//!    answered 500 instead of closing the connection;
//! 6. on the way out: the baseline security headers, the request id, the request's metrics, and an access-log line
//!    when `ACCESS_LOG` asks for one.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::server::{
    platform::{config::AccessLog, metrics::Route, telemetry, transport},
    security::headers,
    state::AppState,
    web::{health, layers, owner_scope},
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the front layer needs, made once at start-up: the state, the baseline headers, the request slots.
pub struct Front {
    state: AppState,
    headers: Vec<(HeaderName, HeaderValue)>,
    slots: Semaphore,
    timeout: Duration,
    access_log: AccessLog,
    /// `APP_URL`'s origin and port when its host is `localhost`.
    localhost: Option<(String, u16)>,
}

impl Front {
    pub fn new(state: AppState) -> Arc<Self> {
        let transport = &state.config.transport;
        Arc::new(Self {
            headers: headers::baseline(&state.config.app_url),
            slots: Semaphore::new(transport.max_concurrent_requests),
            timeout: transport.request_timeout,
            access_log: state.config.log.access,
            localhost: state.config.app_url.localhost(),
            state,
        })
    }
}

/// The layer (see the module's comment).
pub async fn front(State(front): State<Arc<Front>>, mut request: Request, next: Next) -> Response {
    if let Some((origin, port)) = &front.localhost
        && let Some(redirect) = to_localhost(origin, *port, &request)
    {
        return redirect;
    }
    let started = Instant::now();
    let state = &front.state;
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let from_trusted_proxy = peer.is_some_and(|peer| state.config.trusted_proxies.contains(peer));
    let request_id = request_id(&mut request, from_trusted_proxy);
    if let Some(peer) = peer {
        layers::identify(state, peer, &mut request);
    }
    let method = request.method().clone();
    // A probe logs nothing of its own and is asked for every few seconds: its span would be the largest part of its
    // cost (`bench/profiles/healthz.txt`). Its access-log line, if any, names its path and request id itself.
    let probe = health::PROBES.into_iter().find(|probe| *probe == request.uri().path());
    let span = match probe {
        Some(_) => tracing::Span::none(),
        None => telemetry::request_span(&method, request.uri().path(), request_id.to_str().unwrap_or("-")),
    };

    let mut response = match front.slots.try_acquire() {
        Err(_) => transport::overloaded(),
        Ok(_slot) => admitted(&front, request, next).instrument(span.clone()).await,
    };

    let headers = response.headers_mut();
    for (name, value) in &front.headers {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    if !headers.contains_key(&REQUEST_ID) {
        headers.insert(REQUEST_ID, request_id);
    }
    let elapsed = started.elapsed();
    let route = response.extensions().get::<Route>().map_or("unmatched", |route| route.0.as_str());
    state.metrics.request(route, &method, response.status(), elapsed.as_secs_f64());
    if front.access_log.wants(response.status()) {
        span.in_scope(|| {
            let (status, latency_ms) = (response.status().as_u16(), elapsed.as_millis() as u64);
            match probe {
                None => tracing::info!(status, latency_ms, "response"),
                Some(path) => {
                    let request_id = response.headers().get(&REQUEST_ID).and_then(|id| id.to_str().ok());
                    tracing::info!(%method, path, request_id, status, latency_ms, "response");
                }
            }
        });
    }
    response
}

/// A GET or HEAD addressed to a loopback IP on `APP_URL`'s port, sent to the same path at `origin` (localhost).
/// Other methods are left alone: a form posted from the IP's origin is cross-site to localhost, and refused as such.
/// So are the health probes.
fn to_localhost(origin: &str, port: u16, request: &Request) -> Option<Response> {
    // Probes answer wherever they are asked: a health check by address is not a person at a page.
    if !matches!(*request.method(), Method::GET | Method::HEAD) || health::PROBES.contains(&request.uri().path()) {
        return None;
    }
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    let authority: axum::http::uri::Authority = host.parse().ok()?;
    let ip: std::net::IpAddr = authority.host().trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    if !ip.is_loopback() || authority.port_u16() != Some(port) {
        return None;
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(Redirect::temporary(&format!("{origin}{path}")).into_response())
}

/// The request's id: the one a trusted proxy sent, or a fresh one; set on the request for everything after.
fn request_id(request: &mut Request, from_trusted_proxy: bool) -> HeaderValue {
    if from_trusted_proxy && let Some(id) = request.headers().get(&REQUEST_ID) {
        return id.clone();
    }
    let id = HeaderValue::from_str(&new_request_id()).expect("a UUID is a valid header value");
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// A UUID (version 4 in form) unique within the process and, with overwhelming likelihood, across processes: 60
/// random bits drawn once per process, then a counter. Request ids are not secrets; a fresh random draw per request
/// (a system call) bought nothing.
fn new_request_id() -> String {
    use std::sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    };
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the system's random source");
        u64::from_le_bytes(bytes)
    });
    // Version 4 in the high half's 13th hex digit, the RFC 4122 variant in the low half's top two bits.
    let high = (prefix & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let low = (NEXT.fetch_add(1, Ordering::Relaxed) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// Past the capacity check: the body limit and the address limits, then the rest of the stack, guarded (its own
/// reactive owner, panics caught) and timed.
async fn admitted(front: &Front, request: Request, next: Next) -> Response {
    let request = match transport::limit_body(request).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let run = layers::limit_by_address(&front.state, request, |request| async {
        owner_scope::guarded(next.run(request)).await.unwrap_or_else(transport::panicked)
    });
    tokio::time::timeout(front.timeout, run).await.unwrap_or_else(|_| transport::timed_out())
}

impl AccessLog {
    /// Whether an answer with this status gets a line.
    fn wants(self, status: StatusCode) -> bool {
        match self {
            AccessLog::Off => false,
            AccessLog::Errors => status.is_server_error(),
            AccessLog::All => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_never_repeat() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "4", "version: {id}");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "variant: {id}");
        }
    }

    #[test]
    fn a_page_opened_at_a_loopback_ip_goes_to_localhost_on_the_same_port_only() {
        let request = |method: Method, host: &str, path: &str| {
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, host)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let origin = "http://localhost:3000";
        let moved = to_localhost(origin, 3000, &request(Method::GET, "127.0.0.1:3000", "/login?next=%2Fprofile"));
        let moved = moved.expect("redirected");
        assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(moved.headers()[header::LOCATION], "http://localhost:3000/login?next=%2Fprofile");
        assert!(to_localhost(origin, 3000, &request(Method::HEAD, "[::1]:3000", "/")).is_some());
        assert!(to_localhost(origin, 3000, &request(Method::GET, "127.0.0.1:3000", "/readyz")).is_none(), "probes");
        for (method, host) in [
            (Method::POST, "127.0.0.1:3000"),
            (Method::GET, "127.0.0.1:3001"),
            (Method::GET, "localhost:3000"),
            (Method::GET, "192.0.2.1:3000"),
            (Method::GET, "127.0.0.1"),
        ] {
            assert!(to_localhost(origin, 3000, &request(method.clone(), host, "/")).is_none(), "{method} {host}");
        }
    }
}
