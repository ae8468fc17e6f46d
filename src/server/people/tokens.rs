//! Personal access tokens: making secrets, storing only their hashes, and checking them on API requests.
//!
//! A secret reads `gth_` + 43 base62 characters (256 bits of randomness) + a 6-character base62 CRC-32 of those, so
//! secret scanners can recognise a Gatehouse token and a mistyped one is refused without touching the database.
//! The database keeps SHA-256 of the whole secret. A high-entropy secret needs no slow hash; and looking up by hash
//! means the time a lookup takes depends on the hash, never on how much of a guessed secret was right.

use std::{sync::Arc, time::Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::{
    auth::SignedInUser,
    error::AppError,
    tokens::{CreatedToken, Scope, TokenInfo, TokenLifetime, TokenName},
};
use crate::server::{
    people::{
        session::{AuthSession, ClientInfo},
        users::PersonColumns,
    },
    platform::{
        cache::{CachedToken, RECENT_IPS},
        clock,
        db::{Db, Exec, on},
        metrics::Issued,
    },
    security::{
        audit::{self, Event},
        networks::Networks,
    },
    state::AppState,
};

pub const PREFIX: &str = "gth_";
const BODY_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// `last_used_at` is written at most this often.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// A token to create, parsed.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: TokenName,
    pub scopes: Vec<Scope>,
    pub lifetime: TokenLifetime,
    /// Where it may be used from; empty: anywhere (or, for a token minted by a token, wherever its parent may).
    pub allowed: Networks,
}

impl NewToken {
    pub fn parse<'a>(
        name: &str,
        scopes: impl IntoIterator<Item = &'a str>,
        expires_in_days: Option<u32>,
        allow_non_expiring: bool,
        allowed_ips: &str,
    ) -> Result<Self, AppError> {
        let name = TokenName::parse(name)?;
        let mut parsed = scopes.into_iter().map(Scope::parse).collect::<Result<Vec<_>, _>>()?;
        parsed.sort();
        parsed.dedup();
        if parsed.is_empty() {
            return Err(AppError::Invalid("Choose at least one scope.".into()));
        }
        let lifetime = TokenLifetime::parse(expires_in_days, allow_non_expiring)?;
        let allowed = Networks::parse_allow_list(allowed_ips)
            .map_err(|e| AppError::Invalid(format!("Allowed addresses: {e}.")))?;
        Ok(Self { name, scopes: parsed, lifetime, allowed })
    }
}

