//! Builds the application (database, router, listener) and runs it until a shutdown signal.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use axum::{Router, middleware};
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::compression::{
    CompressionLayer,
    predicate::{DefaultPredicate, Predicate, SizeAbove},
};
use tower_sessions::session_store::ExpiredDeletion;

use crate::app::App;
use crate::server::{
    admin, api,
    auth::{self, providers::Providers},
    oauth::{self, apps, keys::KeyRing},
    people::{accounts, notices, passwords::Hasher, session},
    platform::{
        bus::Bus,
        cache::AuthCache,
        config::{Config, Protocol, ProviderSettings, SecretKeySetting},
        db::{DatabaseError, Db, on},
        mail::Mailer,
        metrics::{self, Metrics},
        relying_party::RelyingParty,
        secret_key::{Sealer, SecretKey},
        single_use,
    },
    security::{
        audit, csrf,
        rate_limit::{self, Limiter},
    },
    shell::shell,
    state::{AppState, Shared},
    web::{
        front::{self, Front},
        guard, health,
        page_cache::{self, PageCache},
        preload, server_fns,
    },
};

/// Why the server could not start. Each message names the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL: {0}")]
    Database(#[from] DatabaseError),
    #[error("DATABASE_URL: cannot prepare the session table: {0}")]
    SessionStore(sqlx::Error),
    #[error("LEPTOS_SITE_ADDR: cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the HTTP client for providers: {0}")]
    HttpClient(reqwest::Error),
    /// Already names its variable.
    #[error("{0}")]
    Mail(String),
    /// Already names its variable, what changed, and how to move on deliberately.
    #[error("{0}")]
    Identities(String),
    /// Already names its variable.
    #[error("{0}")]
    RateLimits(String),
    #[error("APP_URL: {0}")]
    Passkeys(String),
    #[error("DATABASE_URL: cannot seal the earlier security activity into the hash chain: {0}")]
    AuditChain(sqlx::Error),
    #[error("cannot prepare the token-signing keys: {0}")]
    Keys(#[from] oauth::keys::KeyError),
    #[error("SECRET_KEY is not set, and the development key in {path} cannot be used: {problem}")]
    DevelopmentKey { path: String, problem: String },
}

/// What sealed data is sealed with: `SECRET_KEY`, or on an http site without one, a development key generated once
/// and kept beside the SQLite file (or in `data/`), so sealed data survives restarts.
fn sealer(config: &Config) -> Result<Sealer, StartupError> {
    let (current, previous) = match &config.secret_key {
        SecretKeySetting::Given { current, previous } => (current.clone(), previous.clone()),
        SecretKeySetting::Development => {
            let folder = config.database.sqlite_folder().unwrap_or_else(|| "data".into());
            let path = folder.join("secret_key");
            let failed = |problem: String| StartupError::DevelopmentKey { path: path.display().to_string(), problem };
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    write_new_key(&folder, &path).map_err(|e| failed(e.to_string()))?
                }
                Err(error) => return Err(failed(error.to_string())),
            };
            tracing::warn!(
                path = %path.display(),
                "SECRET_KEY is not set: sealing with a development key kept in this file (set SECRET_KEY in production)"
            );
            (SecretKey::parse(&text).map_err(failed)?, None)
        }
    };
    Ok(Sealer::new(current, previous))
}

