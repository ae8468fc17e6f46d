//! `/metrics`: what an operator graphs and alerts on, in the Prometheus text format.
//!
//! Each server holds its own recorder (not the process-wide one the `metrics` macros use), so two servers in one
//! process (the tests run many) count apart, and every metric's name and labels are written down here, once:
//! - `gatehouse_http_requests_total{route, method, status}` and `gatehouse_http_request_duration_seconds{route,
//!   method}`: every request, by the route pattern it matched (`/api/v1/sessions/{id}`, never the id itself);
//!   `unmatched` for anything no route answered (static files, 404s, refusals in front of the routes); a method
//!   other than the seven in use is counted as `other`;
//! - `gatehouse_sign_ins_total{provider, outcome}`: `success`, `second_step` (the first step passed; a code is
//!   asked for) or `failure`; `gatehouse_sign_in_failures_total{reason}`: why sign-ins and second steps failed;
//! - `gatehouse_active_sessions`: signed-in sessions that have not ended, read when scraped;
//! - `gatehouse_tokens_issued_total{kind}`: personal access tokens, and the access, refresh and ID tokens apps get;
//! - `gatehouse_rate_limit_refusals_total{limit, reason}`: requests the rate limits or an address block refused;
//! - `gatehouse_backchannel_logouts_total{provider, outcome}`: logout tokens received from sign-in providers,
//!   `accepted` or `refused`; `gatehouse_backchannel_logout_deliveries_total{client, outcome}`: logout tokens sent
//!   to apps, `delivered`, `retried` or `failed`; `gatehouse_security_events_total{provider, outcome}`: Google's
//!   Cross-Account Protection tokens, `accepted` or `refused`.
//!
//! Who may read it: a request with `Authorization: Bearer <METRICS_TOKEN>`, or one from `ADMIN_ALLOWED_IPS` (from
//! loopback only, when that is not set). Anyone else gets 404, as if there were nothing here.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use axum::{
    extract::{MatchedPath, Request},
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
};
use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::server::{
    platform::{
        clock,
        db::{Db, on},
    },
    security::audit::watch::ChainWatch,
};

const REQUESTS: &str = "gatehouse_http_requests_total";
const DURATION: &str = "gatehouse_http_request_duration_seconds";
const SIGN_INS: &str = "gatehouse_sign_ins_total";
const FAILURES: &str = "gatehouse_sign_in_failures_total";
const ACTIVE_SESSIONS: &str = "gatehouse_active_sessions";
const TOKENS: &str = "gatehouse_tokens_issued_total";
const REFUSALS: &str = "gatehouse_rate_limit_refusals_total";
const BACKCHANNEL_LOGOUTS: &str = "gatehouse_backchannel_logouts_total";
const LOGOUT_DELIVERIES: &str = "gatehouse_backchannel_logout_deliveries_total";
const SECURITY_EVENTS: &str = "gatehouse_security_events_total";
const CHAIN_INTACT: &str = "gatehouse_audit_chain_intact";
const CHAIN_CHECKED: &str = "gatehouse_audit_chain_checked_timestamp_seconds";

/// How often the histograms' samples are folded into their buckets (the exporter's own listener does it as often).
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Request durations, in seconds: from a cached page (well under a millisecond) to a slow provider.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The route a request matched, carried out on its response for [`track`].
#[derive(Clone, Debug)]
pub struct Route(pub String);

/// How a sign-in went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    SecondStep,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::SecondStep => "second_step",
            Outcome::Failure => "failure",
        }
    }
}

/// A token Gatehouse handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issued {
    PersonalAccessToken,
    AccessToken,
    RefreshToken,
    IdToken,
}

impl Issued {
    fn as_str(self) -> &'static str {
        match self {
            Issued::PersonalAccessToken => "personal_access_token",
            Issued::AccessToken => "access_token",
            Issued::RefreshToken => "refresh_token",
            Issued::IdToken => "id_token",
        }
    }
}

/// The methods requests are counted under; any other is `other` (a client may send any token as a method, and
/// each would otherwise be a series of its own).
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// One route's registered handles: a duration histogram per method, a counter per method and status seen. Kept so
/// that counting a request is a map lookup, not a registration (which builds and hashes the labels every time).
#[derive(Default)]
struct RouteHandles {
    durations: [Option<Histogram>; METHODS.len()],
    counts: Vec<(usize, u16, Counter)>,
}

impl RouteHandles {
    fn count(&self, method: usize, status: u16) -> Option<&Counter> {
        self.counts.iter().find(|(m, s, _)| *m == method && *s == status).map(|(_, _, counter)| counter)
    }
}

