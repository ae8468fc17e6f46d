//! What the tamper-evident audit trail costs each event: `audit::record_on` (a write transaction, the chain's lock,
//! reading the head, a salt, three commitments and the SHA-256 link) beside a plain `INSERT` of the same row in a
//! transaction of its own, both on one SQLite file (and on PostgreSQL with `BENCH_POSTGRES_URL`), one after the
//! other, several rounds, medians; then what checking the whole chain costs each event (`chain::verify`, what
//! `gatehouse audit verify` and the admin area's audit viewer run). `make bench` runs it:
//!
//! ```text
//! cargo bench --features ssr --bench audit_chain [-- EVENTS]
//! ```

use std::time::Instant;

use gatehouse::server::{
    people::session::ClientInfo,
    platform::{
        config::DatabaseSettings,
        db::{Backend, Db},
    },
    security::audit::{self, Event, chain},
};
use serde_json::json;

/// The same statement on whichever database `$target` holds (the crate's own `on!` is not exported).
macro_rules! either {
    ($target:expr, $x:ident => $body:expr) => {
        match $target {
            Backend::Sqlite($x) => $body,
            Backend::Postgres($x) => $body,
        }
    };
}

const ROUNDS: usize = 5;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Microseconds per event: (chained, plain).
async fn measure(db: &Db, events: usize) -> (f64, f64) {
    let client = ClientInfo {
        ip: Some("203.0.113.9".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0".into()),
    };
    let detail = json!({ "provider": "github", "session": "3kQ9xY2b" });
    let (mut chained, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..events {
            audit::record_on(db, Event::SignIn, None, &client, detail.clone()).await.expect("chained append");
        }
        chained.push(started.elapsed().as_secs_f64() * 1e6 / events as f64);

        let started = Instant::now();
        for _ in 0..events {
            let mut tx = db.begin_write().await.expect("transaction");
            either!(tx.as_exec(), conn => sqlx::query(
                "INSERT INTO audit_events (at, user_id, kind, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(0_i64)
            .bind(None::<String>)
            .bind("sign_in")
            .bind(&client.ip)
            .bind(&client.user_agent)
            .bind(detail.to_string())
            .execute(conn)
            .await
            .map(drop))
            .expect("plain insert");
            tx.commit().await.expect("commit");
        }
        plain.push(started.elapsed().as_secs_f64() * 1e6 / events as f64);
    }
    (median(chained), median(plain))
}

fn report(place: &str, (chained, plain): (f64, f64)) {
    println!(
        "audit append on {place}: chained {chained:.0} µs/event, plain INSERT {plain:.0} µs/event, the chain adds \
         {:.0} µs ({:.0} %)",
        chained - plain,
        (chained / plain - 1.0) * 100.0
    );
}

/// Microseconds per event for checking the whole chain, and how many events it held.
async fn verify(db: &Db) -> (f64, u64) {
    // The plain rows stand outside the chain (verify would call them inserted): only the chained ones stay.
    let mut tx = db.begin_write().await.expect("transaction");
    either!(tx.as_exec(), conn => sqlx::query("DELETE FROM audit_events WHERE seq IS NULL").execute(conn).await.map(drop))
        .expect("the plain rows removed");
    tx.commit().await.expect("commit");
    let mut samples = Vec::new();
    let mut events = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let report = chain::verify(db).await.expect("verify");
        assert_eq!(report.problem, None, "the bench's own chain verifies");
        events = report.events;
        samples.push(started.elapsed().as_secs_f64() * 1e6 / events as f64);
    }
    (median(samples), events)
}

fn report_verify(place: &str, (per_event, events): (f64, u64)) {
    println!(
        "audit verify on {place}: {per_event:.1} µs/event over {events} events ({:.2} s for 100,000)",
        per_event * 1e5 / 1e6
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("a scratch directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&DatabaseSettings::new(&url).expect("a SQLite URL")).await.expect("SQLite");
    report("SQLite", measure(&db, events).await);
    report_verify("SQLite", verify(&db).await);
    if let Ok(url) = std::env::var("BENCH_POSTGRES_URL") {
        let db = Db::connect(&DatabaseSettings::new(&url).expect("a PostgreSQL URL")).await.expect("PostgreSQL");
        report("PostgreSQL", measure(&db, events).await);
        report_verify("PostgreSQL", verify(&db).await);
    }
}
