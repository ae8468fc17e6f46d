//! Builds the application (database, router, listener) and runs it until a shutdown signal.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, serve::ListenerExt};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

use super::{
    config::Config,
    db::{self, DatabaseError},
    health, security,
    state::AppState,
    telemetry,
};
use crate::app::{App, shell};

/// Why the server could not start. Each message names the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL: {0}")]
    Database(#[from] DatabaseError),
    #[error("LEPTOS_SITE_ADDR: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    state: AppState,
}

impl Application {
    /// Opens the database (applying migrations) and binds `LEPTOS_SITE_ADDR`; port 0 picks a free port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let requested = config.leptos.site_addr;
        let listener =
            TcpListener::bind(requested).await.map_err(|source| StartupError::Bind { addr: requested, source })?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`Application::build`], on a listener the caller already bound (tests bind first to learn the port,
    /// which `APP_URL` must name).
    pub async fn build_with_listener(config: Config, listener: TcpListener) -> Result<Self, StartupError> {
        let db = db::connect(&config.database).await?;
        let local_addr =
            listener.local_addr().map_err(|source| StartupError::Bind { addr: config.leptos.site_addr, source })?;

        let mut leptos_options = config.leptos.clone();
        leptos_options.site_addr = local_addr;
        let state = AppState { leptos_options, db, config: Arc::new(config) };
        Ok(Self { listener, local_addr, router: router(state.clone()), state })
    }

    /// The shared state, for tests that need to reach the database directly.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The address actually bound (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Leptos streams a page in several writes; without TCP_NODELAY each response stalls on Nagle + delayed ACK.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::trace!(%error, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Every route, with the layers that apply to all of them.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let mut router = Router::new()
        .merge(health::router())
        .leptos_routes(&state, routes, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state.clone());

    for header in security::baseline_headers(&state.config.app_url) {
        router = router.layer(header);
    }
    // Listed innermost first: a request passes the request id, tracing, panic catching, then compression.
    router
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(telemetry::request_tracing())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
