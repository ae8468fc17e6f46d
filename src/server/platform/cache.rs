//! An in-process cache of checked sessions and personal access tokens, so a signed-in page or an API call does not
//! read the session store, the session's row or the token's row on every request.
//!
//! Correctness rests on two rules:
//! - **Invalidated at the moment of change.** Every service that ends a session or a token, or changes what the
//!   cache holds about a person (sign-out, revocation, renaming, linking, unlinking, deleting the account), calls
//!   one of the `forget_*` methods in the same process, right after its transaction commits. The next request
//!   misses and goes to the database.
//! - **Never trusted for long.** An entry is used for at most [`REVALIDATE_AFTER`] after it was read from the
//!   database; after that the next request reads the row again. So a change made outside this process (another
//!   instance, an operator's SQL) is seen within that time, and expiry is checked from the entry on every hit.
//!
//! - **Never filled from a read older than a change.** A request that read a row before a change was forgotten
//!   could otherwise put the old row back. Every `forget_*` moves a generation counter; a request notes the
//!   generation before it reads the database ([`AuthCache::generation`]) and its entry is kept only if no `forget_*`
//!   happened in between.
//!
//! Several instances: the `forget_*` methods are the only way in, and each is also handed to the outbox when one is
//! attached ([`AuthCache::publish_to`]): on PostgreSQL, [`crate::server::platform::bus`] sends it to every other instance with
//! `NOTIFY`, and applies what they send with [`AuthCache::apply`]. A change made on one instance is then seen on
//! the others within milliseconds; the revalidation interval bounds it when a notification is lost.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc::UnboundedSender;

use crate::model::{auth::SignedInUser, tokens::Scope};
use crate::server::security::networks::Networks;

/// How long an entry is served before its row is read again.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);
/// Entries kept at most, per kind; a full map first drops stale entries, then starts over.
const MAX_ENTRIES: usize = 100_000;

/// A checked session, as the cache keeps it: keyed by the session cookie's id.
#[derive(Clone, Debug)]
pub struct CachedSession {
    /// The `user_sessions` row.
    pub session_id: String,
    pub user: Arc<SignedInUser>,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub checked: Instant,
}

/// How many recent addresses of a token are remembered.
pub const RECENT_IPS: usize = 8;

/// A checked token, keyed by the SHA-256 of its secret.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// The addresses it was used from lately (newest last, at most [`RECENT_IPS`]).
    pub recent_ips: Vec<String>,
    /// Where it may be used from.
    pub allowed: Networks,
    pub user: Arc<SignedInUser>,
    pub checked: Instant,
}

/// A checked app authorization (what an OAuth access token's `sid` names), keyed by its id.
#[derive(Clone, Debug)]
pub struct CachedGrant {
    pub id: String,
    /// The browser session it lives with, if it does.
    pub session_id: Option<String>,
    pub user: Arc<SignedInUser>,
    /// Where its app may call from.
    pub allowed: Networks,
    pub checked: Instant,
}

#[derive(Default)]
pub struct AuthCache {
    sessions: RwLock<HashMap<String, CachedSession>>,
    tokens: RwLock<HashMap<Vec<u8>, CachedToken>>,
    grants: RwLock<HashMap<String, CachedGrant>>,
    /// Moved by every `forget_*`, under the map's lock.
    generation: AtomicU64,
    /// Where `forget_*` calls go to reach other instances, if anywhere.
    outbox: OnceLock<UnboundedSender<Forgotten>>,
}

/// A `forget_*` call, as other instances are told of it: ids only (never a cookie, a secret or a hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forgotten {
    Session(String),
    Token(String),
    User(String),
    /// An app authorization.
    Grant(String),
}

impl Forgotten {
    /// `"s ID"`, `"t ID"`, `"u ID"` or `"g ID"`.
    pub fn encode(&self) -> String {
        match self {
            Forgotten::Session(id) => format!("s {id}"),
            Forgotten::Token(id) => format!("t {id}"),
            Forgotten::User(id) => format!("u {id}"),
            Forgotten::Grant(id) => format!("g {id}"),
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(' ')?;
        let id = id.to_owned();
        match kind {
            "s" => Some(Forgotten::Session(id)),
            "t" => Some(Forgotten::Token(id)),
            "u" => Some(Forgotten::User(id)),
            "g" => Some(Forgotten::Grant(id)),
            _ => None,
        }
    }
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are session ids and token hashes: never printed.
        f.debug_struct("AuthCache").finish_non_exhaustive()
    }
}

impl AuthCache {
    /// The entry for this session cookie id, if there is one and it is fresh.
    pub fn session(&self, cookie_id: &str) -> Option<CachedSession> {
        let entry = read(&self.sessions).get(cookie_id).cloned()?;
        (entry.checked.elapsed() < REVALIDATE_AFTER).then_some(entry)
    }

