//! What may be used only once, on every instance: a passkey ceremony's challenge, a provider's logout token or
//! security event token (its `jti`). One conditional `INSERT` into `single_use` decides which use is the first; the row stays until the value
//! would have been refused as expired anyway, then [`purge_expired`] deletes it. Callers write only what passed its
//! signature or seal check, with a deadline minutes away, so what a stranger can make us keep is bounded by what
//! they can get signed.

use crate::server::platform::db::{Db, Exec, on};

/// Whose values: each kind's values are apart from every other's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A finished passkey ceremony's challenge.
    PasskeyChallenge,
    /// A back-channel logout token's `jti`, per sign-in provider id.
    LogoutToken(&'a str),
    /// A security event token's `jti` (Google's Cross-Account Protection), per provider id.
    SecurityEvent(&'a str),
}

impl Kind<'_> {
    fn key(self) -> String {
        match self {
            Kind::PasskeyChallenge => "passkey".to_owned(),
            Kind::LogoutToken(provider) => format!("logout:{provider}"),
            Kind::SecurityEvent(provider) => format!("secevent:{provider}"),
        }
    }
}

/// The longest value kept: a longer one is refused as never seen before it is stored (a `jti` or a challenge is a
/// few dozen characters).
pub const MAX_VALUE_LEN: usize = 256;

/// Marks `value` used until `expires_at` (Unix seconds); true for its first use, false when it was used before (a
/// replay, or the same value twice at once on two instances) or is longer than [`MAX_VALUE_LEN`].
pub async fn first_use(db: &Db, kind: Kind<'_>, value: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    first_use_in(db.acquire().await?.as_exec(), kind, value, expires_at).await
}

/// The same in the caller's transaction: the use counts only if the transaction commits, so a change that failed
/// can be tried again with the same value.
pub async fn first_use_in(tx: Exec<'_>, kind: Kind<'_>, value: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Ok(false);
    }
    let kind = kind.key();
    let inserted = on!(tx, conn => sqlx::query(
        "INSERT INTO single_use (kind, value, expires_at) VALUES ($1, $2, $3) ON CONFLICT (kind, value) DO NOTHING",
    )
    .bind(&kind)
    .bind(value)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(inserted == 1)
}

/// Deletes what has expired: a value past its deadline is refused by its own check by then.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    crate::server::platform::db::delete_expired(db, "single_use").await
}
