//! The signed-in session: a typed wrapper over `tower-sessions`, plus the `user_sessions` row that makes each session
//! listable and revocable. A session is valid only while its row exists and is within both time limits.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use serde::{Deserialize, Serialize};
use tower_sessions::{
    Expiry, Session, SessionManagerLayer,
    cookie::{SameSite, time::Duration},
    session::{Id, Record},
    session_store::{self, ExpiredDeletion, SessionStore},
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::model::auth::SignedInUser;
use crate::server::{
    people::users::PersonColumns,
    platform::{
        cache::{AuthCache, CachedSession},
        clock,
        config::{AppUrl, SessionSettings},
        db::{Backend, Db, Exec, on},
    },
};

/// Session data key for the signed-in person.
const AUTH_KEY: &str = "auth";
/// Session data key for a sign-in waiting for its second step (see [`Challenge`]).
const CHALLENGE_KEY: &str = "challenge";
/// `last_seen_at` is written at most this often, not on every request.
const LAST_SEEN_RESOLUTION_SECS: i64 = 60;

/// Cookie name: the `__Host-` prefix (Secure, Path=/, no Domain) whenever the site is served over https.
pub fn cookie_name(app_url: &AppUrl) -> &'static str {
    if app_url.is_https() { "__Host-gatehouse_session" } else { "gatehouse_session" }
}

/// The session layer: HttpOnly, SameSite=Lax, Path=/, Secure on https; no session until something is stored.
///
/// The store's expiry only collects garbage. The limits people rely on (idle and absolute) are enforced by
/// [`current`] against the `user_sessions` row, and the stored data is written only when it changes.
pub fn layer(store: Store, app_url: &AppUrl, settings: &SessionSettings) -> SessionManagerLayer<Store> {
    SessionManagerLayer::new(store)
        .with_name(cookie_name(app_url))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_secure(app_url.is_https())
        .with_expiry(Expiry::OnInactivity(seconds(settings.max_lifetime.as_secs())))
}

/// Where session data (the signed-in person, pending login attempts) is kept: tower-sessions' store for the
/// database in use, in the `tower_sessions` table. Shared by every instance on the same database, so a session
/// made on one is valid on all, and a sign-in started on one completes on another.
pub type Store = Backend<SqliteSessions, PostgresStore>;

/// SQLite's store: tower-sessions-sqlx-store's, except for `create`, which it wraps in a transaction to retry on an id
/// collision — three round trips to the database's thread and a commit for one row. An id is 128 random bits;
/// retrying the single statement keeps the same guarantee in one round trip.
#[derive(Clone, Debug)]
pub struct SqliteSessions {
    store: SqliteStore,
    pool: sqlx::SqlitePool,
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
            // The store's own statement, so that its `load`, `save` and expiry read the row as they wrote it.
            let inserted = sqlx::query("INSERT OR ABORT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?)")
                .bind(record.id.to_string())
                .bind(data)
                .bind(record.expiry_date)
                .execute(&self.pool)
                .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => record.id = Id::default(),
                Err(e) => return Err(session_store::Error::Backend(e.to_string())),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.store.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for SqliteSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.store.delete_expired().await
    }
}

impl Store {
    /// The store on `db`'s pool. SQLite's table is created here, as tower-sessions defines it; PostgreSQL's by the
    /// migrations (so that instances starting together do not race to create it), in the connection's schema.
    pub async fn open(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                Store::Sqlite(SqliteSessions { store, pool: pool.clone() })
            }
            Db::Postgres(pool) => {
                // The schema the migrations created it in: the first of the connection's `search_path`.
                let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()").fetch_one(pool).await?;
                let schema = schema.ok_or_else(|| configuration("no schema of the search_path exists"))?;
                Store::Postgres(
                    PostgresStore::new(pool.clone())
                        .with_schema_name(schema)
                        .and_then(|store| store.with_table_name("tower_sessions"))
                        .map_err(configuration)?,
                )
            }
        })
    }
}