/// A fresh secret: prefix, random body, checksum.
fn generate() -> String {
    let mut body = String::with_capacity(BODY_CHARS);
    let mut buffer = [0u8; 64];
    while body.len() < BODY_CHARS {
        getrandom::fill(&mut buffer).expect("the operating system's random source is available");
        // Rejection sampling keeps every character equally likely: 248 = 4 × 62.
        body.extend(buffer.iter().filter(|b| **b < 248).map(|b| BASE62[usize::from(*b % 62)] as char));
    }
    body.truncate(BODY_CHARS);
    let checksum = checksum(&body);
    format!("{PREFIX}{body}{checksum}")
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `secret` has the shape and checksum of a Gatehouse token (it may still be unknown or revoked).
pub fn is_well_formed(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix(PREFIX) else { return false };
    if rest.len() != BODY_CHARS + CHECKSUM_CHARS || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, check) = rest.split_at(BODY_CHARS);
    checksum(body) == check
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Where a new token comes from: a browser session (its `user_sessions` id: "this wasn't me" revokes what a
/// session made), or another token (`tokens:write`), which the new one may never outlive.
#[derive(Clone, Copy, Debug)]
pub enum MintedBy<'a> {
    Session(&'a AuthSession),
    Token(&'a str),
}

/// Creates a token for `user_id` and returns its secret, once. A token minted by another token expires no later than
/// it, is revoked with it, and may be used only from where its parent may. Refused when the person already holds
/// `TOKENS_PER_PERSON` tokens that still work.
pub async fn create(
    state: &AppState,
    user_id: &str,
    request: NewToken,
    client: &ClientInfo,
    minted_by: MintedBy<'_>,
) -> Result<CreatedToken, AppError> {
    let (db, limit) = (&state.db, state.config.tokens.per_person);
    let secret = generate();
    let now = clock::now();
    let mut expires_at = match request.lifetime {
        TokenLifetime::Days(days) => Some(now + i64::from(days) * 86_400),
        TokenLifetime::Never => None,
    };
    // A browser session carries every scope, so any subset is the creator's; one that can change things needs a
    // recent confirmation of identity, whichever entry point asks.
    if let MintedBy::Session(session) = minted_by
        && request.scopes.iter().any(|s| s.writes())
    {
        crate::server::people::step_up::require(db, session).await?;
    }
    let id = clock::new_id();
    let scopes = join(&request.scopes);
    let mut tx = db.begin_write().await?;
    // Two creations at once must not both pass the count.
    crate::server::platform::db::claim(tx.as_exec(), &format!("tokens of {user_id}")).await?;
    let held: i64 = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(user_id)
    .bind(now)
    .fetch_one(conn)
    .await)?;
    if held >= i64::from(limit) {
        return Err(AppError::Conflict(format!(
            "You already have {held} tokens, the most one person may hold. Revoke some you no longer use first."
        )));
    }
    let mut allowed = request.allowed;
    let parent = match minted_by {
        MintedBy::Session(_) => None,
        MintedBy::Token(parent) => {
            let found: Option<(Option<i64>, Option<String>)> = on!(tx.as_exec(), conn => sqlx::query_as(
                "SELECT expires_at, allowed_networks FROM api_tokens WHERE id = $1 AND user_id = $2",
            )
            .bind(parent)
            .bind(user_id)
            .fetch_optional(conn)
            .await)?;
            // Revoked a moment ago: it can mint nothing.
            let (parent_expiry, parent_networks) = found.ok_or(AppError::Unauthorized)?;
            if let Some(cap) = parent_expiry {
                expires_at = Some(expires_at.map_or(cap, |at| at.min(cap)));
            }
            let parent_allowed = Networks::from_stored(parent_networks.as_deref());
            if allowed.is_empty() {
                allowed = parent_allowed;
            } else if !allowed.is_within(&parent_allowed) {
                return Err(AppError::Invalid(format!(
                    "Allowed addresses: this token may be used only from {parent_allowed}, so a token it creates \
                     cannot be used from anywhere else."
                )));
            }
            Some(parent)
        }
    };
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, scopes, secret_hash, created_at, expires_at, parent_id,
                                 allowed_networks, session_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(request.name.as_str())
    .bind(&scopes)
    .bind(hash(&secret))
    .bind(now)
    .bind(expires_at)
    .bind(parent)
    .bind(allowed.to_stored())
    .bind(match minted_by {
        MintedBy::Session(session) => Some(&session.session_id),
        MintedBy::Token(_) => None,
    })
    .execute(conn)
    .await
    .map(drop))?;
    let detail = json!({
        "token": id, "name": request.name.as_str(), "scopes": scopes, "expires_at": expires_at, "parent": parent,
        "allowed_ips": allowed.entries(),
    });
    audit::record(tx.as_exec(), Event::TokenCreated, Some(user_id), client, detail).await?;
    tx.commit().await?;
    let token = TokenInfo {
        id,
        name: request.name.as_str().to_owned(),
        scopes: request.scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        allowed_ips: allowed.entries(),
    };
    state.metrics.issued(Issued::PersonalAccessToken);
    Ok(CreatedToken { token, secret })
}

pub(crate) type TokenRow = (String, String, String, i64, Option<i64>, Option<i64>, Option<String>, Option<String>);

fn token_info((id, name, scopes, created_at, expires_at, last_used_at, last_used_ip, allowed): TokenRow) -> TokenInfo {
    let allowed_ips = Networks::from_stored(allowed.as_deref()).entries();
    TokenInfo { id, name, scopes: split(&scopes), created_at, expires_at, last_used_at, last_used_ip, allowed_ips }
}

/// The person's tokens that still work (`$1` the person, `$2` now), in the order of [`TokenRow`].
pub(crate) const LIVE_TOKENS: &str =
    "SELECT id, name, scopes, created_at, expires_at, last_used_at, last_used_ip, allowed_networks
     FROM api_tokens WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2)";
pub(crate) const TOKEN_VALUES: &str =
    "id, name, scopes, created_at, expires_at, last_used_at, last_used_ip, allowed_networks";

/// The person's tokens that still work, newest first.
pub async fn list(conn: Exec<'_>, user_id: &str) -> Result<Vec<TokenInfo>, AppError> {
    let rows: Vec<TokenRow> = on!(conn, conn => sqlx::query_as(LIVE_TOKENS)
    .bind(user_id)
    .bind(clock::now())
    .fetch_all(conn)
    .await)?;
    Ok(live(rows))
}

/// [`LIVE_TOKENS`]' rows, in any order, as the list shows them: newest first.
pub(crate) fn live(mut rows: Vec<TokenRow>) -> Vec<TokenInfo> {
    rows.sort_unstable_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter().map(token_info).collect()
}