    /// The entry for this cookie id even when stale: what it names is read again before use.
    pub fn stale_session(&self, cookie_id: &str) -> Option<CachedSession> {
        read(&self.sessions).get(cookie_id).cloned()
    }

    /// Note this before reading the rows an entry is made from, and pass it to `put_*`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps an entry read from the database when nothing was forgotten since `read_at` (its [`generation`]).
    ///
    /// [`generation`]: AuthCache::generation
    pub fn put_session(&self, cookie_id: String, entry: CachedSession, read_at: u64) {
        let mut sessions = write(&self.sessions);
        if self.generation() == read_at {
            make_room(&mut sessions, |e| e.checked);
            sessions.insert(cookie_id, entry);
        }
    }

    /// Notes a `last_seen_at` written to the row, so the next minute's requests do not write it again.
    pub fn seen(&self, cookie_id: &str, at: i64) {
        if let Some(entry) = write(&self.sessions).get_mut(cookie_id) {
            entry.last_seen_at = at;
        }
    }

    pub fn token(&self, hash: &[u8]) -> Option<CachedToken> {
        let entry = read(&self.tokens).get(hash).cloned()?;
        (entry.checked.elapsed() < REVALIDATE_AFTER).then_some(entry)
    }

    /// Like [`AuthCache::put_session`].
    pub fn put_token(&self, hash: Vec<u8>, entry: CachedToken, read_at: u64) {
        let mut tokens = write(&self.tokens);
        if self.generation() == read_at {
            make_room(&mut tokens, |e| e.checked);
            tokens.insert(hash, entry);
        }
    }

    pub fn grant(&self, id: &str) -> Option<CachedGrant> {
        let entry = read(&self.grants).get(id).cloned()?;
        (entry.checked.elapsed() < REVALIDATE_AFTER).then_some(entry)
    }

    /// Like [`AuthCache::put_session`].
    pub fn put_grant(&self, entry: CachedGrant, read_at: u64) {
        let mut grants = write(&self.grants);
        if self.generation() == read_at {
            make_room(&mut grants, |e| e.checked);
            grants.insert(entry.id.clone(), entry);
        }
    }

    /// An app authorization was revoked (or its tokens reused): its id.
    pub fn forget_grant(&self, grant_id: &str) {
        self.apply(&Forgotten::Grant(grant_id.to_owned()));
        self.publish(Forgotten::Grant(grant_id.to_owned()));
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Notes a use written to the token's row.
    pub fn token_used(&self, hash: &[u8], at: i64, ip: Option<&str>, recent_ips: &[String]) {
        if let Some(entry) = write(&self.tokens).get_mut(hash) {
            entry.last_used_at = Some(at);
            if let Some(ip) = ip {
                entry.last_used_ip = Some(ip.to_owned());
            }
            entry.recent_ips = recent_ips.to_vec();
        }
    }

    /// A session ended (signed out, revoked, expired): its row id.
    pub fn forget_session(&self, session_id: &str) {
        self.apply(&Forgotten::Session(session_id.to_owned()));
        self.publish(Forgotten::Session(session_id.to_owned()));
    }

    /// A session cookie id is no longer in use (its id was cycled at sign-in). Only this process can hold an entry
    /// for a cookie it just cycled, so this one is not published.
    pub fn forget_cookie(&self, cookie_id: &str) {
        let mut sessions = write(&self.sessions);
        self.changed();
        sessions.remove(cookie_id);
    }

    /// A token was revoked: its id.
    pub fn forget_token(&self, token_id: &str) {
        self.apply(&Forgotten::Token(token_id.to_owned()));
        self.publish(Forgotten::Token(token_id.to_owned()));
    }

    /// Something about the person changed (name, sign-in methods), or every one of their sessions or tokens ended
    /// (account deleted, "sign out all others"): every entry of theirs is read again on its next use.
    pub fn forget_user(&self, user_id: &str) {
        self.apply(&Forgotten::User(user_id.to_owned()));
        self.publish(Forgotten::User(user_id.to_owned()));
    }

    /// Drops what `forgotten` names, here only: for what another instance published.
    pub fn apply(&self, forgotten: &Forgotten) {
        match forgotten {
            Forgotten::Session(session_id) => {
                // Authorizations that live with the session end with it.
                let (mut sessions, mut grants) = (write(&self.sessions), write(&self.grants));
                self.changed();
                sessions.retain(|_, e| &e.session_id != session_id);
                grants.retain(|_, e| e.session_id.as_ref() != Some(session_id));
            }
            Forgotten::Token(token_id) => {
                let mut tokens = write(&self.tokens);
                self.changed();
                tokens.retain(|_, e| &e.id != token_id);
            }
            Forgotten::User(user_id) => {
                let (mut sessions, mut tokens, mut grants) =
                    (write(&self.sessions), write(&self.tokens), write(&self.grants));
                self.changed();
                sessions.retain(|_, e| &e.user.id != user_id);
                tokens.retain(|_, e| &e.user.id != user_id);
                grants.retain(|_, e| &e.user.id != user_id);
            }
            Forgotten::Grant(grant_id) => {
                let mut grants = write(&self.grants);
                self.changed();
                grants.remove(grant_id);
            }
        }
    }

    /// Drops every entry: when notifications from other instances may have been missed.
    pub fn forget_everything(&self) {
        let (mut sessions, mut tokens, mut grants) = (write(&self.sessions), write(&self.tokens), write(&self.grants));
        self.changed();
        sessions.clear();
        tokens.clear();
        grants.clear();
    }

    /// From now on every `forget_*` (but `forget_cookie`) is also sent to `outbox`. Set once, at start-up.
    pub fn publish_to(&self, outbox: UnboundedSender<Forgotten>) {
        let _ = self.outbox.set(outbox);
    }

    fn publish(&self, forgotten: Forgotten) {
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(forgotten);
        }
    }