fn configuration(reason: impl Into<String>) -> sqlx::Error {
    sqlx::Error::Configuration(reason.into().into())
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Sqlite(store) => store.create(record).await,
            // PostgreSQL's store creates in a transaction: begun in a task of its own, so a client hanging up cannot
            // leave the pooled connection inside it (see `db::begin_to_completion`).
            Store::Postgres(store) => {
                let (store, mut owned) = (store.clone(), record.clone());
                let (created, owned) =
                    tokio::spawn(async move { (store.create(&mut owned).await, owned) }).await.map_err(|error| {
                        session_store::Error::Backend(format!("creating a session did not finish: {error}"))
                    })?;
                *record = owned;
                created
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        on!(self, store => store.save(record).await)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        on!(self, store => store.load(id).await)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        on!(self, store => store.delete(id).await)
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        on!(self, store => store.delete_expired().await)
    }
}

/// What the session stores about the signed-in person.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionAuth {
    user_id: String,
    /// The `user_sessions` row.
    session_id: String,
}

/// A checked, signed-in session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSession {
    pub user_id: String,
    pub session_id: String,
}

/// How long a new session may last, as chosen at sign-in ("Keep me signed in").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keep {
    /// Not chosen: the cookie ends when the browser closes, and the session at most [`BROWSER_SESSION_LIMIT`] after
    /// sign-in (or `SESSION_MAX_LIFETIME`, if that is shorter).
    #[default]
    BrowserSession,
    /// Chosen: the cookie outlives the browser, and the session lasts `SESSION_MAX_LIFETIME`.
    Remembered,
}

/// The longest a session lasts without "Keep me signed in".
pub const BROWSER_SESSION_LIMIT: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Keep {
    /// From a sign-in form's checkbox or a `remember` query parameter: chosen when present and not `0`/`false`.
    pub fn chosen(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("" | "0" | "false" | "off") | None => Self::BrowserSession,
            Some(_) => Self::Remembered,
        }
    }

    /// From a JSON request's `remember` flag.
    pub fn remembered(remember: bool) -> Self {
        if remember { Self::Remembered } else { Self::BrowserSession }
    }

    /// The session's absolute lifetime.
    pub fn lifetime(self, settings: &SessionSettings) -> std::time::Duration {
        match self {
            Self::BrowserSession => settings.max_lifetime.min(BROWSER_SESSION_LIMIT),
            Self::Remembered => settings.max_lifetime,
        }
    }

    fn expiry(self, settings: &SessionSettings) -> Expiry {
        match self {
            Self::BrowserSession => Expiry::OnSessionEnd,
            Self::Remembered => Expiry::OnInactivity(seconds(settings.max_lifetime.as_secs())),
        }
    }
}

/// Where a request came from, for the sessions list and the audit trail.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// User agents longer than this are cut: they are shown, never parsed for anything that matters.
const MAX_USER_AGENT: usize = 512;

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The address as `client_addr::identify` worked it out (the peer, or behind a trusted proxy the client).
        let ip = parts
            .extensions
            .get::<crate::server::security::client_addr::ClientAddr>()
            .map(|addr| addr.0)
            .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()));
        Ok(Self::from_headers(ip, &parts.headers))
    }
}

impl ClientInfo {
    /// The client at `ip`, with the user agent its headers name (cut to a few hundred characters).
    pub fn from_headers(ip: Option<std::net::IpAddr>, headers: &axum::http::HeaderMap) -> Self {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Self { ip: ip.map(|ip| ip.to_string()), user_agent }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store: {0}")]
    Store(#[from] tower_sessions::session::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A second factor that passed: a code from an authenticator app, a recovery code, or a passkey (which verified the
/// person itself: a fingerprint, a face or the device's PIN, so it is two factors on its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
    /// A user-verifying passkey; `synced` when it may be copied between devices (its backup-eligible flag).
    Passkey {
        synced: bool,
    },
}

impl SecondFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::Totp => "totp",
            SecondFactor::RecoveryCode => "recovery_code",
            SecondFactor::Passkey { .. } => "passkey",
        }
    }
}

/// The provider id a sign-in with a passkey records (sessions, the audit trail).
pub const PASSKEY: &str = "passkey";

/// RFC 8176 values for a sign-in's first step: `pwd` for a password; a sign-in at another provider is `fed`
/// (federated, as Entra ID writes it). A passkey's methods are all its own (see [`second_factor_methods`]).
fn first_factor(provider: &str) -> Option<&'static str> {
    match provider {
        "password" => Some("pwd"),
        PASSKEY => None,
        _ => Some("fed"),
    }
}

