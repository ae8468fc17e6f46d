//! Structured logs with `tracing`: readable lines by default, one JSON object per line with `LOG_FORMAT=json`.

use std::io::IsTerminal;

use axum::http::Method;
use tracing::Span;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::server::platform::config::{LogFormat, LogSettings};

/// Installs the global subscriber. A second call (as in tests) leaves the first in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_target(false).with_ansi(std::io::stdout().is_terminal()))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
}

/// The span every request runs in (opened by `web::front`), so that whatever is logged while it runs names its
/// request. It records the path only: query strings carry authorization codes and state, which must never reach a
/// log.
pub fn request_span(method: &Method, path: &str, request_id: &str) -> Span {
    tracing::info_span!("request", %method, path, request_id)
}