/// Refuses to start when a configured provider now names another issuer than the one its stored identities came
/// from: that issuer's subjects are not these people, and signing in with it would find none of them (identities are
/// keyed on issuer and subject), so their owners would seem to lose their accounts. Moving them is a deliberate
/// act, and the message says how.
async fn check_issuers(db: &Db, providers: &[ProviderSettings]) -> Result<(), StartupError> {
    for provider in providers {
        let (variable, configured) = match &provider.protocol {
            Protocol::OpenIdConnect { issuer, .. } => (issuer_variable(provider.id), issuer.as_str()),
            Protocol::GitHub { web_url, .. } => ("GITHUB_URL", web_url.as_str()),
        };
        let configured = configured.trim_end_matches('/');
        let stored: Vec<(String, i64)> = on!(db, pool => sqlx::query_as(
            "SELECT issuer, COUNT(*) FROM identities WHERE provider = $1 GROUP BY issuer ORDER BY issuer",
        )
        .bind(provider.id)
        .fetch_all(pool)
        .await)
        .map_err(|e| StartupError::Identities(format!("DATABASE_URL: cannot read the stored identities: {e}")))?;
        if let Some((old, count)) = stored.iter().find(|(issuer, _)| issuer.trim_end_matches('/') != configured) {
            return Err(StartupError::Identities(format!(
                "{variable}: provider `{id}` is now {configured}, but {count} stored identities came from {old}. They \
                 are not the same people: keep {variable} at {old}, or, to move those sign-ins to the new issuer on \
                 purpose (the same subjects, say after a domain move), run: UPDATE identities SET issuer = \
                 '{configured}' WHERE provider = '{id}' AND issuer = '{old}';",
                id = provider.id,
            )));
        }
    }
    Ok(())
}

fn issuer_variable(provider: &str) -> &'static str {
    match provider {
        "google" => "GOOGLE_ISSUER_URL",
        "dev" => "DEV_IDP_URL",
        _ => "OIDC_ISSUER_URL",
    }
}

/// The database and the sealer, for a command (`gatehouse clients …`, `gatehouse keys rotate`) run beside the server
/// with its configuration.
pub async fn open_for_command(config: &Config) -> Result<(Db, Sealer), StartupError> {
    let db = Db::connect(&config.database).await?;
    let sealer = sealer(config)?;
    Ok((db, sealer))
}

/// Writes a new key readable by its owner only; when another instance wrote one first, reads that one.
fn write_new_key(folder: &std::path::Path, path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write;
    std::fs::create_dir_all(folder)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let key = SecretKey::generate();
            file.write_all(format!("{key}\n").as_bytes())?;
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path),
        Err(error) => Err(error),
    }
}

/// How long Gatehouse waits for a provider (discovery, keys, token endpoint, UserInfo, GitHub's API).
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often expired sessions are purged.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// How often the token-signing keys are read again (a rotation elsewhere) and rotated when due.
const KEYS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    state: AppState,
    store: session::Store,
    bus: Option<Bus>,
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
        let db = Db::connect(&config.database).await?;
        check_issuers(&db, &config.providers).await?;
        let sealed = audit::chain::seal_legacy(&db).await.map_err(StartupError::AuditChain)?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed the security activity written before the hash chain into it");
        }
        let store = session::Store::open(&db).await.map_err(StartupError::SessionStore)?;
        let http = reqwest::Client::builder()
            // A provider's endpoints never need redirects; following them would let a response send us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.provider_timeout.min(PROVIDER_TIMEOUT))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StartupError::HttpClient)?;
        let providers = Providers::new(&config.providers, &config.app_url, http);
        let local_addr =
            listener.local_addr().map_err(|source| StartupError::Bind { addr: config.leptos.site_addr, source })?;

        let mut leptos_options = config.leptos.clone();
        leptos_options.site_addr = local_addr;
        let (cache, pages) = (Arc::new(AuthCache::default()), Arc::new(PageCache::default()));
        let bus = Bus::attach(&db, &cache);
        let mailer = config.mail.as_ref().map(Mailer::new).transpose().map_err(StartupError::Mail)?;
        let hasher = Arc::new(Hasher::new());
        let sealer = Arc::new(sealer(&config)?);
        let keys = Arc::new(KeyRing::open(&db, sealer.clone(), config.oauth.signing_key_rotation).await?);
        let limiter = Arc::new(Limiter::new(&config.rate_limits).await.map_err(StartupError::RateLimits)?);
        let passkeys = config
            .passkeys
            .rp_id()
            .map(|rp_id| RelyingParty::new(&config.app_url, rp_id).map(Arc::new))
            .transpose()
            .map_err(StartupError::Passkeys)?;
        let state = AppState::new(Shared {
            leptos_options,
            db,
            config: Arc::new(config),
            providers,
            cache,
            pages,
            hasher,
            mailer,
            sealer,
            passkeys,
            keys,
            limiter,
            metrics: Arc::new(Metrics::new()),
            chain: Arc::default(),
            untrusted_local_proxy: Arc::default(),
        });
        Ok(Self { listener, local_addr, router: router(state.clone(), store.clone()), state, store, bus })
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
        let background = spawn_background_tasks(self.state.clone(), self.store.clone(), self.bus);
        let header_read_timeout = self.state.config.transport.header_read_timeout;
        let served = serve(self.listener, self.router, header_read_timeout, shutdown).await;
        background.abort();
        served
    }
}