/// What a second factor adds to a session's methods: `otp` for an authenticator's code, and `mfa` for any. A passkey
/// is a key kept in hardware (`hwk`) or, when it may be synced between devices, in software (`swk`), used after the
/// device checked who is holding it (`user`: the person's presence and their fingerprint, face or PIN; WebAuthn does
/// not say which).
fn second_factor_methods(factor: SecondFactor) -> &'static [&'static str] {
    match factor {
        SecondFactor::Totp => &["otp", "mfa"],
        SecondFactor::RecoveryCode => &["mfa"],
        SecondFactor::Passkey { synced: false } => &["hwk", "user", "mfa"],
        SecondFactor::Passkey { synced: true } => &["swk", "user", "mfa"],
    }
}

/// Who signed in at a provider and in which of its sessions: the ID token's `sub` and `sid`. A session keeps both, so
/// that the provider's back-channel logout (a logout token naming either) can end it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AtProvider {
    pub subject: String,
    pub sid: Option<String>,
}

/// How a sign-in's first step was made: a provider id, `password` or `passkey`; for a provider, who at the provider.
#[derive(Clone, Copy, Debug)]
pub struct FirstStep<'a> {
    pub method: &'a str,
    pub at_provider: Option<&'a AtProvider>,
}

impl<'a> FirstStep<'a> {
    /// A first step made here (a password, a passkey): nothing at a provider to remember.
    pub fn local(method: &'a str) -> Self {
        Self { method, at_provider: None }
    }
}

/// Records a new session for `user_id`: its `user_sessions` row, with an absolute expiry and how it was
/// authenticated (its methods, and when a second factor passed), written in the caller's transaction (sign-in writes
/// the person, the session and the audit trail together). [`start`] then ties it to the browser, once that
/// transaction has committed.
pub async fn record(
    tx: Exec<'_>,
    settings: &SessionSettings,
    user_id: &str,
    first_step: FirstStep<'_>,
    second_factor: Option<SecondFactor>,
    client: &ClientInfo,
    keep: Keep,
) -> Result<AuthSession, sqlx::Error> {
    let now = clock::now();
    let expires_at = now + keep.lifetime(settings).as_secs() as i64;
    let session_id = clock::new_id();
    let mut amr: Vec<&str> = first_factor(first_step.method).into_iter().collect();
    amr.extend(second_factor.map(second_factor_methods).unwrap_or_default());
    // Signing in confirms who is at the keyboard: sensitive actions need no second confirmation for ten minutes.
    on!(tx, conn => sqlx::query(
        "INSERT INTO user_sessions (id, user_id, provider, created_at, last_seen_at, expires_at, ip, user_agent,
                                    confirmed_at, amr, second_factor_at, provider_subject, provider_sid)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4, $9, $10, $11, $12)",
    )
    .bind(&session_id)
    .bind(user_id)
    .bind(first_step.method)
    .bind(now)
    .bind(now)
    .bind(expires_at)
    .bind(&client.ip)
    .bind(&client.user_agent)
    .bind(amr.join(" "))
    .bind(second_factor.map(|_| now))
    .bind(first_step.at_provider.map(|at| at.subject.as_str()))
    .bind(first_step.at_provider.and_then(|at| at.sid.as_deref()))
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(AuthSession { user_id: user_id.to_owned(), session_id })
}

