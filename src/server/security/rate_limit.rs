//! Request rate limits, and temporary blocks for addresses that keep failing.
//!
//! - **Per client address**: starting and finishing sign-ins (`/auth/…`, the password and second-step forms) at
//!   `RATE_LIMIT_SIGN_IN`, and the OAuth endpoints (`/oauth/…`, `/device`) at `RATE_LIMIT_OAUTH`.
//! - **Per credential**: the JSON API at `RATE_LIMIT_API`, counted for each token or session (checked where the API
//!   authenticates the caller, see `api::auth`), so one busy script does not use up a whole office's address.
//! - **Blocks**: failures from one address — refused API and OAuth credentials (401), failed sign-in callbacks — are
//!   counted over [`FAILURE_WINDOW`]; `BLOCK_AFTER_FAILURES` of them block the address from all of the above for
//!   `BLOCK_DURATION`, twice as long for each further block within a day, at most a day. A block is an audit event
//!   and a row in `address_blocks`, for admins to see and lift.
//!
//! A rate is a GCRA: `30/1m` allows a burst of 30, then one every two seconds. Refusals are immediate (429 with
//! `Retry-After`), so a client over its limit costs others nothing. An IPv6 client is counted by its /64, the
//! block an ISP gives one customer. The counts live in this process, or in Redis when `REDIS_URL` is set, so that
//! several instances count together.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::server::{
    people::session::ClientInfo,
    platform::{
        clock,
        config::{LONGEST_BLOCK, Rate, RateLimitSettings},
        db::{Db, on},
    },
    security::audit::{self, Event},
};

/// Failures are counted over this long; `BLOCK_AFTER_FAILURES` of them within it block the address.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How the limiter counts a [`Rate`] (the setting itself is parsed with the configuration).
impl Rate {
    /// The time one request uses up.
    fn interval(self) -> Duration {
        (self.per / self.requests).max(Duration::from_nanos(1))
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.requests).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.interval()).map_or_else(|| Quota::per_second(burst), |q| q.allow_burst(burst))
    }
}

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    SignIn,
    OAuth,
    Api,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::OAuth => "oauth",
            Self::Api => "api",
        }
    }

    fn rate(self, settings: &RateLimitSettings) -> Option<Rate> {
        match self {
            Self::SignIn => settings.sign_in,
            Self::OAuth => settings.oauth,
            Self::Api => settings.api,
        }
    }
}

/// Who a client address counts as: itself (IPv4), or its /64 (IPv6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subject(String);