/// Revokes one of the person's tokens (another person's id is "not found"). It is refused from the next request.
pub async fn revoke(state: &AppState, user_id: &str, token_id: &str, client: &ClientInfo) -> Result<(), AppError> {
    let (db, cache) = (&state.db, &state.cache);
    let mut tx = db.begin_write().await?;
    // The tokens it minted, and theirs, go with it (the cascade); their cache entries too.
    let family: Vec<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "WITH RECURSIVE family (id) AS (
             SELECT id FROM api_tokens WHERE id = $1 AND user_id = $2
             UNION ALL SELECT t.id FROM api_tokens t JOIN family f ON t.parent_id = f.id
         ) SELECT id FROM family",
    )
    .bind(token_id)
    .bind(user_id)
    .fetch_all(conn)
    .await)?;
    let name: Option<String> = on!(tx.as_exec(), conn => {
        sqlx::query_scalar("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING name")
            .bind(token_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
    })?;
    let name = name.ok_or(AppError::NotFound)?;
    let minted = family.len().saturating_sub(1);
    let detail = json!({ "token": token_id, "name": name, "minted_tokens_revoked": minted });
    audit::record(tx.as_exec(), Event::TokenRevoked, Some(user_id), client, detail).await?;
    tx.commit().await?;
    for id in &family {
        cache.forget_token(id);
    }
    Ok(())
}

/// Revokes every token the person holds ("revoke all tokens"); returns how many there were.
pub async fn revoke_all(state: &AppState, user_id: &str, client: &ClientInfo) -> Result<u32, AppError> {
    let (db, cache) = (&state.db, &state.cache);
    let mut tx = db.begin_write().await?;
    let ended: Vec<String> = on!(tx.as_exec(), conn => sqlx::query_scalar(
        "DELETE FROM api_tokens WHERE user_id = $1 RETURNING id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await)?;
    let count = u32::try_from(ended.len()).unwrap_or(u32::MAX);
    if count > 0 {
        audit::record(tx.as_exec(), Event::AllTokensRevoked, Some(user_id), client, json!({ "count": count })).await?;
    }
    tx.commit().await?;
    for id in &ended {
        cache.forget_token(id);
    }
    Ok(count)
}

/// A token that checked out, and the person it acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub id: String,
    pub user_id: String,
    pub scopes: Vec<Scope>,
    pub user: Arc<SignedInUser>,
}

/// Why a bearer token was refused. The person is told only "invalid"; the log says which.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersonalTokenError {
    #[error("not a well-formed Gatehouse token")]
    Malformed,
    #[error("unknown or revoked token")]
    Unknown,
    #[error("expired token")]
    Expired,
}

#[derive(sqlx::FromRow)]
struct StoredToken {
    id: String,
    name: String,
    scopes: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    recent_ips: String,
    allowed_networks: Option<String>,
    #[sqlx(flatten)]
    person: PersonColumns,
}

/// Checks a presented secret; on success notes the use (at most once a minute, and in the audit trail when it comes
/// from an address that is not among the token's recent ones — so a token used from a few addresses in turn is not
/// an event per call). A token checked within the last second is served from the
/// cache, which revocation and account deletion clear at once.
pub async fn verify(state: &AppState, secret: &str, client: &ClientInfo) -> Result<VerifiedToken, VerifyFailure> {
    let (db, cache) = (&state.db, &state.cache);
    if !is_well_formed(secret) {
        return Err(VerifyFailure::Refused(PersonalTokenError::Malformed));
    }
    let hash = hash(secret);
    let token = match cache.token(&hash) {
        Some(token) => token,
        None => {
            let read_at = cache.generation();
            let token = load(db, &hash).await?.ok_or(VerifyFailure::Refused(PersonalTokenError::Unknown))?;
            cache.put_token(hash.clone(), token.clone(), read_at);
            token
        }
    };
    let now = clock::now();
    if token.expires_at.is_some_and(|at| at <= now) {
        return Err(VerifyFailure::Refused(PersonalTokenError::Expired));
    }
    if !token.allowed.permits(client.ip.as_deref()) {
        return Err(VerifyFailure::NotAllowedFrom {
            token: token.id,
            name: token.name,
            user_id: token.user.id.clone(),
        });
    }
    let new_ip = client.ip.as_ref().is_some_and(|ip| !token.recent_ips.contains(ip));
    if new_ip || token.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_SECS) {
        let mut recent = token.recent_ips.clone();
        if let Some(ip) = &client.ip {
            recent.retain(|r| r != ip);
            recent.push(ip.clone());
            let excess = recent.len().saturating_sub(RECENT_IPS);
            recent.drain(..excess);
        }
        let mut tx = db.begin_write().await?;
        let updated = on!(tx.as_exec(), conn => sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1, last_used_ip = COALESCE($2, last_used_ip), recent_ips = $3
             WHERE id = $4",
        )
        .bind(now)
        .bind(&client.ip)
        .bind(recent.join(" "))
        .bind(&token.id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
        if updated == 0 {
            // Revoked where this process could not see it.
            cache.forget_token(&token.id);
            return Err(VerifyFailure::Refused(PersonalTokenError::Unknown));
        }
        if new_ip {
            let detail = json!({ "token": token.id, "name": token.name });
            audit::record(tx.as_exec(), Event::TokenUsed, Some(&token.user.id), client, detail).await?;
        }
        tx.commit().await?;
        cache.token_used(&hash, now, client.ip.as_deref(), &recent);
    }
    Ok(VerifiedToken { id: token.id, user_id: token.user.id.clone(), scopes: token.scopes, user: token.user })
}

