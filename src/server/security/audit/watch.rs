//! Keeping an eye on the hash chain while the server runs: a full [`verify`] at start-up and every
//! [`CHECK_EVERY`], when the audit viewer finds the newest outcome stale, and on demand ("Check now"), one at a
//! time; the newest outcome is what the viewer shows (with when it was found) and what `/metrics` reports. A page
//! view never waits long for the chain: checking costs about 13 µs an event (`make bench`), over a second for
//! 100,000, and a view that walked it in full would pay that every time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::server::platform::{
    clock,
    db::{Db, on},
};
use crate::server::security::audit::chain::{Report, verify};

/// How often the chain is checked in full without anyone asking.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);
/// An outcome older than this is refreshed (in the background) when someone looks at it.
pub const FRESH_FOR: Duration = Duration::from_secs(300);
/// How long a view waits for a check it started.
const WAIT: Duration = Duration::from_secs(1);

/// The outcome of one full check.
#[derive(Clone, Debug)]
pub struct Checked {
    /// When it finished, in Unix seconds.
    pub at: i64,
    started: Instant,
    pub took: Duration,
    /// What it found, or why the chain could not be read.
    pub outcome: Result<Report, String>,
}

impl Checked {
    pub fn intact(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|report| report.problem.is_none())
    }
}

pub struct ChainWatch {
    latest: watch::Sender<Option<Checked>>,
    checking: AtomicBool,
}

impl Default for ChainWatch {
    fn default() -> Self {
        Self { latest: watch::Sender::new(None), checking: AtomicBool::new(false) }
    }
}

impl ChainWatch {
    /// The newest outcome. One that is older than [`FRESH_FOR`], or that ends before the chain's newest event,
    /// starts a fresh check, which this waits for up to [`WAIT`]: on a chain of less than about 50,000 events the
    /// view shows the fresh outcome, on a longer one the previous outcome (with when it was found) while the check
    /// goes on. `None`: the first check has not finished yet.
    pub async fn status(self: &Arc<Self>, db: &Db) -> Option<Checked> {
        let mut changes = self.latest.subscribe();
        let current = changes.borrow_and_update().clone();
        let stale = match &current {
            None => true,
            Some(checked) => clock::now() - checked.at >= FRESH_FOR.as_secs() as i64 || !covers_head(checked, db).await,
        };
        if !stale {
            return current;
        }
        self.start(db);
        let _ = tokio::time::timeout(WAIT, changes.changed()).await;
        changes.borrow().clone()
    }

    /// The newest outcome, as it is.
    pub fn latest(&self) -> Option<Checked> {
        self.latest.borrow().clone()
    }

    /// Checks now and waits for the outcome: of a check that started after this call (one already under way may
    /// have read the chain before a change this call is meant to see).
    pub async fn check_now(self: &Arc<Self>, db: &Db) -> Checked {
        let asked = Instant::now();
        let mut changes = self.latest.subscribe();
        loop {
            self.start(db);
            if changes.changed().await.is_err() {
                // Only if the watch itself were gone, which `self` prevents.
                return Checked {
                    at: clock::now(),
                    started: asked,
                    took: Duration::ZERO,
                    outcome: Err("stopped".into()),
                };
            }
            if let Some(checked) = changes.borrow_and_update().clone()
                && checked.started >= asked
            {
                return checked;
            }
        }
    }

    /// Starts a full check in the background unless one is under way.
    pub fn start(self: &Arc<Self>, db: &Db) {
        if self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let (this, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            // Cleared however the check ends, so a failed one does not stop every later one.
            let _running = Running(&this.checking);
            let started = Instant::now();
            let outcome = verify(&db).await.map_err(|error| error.to_string());
            let checked = Checked { at: clock::now(), started, took: started.elapsed(), outcome };
            match &checked.outcome {
                Ok(Report { problem: Some(problem), .. }) => {
                    tracing::error!(%problem, "the security activity's hash chain does not verify");
                }
                Ok(report) => tracing::debug!(events = report.events, took = ?checked.took, "the hash chain verifies"),
                Err(error) => tracing::warn!(%error, "checking the security activity's hash chain failed"),
            }
            drop(_running);
            this.latest.send_replace(Some(checked));
        });
    }
}

/// Whether `checked` reached the chain's newest event (one indexed read; a failed read counts as not).
async fn covers_head(checked: &Checked, db: &Db) -> bool {
    let Ok(report) = &checked.outcome else { return false };
    let newest: Result<Option<i64>, sqlx::Error> =
        on!(db, pool => sqlx::query_scalar("SELECT MAX(seq) FROM audit_events").fetch_one(pool).await);
    newest.is_ok_and(|newest| newest == report.head.as_ref().map(|(seq, _)| *seq))
}

/// Marks the check as no longer running when dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
