//! The tamper-evident security activity: every event joins a hash chain in the transaction of what it records;
//! `gatehouse audit verify` (and `audit::chain::verify`) names the first event changed, removed or inserted behind
//! Gatehouse's back — here by editing the database directly, as someone with a database console would; account
//! deletion's anonymisation and the retention purge leave a chain that still verifies.

use std::{
    process::{Command, Output},
    time::Duration,
};

use gatehouse::server::{
    people::session::ClientInfo,
    security::audit::{
        self, Event,
        chain::{self, Problem},
    },
};
use reqwest::Method;
use serde_json::json;

use crate::{
    bearer::token,
    helpers::{TestApp, json},
    sessions::signed_in,
};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// `gatehouse audit verify` on the app's database, as an operator runs it.
fn verify_command(app: &TestApp) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    Command::new(BINARY)
        .args(["audit", "verify"])
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("APP_URL", &app.address)
        .output()
        .expect("the binary runs")
}

/// An app with some history: a sign-in, two tokens made and one revoked.
async fn app_with_history() -> TestApp {
    let (_provider, app) = signed_in(&[]).await;
    let browser = app.main_browser();
    let (first, _) = token(&browser, &["profile:read"]).await;
    token(&browser, &["audit:read"]).await;
    let revoked = browser.api(Method::DELETE, &format!("/tokens/{first}")).send().await.expect("revoke");
    assert_eq!(revoked.status(), 204);
    app
}

