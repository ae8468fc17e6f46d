//! Throttling of guesses: wrong passwords and wrong second-step codes. Five failures for one sign-in address, or
//! twenty from one client address, within fifteen minutes lock that key for a while — a minute the first time, twice
//! as long each time after, at most an hour. Kept in the database, so every instance counts together.
//!
//! An address is counted whether or not an account has it, so a lock tells nothing about who has an account.

use super::{
    clock,
    db::{self, Db, on},
};

/// Failures allowed per key within [`WINDOW_SECS`].
pub const PER_ACCOUNT: i64 = 5;
pub const PER_CLIENT: i64 = 20;
pub const WINDOW_SECS: i64 = 15 * 60;
const FIRST_LOCK_SECS: i64 = 60;
const LONGEST_LOCK_SECS: i64 = 3600;
/// A day without failures forgets earlier lockouts.
const FORGET_AFTER_SECS: i64 = 86_400;

/// What is counted: one sign-in address, one person's second-step codes, or one client address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Account(String),
    User(String),
    Client(String),
    /// Mail that strangers can cause (sign-up notices, reset links) to one address: five in the window, then a
    /// pause, so the forms cannot be used to flood someone's inbox.
    Mail(String),
    /// Wrong user codes typed at `/device` by one person.
    DeviceCode(String),
}

impl Key {
    /// The key for a sign-in address, whatever its case.
    pub fn account(email: &str) -> Self {
        Self::Account(email.trim().to_lowercase())
    }

    fn id(&self) -> String {
        match self {
            Self::Account(email) => format!("account:{email}"),
            Self::User(user_id) => format!("user:{user_id}"),
            Self::Client(ip) => format!("client:{ip}"),
            Self::Mail(email) => format!("mail:{}", email.to_lowercase()),
            Self::DeviceCode(user_id) => format!("device:{user_id}"),
        }
    }

    fn limit(&self) -> i64 {
        match self {
            Self::Account(_) | Self::User(_) | Self::Mail(_) | Self::DeviceCode(_) => PER_ACCOUNT,
            Self::Client(_) => PER_CLIENT,
        }
    }
}

/// A key is locked: refuse without checking anything, and say when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: i64,
}

/// The first of `keys` that is locked now, if any.
pub async fn check(db: &Db, keys: &[Key]) -> Result<Option<Locked>, sqlx::Error> {
    let now = clock::now();
    let mut longest: Option<i64> = None;
    for key in keys {
        let until: Option<Option<i64>> = on!(db, pool => sqlx::query_scalar(
            "SELECT locked_until FROM throttles WHERE key = $1",
        )
        .bind(key.id())
        .fetch_optional(pool)
        .await)?;
        if let Some(until) = until.flatten().filter(|&until| until > now) {
            longest = Some(longest.map_or(until, |l| l.max(until)));
        }
    }
    Ok(longest.map(|until| Locked { retry_after: until - now }))
}

/// Counts one failure against `key`. Returns the lock when this failure was the one too many.
pub async fn failed(db: &Db, key: &Key) -> Result<Option<Locked>, sqlx::Error> {
    let now = clock::now();
    let id = key.id();
    let mut tx = db.begin_write().await?;
    // Failures from several instances at once are counted one at a time.
    db::claim(tx.as_exec(), &format!("throttle {id}")).await?;
    let row: Option<(i64, i64, i64, Option<i64>)> = on!(tx.as_exec(), conn => sqlx::query_as(
        "SELECT failures, window_start, lockouts, locked_until FROM throttles WHERE key = $1",
    )
    .bind(&id)
    .fetch_optional(conn)
    .await)?;
    let (mut failures, mut window_start, mut lockouts, _) = row.unwrap_or((0, now, 0, None));
    if now - window_start >= FORGET_AFTER_SECS {
        lockouts = 0;
    }
    if now - window_start >= WINDOW_SECS {
        failures = 0;
        window_start = now;
    }
    failures += 1;
    let mut locked = None;
    if failures >= key.limit() {
        lockouts += 1;
        let seconds = (FIRST_LOCK_SECS << (lockouts - 1).min(10)).min(LONGEST_LOCK_SECS);
        locked = Some(Locked { retry_after: seconds });
        failures = 0;
        window_start = now;
    }
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO throttles (key, failures, window_start, lockouts, locked_until) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
             lockouts = excluded.lockouts, locked_until = COALESCE(excluded.locked_until, throttles.locked_until)",
    )
    .bind(&id)
    .bind(failures)
    .bind(window_start)
    .bind(lockouts)
    .bind(locked.map(|l| now + l.retry_after))
    .execute(conn)
    .await
    .map(drop))?;
    tx.commit().await?;
    Ok(locked)
}

/// A right password for `key`: its count starts again (a client address keeps its count, so one account's right
/// password does not hide guesses at others).
pub async fn succeeded(db: &Db, key: &Key) -> Result<(), sqlx::Error> {
    on!(db, pool => sqlx::query("DELETE FROM throttles WHERE key = $1").bind(key.id()).execute(pool).await.map(drop))
}

/// Deletes counters with nothing left to remember (housekeeping).
pub async fn purge(db: &Db) -> Result<u64, sqlx::Error> {
    let now = clock::now();
    on!(db, pool => sqlx::query(
        "DELETE FROM throttles WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(now - FORGET_AFTER_SECS)
    .bind(now)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
