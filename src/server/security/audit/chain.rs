//! The hash chain over the security activity: every event carries the SHA-256 of the previous event's hash and its
//! own canonical content, written under one lock in the transaction of the action it records, so editing, removing
//! or inserting an event anywhere breaks the chain from there on, and [`verify`] names the first event that does.
//!
//! **What an event's hash covers** ([`content`]): its place in the chain (`seq`), time, kind and detail, and for the
//! three personal fields (who, from which address, with which browser) a *commitment*: the SHA-256 of a random salt
//! kept with the event and the value. Anonymising an event (account deletion) stores the three commitments in
//! `sealed` and clears the values and the salt: the hash still verifies, and without the salt nobody can test a
//! guess at what the values were.
//!
//! **Where the chain starts**: at the newest row of `audit_checkpoints`, or at [`GENESIS`]. Purging old events (the
//! retention setting) records a checkpoint — the last purged event's position and hash — in the same transaction,
//! and is itself an event in the chain; events written before the chain existed were sealed into it once, at the
//! first start on this release.
//!
//! A chain is evidence against changes made around Gatehouse (a database console, a restored backup, a bad
//! migration): someone able to recompute every later hash can rewrite the tail unnoticed. `gatehouse audit verify`
//! prints the newest hash; kept somewhere else (a log shipper, a ticket), it anchors everything before it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::server::platform::{
    clock,
    db::{self, Db, Exec, on},
};
use crate::server::security::audit::event::Event;

/// Where the chain starts when nothing was ever purged: the "previous hash" of its first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The lock every writer of the chain takes (PostgreSQL; SQLite has one writer at a time already).
const CHAIN_LOCK: &str = "audit chain";

/// The commitments to an event's three personal fields: what its hash covers in their place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub user_id: String,
    pub ip: String,
    pub user_agent: String,
    /// The token of the chained `account_deleted` event that anonymised it (not part of the hash): anonymising is
    /// for people whose deletion is itself recorded, and [`verify`] checks that it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased: Option<String>,
}

impl Sealed {
    fn of(salt: &str, user_id: Option<&str>, ip: Option<&str>, user_agent: Option<&str>) -> Self {
        Self {
            user_id: commit(salt, user_id),
            ip: commit(salt, ip),
            user_agent: commit(salt, user_agent),
            erased: None,
        }
    }
}

/// A salted commitment to one value (`-` for none).
fn commit(salt: &str, value: Option<&str>) -> String {
    match value {
        None => "-".to_owned(),
        Some(value) => {
            format!("{:x}", Sha256::new().chain_update(salt).chain_update([0]).chain_update(value).finalize())
        }
    }
}

/// An event's canonical content: a JSON array in a fixed order (JSON text of numbers and strings is deterministic).
fn content(seq: i64, at: i64, kind: &str, detail: &str, sealed: &Sealed) -> String {
    serde_json::json!([seq, at, kind, detail, sealed.user_id, sealed.ip, sealed.user_agent]).to_string()
}

/// An event's hash: SHA-256 of the previous event's hash and its own canonical content.
fn link(prev_hash: &str, content: &str) -> String {
    format!("{:x}", Sha256::new().chain_update(prev_hash).chain_update(b"\n").chain_update(content).finalize())
}

fn new_salt() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The chain's newest link: the last event's position and hash, else the newest checkpoint's, else the start.
async fn head(mut db: Exec<'_>) -> Result<(i64, String), sqlx::Error> {
    let event: Option<(i64, String)> = on!(db.reborrow(), conn => sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await)?;
    if let Some(event) = event {
        return Ok(event);
    }
    Ok(checkpoint(db).await?.unwrap_or((0, GENESIS.to_owned())))
}