async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement).execute(&app.sql).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_joins_the_chain_and_the_whole_chain_verifies() {
    let app = app_with_history().await;
    let events = app.count("audit_events").await;
    assert!(events >= 4, "{events}");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(report.events, events as u64);
    let (head, hash) = report.head.expect("a newest event");
    assert_eq!(head, events);
    assert_eq!(hash.len(), 64);
    let unchained: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL OR hash IS NULL OR prev_hash IS NULL")
            .fetch_one(&app.sql)
            .await
            .expect("count");
    assert_eq!(unchained, 0);

    let output = verify_command(&app);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("verifies") && stdout.contains(&hash), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_event_is_named_and_the_persons_activity_shows_it_unverified() {
    let app = app_with_history().await;
    let (_, reader) = token(&app.main_browser(), &["audit:read"]).await;
    let activity = |secret: String| {
        let app = app.address.clone();
        async move {
            let response = reqwest::Client::new().get(format!("{app}/api/v1/audit")).bearer_auth(secret).send().await;
            json(response.expect("audit")).await
        }
    };
    let before = activity(reader.clone()).await;
    let events = before["events"].as_array().expect("events");
    assert!(events.iter().all(|e| e["verified"] == true), "{before}");

    sql(&app, "UPDATE audit_events SET ip = '198.51.100.66' WHERE seq = 2").await;
    let report = chain::verify(&app.state.db).await.expect("verify");
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = 2").fetch_one(&app.sql).await.expect("id");
    assert_eq!(report.problem, Some(Problem::Changed { id, seq: 2 }));

    let output = verify_command(&app);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("event #2") && stderr.contains("changed"), "{stderr}");

    let after = activity(reader).await;
    let changed: Vec<&serde_json::Value> =
        after["events"].as_array().expect("events").iter().filter(|e| e["verified"] == false).collect();
    assert_eq!(changed.len(), 1, "only the changed event loses its mark: {after}");
    assert_eq!(changed[0]["ip"], "198.51.100.66");
    let page = app.get("/dashboard").await.text().await.expect("page");
    assert!(page.contains("data-verified=\"false\""), "the dashboard marks it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_event_is_named() {
    let app = app_with_history().await;
    sql(&app, "DELETE FROM audit_events WHERE seq = 3").await;
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::Removed { from: 3, to: 3 }));
    let stderr = String::from_utf8_lossy(&verify_command(&app).stderr).into_owned();
    assert!(stderr.contains("event #3 was removed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_event_is_named_whether_or_not_it_pretends_to_belong() {
    let app = app_with_history().await;
    // Written around Gatehouse, with none of the chain's columns.
    sql(&app, "INSERT INTO audit_events (at, kind, ip, detail) VALUES (1, 'sign_in', '203.0.113.1', '{}')").await;
    let inserted: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_events").fetch_one(&app.sql).await.expect("id");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::Inserted { id: inserted }));
    sql(&app, &format!("DELETE FROM audit_events WHERE id = {inserted}")).await;
    assert_eq!(chain::verify(&app.state.db).await.expect("verify").problem, None);

    // Made to look like the next event: the next place, a hash-shaped value, a previous hash that is not the head's.
    let head: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events").fetch_one(&app.sql).await.expect("head");
    sql(
        &app,
        &format!(
            "INSERT INTO audit_events (at, kind, detail, seq, prev_hash, hash, salt)
             VALUES (1, 'sign_in', '{{}}', {}, '{}', '{}', '00')",
            head + 1,
            "a".repeat(64),
            "b".repeat(64)
        ),
    )
    .await;
    let inserted: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_events").fetch_one(&app.sql).await.expect("id");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::Inserted { id: inserted }));
    let stderr = String::from_utf8_lossy(&verify_command(&app).stderr).into_owned();
    assert!(stderr.contains(&format!("id {inserted} was inserted")), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deletion_anonymises_the_persons_events_and_the_chain_still_verifies() {
    let app = app_with_history().await;
    let user_id: String = sqlx::query_scalar("SELECT id FROM users").fetch_one(&app.sql).await.expect("user");
    let theirs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE user_id = $1")
        .bind(&user_id)
        .fetch_one(&app.sql)
        .await
        .expect("count");
    let email: String = sqlx::query_scalar("SELECT email FROM users").fetch_one(&app.sql).await.expect("email");
    let deleted = app.main_browser().call("account/delete", &[("confirm", &email)]).await;
    assert!(deleted.status().is_success() || deleted.status().is_redirection(), "{}", deleted.status());

    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE user_id IS NOT NULL OR ip IS NOT NULL OR user_agent IS NOT NULL
         OR (sealed IS NOT NULL AND salt IS NOT NULL)",
    )
    .fetch_one(&app.sql)
    .await
    .expect("count");
    assert_eq!(left, 0, "nothing personal is left, nor the salts that would let a guess be tested");
    let sealed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE sealed IS NOT NULL")
        .fetch_one(&app.sql)
        .await
        .expect("count");
    assert_eq!(sealed, theirs);
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, None);
    assert!(report.anonymised >= theirs as u64, "{report:?}");
    let detail: String = sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'account_deleted'")
        .fetch_one(&app.sql)
        .await
        .expect("the deletion is an event");
    let detail: serde_json::Value = serde_json::from_str(&detail).expect("json");
    assert_eq!(detail["anonymised"], theirs, "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_old_events_leaves_a_checkpoint_the_chain_continues_from() {
    let app = app_with_history().await;
    let events = app.count("audit_events").await;
    // Times are whole seconds: two of them later, every event so far is more than a second old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let purged = chain::purge(&app.state.db, Duration::from_secs(1)).await.expect("purge");
    assert_eq!(purged, events as u64);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events").fetch_all(&app.sql).await.expect("kinds");
    assert_eq!(kinds, ["audit_purged"], "the purge is itself an event");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!((report.problem, report.starts_after, report.events), (None, events, 1));

    // The checkpoint is what lets the rest verify: without it, the purged events count as removed.
    sql(&app, "DELETE FROM audit_checkpoints").await;
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::Removed { from: 1, to: events }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_before_the_chain_are_sealed_into_it_once_and_never_again() {
    let (_provider, app) = signed_in(&[]).await;
    let recorded: Option<i64> =
        sqlx::query_scalar("SELECT sealed_at FROM audit_chain_start").fetch_one(&app.sql).await.expect("row");
    assert!(recorded.is_some(), "the first start sealed what there was, and recorded it");

    // Someone slips in a row with an old id, and moves the boundary: nothing seals it in, not even verifying.
    sql(&app, "UPDATE audit_chain_start SET legacy_through = 1000000").await;
    sql(&app, "INSERT INTO audit_events (at, kind, ip, detail) VALUES (1, 'sign_in', '192.0.2.1', '{}')").await;
    let slipped: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_events").fetch_one(&app.sql).await.expect("id");
    assert_eq!(chain::seal_legacy(&app.state.db).await.expect("seal"), 0, "sealing happened once");
    let stderr = String::from_utf8_lossy(&verify_command(&app).stderr).into_owned();
    assert!(stderr.contains(&format!("id {slipped} was inserted")), "{stderr}");
    assert_eq!(chain::verify(&app.state.db).await.expect("verify").problem, Some(Problem::Inserted { id: slipped }));

    // A database the previous release never sealed: the first start on this one does it, once.
    sql(&app, "UPDATE audit_chain_start SET sealed_at = NULL").await;
    assert_eq!(chain::seal_legacy(&app.state.db).await.expect("seal"), 1);
    assert_eq!(chain::seal_legacy(&app.state.db).await.expect("seal"), 0, "once");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(report.events, app.count("audit_events").await as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_prefix_behind_a_made_up_checkpoint_is_found() {
    let app = app_with_history().await;
    // Delete the first two events and write a checkpoint that says the chain starts after them.
    let hash: String =
        sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = 2").fetch_one(&app.sql).await.expect("hash");
    sql(&app, "DELETE FROM audit_events WHERE seq <= 2").await;
    sql(&app, &format!("INSERT INTO audit_checkpoints (seq, hash, at, purged) VALUES (2, '{hash}', 1, 2)")).await;
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::UnrecordedCheckpoint { seq: 2 }));
    let stderr = String::from_utf8_lossy(&verify_command(&app).stderr).into_owned();
    assert!(stderr.contains("no purge recorded in the chain"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymising_someone_by_hand_is_found() {
    use sha2::{Digest, Sha256};
    let app = app_with_history().await;
    // What anonymising does, done by hand to hide who did something: the commitments computed from the salt, then
    // the values and the salt cleared. The event's hash still verifies; no recorded deletion did it.
    let (id, user_id, ip, user_agent, salt): (i64, Option<String>, Option<String>, Option<String>, String) =
        sqlx::query_as("SELECT id, user_id, ip, user_agent, salt FROM audit_events WHERE user_id IS NOT NULL LIMIT 1")
            .fetch_one(&app.sql)
            .await
            .expect("an event of someone's");
    let commit = |value: Option<String>| match value {
        None => "-".to_owned(),
        Some(v) => format!("{:x}", Sha256::new().chain_update(&salt).chain_update([0]).chain_update(v).finalize()),
    };
    let sealed = json!({ "user_id": commit(user_id), "ip": commit(ip), "user_agent": commit(user_agent) });
    sqlx::query(
        "UPDATE audit_events SET user_id = NULL, ip = NULL, user_agent = NULL, salt = NULL, sealed = $1 WHERE id = $2",
    )
    .bind(sealed.to_string())
    .bind(id)
    .execute(&app.sql)
    .await
    .expect("anonymised by hand");
    let report = chain::verify(&app.state.db).await.expect("verify");
    assert_eq!(report.problem, Some(Problem::UnrecordedAnonymisation { id }));
}

/// The admin area's view of the chain: a full check's outcome is reused while it is fresh and reaches the newest
/// event (a view does not walk the chain), and checked again once an event was added after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_reuses_a_fresh_check_and_checks_again_once_the_chain_grows() {
    let app = app_with_history().await;
    let watch = app.state.chain.clone();
    let first = watch.check_now(&app.state.db).await;
    assert!(first.intact(), "{first:?}");

    // Changed in place: the newest event is the same, so the fresh outcome stands until someone checks again.
    sql(&app, "UPDATE audit_events SET kind = 'sign_out' WHERE seq = 1").await;
    let reused = watch.status(&app.state.db).await.expect("an outcome");
    assert!(reused.intact() && reused.at == first.at, "{reused:?}");

    // One more event: the outcome no longer reaches the newest event, so a view starts a check and sees the break.
    audit::record_on(&app.state.db, Event::SignOut, None, &ClientInfo::default(), json!({})).await.expect("event");
    let mut found = None;
    for _ in 0..20 {
        let status = watch.status(&app.state.db).await.expect("an outcome");
        if !status.intact() {
            found = Some(status);
            break;
        }
    }
    let found = found.expect("the break is found");
    let problem = found.outcome.expect("the chain was read").problem;
    assert!(matches!(problem, Some(Problem::Changed { seq: 1, .. })), "{problem:?}");
}
