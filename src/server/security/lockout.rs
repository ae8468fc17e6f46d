//! Throttling of guesses: wrong passwords and wrong second-step codes. Five failures for one sign-in address, or
//! twenty from one client address, within fifteen minutes lock that key for a while — a minute the first time, twice
//! as long each time after, at most an hour. Kept in the database, so every instance counts together.
//!
//! An address is counted whether or not an account has it, so a lock tells nothing about who has an account.

use crate::server::platform::{
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

    /// The key for a client address: an IPv4 address as it is, an IPv6 one as its /64 (one subscriber's network, as
    /// the rate limits count it), so rotating through the 2^64 addresses of one's own network is no way around it.
    pub fn client(ip: &str) -> Self {
        let key = match ip.parse::<std::net::IpAddr>().map(crate::server::security::networks::canonical) {
            Ok(std::net::IpAddr::V6(v6)) => {
                ipnet::Ipv6Net::new(v6, 64).map_or(ip.to_owned(), |n| n.trunc().to_string())
            }
            Ok(v4) => v4.to_string(),
            Err(_) => ip.to_owned(),
        };
        Self::Client(key)
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

/// A guess let past the lock. It was counted as a failure against every key in the same step that found none of
/// them locked, before any secret is checked — so guesses that arrive together cannot all pass the check before the
/// first failure is written: the fifth is the last one let through. A right guess is taken back by [`succeeded`].
///
/// [`succeeded`]: Guess::succeeded
#[must_use = "a guess is a failure until it is shown to be right"]
#[derive(Debug)]
pub struct Guess {
    counted: Vec<Counted>,
}

#[derive(Debug)]
struct Counted {
    key: Key,
    /// The lock this guess's failure set: it was the one too many.
    locked: Option<Locked>,
}

/// Lets a guess through unless one of `keys` is locked now, counting it as a failure of each in the same atomic
/// step. `Err` carries the longest lock in force; nothing is counted then.
pub async fn admit(db: &Db, keys: &[Key]) -> Result<Result<Guess, Locked>, sqlx::Error> {
    let now = clock::now();
    let mut keys: Vec<&Key> = keys.iter().collect();
    // One claim per key, always in the same order, so two guesses at overlapping keys cannot wait on each other.
    keys.sort_by_key(|k| k.id());
    keys.dedup();
    let mut tx = db.begin_write().await?;
    let mut rows = Vec::with_capacity(keys.len());
    for key in &keys {
        db::claim(tx.as_exec(), &format!("throttle {}", key.id())).await?;
        let row: Option<(i64, i64, i64, Option<i64>)> = on!(tx.as_exec(), conn => sqlx::query_as(
            "SELECT failures, window_start, lockouts, locked_until FROM throttles WHERE key = $1",
        )
        .bind(key.id())
        .fetch_optional(conn)
        .await)?;
        rows.push(row);
    }
    let longest = rows.iter().flatten().filter_map(|(_, _, _, until)| *until).filter(|&until| until > now).max();
    if let Some(until) = longest {
        return Ok(Err(Locked { retry_after: until - now }));
    }
    let mut counted = Vec::with_capacity(keys.len());
    for (key, row) in keys.into_iter().zip(rows) {
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
        .bind(key.id())
        .bind(failures)
        .bind(window_start)
        .bind(lockouts)
        .bind(locked.map(|l| now + l.retry_after))
        .execute(conn)
        .await
        .map(drop))?;
        counted.push(Counted { key: key.clone(), locked });
    }
    tx.commit().await?;
    Ok(Ok(Guess { counted }))
}

impl Guess {
    /// The guess was wrong: its failure stands. The lock it set, if it was the one too many, with its key.
    pub fn failed(self) -> Option<(Key, Locked)> {
        self.counted.into_iter().find_map(|c| c.locked.map(|locked| (c.key, locked)))
    }

    /// The guess was right: a sign-in address's, a person's or a device's count starts again; a client address's
    /// takes this guess back (and the lock it set), keeping the rest, so one account's right password does not hide
    /// guesses at others.
    pub async fn succeeded(self, db: &Db) -> Result<(), sqlx::Error> {
        for Counted { key, locked } in self.counted {
            let id = key.id();
            match (key, locked) {
                (Key::Client(_), None) => on!(db, pool => sqlx::query(
                    "UPDATE throttles SET failures = failures - 1 WHERE key = $1 AND failures > 0",
                )
                .bind(&id)
                .execute(pool)
                .await
                .map(drop))?,
                (Key::Client(_), Some(_)) => on!(db, pool => sqlx::query(
                    "UPDATE throttles SET failures = $1, lockouts = lockouts - 1, locked_until = NULL
                     WHERE key = $2 AND lockouts > 0",
                )
                .bind(PER_CLIENT - 1)
                .bind(&id)
                .execute(pool)
                .await
                .map(drop))?,
                _ => {
                    on!(db, pool => sqlx::query("DELETE FROM throttles WHERE key = $1").bind(&id).execute(pool).await.map(drop))?
                }
            }
        }
        Ok(())
    }
}

/// A right password for `key` outside a guess (a reset link proved the address): its count starts again.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_as_its_64_and_an_ipv4_one_as_itself() {
        assert_eq!(Key::client("2001:db8:1:2:aaaa::1"), Key::client("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(Key::client("2001:db8:1:2:aaaa::1"), Key::Client("2001:db8:1:2::/64".into()));
        assert_ne!(Key::client("2001:db8:1:2::1"), Key::client("2001:db8:1:3::1"), "another network");
        assert_eq!(Key::client("192.0.2.7"), Key::Client("192.0.2.7".into()));
        assert_ne!(Key::client("192.0.2.7"), Key::client("192.0.2.8"), "IPv4 addresses stay apart");
        assert_eq!(Key::client("::ffff:192.0.2.7"), Key::client("192.0.2.7"), "a mapped IPv4 address is IPv4");
    }
}