/// The token with this hash and its person, read from the database.
async fn load(db: &Db, hash: &[u8]) -> Result<Option<CachedToken>, sqlx::Error> {
    let query = format!(
        "SELECT t.id, t.name, t.scopes, t.expires_at, t.last_used_at, t.last_used_ip, t.recent_ips, t.allowed_networks, {}
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1",
        PersonColumns::SELECT
    );
    let row: Option<StoredToken> = on!(db, pool => sqlx::query_as(&query).bind(hash).fetch_optional(pool).await)?;
    let Some(row) = row else { return Ok(None) };
    let user = row.person.into_person(db).await?;
    Ok(Some(CachedToken {
        id: row.id,
        name: row.name,
        scopes: split(&row.scopes),
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        last_used_ip: row.last_used_ip,
        recent_ips: row.recent_ips.split_whitespace().map(str::to_owned).collect(),
        allowed: Networks::from_stored(row.allowed_networks.as_deref()),
        user: Arc::new(user),
        checked: Instant::now(),
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error("{0}")]
    Refused(PersonalTokenError),
    /// A good token, from an address its allow-list does not name: the person's activity shows it.
    #[error("token {token} used from an address it is not allowed from")]
    NotAllowedFrom { token: String, name: String, user_id: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn join(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// Scopes as stored. An unknown name (from a newer version, say) is dropped: a token never gains by it.
fn split(scopes: &str) -> Vec<Scope> {
    scopes.split_whitespace().filter_map(|s| Scope::parse(s).ok()).collect()
}

/// The dashboard's token list: the person's tokens, and whether one may be made that never expires.
pub async fn list_view(state: &AppState, user_id: &str) -> Result<crate::model::tokens::TokenList, AppError> {
    Ok(crate::model::tokens::TokenList {
        now: clock::now(),
        tokens: list(state.db.acquire().await?.as_exec(), user_id).await?,
        allow_non_expiring: state.config.tokens.allow_non_expiring,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        for secret in [&a, &b] {
            assert!(secret.starts_with("gth_"));
            assert_eq!(secret.len(), 4 + 43 + 6);
            assert!(is_well_formed(secret), "{secret}");
        }
    }

    #[test]
    fn a_mistyped_or_foreign_secret_fails_the_checksum() {
        let secret = generate();
        let mut chars: Vec<char> = secret.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed(&secret[..secret.len() - 1]));
        assert!(!is_well_formed(&secret.replacen("gth_", "ghp_", 1)));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("gth_"));
        assert!(!is_well_formed(&format!("{secret}é")));
    }

    #[test]
    fn new_tokens_need_a_name_a_known_scope_and_a_lifetime() {
        let ok = NewToken::parse("ci", ["tokens:read", "profile:read", "tokens:read"], Some(7), false, "").unwrap();
        assert_eq!(ok.scopes, [Scope::ProfileRead, Scope::TokensRead]);
        assert_eq!(ok.lifetime, TokenLifetime::Days(7));
        assert!(NewToken::parse("ci", [], Some(7), false, "").is_err());
        assert!(NewToken::parse("ci", ["admin"], Some(7), false, "").is_err());
        assert!(NewToken::parse("", ["profile:read"], Some(7), false, "").is_err());
        assert!(NewToken::parse("ci", ["profile:read"], None, false, "").is_err());
        assert!(NewToken::parse("ci", ["profile:read"], None, true, "").is_ok());
    }

    #[test]
    fn the_stored_hash_is_not_the_secret() {
        let secret = generate();
        let stored = hash(&secret);
        assert_eq!(stored.len(), 32);
        assert!(!String::from_utf8_lossy(&stored).contains(&secret[4..]));
    }
}