/// Longest a shutdown waits for the requests in progress.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The connection loop: what `axum::serve` does, plus a header-read timeout (a client that trickles its headers in,
/// the slow-loris attack, is cut off) and `TCP_NODELAY` (Leptos streams a page in several writes; without it each
/// response stalls on Nagle + delayed ACK).
async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    use tower::{Service, ServiceExt};

    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The client gave up before we took the connection: nothing to do.
                Err(error) if matches!(
                    error.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                // Out of file descriptors, say: wait a little rather than spin.
                Err(error) => {
                    tracing::error!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::trace!(%error, "could not set TCP_NODELAY");
        }
        let service = make_service.call(remote).await.unwrap_or_else(|never| match never {});
        let service = TowerToHyperService::new(
            service
                .map_request(|request: axum::http::Request<hyper::body::Incoming>| request.map(axum::body::Body::new)),
        );
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in progress after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// Sets providers up, purges expired sessions every few minutes, and runs the bus to the other instances.
fn spawn_background_tasks(state: AppState, store: session::Store, bus: Option<Bus>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let bus = async {
            if let Some(bus) = bus {
                bus.run(state.cache.clone()).await;
            }
        };
        // Every instance purges: each purge is one DELETE of what has expired, so instances doing it at once only
        // find less to delete.
        let housekeeping = async {
            state.providers.warm_up().await;
            let mut interval = tokio::time::interval(PURGE_INTERVAL);
            loop {
                interval.tick().await;
                if let Err(error) = store.delete_expired().await {
                    tracing::warn!(%error, "purging expired session data failed");
                }
                match session::purge_expired(&state.db, &state.config.sessions).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "purged expired sessions"),
                    Err(error) => tracing::warn!(%error, "purging expired sessions failed"),
                }
                if let Err(error) = crate::server::people::local_accounts::purge_expired(&state.db).await {
                    tracing::warn!(%error, "purging expired email links and throttles failed");
                }
                if let Err(error) = oauth::grants::purge_expired(&state.db).await {
                    tracing::warn!(%error, "purging expired authorization codes and app authorizations failed");
                }
                state.limiter.housekeeping();
                if let Some(keep) = state.config.audit_retention {
                    match audit::chain::purge(&state.db, keep).await {
                        Ok(0) => {}
                        Ok(purged) => tracing::info!(purged, "purged security activity past AUDIT_RETENTION"),
                        Err(error) => tracing::warn!(%error, "purging old security activity failed"),
                    }
                }
                if let Err(error) = single_use::purge_expired(&state.db).await {
                    tracing::warn!(%error, "could not purge used challenges and token ids");
                }
                if let Err(error) = notices::purge_expired(&state.db).await {
                    tracing::warn!(%error, "purging expired sign-in notices failed");
                }
                if let Err(error) = rate_limit::purge_blocks(&state.db).await {
                    tracing::warn!(%error, "purging ended address blocks failed");
                }
            }
        };
        let keys = async {
            let mut interval = tokio::time::interval(KEYS_INTERVAL);
            interval.tick().await;
            loop {
                interval.tick().await;
                let oauth = &state.config.oauth;
                if let Err(error) = state
                    .keys
                    .housekeeping(&state.db, oauth.signing_key_rotation, oauth::keys::keep_retired(oauth))
                    .await
                {
                    tracing::warn!(%error, "token-signing key housekeeping failed");
                }
            }
        };
        // Histograms keep every sample until they are folded into their buckets: every few seconds, whether or not
        // anyone scrapes /metrics, so memory stays flat under load.
        let metrics = async {
            let mut interval = tokio::time::interval(metrics::UPKEEP_INTERVAL);
            loop {
                interval.tick().await;
                state.metrics.upkeep();
            }
        };
        // The hash chain, checked in full now and then: a break is logged as an error and shows in /metrics.
        let chain = async {
            let mut interval = tokio::time::interval(audit::watch::CHECK_EVERY);
            loop {
                interval.tick().await;
                state.chain.start(&state.db);
            }
        };
        // Logout tokens for the apps whose authorizations ended (the outbox the database fills).
        let logouts = oauth::backchannel::run(state.clone());
        tokio::join!(bus, housekeeping, keys, metrics, chain, logouts);
    })
}