/// The newest checkpoint: where the chain continues after purged events.
async fn checkpoint(db: Exec<'_>) -> Result<Option<(i64, String)>, sqlx::Error> {
    on!(db, conn => sqlx::query_as("SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await)
}

/// One event, as [`crate::server::security::audit::log::record`] hands it over.
pub struct NewEvent<'a> {
    pub at: i64,
    pub user_id: Option<&'a str>,
    pub kind: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub detail: &'a str,
}

/// Appends `event` to the chain, in the caller's transaction: the lock (PostgreSQL) is held until it commits, so the
/// next writer links to this event or, if this transaction rolls back, to the same head as this one did.
pub async fn append(mut db: Exec<'_>, event: NewEvent<'_>) -> Result<(), sqlx::Error> {
    db::claim(db.reborrow(), CHAIN_LOCK).await?;
    let (last, prev_hash) = head(db.reborrow()).await?;
    let seq = last + 1;
    let salt = new_salt();
    let sealed = Sealed::of(&salt, event.user_id, event.ip, event.user_agent);
    let hash = link(&prev_hash, &content(seq, event.at, event.kind, event.detail, &sealed));
    on!(db, conn => sqlx::query(
        "INSERT INTO audit_events (at, user_id, kind, ip, user_agent, detail, seq, prev_hash, hash, salt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(event.at)
    .bind(event.user_id)
    .bind(event.kind)
    .bind(event.ip)
    .bind(event.user_agent)
    .bind(event.detail)
    .bind(seq)
    .bind(&prev_hash)
    .bind(&hash)
    .bind(&salt)
    .execute(conn)
    .await
    .map(drop))
}

/// The columns [`Stored`] is read from, in its order.
pub const STORED_COLUMNS: &str = "id, seq, at, kind, detail, user_id, ip, user_agent, salt, sealed, prev_hash, hash";

/// An event as stored, with what its place in the chain needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stored {
    pub id: i64,
    pub seq: Option<i64>,
    pub at: i64,
    pub kind: String,
    pub detail: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    salt: Option<String>,
    sealed: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl Stored {
    /// Whether the event still is what was recorded: its hash matches its content and the previous hash it names.
    /// (Whether that previous hash is the previous event's is the chain's question, see [`verify`].)
    pub fn intact(&self) -> bool {
        let (Some(seq), Some(prev_hash), Some(hash)) = (self.seq, &self.prev_hash, &self.hash) else { return false };
        let sealed = match (&self.sealed, &self.salt) {
            // Anonymised: the values are gone, and must stay gone.
            (Some(sealed), None) if self.user_id.is_none() && self.ip.is_none() && self.user_agent.is_none() => {
                match serde_json::from_str::<Sealed>(sealed) {
                    Ok(sealed) => sealed,
                    Err(_) => return false,
                }
            }
            (None, Some(salt)) => {
                Sealed::of(salt, self.user_id.as_deref(), self.ip.as_deref(), self.user_agent.as_deref())
            }
            _ => return false,
        };
        link(prev_hash, &content(seq, self.at, &self.kind, &self.detail, &sealed)) == *hash
    }

    pub fn anonymised(&self) -> bool {
        self.sealed.is_some()
    }

    /// For an anonymised event: the token of the deletion that anonymised it.
    fn erased_by(&self) -> Option<String> {
        self.sealed.as_deref().and_then(|s| serde_json::from_str::<Sealed>(s).ok()).and_then(|s| s.erased)
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Events checked.
    pub events: u64,
    /// Of those, anonymised (their personal fields replaced by the commitments).
    pub anonymised: u64,
    /// Where the chain starts: after this position (0 unless events were purged).
    pub starts_after: i64,
    /// The newest event's position and hash: keep it elsewhere to anchor the chain.
    pub head: Option<(i64, String)>,
    /// The first break, in chain order.
    pub problem: Option<Problem>,
}

/// The first thing that does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The event's content (or the hash it carries) no longer matches what was recorded.
    Changed { id: i64, seq: i64 },
    /// Positions `from..=to` are missing: those events were deleted.
    Removed { from: i64, to: i64 },
    /// An event that was never written by Gatehouse: it has no place in the chain, or names a previous hash that is
    /// not its predecessor's.
    Inserted { id: i64 },
    /// The chain starts after position `seq`, but no purge recorded in the chain names that checkpoint (or the
    /// events it dropped were not past the retention): the events before it were removed.
    UnrecordedCheckpoint { seq: i64 },
    /// An event was anonymised, but no account deletion recorded in the chain did it.
    UnrecordedAnonymisation { id: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed { id, seq } => {
                write!(f, "event #{seq} (id {id}) was changed after it was recorded: its hash no longer matches")
            }
            Self::Removed { from, to } if from == to => write!(f, "event #{from} was removed"),
            Self::Removed { from, to } => write!(f, "events #{from} to #{to} were removed"),
            Self::Inserted { id } => {
                write!(f, "the event with id {id} was inserted: Gatehouse did not write it into the chain")
            }
            Self::UnrecordedCheckpoint { seq } => write!(
                f,
                "the chain starts after event #{seq}, but no purge recorded in the chain names that checkpoint: events \
                 #1 to #{seq} were removed"
            ),
            Self::UnrecordedAnonymisation { id } => {
                write!(f, "the event with id {id} was anonymised, but no account deletion recorded in the chain did it")
            }
        }
    }
}

/// How many events are read at a time.
const PAGE: i64 = 1000;

/// Checks the whole chain, from its start (or newest checkpoint) to its newest event.
pub async fn verify(db: &Db) -> Result<Report, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let (starts_after, start_hash) = checkpoint(conn.as_exec()).await?.unwrap_or((0, GENESIS.to_owned()));
    let mut report = Report { events: 0, anonymised: 0, starts_after, head: None, problem: None };

    // Rows outside the chain: written around Gatehouse (everything Gatehouse wrote before the chain existed was
    // sealed into it at start-up).
    let outside: Option<i64> = on!(conn.as_exec(), c => sqlx::query_scalar(
        "SELECT id FROM audit_events WHERE seq IS NULL OR seq <= $1 ORDER BY id LIMIT 1",
    )
    .bind(starts_after)
    .fetch_optional(c)
    .await)?;

    let checkpoint_hash = start_hash.clone();
    let (mut expected_seq, mut expected_prev) = (starts_after + 1, start_hash);
    let mut first_problem: Option<(i64, Problem)> = None;
    // A checkpoint counts only when a chained purge names it; every anonymised event needs a chained deletion.
    let mut checkpoint_recorded = starts_after == 0;
    let mut deletions = std::collections::HashSet::new();
    let mut anonymised: Vec<(i64, Option<String>)> = Vec::new();
    'pages: loop {
        let rows: Vec<Stored> = on!(conn.as_exec(), c => sqlx::query_as(&format!(
            "SELECT {STORED_COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(c)
        .await)?;
        let done = (rows.len() as i64) < PAGE;
        for row in rows.into_iter() {
            let seq = row.seq.unwrap_or_default();
            report.events += 1;
            report.anonymised += u64::from(row.anonymised());
            if seq > expected_seq {
                first_problem = Some((expected_seq, Problem::Removed { from: expected_seq, to: seq - 1 }));
                break 'pages;
            }
            let links = row.prev_hash.as_deref() == Some(expected_prev.as_str());
            if !row.intact() {
                let problem =
                    if links { Problem::Changed { id: row.id, seq } } else { Problem::Inserted { id: row.id } };
                first_problem = Some((seq, problem));
                break 'pages;
            }
            if !links {
                // A well-formed event that names another predecessor: made to look like part of the chain.
                first_problem = Some((seq, Problem::Inserted { id: row.id }));
                break 'pages;
            }
            match row.kind.as_str() {
                "audit_purged" => checkpoint_recorded |= names_checkpoint(&row, starts_after, &checkpoint_hash),
                "account_deleted" => deletions.extend(detail_text(&row.detail, "erased")),
                _ => {}
            }
            if row.anonymised() {
                anonymised.push((row.id, row.erased_by()));
            }
            expected_prev = row.hash.clone().unwrap_or_default();
            report.head = Some((seq, expected_prev.clone()));
            expected_seq = seq + 1;
        }
        if done {
            break;
        }
    }
    let legacy_anonymised = legacy_anonymised_through(conn.as_exec()).await?;
    let unrecorded = anonymised.into_iter().find(|(id, erased)| match erased {
        Some(token) => !deletions.contains(token),
        // Anonymised by a release before deletions were tied to their events.
        None => *id > legacy_anonymised,
    });
    report.problem = match (first_problem, outside) {
        (Some((_, problem)), _) => Some(problem),
        (None, Some(id)) => Some(Problem::Inserted { id }),
        (None, None) if !checkpoint_recorded => Some(Problem::UnrecordedCheckpoint { seq: starts_after }),
        (None, None) => unrecorded.map(|(id, _)| Problem::UnrecordedAnonymisation { id }),
    };
    Ok(report)
}

/// A text value of an event's JSON detail.
fn detail_text(detail: &str, name: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(detail).ok()?.get(name)?.as_str().map(str::to_owned)
}

/// Whether a chained `audit_purged` event records the checkpoint at `seq` with `hash`, and that what it dropped was
/// past the retention it applied. (Purges from before the hash and the newest time were recorded name the place.)
fn names_checkpoint(event: &Stored, seq: i64, hash: &str) -> bool {
    let Ok(detail) = serde_json::from_str::<serde_json::Value>(&event.detail) else { return false };
    let through = detail.get("through").and_then(serde_json::Value::as_i64) == Some(seq);
    let same_hash = detail.get("hash").and_then(|h| h.as_str()).is_none_or(|h| h == hash);
    let past_retention = match (detail.get("last_at").and_then(|t| t.as_i64()), detail.get("older_than_secs")) {
        (Some(last_at), Some(keep)) => keep.as_i64().is_some_and(|keep| keep > 0 && last_at < event.at - keep),
        (None, None) => true,
        _ => false,
    };
    through && same_hash && past_retention
}

/// Events anonymised before deletions were recorded with them (by id): they need no deletion event.
async fn legacy_anonymised_through(db: Exec<'_>) -> Result<i64, sqlx::Error> {
    let through: Option<i64> = on!(db, conn => sqlx::query_scalar(
        "SELECT anonymised_through FROM audit_chain_start",
    )
    .fetch_optional(conn)
    .await)?;
    Ok(through.unwrap_or(0))
}

/// Anonymises every event of `user_id` (account deletion), in the caller's transaction: the values of the three
/// personal fields and their salt are cleared, their commitments kept, so each event still verifies. Each carries
/// `erased`, a new random token that the caller's `account_deleted` event must record (its detail's `erased`), or
/// [`verify`] reports the anonymisation as unrecorded. Returns how many events were anonymised.
pub async fn anonymise(mut db: Exec<'_>, user_id: &str, erased: &str) -> Result<u64, sqlx::Error> {
    let rows: Vec<Stored> = on!(db.reborrow(), conn => sqlx::query_as(&format!(
        "SELECT {STORED_COLUMNS} FROM audit_events WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await)?;
    let mut anonymised = 0;
    for row in rows.into_iter() {
        let sealed = match &row.salt {
            Some(salt) => Sealed {
                erased: Some(erased.to_owned()),
                ..Sealed::of(salt, row.user_id.as_deref(), row.ip.as_deref(), row.user_agent.as_deref())
            },
            // Never in the chain (written around Gatehouse): nothing to keep verifiable.
            None => Sealed { user_id: "-".into(), ip: "-".into(), user_agent: "-".into(), erased: Some(erased.into()) },
        };
        let sealed = serde_json::to_string(&sealed).expect("plain strings serialise");
        on!(db.reborrow(), conn => sqlx::query(
            "UPDATE audit_events SET user_id = NULL, ip = NULL, user_agent = NULL, salt = NULL, sealed = $1
             WHERE id = $2",
        )
        .bind(&sealed)
        .bind(row.id)
        .execute(conn)
        .await
        .map(drop))?;
        anonymised += 1;
    }
    Ok(anonymised)
}

/// Seals the events written before the chain existed (up to `audit_chain_start.legacy_through`) into it, oldest
/// first, once: at the first start on this release, recorded in `audit_chain_start.sealed_at` with the count. After
/// that it does nothing, so a row slipped in later with an old id is never sealed in: it stays outside the chain,
/// and [`verify`] names it. Instances starting together take turns; the later ones find it done.
pub async fn seal_legacy(db: &Db) -> Result<u64, sqlx::Error> {
    let mut sealed = 0;
    loop {
        let mut tx = db.begin_write().await?;
        db::claim(tx.as_exec(), CHAIN_LOCK).await?;
        let done: Option<Option<i64>> = on!(tx.as_exec(), conn => sqlx::query_scalar(
            "SELECT sealed_at FROM audit_chain_start",
        )
        .fetch_optional(conn)
        .await)?;
        if done.flatten().is_some() {
            return Ok(sealed);
        }
        let rows: Vec<Stored> = on!(tx.as_exec(), conn => sqlx::query_as(&format!(
            "SELECT {STORED_COLUMNS} FROM audit_events
             WHERE seq IS NULL AND id <= (SELECT legacy_through FROM audit_chain_start) ORDER BY id LIMIT $1"
        ))
        .bind(PAGE)
        .fetch_all(conn)
        .await)?;
        if rows.is_empty() {
            let previously: i64 = on!(tx.as_exec(), conn => sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_events WHERE seq IS NOT NULL AND id <= (SELECT legacy_through FROM audit_chain_start)",
            )
            .fetch_one(conn)
            .await)?;
            on!(tx.as_exec(), conn => sqlx::query("UPDATE audit_chain_start SET sealed_at = $1, sealed = $2")
                .bind(clock::now())
                .bind(previously)
                .execute(conn)
                .await
                .map(drop))?;
            tx.commit().await?;
            tracing::info!(sealed = previously, "events from before the hash chain are sealed into it, once");
            return Ok(sealed);
        }
        let (mut last, mut prev_hash) = head(tx.as_exec()).await?;
        for row in rows.into_iter() {
            let seq = last + 1;
            let salt = new_salt();
            let commitments = Sealed::of(&salt, row.user_id.as_deref(), row.ip.as_deref(), row.user_agent.as_deref());
            let hash = link(&prev_hash, &content(seq, row.at, &row.kind, &row.detail, &commitments));
            on!(tx.as_exec(), conn => sqlx::query(
                "UPDATE audit_events SET seq = $1, prev_hash = $2, hash = $3, salt = $4 WHERE id = $5",
            )
            .bind(seq)
            .bind(&prev_hash)
            .bind(&hash)
            .bind(&salt)
            .bind(row.id)
            .execute(conn)
            .await
            .map(drop))?;
            (last, prev_hash) = (seq, hash);
            sealed += 1;
        }
        tx.commit().await?;
    }
}

/// Deletes the events older than `keep` (the retention setting), in one transaction with a checkpoint where the
/// chain now starts and an `audit_purged` event. Returns how many were deleted.
pub async fn purge(db: &Db, keep: std::time::Duration) -> Result<u64, sqlx::Error> {
    let cutoff = clock::now() - i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
    let mut tx = db.begin_write().await?;
    db::claim(tx.as_exec(), CHAIN_LOCK).await?;
    // The newest event old enough; everything up to it goes (positions are in time order).
    let last: Option<(i64, String, i64)> = on!(tx.as_exec(), conn => sqlx::query_as(
        "SELECT seq, hash, at FROM audit_events WHERE seq IS NOT NULL AND at < $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(cutoff)
    .fetch_optional(conn)
    .await)?;
    let Some((through, hash, last_at)) = last else { return Ok(0) };
    let purged = on!(tx.as_exec(), conn => sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
        .bind(through)
        .execute(conn)
        .await
        .map(|done| done.rows_affected()))?;
    on!(tx.as_exec(), conn => sqlx::query(
        "INSERT INTO audit_checkpoints (seq, hash, at, purged) VALUES ($1, $2, $3, $4)",
    )
    .bind(through)
    .bind(&hash)
    .bind(clock::now())
    .bind(purged as i64)
    .execute(conn)
    .await
    .map(drop))?;
    // What makes the checkpoint count (see `names_checkpoint`): its place and hash, and the newest purged event's
    // time against the retention applied.
    let detail = serde_json::json!({
        "through": through, "hash": hash, "events": purged, "last_at": last_at,
        "older_than_secs": keep.as_secs(), "older_than_days": keep.as_secs() / 86_400,
    });
    let detail = detail.to_string();
    let event = NewEvent {
        at: clock::now(),
        user_id: None,
        kind: Event::AuditPurged.as_str(),
        ip: None,
        user_agent: None,
        detail: &detail,
    };
    append(tx.as_exec(), event).await?;
    tx.commit().await?;
    Ok(purged)
}

/// [`STORED_COLUMNS`] of `audit_events e`, and the hash of the event before it in the chain: what [`Linked`] is read
/// from.
pub const LINKED_COLUMNS: &str = "e.id, e.seq, e.at, e.kind, e.detail, e.user_id, e.ip, e.user_agent, e.salt, \
     e.sealed, e.prev_hash, e.hash, (SELECT p.hash FROM audit_events p WHERE p.seq = e.seq - 1) AS before_hash";

/// An event with the hash of its predecessor: enough to tell, on its own, whether it is verified.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Linked {
    #[sqlx(flatten)]
    pub event: Stored,
    before_hash: Option<String>,
}

impl Linked {
    /// Unchanged since it was recorded, and still right after the event it was written after (or after where the
    /// chain starts, `start` from [`start`]).
    ///
    /// Each view of a page of activity asks this of the same rows again; the answer is worked out once (four SHA-256
    /// and the canonical JSON per event) and then read from [`VERDICTS`], under a fingerprint of every value it
    /// depends on, so a row changed since gets worked out afresh.
    pub fn verified(&self, start: &(i64, String)) -> bool {
        let event = &self.event;
        let expected = match (&self.before_hash, event.seq) {
            (Some(before), _) => Some(before),
            (None, Some(seq)) if seq == start.0 + 1 => Some(&start.1),
            _ => None,
        };
        let fingerprint = VERDICTS.fingerprint(event, expected);
        if let Some(verdict) = VERDICTS.get(event.id, fingerprint) {
            return verdict;
        }
        let verdict = event.intact() && expected.is_some() && event.prev_hash.as_ref() == expected;
        VERDICTS.put(event.id, fingerprint, verdict);
        verdict
    }
}

/// Verdicts of [`Linked::verified`] already reached in this process, by event id.
static VERDICTS: std::sync::LazyLock<Verdicts> = std::sync::LazyLock::new(Verdicts::default);

/// At most this many verdicts are kept; when full, the memo starts again empty.
const MAX_VERDICTS: usize = 20_000;

/// Each verdict is kept with a fingerprint of everything it was worked out from: SipHash with keys drawn at random
/// when the process starts, so a row altered in the database cannot be made to match the fingerprint of the row
/// that was checked (the keys never leave the process).
#[derive(Default)]
struct Verdicts {
    keys: std::hash::RandomState,
    seen: std::sync::Mutex<std::collections::HashMap<i64, (u64, bool)>>,
}

impl Verdicts {
    fn fingerprint(&self, event: &Stored, expected: Option<&String>) -> u64 {
        use std::hash::BuildHasher;
        let Stored { id, seq, at, kind, detail, user_id, ip, user_agent, salt, sealed, prev_hash, hash } = event;
        self.keys
            .hash_one(((id, seq, at, kind, detail, user_id), (ip, user_agent, salt, sealed, prev_hash, hash, expected)))
    }

    fn get(&self, id: i64, fingerprint: u64) -> Option<bool> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(&id).filter(|(kept, _)| *kept == fingerprint).map(|(_, verdict)| *verdict)
    }

    fn put(&self, id: i64, fingerprint: u64, verdict: bool) {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_VERDICTS {
            seen.clear();
        }
        seen.insert(id, (fingerprint, verdict));
    }
}

/// The names of [`LINKED_COLUMNS`]' values, for a [`db::Lists`] list over a `SELECT` of them.
pub const LINKED_VALUES: &str =
    "id, seq, at, kind, detail, user_id, ip, user_agent, salt, sealed, prev_hash, hash, before_hash";

/// An event with its predecessor's hash as a [`db::Lists`] row of [`LINKED_VALUES`].
#[derive(Deserialize)]
#[allow(clippy::type_complexity)]
pub struct LinkedRow(
    i64,
    Option<i64>,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl From<LinkedRow> for Linked {
    fn from(row: LinkedRow) -> Self {
        let LinkedRow(id, seq, at, kind, detail, user_id, ip, user_agent, salt, sealed, prev_hash, hash, before_hash) =
            row;
        let event = Stored { id, seq, at, kind, detail, user_id, ip, user_agent, salt, sealed, prev_hash, hash };
        Self { event, before_hash }
    }
}

/// The newest checkpoint, as two [`db::Column::Scalar`]s of a [`db::Lists`] statement (its `seq`, its `hash`).
pub const CHECKPOINT_SEQ: &str = "SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";
pub const CHECKPOINT_HASH: &str = "SELECT hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";

/// Where the chain starts, from the checkpoint's two values (see [`start`]).
pub fn start_from(seq: Option<i64>, hash: Option<String>) -> (i64, String) {
    match (seq, hash) {
        (Some(seq), Some(hash)) => (seq, hash),
        _ => (0, GENESIS.to_owned()),
    }
}

/// Where the chain starts: after the newest checkpoint, or at the beginning.
pub async fn start(db: Exec<'_>) -> Result<(i64, String), sqlx::Error> {
    Ok(checkpoint(db).await?.unwrap_or((0, GENESIS.to_owned())))
}