/// Records on a session that who is at the keyboard confirmed it just now (step-up): with a second factor, the
/// session has now passed one, and its methods say so.
pub async fn confirm(
    mut tx: Exec<'_>,
    session_id: &str,
    second_factor: Option<SecondFactor>,
) -> Result<(), sqlx::Error> {
    let now = clock::now();
    let Some(factor) = second_factor else {
        return on!(tx, conn => sqlx::query("UPDATE user_sessions SET confirmed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(session_id)
            .execute(conn)
            .await
            .map(drop));
    };
    let amr: Option<String> = on!(tx.reborrow(), conn => sqlx::query_scalar(
        "SELECT amr FROM user_sessions WHERE id = $1",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await)?;
    let Some(amr) = amr else { return Ok(()) };
    let mut methods: Vec<&str> = amr.split_whitespace().collect();
    for method in second_factor_methods(factor) {
        if !methods.contains(method) {
            methods.push(method);
        }
    }
    on!(tx, conn => sqlx::query(
        "UPDATE user_sessions SET confirmed_at = $1, second_factor_at = $1, amr = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(methods.join(" "))
    .bind(session_id)
    .execute(conn)
    .await
    .map(drop))
}

/// How a session proved who is at the keyboard, as its row records it: what the ID token's `amr`, `acr` and
/// `auth_time` say, what the admin area asks for, and what step-up checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assurance {
    /// RFC 8176 method values, in the order they passed.
    pub amr: Vec<String>,
    pub signed_in_at: i64,
    /// When it last confirmed who is at the keyboard (signing in counts).
    pub confirmed_at: Option<i64>,
    /// When a second factor last passed in it.
    pub second_factor_at: Option<i64>,
}

/// `acr` for a session that passed only one factor, and for one that passed two.
pub const ACR_ONE_FACTOR: &str = "urn:gatehouse:acr:1fa";
pub const ACR_TWO_FACTORS: &str = "urn:gatehouse:acr:2fa";

impl Assurance {
    /// The session's record; `None` when the session is gone.
    pub async fn of(db: &Db, session_id: &str) -> Result<Option<Self>, sqlx::Error> {
        let row: Option<(String, i64, Option<i64>, Option<i64>)> = on!(db, pool => sqlx::query_as(
            "SELECT amr, created_at, confirmed_at, second_factor_at FROM user_sessions WHERE id = $1",
        )
        .bind(session_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(|(amr, signed_in_at, confirmed_at, second_factor_at)| Self {
            amr: amr.split_whitespace().map(str::to_owned).collect(),
            signed_in_at,
            confirmed_at,
            second_factor_at,
        }))
    }

    /// Whether a second factor passed in this session (at sign-in, or confirming with a code since).
    pub fn passed_second_factor(&self) -> bool {
        self.second_factor_at.is_some()
    }

    /// When the person last proved who they are in this session: signing in, or confirming it since.
    pub fn auth_time(&self) -> i64 {
        self.confirmed_at.unwrap_or(self.signed_in_at).max(self.signed_in_at)
    }
}

/// The `acr` for a session whose methods are `amr`: two factors once one of them is `mfa`.
pub fn acr(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") { ACR_TWO_FACTORS } else { ACR_ONE_FACTOR }
}

/// Signs the browser in to a recorded session: a new session id (so a cookie from before sign-in is worthless) that
/// carries the session, with an absolute expiry.
pub async fn start(
    session: &Session,
    cache: &AuthCache,
    settings: &SessionSettings,
    auth: &AuthSession,
    keep: Keep,
) -> Result<(), SessionError> {
    if let Some(previous) = session.id() {
        cache.forget_cookie(&previous.to_string());
    }
    session.cycle_id().await?;
    session.remove::<Challenge>(CHALLENGE_KEY).await?;
    session.set_expiry(Some(keep.expiry(settings)));
    let stored = SessionAuth { user_id: auth.user_id.clone(), session_id: auth.session_id.clone() };
    session.insert(AUTH_KEY, stored).await?;
    Ok(())
}

/// A sign-in whose first step passed (a password, or a provider) for a person with two-step verification on. The
/// browser holds only this until a code passes: no `user_sessions` row exists, so every page, server function and
/// API call treats it as signed out, and only `/login/mfa` knows what to do with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Challenge {
    pub user_id: String,
    /// How the first step was made: a provider id, or `password`.
    pub provider: String,
    /// For a provider, who signed in there and in which of its sessions.
    #[serde(default)]
    pub at_provider: Option<AtProvider>,
    /// Where to go once signed in.
    pub next: String,
    pub expires_at: i64,
    /// Whether "Keep me signed in" was chosen at the first step.
    #[serde(default)]
    pub keep: Keep,
}

impl Challenge {
    /// The first step that passed, as the session will record it.
    pub fn first_step(&self) -> FirstStep<'_> {
        FirstStep { method: &self.provider, at_provider: self.at_provider.as_ref() }
    }
}

/// Puts a challenge in the browser's session, under a new id, in place of anything signed in there.
pub async fn begin_challenge(session: &Session, cache: &AuthCache, challenge: Challenge) -> Result<(), SessionError> {
    if let Some(previous) = session.id() {
        cache.forget_cookie(&previous.to_string());
    }
    session.cycle_id().await?;
    session.remove::<SessionAuth>(AUTH_KEY).await?;
    session.insert(CHALLENGE_KEY, challenge).await?;
    Ok(())
}

/// The browser's challenge, if it has one that has not expired.
pub async fn challenge(session: &Session) -> Result<Option<Challenge>, SessionError> {
    let found: Option<Challenge> = session.get(CHALLENGE_KEY).await?;
    Ok(found.filter(|c| c.expires_at > clock::now()))
}

/// A checked session and the person it belongs to: what [`current`] finds, carried on the request.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub session: AuthSession,
    pub user: Arc<SignedInUser>,
}