/// The app's routes, worked out once per process. `generate_route_list` renders the app with resources suppressed
/// through a process-wide flag (leptos_server's `IS_SUPPRESSING_RESOURCE_LOAD`): a resource first polled anywhere in
/// the process while it runs waits forever. Doing it once, before anything serves, leaves no such window.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Every route, with the layers that apply to all of them.
pub fn router(state: AppState, store: session::Store) -> Router {
    // The pages read before they render (`web::preload`) are routed here; Leptos routes every other page.
    let (preloaded, routes): (Vec<_>, Vec<_>) =
        route_list().into_iter().partition(|route| PRELOADED_PAGES.contains(&route.path()));
    debug_assert_eq!(preloaded.len(), PRELOADED_PAGES.len(), "every preloaded page is one of the app's routes");
    let page = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    let sessions = session::layer(store, &state.config.app_url, &state.config.sessions);
    Router::new()
        .merge(health::router())
        .merge(auth::handlers::router())
        .merge(auth::backchannel::router())
        .merge(auth::risc::router())
        .merge(auth::passkey::router())
        .merge(api::router(&state))
        .merge(accounts::router())
        .merge(oauth::router())
        .merge(apps::router())
        .merge(admin::router())
        .merge(notices::router())
        .leptos_routes(&state, routes, page.clone())
        .route(
            "/dashboard",
            preload::page(page.clone(), |state, signed_in, query| async move {
                accounts::dashboard(&state, &signed_in, activity_before(query.as_deref())).await
            }),
        )
        .route(
            "/profile",
            preload::page(page, |state, signed_in, _| async move { accounts::profile(&state, &signed_in).await }),
        )
        .route("/metrics", axum::routing::get(health::scrape))
        .route_layer(middleware::from_fn(metrics::name_route))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(server_fns::undecodable_arguments_are_bad_requests))
        .layer(middleware::from_fn_with_state(state.pages.clone(), page_cache::serve_anonymous_pages))
        .layer(middleware::from_fn_with_state(state.clone(), guard::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::same_origin_only))
        .layer(sessions)
        // Small answers (JSON, redirects, refusals) are sent as they are: compressing them costs more than it saves.
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(MIN_COMPRESSED_BYTES))))
        // Outermost, one layer for what every request needs before anything else: see `web::front`.
        .layer(middleware::from_fn_with_state(Front::new(state.clone()), front::front))
        .with_state(state)
}

/// The pages whose data is read before they render, in one pass (`web::preload`): the signed-in pages with the most
/// to show.
const PRELOADED_PAGES: [&str; 2] = ["/dashboard", "/profile"];

/// The dashboard's activity page, `?before=`, read as the page reads it (the last value, if given more than once).
fn activity_before(query: Option<&str>) -> Option<i64> {
    let query = query?;
    url::form_urlencoded::parse(query.as_bytes()).filter(|(key, _)| key == "before").last()?.1.parse().ok()
}

/// Answers shorter than this are not compressed (a TCP packet holds about 1,400 bytes).
const MIN_COMPRESSED_BYTES: u16 = 1024;

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is first
/// polled: a SIGTERM that arrived between start-up and the serve loop's first look at the future would otherwise meet
/// the default action and kill the process (seen once in CI, under load, as an exit by signal 15).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(signal) => drop(signal.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let terminate = async {
                match terminate.as_mut() {
                    Some(signal) => drop(signal.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}