/// This server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    /// By route pattern (a bounded set: the router's, and `unmatched`).
    routes: RwLock<HashMap<String, RouteHandles>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let describe = |name: &'static str, text: &'static str| {
            recorder.describe_counter(name.into(), None, text.into());
        };
        describe(REQUESTS, "HTTP requests answered, by route pattern, method and status.");
        describe(DURATION, "How long requests took to answer, by route pattern and method.");
        describe(SIGN_INS, "Sign-ins by provider and outcome (success, second_step, failure).");
        describe(FAILURES, "Failed sign-ins and second steps, by reason.");
        describe(ACTIVE_SESSIONS, "Signed-in sessions that have not ended.");
        describe(TOKENS, "Tokens issued, by kind.");
        describe(REFUSALS, "Requests refused by a rate limit or an address block.");
        describe(BACKCHANNEL_LOGOUTS, "Logout tokens received from sign-in providers, by provider and outcome.");
        describe(LOGOUT_DELIVERIES, "Logout tokens sent to apps, by app (client id) and outcome.");
        describe(SECURITY_EVENTS, "Security event tokens received (Google's Cross-Account Protection), by outcome.");
        describe(CHAIN_INTACT, "1 if the audit hash chain verified at its newest full check, 0 if it did not.");
        describe(CHAIN_CHECKED, "When the audit hash chain was last checked in full, in Unix seconds.");
        Self { recorder, routes: RwLock::default() }
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> metrics::Counter {
        self.recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    pub fn request(&self, route: &str, method: &Method, status: StatusCode, seconds: f64) {
        let (method, code) = (method_index(method), status.as_u16());
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(handles) = routes.get(route)
                && let (Some(duration), Some(count)) = (&handles.durations[method], handles.count(method, code))
            {
                count.increment(1);
                duration.record(seconds);
                return;
            }
        }
        // First time for this route, method or status: register, then keep the handles.
        let labels = || vec![Label::new("route", route.to_owned()), Label::new("method", METHODS[method])];
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let handles = routes.entry(route.to_owned()).or_default();
        let duration = handles.durations[method]
            .get_or_insert_with(|| self.recorder.register_histogram(&Key::from_parts(DURATION, labels()), &METADATA))
            .clone();
        let count = match handles.count(method, code) {
            Some(count) => count.clone(),
            None => {
                let mut with_status = labels();
                with_status.push(Label::new("status", status.as_str().to_owned()));
                let count = self.counter(REQUESTS, with_status);
                handles.counts.push((method, code, count.clone()));
                count
            }
        };
        drop(routes);
        count.increment(1);
        duration.record(seconds);
    }

    pub fn sign_in(&self, provider: &str, outcome: Outcome) {
        let labels = vec![Label::new("provider", provider.to_owned()), Label::new("outcome", outcome.as_str())];
        self.counter(SIGN_INS, labels).increment(1);
    }

    /// A logout token from a sign-in provider: `accepted` or `refused`.
    pub fn backchannel_logout(&self, provider: &str, outcome: &'static str) {
        let labels = vec![Label::new("provider", provider.to_owned()), Label::new("outcome", outcome)];
        self.counter(BACKCHANNEL_LOGOUTS, labels).increment(1);
    }

    /// A security event token from a provider: `accepted` or `refused`.
    pub fn security_event(&self, provider: &str, outcome: &'static str) {
        let labels = vec![Label::new("provider", provider.to_owned()), Label::new("outcome", outcome)];
        self.counter(SECURITY_EVENTS, labels).increment(1);
    }

    /// A logout token sent to an app: `delivered`, `retried` or `failed`.
    pub fn backchannel_logout_delivery(&self, client_id: &str, outcome: &'static str) {
        let labels = vec![Label::new("client", client_id.to_owned()), Label::new("outcome", outcome)];
        self.counter(LOGOUT_DELIVERIES, labels).increment(1);
    }

    /// A failed sign-in (or second step), with its reason (`invalid_state`, `wrong_password`, `wrong_code`, …).
    pub fn sign_in_failed(&self, provider: &str, reason: &'static str) {
        self.sign_in(provider, Outcome::Failure);
        self.failure(reason);
    }

    /// A failure that is not a sign-in's own: a wrong code at the second step.
    pub fn failure(&self, reason: &'static str) {
        self.counter(FAILURES, vec![Label::new("reason", reason)]).increment(1);
    }

    pub fn issued(&self, kind: Issued) {
        self.counter(TOKENS, vec![Label::new("kind", kind.as_str())]).increment(1);
    }

    /// `limit`: `sign_in`, `oauth`, `api` or `block` (an address block in front of a route with no rate limit).
    pub fn refused(&self, limit: &'static str, reason: &'static str) {
        self.counter(REFUSALS, vec![Label::new("limit", limit), Label::new("reason", reason)]).increment(1);
    }

    /// Folds the histograms' samples into their buckets. Until then each request's duration is kept as a sample:
    /// without this, memory would grow with every request between scrapes.
    pub fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// The text a scrape gets, with the number of active sessions as of now.
    pub async fn render(&self, db: &Db, chain: &ChainWatch) -> Result<String, sqlx::Error> {
        let active: i64 = on!(db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_sessions WHERE expires_at > $1",
        )
        .bind(clock::now())
        .fetch_one(pool)
        .await)?;
        self.recorder.register_gauge(&Key::from_name(ACTIVE_SESSIONS), &METADATA).set(active as f64);
        if let Some(checked) = chain.latest() {
            let intact = if checked.intact() { 1.0 } else { 0.0 };
            self.recorder.register_gauge(&Key::from_name(CHAIN_INTACT), &METADATA).set(intact);
            self.recorder.register_gauge(&Key::from_name(CHAIN_CHECKED), &METADATA).set(checked.at as f64);
        }
        Ok(self.recorder.handle().render())
    }
}

/// Inside the router, on the routes only: notes on the response which route pattern the request matched.
pub async fn name_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(Route(route));
    }
    response
}