/// The signed-in session, if this request has a valid one; a revoked or expired session is cleared. Served from
/// the [`AuthCache`] while its entry is fresh: then neither the session store nor the database is read. Called
/// once per request, by [`crate::server::web::guard::authenticate`]; everything else reads what it found.
pub async fn current(
    session: &Session,
    db: &Db,
    cache: &AuthCache,
    settings: &SessionSettings,
) -> Result<Option<Arc<SignedIn>>, SessionError> {
    // No cookie, no session: nothing to read.
    let Some(cookie) = session.id().map(|id| id.to_string()) else { return Ok(None) };
    let now = clock::now();
    let idle = settings.idle_timeout.as_secs() as i64;
    let within_limits = |last_seen: i64, expires_at: i64| now < expires_at && now - last_seen < idle;

    if let Some(hit) = cache.session(&cookie)
        && within_limits(hit.last_seen_at, hit.expires_at)
    {
        if now - hit.last_seen_at >= LAST_SEEN_RESOLUTION_SECS {
            if !touch(db, &hit.session_id, now).await? {
                return end(session, db, cache, &hit.session_id).await;
            }
            cache.seen(&cookie, now);
        }
        let auth = AuthSession { user_id: hit.user.id.clone(), session_id: hit.session_id };
        return Ok(Some(Arc::new(SignedIn { session: auth, user: hit.user })));
    }

    let read_at = cache.generation();
    // Which row this cookie names never changes while the cookie lives, so a stale entry saves the store read.
    let auth = match cache.stale_session(&cookie) {
        Some(stale) => SessionAuth { user_id: stale.user.id.clone(), session_id: stale.session_id },
        None => match session.get::<SessionAuth>(AUTH_KEY).await? {
            Some(auth) => auth,
            None => return Ok(None),
        },
    };
    let query = format!(
        "SELECT s.last_seen_at, s.expires_at, {} FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        PersonColumns::SELECT
    );
    let row: Option<SessionUserRow> =
        on!(db, pool => sqlx::query_as(&query).bind(&auth.session_id).fetch_optional(pool).await)?;
    let Some(row) = row.filter(|r| r.person.user_id == auth.user_id && within_limits(r.last_seen_at, r.expires_at))
    else {
        // Revoked (row gone), expired, or inconsistent: end it here too.
        return end(session, db, cache, &auth.session_id).await;
    };
    let mut last_seen_at = row.last_seen_at;
    if now - last_seen_at >= LAST_SEEN_RESOLUTION_SECS {
        touch(db, &auth.session_id, now).await?;
        last_seen_at = now;
    }
    let user = Arc::new(row.person.into_person(db).await?);
    let entry = CachedSession {
        session_id: auth.session_id.clone(),
        user: user.clone(),
        last_seen_at,
        expires_at: row.expires_at,
        checked: Instant::now(),
    };
    cache.put_session(cookie, entry, read_at);
    Ok(Some(Arc::new(SignedIn { session: AuthSession { user_id: auth.user_id, session_id: auth.session_id }, user })))
}

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    last_seen_at: i64,
    expires_at: i64,
    #[sqlx(flatten)]
    person: PersonColumns,
}