    /// How many entries are held: (sessions, tokens). For tests and the benchmark.
    pub fn len(&self) -> (usize, usize) {
        (read(&self.sessions).len(), read(&self.tokens).len())
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain map; the map itself is still usable.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn make_room<K, V>(map: &mut HashMap<K, V>, checked: impl Fn(&V) -> Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, e| checked(e).elapsed() < REVALIDATE_AFTER);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str) -> Arc<SignedInUser> {
        Arc::new(SignedInUser {
            id: id.into(),
            display_name: "Ada".into(),
            email: None,
            email_verified: false,
            avatar_url: None,
            providers: vec![],
        })
    }

    fn session(row: &str, user: &str) -> CachedSession {
        CachedSession {
            session_id: row.into(),
            user: person(user),
            last_seen_at: 0,
            expires_at: i64::MAX,
            checked: Instant::now(),
        }
    }

    #[test]
    fn forgetting_a_session_or_a_person_drops_exactly_their_entries() {
        let cache = AuthCache::default();
        cache.put_session("c1".into(), session("s1", "ada"), cache.generation());
        cache.put_session("c2".into(), session("s2", "ada"), cache.generation());
        cache.put_session("c3".into(), session("s3", "bob"), cache.generation());
        cache.forget_session("s1");
        assert!(cache.session("c1").is_none());
        assert!(cache.session("c2").is_some());
        cache.forget_user("ada");
        assert!(cache.session("c2").is_none());
        assert!(cache.session("c3").is_some());
        cache.forget_cookie("c3");
        assert_eq!(cache.len(), (0, 0));
    }

    #[test]
    fn a_row_read_before_a_change_is_not_kept() {
        let cache = AuthCache::default();
        let read_at = cache.generation();
        // Meanwhile another request revokes a session and forgets it…
        cache.forget_session("s1");
        // …so the row this request read before that is not put back.
        cache.put_session("c1".into(), session("s1", "ada"), read_at);
        assert!(cache.stale_session("c1").is_none());
        cache.put_session("c1".into(), session("s1", "ada"), cache.generation());
        assert!(cache.session("c1").is_some(), "a read after the change is kept");
    }

    #[test]
    fn a_stale_entry_is_not_served_as_fresh() {
        let cache = AuthCache::default();
        let mut old = session("s1", "ada");
        old.checked = Instant::now() - REVALIDATE_AFTER;
        cache.put_session("c1".into(), old, cache.generation());
        assert!(cache.session("c1").is_none());
        assert!(cache.stale_session("c1").is_some(), "kept, to be read again");
    }

    #[test]
    fn changes_are_published_for_other_instances_and_applied_from_them_without_echo() {
        let (sender, mut outbox) = tokio::sync::mpsc::unbounded_channel();
        let cache = AuthCache::default();
        cache.publish_to(sender);
        cache.put_session("c1".into(), session("s1", "ada"), cache.generation());
        cache.forget_session("s1");
        cache.forget_token("t1");
        cache.forget_user("ada");
        cache.forget_cookie("secret-cookie-id");
        let sent: Vec<String> = std::iter::from_fn(|| outbox.try_recv().ok()).map(|f| f.encode()).collect();
        assert_eq!(sent, ["s s1", "t t1", "u ada"], "ids only; never a cookie");

        // What another instance published is applied here, and not sent on again.
        cache.put_session("c2".into(), session("s2", "bob"), cache.generation());
        cache.apply(&Forgotten::decode("u bob").expect("decodes"));
        assert!(cache.session("c2").is_none());
        assert!(outbox.try_recv().is_err(), "no echo");
        assert_eq!(Forgotten::decode("x 1"), None);
        assert_eq!(Forgotten::decode("garbage"), None);
    }
}