impl Subject {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let net = ipnet::Ipv6Net::new(v6, 64).map(|net| net.trunc()).unwrap_or_else(|_| v6.into());
                Self(net.to_string())
            }
            IpAddr::V6(v6) => Self(v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string())),
            IpAddr::V4(v4) => Self(v4.to_string()),
        }
    }

    /// The subject a blocks list names (`203.0.113.9`, or an IPv6 /64 such as `2001:db8::/64`).
    pub fn from_listed(address: &str) -> Option<Self> {
        match address.parse::<IpAddr>() {
            Ok(ip) => Some(Self::of(ip)),
            Err(_) => address
                .parse::<ipnet::Ipv6Net>()
                .ok()
                .filter(|net| net.prefix_len() == 64)
                .map(|net| Self::of(IpAddr::V6(net.addr()))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a request was refused, and how long until it may try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over a rate limit.
    Limited(Duration),
    /// The address is blocked after repeated failures.
    Blocked(Duration),
}

impl Refusal {
    /// Whole seconds to wait (at least one), for `Retry-After`.
    pub fn retry_after(self) -> u64 {
        let (Self::Limited(wait) | Self::Blocked(wait)) = self;
        (wait.as_secs_f64().ceil() as u64).max(1)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Limited(_) => "rate_limited",
            Self::Blocked(_) => "address_blocked",
        }
    }

    pub fn message(self) -> String {
        let wait = in_words(self.retry_after());
        match self {
            Self::Limited(_) => format!("Too many requests. Please wait {wait} and try again."),
            Self::Blocked(_) => format!(
                "Too many failed attempts came from your address, so it is blocked for {wait}. Please try again then."
            ),
        }
    }
}

/// `45 seconds`, `3 minutes`, `2 hours`.
fn in_words(seconds: u64) -> String {
    let (n, unit) = match seconds {
        0..=90 => (seconds.max(1), "second"),
        91..=5399 => (seconds.div_ceil(60), "minute"),
        _ => (seconds.div_ceil(3600), "hour"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A failure counted against an address: how many in the current window, and the block it started, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strike {
    pub failures: u64,
    pub block: Option<Block>,
}

/// A block just begun: for how long, and how many this address has had within a day (this one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub duration: Duration,
    pub times: u32,
}

/// The limiter: counts in this process, or in Redis.
pub struct Limiter {
    settings: RateLimitSettings,
    backend: Backend,
    /// When a Redis failure was last logged (seconds since the epoch), so an outage logs once in a while, not on
    /// every request.
    last_complaint: AtomicU64,
}

enum Backend {
    Local(Box<Local>),
    Redis(redis::aio::ConnectionManager),
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Local(_) => "in process",
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("Limiter").field("backend", &backend).finish_non_exhaustive()
    }
}

/// How long Redis may take to answer before the request goes ahead unlimited.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

impl Limiter {
    /// The limiter the settings ask for; with `REDIS_URL`, connected (the error names what failed).
    pub async fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let backend = match &settings.redis_url {
            None => Backend::Local(Box::new(Local::new(settings))),
            Some(url) => Backend::Redis(connect(url).await?),
        };
        Ok(Self { settings: settings.clone(), backend, last_complaint: AtomicU64::new(0) })
    }

    /// Refuses when `subject` is blocked, or when the request is over `rate`'s limit for its key.
    pub async fn check(&self, subject: Option<&Subject>, rate: Option<(Limit, &str)>) -> Result<(), Refusal> {
        let rate = rate.and_then(|(limit, key)| limit.rate(&self.settings).map(|r| (limit, key, r)));
        match &self.backend {
            Backend::Local(local) => local.check(subject, rate),
            Backend::Redis(redis) => {
                let mut redis = redis.clone();
                match tokio::time::timeout(REDIS_TIMEOUT, redis_check(&mut redis, subject, rate)).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(error)) => {
                        self.fail_open(&error.to_string());
                        Ok(())
                    }
                    Err(_) => {
                        self.fail_open("no answer in time");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Counts one failure from `subject`.
    pub async fn failed(&self, subject: &Subject) -> Strike {
        match &self.backend {
            Backend::Local(local) => local.failed(subject, &self.settings),
            Backend::Redis(redis) => {
                let mut redis = redis.clone();
                match tokio::time::timeout(REDIS_TIMEOUT, redis_failed(&mut redis, subject, &self.settings)).await {
                    Ok(Ok(strike)) => strike,
                    Ok(Err(error)) => {
                        self.fail_open(&error.to_string());
                        NO_STRIKE
                    }
                    Err(_) => {
                        self.fail_open("no answer in time");
                        NO_STRIKE
                    }
                }
            }
        }
    }

    /// Ends `subject`'s block now, and forgets its recent failures.
    pub async fn lift(&self, subject: &Subject) -> Result<(), String> {
        match &self.backend {
            Backend::Local(local) => {
                local.lift(subject);
                Ok(())
            }
            Backend::Redis(redis) => {
                let mut redis = redis.clone();
                let keys = [block_key(subject), failures_key(subject)];
                redis::cmd("DEL").arg(&keys).query_async::<()>(&mut redis).await.map_err(|e| e.to_string())
            }
        }
    }

    /// Forgets what no longer matters (in process; Redis keys expire by themselves).
    pub fn housekeeping(&self) {
        if let Backend::Local(local) = &self.backend {
            local.housekeeping();
        }
    }

    /// Redis is unreachable: the request goes ahead (a limiter outage must not stop sign-in), and that is logged
    /// at most once a minute.
    fn fail_open(&self, problem: &str) {
        let now = clock::now().max(0) as u64;
        let last = self.last_complaint.load(Ordering::Relaxed);
        if now >= last + 60
            && self.last_complaint.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(problem, "rate limits are not applied: Redis (REDIS_URL) does not answer");
        }
    }
}

const NO_STRIKE: Strike = Strike { failures: 0, block: None };

/// How long the `times`-th block within a day lasts: `first`, doubled each time, at most a day.
fn block_duration(first: Duration, times: u32) -> Duration {
    first.saturating_mul(1 << times.saturating_sub(1).min(16)).min(LONGEST_BLOCK)
}

// ---------------------------------------------------------------------------------------------------------------
// In process

struct Local {
    clock: DefaultClock,
    limiters: [Option<governor::DefaultKeyedRateLimiter<String>>; 3],
    strikes: Mutex<HashMap<Subject, Strikes>>,
}

struct Strikes {
    failures: u64,
    window_start: Instant,
    times: u32,
    last_block: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl Local {
    fn new(settings: &RateLimitSettings) -> Self {
        let keyed = |limit: Limit| limit.rate(settings).map(|rate| RateLimiter::keyed(rate.quota()));
        Self {
            clock: DefaultClock::default(),
            limiters: [keyed(Limit::SignIn), keyed(Limit::OAuth), keyed(Limit::Api)],
            strikes: Mutex::new(HashMap::new()),
        }
    }

    fn limiter(&self, limit: Limit) -> Option<&governor::DefaultKeyedRateLimiter<String>> {
        self.limiters[limit as usize].as_ref()
    }

    fn check(&self, subject: Option<&Subject>, rate: Option<(Limit, &str, Rate)>) -> Result<(), Refusal> {
        if let Some(subject) = subject {
            let now = Instant::now();
            let strikes = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(until) = strikes.get(subject).and_then(|s| s.blocked_until).filter(|until| *until > now) {
                return Err(Refusal::Blocked(until - now));
            }
        }
        let Some((limit, key, _)) = rate else { return Ok(()) };
        let Some(limiter) = self.limiter(limit) else { return Ok(()) };
        // The key is cloned only to look it up; the map keeps it when it is new.
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| Refusal::Limited(not_until.wait_time_from(self.clock.now())))
    }

    fn failed(&self, subject: &Subject, settings: &RateLimitSettings) -> Strike {
        let now = Instant::now();
        let mut all = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let strikes = all.entry(subject.clone()).or_insert(Strikes {
            failures: 0,
            window_start: now,
            times: 0,
            last_block: None,
            blocked_until: None,
        });
        if now.duration_since(strikes.window_start) >= FAILURE_WINDOW {
            strikes.failures = 0;
            strikes.window_start = now;
        }
        if strikes.last_block.is_some_and(|at| now.duration_since(at) >= LONGEST_BLOCK) {
            strikes.times = 0;
        }
        strikes.failures += 1;
        let failures = strikes.failures;
        if settings.block_after == 0 || failures < u64::from(settings.block_after) {
            return Strike { failures, block: None };
        }
        strikes.times += 1;
        let duration = block_duration(settings.block_for, strikes.times);
        strikes.blocked_until = Some(now + duration);
        strikes.last_block = Some(now);
        strikes.failures = 0;
        strikes.window_start = now;
        Strike { failures, block: Some(Block { duration, times: strikes.times }) }
    }

    fn lift(&self, subject: &Subject) {
        let mut all = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(strikes) = all.get_mut(subject) {
            strikes.blocked_until = None;
            strikes.failures = 0;
        }
    }

    fn housekeeping(&self) {
        for limiter in self.limiters.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut all = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|_, s| {
            now.duration_since(s.window_start) < FAILURE_WINDOW
                || s.blocked_until.is_some_and(|until| until > now)
                || s.last_block.is_some_and(|at| now.duration_since(at) < LONGEST_BLOCK)
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis: each check is one script, run atomically on the server with the server's clock, so instances agree.

async fn connect(url: &SecretString) -> Result<redis::aio::ConnectionManager, String> {
    let client = redis::Client::open(url.expose_secret())
        .map_err(|error| format!("REDIS_URL is not a Redis URL such as redis://127.0.0.1:6379: {error}"))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(2);
    let mut manager = redis::aio::ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|error| format!("REDIS_URL: cannot connect to Redis: {error}"))?;
    redis::cmd("PING")
        .query_async::<String>(&mut manager)
        .await
        .map_err(|error| format!("REDIS_URL: Redis does not answer PING: {error}"))?;
    Ok(manager)
}

const PREFIX: &str = "gatehouse:";

fn block_key(subject: &Subject) -> String {
    format!("{PREFIX}block:{}", subject.0)
}

fn failures_key(subject: &Subject) -> String {
    format!("{PREFIX}failures:{}", subject.0)
}

/// KEYS: the block, then the rate's counter (when there is a rate). ARGV: the interval and the burst, in
/// milliseconds and requests. Answers {0, 0} to go ahead, {1, ms} over the rate, {2, ms} blocked. Times are whole
/// milliseconds since the epoch by the server's clock (a Lua number holds them exactly).
const CHECK: &str = r"
local blocked = redis.call('PTTL', KEYS[1])
if blocked > 0 then return {2, blocked} end
if #KEYS < 2 then return {0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - burst * interval
if now < allowed_at then return {1, math.ceil(allowed_at - now)} end
redis.call('SET', KEYS[2], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {0, 0}
";

/// KEYS: the failure counter, the count of recent blocks, the block. ARGV: the window, the failures that block (0:
/// never), the first block and the longest, in milliseconds. Answers {failures, block ms, blocks}.
const FAILED: &str = r"
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local threshold = tonumber(ARGV[2])
if threshold == 0 or failures < threshold then return {failures, 0, 0} end
redis.call('DEL', KEYS[1])
local times = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local ms = math.min(tonumber(ARGV[3]) * 2 ^ math.min(times - 1, 16), tonumber(ARGV[4]))
redis.call('SET', KEYS[3], '1', 'PX', string.format('%.0f', ms))
return {failures, string.format('%.0f', ms), times}
";

async fn redis_check(
    redis: &mut redis::aio::ConnectionManager,
    subject: Option<&Subject>,
    rate: Option<(Limit, &str, Rate)>,
) -> redis::RedisResult<Result<(), Refusal>> {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(CHECK));
    if subject.is_none() && rate.is_none() {
        return Ok(Ok(()));
    }
    let mut invocation = SCRIPT.prepare_invoke();
    // Without a subject, the block key names nothing that exists.
    invocation.key(subject.map_or_else(|| format!("{PREFIX}block:-"), block_key));
    if let Some((limit, key, rate)) = rate {
        invocation.key(format!("{PREFIX}limit:{}:{key}", limit.name()));
        invocation.arg(rate.interval().as_secs_f64() * 1000.0).arg(rate.requests);
    }
    let (outcome, wait_ms): (u8, u64) = invocation.invoke_async(redis).await?;
    let wait = Duration::from_millis(wait_ms);
    Ok(match outcome {
        0 => Ok(()),
        1 => Err(Refusal::Limited(wait)),
        _ => Err(Refusal::Blocked(wait)),
    })
}

async fn redis_failed(
    redis: &mut redis::aio::ConnectionManager,
    subject: &Subject,
    settings: &RateLimitSettings,
) -> redis::RedisResult<Strike> {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(FAILED));
    let (failures, block_ms, times): (u64, u64, u32) = SCRIPT
        .key(failures_key(subject))
        .key(format!("{PREFIX}blocks:{}", subject.0))
        .key(block_key(subject))
        .arg(FAILURE_WINDOW.as_millis() as u64)
        .arg(settings.block_after)
        .arg(settings.block_for.as_millis() as u64)
        .arg(LONGEST_BLOCK.as_millis() as u64)
        .invoke_async(redis)
        .await?;
    let block = (block_ms > 0).then(|| Block { duration: Duration::from_millis(block_ms), times });
    Ok(Strike { failures, block })
}

// ---------------------------------------------------------------------------------------------------------------
// Failures, and the blocks they start

/// Counts a failure from `ip`; when it starts a block, records the block (audit event and `address_blocks`).
/// Returns the failures counted in the current window.
pub async fn failed(limiter: &Limiter, db: &Db, ip: IpAddr, client: &ClientInfo) -> u64 {
    let subject = Subject::of(ip);
    let strike = limiter.failed(&subject).await;
    if let Some(block) = strike.block {
        tracing::warn!(
            address = subject.as_str(),
            failures = strike.failures,
            seconds = block.duration.as_secs(),
            "address blocked after repeated failures"
        );
        if let Err(error) = record_block(db, &subject, strike.failures, block, client).await {
            tracing::error!(%error, "could not record an address block");
        }
    }
    strike.failures
}

/// A good credential used from an address its allow-list does not name: a failure from that address (enough of them
/// block it), and an `address_not_allowed` event in the owner's activity, written for the 1st, 2nd, 4th, 8th… such
/// refusal from the address in the window (with its number), so a flood of calls adds a handful of rows. `detail` is
/// awaited only for a refusal that is recorded: the others cost no read to describe.
pub async fn not_allowed(
    limiter: &Limiter,
    db: &Db,
    client: &ClientInfo,
    user_id: Option<&str>,
    detail: impl std::future::Future<Output = serde_json::Value>,
) {
    let failures = match client.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(ip) => failed(limiter, db, ip, client).await,
        None => 0,
    };
    tracing::info!(address = client.ip.as_deref().unwrap_or("?"), user_id, failures, "call refused by an allow-list");
    if failures <= 1 || failures.is_power_of_two() {
        let mut detail = detail.await;
        if failures > 1 {
            detail["repeated"] = serde_json::json!(failures);
        }
        if let Err(error) = audit::record_on(db, Event::AddressNotAllowed, user_id, client, detail).await {
            tracing::error!(%error, "could not record a call refused by an allow-list");
        }
    }
}

async fn record_block(
    db: &Db,
    subject: &Subject,
    failures: u64,
    block: Block,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let now = clock::now();
    let ends_at = now + block.duration.as_secs() as i64;
    let mut tx = db.begin_write().await?;
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO address_blocks (address, blocked_at, ends_at, failures, times) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (address) DO UPDATE SET blocked_at = excluded.blocked_at, ends_at = excluded.ends_at,
             failures = excluded.failures, times = excluded.times",
    )
    .bind(subject.as_str())
    .bind(now)
    .bind(ends_at)
    .bind(failures as i64)
    .bind(i64::from(block.times))
    .execute(conn)
    .await
    .map(drop))?;
    let detail = json!({
        "address": subject.as_str(),
        "failures": failures,
        "seconds": block.duration.as_secs(),
        "times": block.times,
    });
    audit::record(tx.as_exec(), Event::AddressBlocked, None, client, detail).await?;
    tx.commit().await
}

/// A block in force, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    pub address: String,
    pub blocked_at: i64,
    pub ends_at: i64,
    pub failures: i64,
    pub times: i64,
}

