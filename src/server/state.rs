//! The state every handler and server function shares: options, the database pool, configuration, providers, and
//! the cache of checked sessions and tokens. Cloned for every layer and handler of every request, so a clone is one
//! reference count: [`AppState`] is an `Arc` of [`Shared`], read through `Deref` (`state.db`, `state.config`).

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

// One path per line for the folders whose map (`mod.rs`) holds a router over the state: a grouped import such as
// `server::{auth::providers::Providers}` reads, to a file-level tool, as an import of `auth/mod.rs`.
use crate::server::auth::providers::Providers;
use crate::server::oauth::keys::KeyRing;
use crate::server::{
    people::passwords::Hasher,
    platform::{cache::AuthCache, config::Config, db::Db, mail::Mailer, secret_key::Sealer},
    security::rate_limit::Limiter,
    web::page_cache::PageCache,
};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What leptos_axum's handlers extract from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// What the state holds.
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    /// Checked sessions and tokens; see [`AuthCache`] for when entries are dropped.
    pub cache: Arc<AuthCache>,
    /// The anonymous pages, rendered once.
    pub pages: Arc<PageCache>,
    /// Password hashing, a few at a time, off the async runtime.
    pub hasher: Arc<Hasher>,
    /// Outgoing mail, when `SMTP_URL` is set.
    pub mailer: Option<Mailer>,
    /// Seals data kept at rest (authenticator seeds) with keys derived from `SECRET_KEY`.
    pub sealer: Arc<Sealer>,
    /// This site as a WebAuthn relying party, when passkeys are on (`PASSKEYS`, and `APP_URL` on a host name).
    pub passkeys: Option<Arc<crate::server::platform::relying_party::RelyingParty>>,
    /// The keys that sign the access and ID tokens Gatehouse issues to apps.
    pub keys: Arc<KeyRing>,
    /// Request rate limits and address blocks, counted here or in Redis.
    pub limiter: Arc<Limiter>,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::server::platform::metrics::Metrics>,
    /// The newest full check of the audit hash chain.
    pub chain: Arc<crate::server::security::audit::watch::ChainWatch>,
    /// A request came from a proxy on this machine (a loopback peer with forwarded headers) that `TRUSTED_PROXIES`
    /// does not name: then everyone looks like 127.0.0.1, to `ADMIN_ALLOWED_IPS`, `/metrics` and the rate limits.
    pub untrusted_local_proxy: Arc<std::sync::atomic::AtomicBool>,
}