/// Writes `last_seen_at`; false when the row is gone (revoked where this process could not see it).
async fn touch(db: &Db, session_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let updated = on!(db, pool => sqlx::query("UPDATE user_sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(session_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(updated > 0)
}

/// Ends a session that is no longer valid: its row, its cache entry, its stored data.
async fn end(
    session: &Session,
    db: &Db,
    cache: &AuthCache,
    session_id: &str,
) -> Result<Option<Arc<SignedIn>>, SessionError> {
    delete_row(db, session_id).await?;
    cache.forget_session(session_id);
    session.flush().await?;
    Ok(None)
}

async fn delete_row(db: &Db, session_id: &str) -> Result<(), sqlx::Error> {
    on!(db, pool => sqlx::query("DELETE FROM user_sessions WHERE id = $1").bind(session_id).execute(pool).await.map(drop))?;
    Ok(())
}

/// Ends, as signing out there does, the sessions that came from a provider's session (`sid`; with `subject` too, both
/// must match) or, given only `subject`, every session of that identity at the provider: their rows deleted (the app
/// authorizations bound to them go with them) in the caller's transaction. Returns each ended session's id and its
/// person's; the caller drops them from the caches once committed.
pub async fn end_from_provider(
    tx: Exec<'_>,
    provider: &str,
    subject: Option<&str>,
    sid: Option<&str>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    const RETURNING: &str = "RETURNING id, user_id";
    match (sid, subject) {
        (Some(sid), subject) => on!(tx, conn => sqlx::query_as::<_, (String, String)>(&format!(
            "DELETE FROM user_sessions WHERE provider = $1 AND provider_sid = $2
                 AND ($3 IS NULL OR provider_subject = $3) {RETURNING}"
        ))
        .bind(provider)
        .bind(sid)
        .bind(subject)
        .fetch_all(conn)
        .await),
        // Sessions from before sessions kept the provider's `sub` (issue 28) are found through the identity.
        (None, Some(subject)) => on!(tx, conn => sqlx::query_as::<_, (String, String)>(&format!(
            "DELETE FROM user_sessions WHERE provider = $1 AND (provider_subject = $2 OR (provider_subject IS NULL
                 AND user_id IN (SELECT user_id FROM identities WHERE provider = $1 AND subject = $2))) {RETURNING}"
        ))
        .bind(provider)
        .bind(subject)
        .fetch_all(conn)
        .await),
        (None, None) => Ok(Vec::new()),
    }
}

/// Whether this session belongs to a signed-in person (unchecked: for housekeeping, never for access decisions).
pub async fn is_signed_in(session: &Session) -> Result<bool, tower_sessions::session::Error> {
    Ok(session.get::<SessionAuth>(AUTH_KEY).await?.is_some())
}

/// Ends this session on the server (the row and the stored data) and clears the cookie.
pub async fn logout(session: &Session, db: &Db, cache: &AuthCache) -> Result<Option<String>, SessionError> {
    let auth = session.get::<SessionAuth>(AUTH_KEY).await?;
    if let Some(auth) = &auth {
        delete_row(db, &auth.session_id).await?;
        cache.forget_session(&auth.session_id);
    }
    session.flush().await?;
    Ok(auth.map(|a| a.user_id))
}

/// Deletes `user_sessions` rows past their absolute or idle limit. Their stored data expires in the store itself.
pub async fn purge_expired(db: &Db, settings: &SessionSettings) -> Result<u64, sqlx::Error> {
    let now = clock::now();
    on!(db, pool => sqlx::query("DELETE FROM user_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - settings.idle_timeout.as_secs() as i64)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// The signed-in person and their session, or nobody. Always present on a request that passed
/// [`authenticate`](crate::server::web::guard::authenticate).
#[derive(Clone, Debug, Default)]
pub struct Caller(pub Option<Arc<SignedIn>>);

impl Caller {
    pub fn signed_in(&self) -> Option<&Arc<SignedIn>> {
        self.0.as_ref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passkey_is_two_factors_and_says_where_its_key_is_kept() {
        assert_eq!(first_factor(PASSKEY), None, "a passkey's methods are all its own");
        assert_eq!(second_factor_methods(SecondFactor::Passkey { synced: false }), ["hwk", "user", "mfa"]);
        assert_eq!(second_factor_methods(SecondFactor::Passkey { synced: true }), ["swk", "user", "mfa"]);
        assert_eq!(first_factor("password"), Some("pwd"));
        assert_eq!(first_factor("github"), Some("fed"));
        let amr: Vec<String> = ["hwk", "user", "mfa"].map(str::to_owned).into();
        assert_eq!(acr(&amr), ACR_TWO_FACTORS);
    }
}