/// The blocks in force now, the latest first.
pub async fn blocks_in_force(db: &Db) -> Result<Vec<BlockRecord>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, i64)> = on!(db, pool => sqlx::query_as(
        "SELECT address, blocked_at, ends_at, failures, times FROM address_blocks WHERE ends_at > $1
         ORDER BY blocked_at DESC",
    )
    .bind(clock::now())
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(address, blocked_at, ends_at, failures, times)| BlockRecord {
            address,
            blocked_at,
            ends_at,
            failures,
            times,
        })
        .collect())
}

/// Deletes block records a day past their end (the limiter has forgotten them by then too).
pub async fn purge_blocks(db: &Db) -> Result<u64, sqlx::Error> {
    on!(db, pool => sqlx::query("DELETE FROM address_blocks WHERE ends_at <= $1")
        .bind(clock::now() - LONGEST_BLOCK.as_secs() as i64)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(block_after: u32) -> RateLimitSettings {
        RateLimitSettings {
            sign_in: Rate::parse("3/1m").expect("rate"),
            oauth: None,
            api: Rate::parse("2/1h").expect("rate"),
            block_after,
            block_for: Duration::from_secs(60),
            redis_url: None,
        }
    }

    #[test]
    fn rates_read_as_written_and_bad_ones_say_what_is_expected() {
        assert_eq!(Rate::parse("30/1m"), Ok(Some(Rate { requests: 30, per: Duration::from_secs(60) })));
        assert_eq!(Rate::parse(" 5/s "), Ok(Some(Rate { requests: 5, per: Duration::from_secs(1) })));
        assert_eq!(Rate::parse("1000/1h").map(|r| r.map(|r| r.interval())), Ok(Some(Duration::from_millis(3600))));
        assert_eq!(Rate::parse("off"), Ok(None));
        for bad in ["30", "0/1m", "x/1m", "30/fortnight", "-1/1m", ""] {
            assert!(Rate::parse(bad).unwrap_err().contains("30/1m"), "{bad}");
        }
        assert!(Rate::parse("30/2d").unwrap_err().contains("at most a day"));
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64_and_a_mapped_ipv4_as_itself() {
        let a = Subject::of("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = Subject::of("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
        assert_ne!(a, Subject::of("2001:db8:1:3::1".parse().expect("ip")));
        assert_eq!(Subject::of("::ffff:192.0.2.7".parse().expect("ip")).as_str(), "192.0.2.7");
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait_and_keys_count_apart() {
        let local = Local::new(&settings(0));
        let rate = settings(0).sign_in.expect("rate");
        for _ in 0..3 {
            assert_eq!(local.check(None, Some((Limit::SignIn, "192.0.2.1", rate))), Ok(()));
        }
        let Err(Refusal::Limited(wait)) = local.check(None, Some((Limit::SignIn, "192.0.2.1", rate))) else {
            panic!("the fourth is refused")
        };
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(local.check(None, Some((Limit::SignIn, "192.0.2.2", rate))), Ok(()), "another address");
        let off = Limit::OAuth;
        for _ in 0..100 {
            assert_eq!(local.check(None, Some((off, "192.0.2.1", rate))), Ok(()), "a limit set to off");
        }
    }

    #[test]
    fn failures_block_an_address_longer_each_time() {
        let settings = settings(3);
        let local = Local::new(&settings);
        let subject = Subject::of("192.0.2.9".parse().expect("ip"));
        assert_eq!(local.failed(&subject, &settings), Strike { failures: 1, block: None });
        assert_eq!(local.failed(&subject, &settings).failures, 2);
        assert_eq!(local.check(Some(&subject), None), Ok(()));
        let third = local.failed(&subject, &settings);
        assert_eq!(third.block, Some(Block { duration: Duration::from_secs(60), times: 1 }));
        assert!(matches!(local.check(Some(&subject), None), Err(Refusal::Blocked(_))));
        assert_eq!(local.check(Some(&Subject::of("192.0.2.10".parse().expect("ip"))), None), Ok(()));
        local.lift(&subject);
        assert_eq!(local.check(Some(&subject), None), Ok(()), "lifted");
        for _ in 0..2 {
            local.failed(&subject, &settings);
        }
        assert_eq!(local.failed(&subject, &settings).block.map(|b| b.duration), Some(Duration::from_secs(120)));
        assert_eq!(block_duration(Duration::from_secs(900), 30), LONGEST_BLOCK);
    }

    #[test]
    fn waits_are_whole_seconds_in_words() {
        assert_eq!(Refusal::Limited(Duration::from_millis(1500)).retry_after(), 2);
        assert_eq!(Refusal::Limited(Duration::ZERO).retry_after(), 1);
        assert_eq!(in_words(1), "1 second");
        assert_eq!(in_words(600), "10 minutes");
        assert_eq!(in_words(86_400), "24 hours");
    }
}
