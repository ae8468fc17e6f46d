//! The database under faults and concurrency: PostgreSQL going away and coming back while the app runs, several
//! instances migrating one database at once, first sign-ins racing each other.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use gatehouse::server::{
    people::session,
    platform::{
        config::Config,
        db::{self, Db},
    },
    startup::Application,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};
use tower_sessions::session_store::ExpiredDeletion;

use crate::{
    helpers::{TestApp, fresh_postgres_schema, location, on_postgres, postgres_server},
    provider::TestProvider,
    sessions::{signed_in, with_provider},
};

/// A TCP relay to PostgreSQL that can cut every connection and refuse new ones, as a network partition or a stopped
/// server would, then let them through again.
struct Relay {
    port: u16,
    blocked: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Relay {
    async fn to(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let port = listener.local_addr().expect("address").port();
        let blocked = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let (blocked, open) = (blocked.clone(), open.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if blocked.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is reset
                    }
                    let upstream = upstream.clone();
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    open.lock().expect("lock").push(relay.abort_handle());
                }
            }
        })
        .abort_handle();
        Self { port, blocked, open, accept }
    }

    fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        for relay in self.open.lock().expect("lock").drain(..) {
            relay.abort();
        }
    }

    fn unblock(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.block();
        self.accept.abort();
    }
}

/// `url` with its host and port replaced by the relay's.
fn through(url: &str, port: u16) -> String {
    let mut url = url::Url::parse(url).expect("URL");
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(port)).expect("port");
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gives_503s_that_lose_nothing_and_the_app_recovers_by_itself() {
    let Some(server) = postgres_server() else { return };
    let direct = fresh_postgres_schema(&server).await;
    let parsed = url::Url::parse(&direct).expect("URL");
    let relay = Relay::to(format!("{}:{}", parsed.host_str().expect("host"), parsed.port().unwrap_or(5432))).await;
    let proxied = through(&direct, relay.port);
    let (_provider, app) = signed_in(&[("DATABASE_URL", &proxied), ("DATABASE_CONNECT_TIMEOUT", "1s")]).await;
    assert_eq!(app.get("/dashboard").await.status(), 200);
    let browser = app.main_browser();

    relay.block();
    // Past the session cache's revalidation interval, so the next request must reach the database.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body = ready.text().await.expect("body");
    assert!(body.contains(r#""status":"unavailable""#), "{body}");
    assert_eq!(app.get("/healthz").await.status(), 200, "the process itself is alive");

    let page = app.get("/dashboard").await;
    assert_eq!(page.status(), 503);
    let text = page.text().await.expect("page");
    assert!(text.contains("cannot reach its database"), "a friendly page: {text}");
    assert!(!text.contains("sqlx") && !text.contains("PoolTimedOut"), "no internals: {text}");

    let rename = browser.api(Method::PATCH, "/me").json(&json!({ "display_name": "Renamed while down" })).send().await;
    let rename = rename.expect("answer");
    assert_eq!(rename.status(), 503);
    let body: Value = rename.json().await.expect("JSON error");
    assert_eq!(body["error"], "unavailable", "{body}");

    relay.unblock();
    let mut ready = 0;
    for _ in 0..50 {
        ready = app.get("/readyz").await.status().as_u16();
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ready, 200, "ready again without a restart");
    assert_eq!(app.get("/dashboard").await.status(), 200, "the session survived");
    let me: Value = browser.api(Method::GET, "/me").send().await.expect("me").json().await.expect("JSON");
    assert_ne!(me["display_name"], "Renamed while down", "the refused change did not happen");
}

/// Several instances starting at once on a new database: one applies the migrations under the advisory lock, the
/// others wait and find nothing to do. Without the lock they would race to create the same tables and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_apply_the_migrations_once() {
    let Some(server) = postgres_server() else { return };
    let url = fresh_postgres_schema(&server).await;
    let starts = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let config = Config::from_lookup(|key| {
                Ok(match key {
                    "DATABASE_URL" => Some(url.clone()),
                    "LEPTOS_SITE_ADDR" => Some("127.0.0.1:0".to_owned()),
                    _ => None,
                })
            })
            .expect("configuration");
            Application::build(config).await.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    for started in futures_join(starts).await {
        started.expect("task").expect("every instance starts");
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&pool)
        .await
        .expect("list");
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    assert_eq!(versions.len(), gatehouse::server::platform::db::POSTGRES_MIGRATIONS.iter().count());
}

/// Two browsers, each at the provider's consent screen as `subjects[i]`: finishing both at the same moment (two
/// tabs, a double click, two instances behind a balancer) races two first sign-ins. Returns the callbacks' statuses.
async fn race_first_sign_ins(app: &TestApp, provider: &TestProvider, subjects: [&str; 2]) -> [u16; 2] {
    let (a, b) = (app.browser(), app.browser());
    let to_a = provider.approve(&location(&a.get("/auth/login/oidc").await), subjects[0]);
    let to_b = provider.approve(&location(&b.get("/auth/login/oidc").await), subjects[1]);
    let (to_a, to_b) = (format!("/auth/callback/oidc?{to_a}"), format!("/auth/callback/oidc?{to_b}"));
    let (done_a, done_b) = tokio::join!(a.get(&to_a), b.get(&to_b));
    [done_a.status().as_u16(), done_b.status().as_u16()]
}

async fn count_where(app: &TestApp, sql: &str, value: &str) -> i64 {
    sqlx::query_scalar(sql).bind(value).fetch_one(&app.sql).await.expect("count")
}

/// The same new person finishing sign-in twice at once gets one account, signed in twice: the second finds what the
/// first created instead of failing on the unique identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_sign_ins_of_one_person_make_one_account() {
    // Ten rounds of two starts and two callbacks from one address: more than a minute's sign-in allowance.
    let (provider, app) = with_provider(&[("RATE_LIMIT_SIGN_IN", "off")]).await;
    for round in 0..10 {
        let subject = format!("twin-{round}");
        let email = format!("twin-{round}@example.test");
        provider.set(|b| b.email = Some(email.clone()));
        let statuses = race_first_sign_ins(&app, &provider, [&subject, &subject]).await;
        assert_eq!(statuses, [303, 303], "both sign-ins complete (round {round})");
        let accounts = count_where(&app, "SELECT COUNT(*) FROM users WHERE email = $1", &email).await;
        let identities = count_where(&app, "SELECT COUNT(*) FROM identities WHERE subject = $1", &subject).await;
        assert_eq!((accounts, identities), (1, 1), "one account, one identity (round {round})");
    }
    assert_eq!(app.count("user_sessions").await, 20, "every browser is signed in");
}

/// Two new identities with the same verified email finishing sign-in at once: one account is made, and the other
/// sign-in is refused as an email already in use — never two accounts claiming one verified address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_sign_ins_with_one_verified_email_make_one_account() {
    // Ten rounds of two starts and two callbacks from one address: more than a minute's sign-in allowance.
    let (provider, app) = with_provider(&[("RATE_LIMIT_SIGN_IN", "off")]).await;
    for round in 0..10 {
        let email = format!("shared-{round}@example.test");
        provider.set(|b| b.email = Some(email.clone()));
        let mut statuses = race_first_sign_ins(&app, &provider, [&format!("a-{round}"), &format!("b-{round}")]).await;
        statuses.sort_unstable();
        assert_eq!(statuses, [303, 409], "one signs in, the other is told the email is in use (round {round})");
        assert_eq!(count_where(&app, "SELECT COUNT(*) FROM users WHERE email = $1", &email).await, 1);
    }
    assert_eq!(app.count("identities").await, 10);
}

/// Every instance runs the housekeeping that purges expired sessions (their rows and their stored data): several
/// doing it at the same moment all succeed, delete everything expired once, and leave live sessions alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_on_several_instances_at_once_deletes_only_what_expired() {
    let (_provider, app) = signed_in(&[]).await;
    let user_id: String =
        sqlx::query_scalar("SELECT user_id FROM user_sessions").fetch_one(&app.sql).await.expect("one");
    let long_ago = gatehouse::server::platform::clock::now() - 90 * 24 * 3600;
    for n in 0..40 {
        sqlx::query(
            "INSERT INTO user_sessions (id, user_id, provider, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, 'oidc', $3, $3, $3)",
        )
        .bind(format!("expired-{n}"))
        .bind(&user_id)
        .bind(long_ago)
        .execute(&app.sql)
        .await
        .expect("an expired session row");
        let expired_data = if on_postgres() {
            "INSERT INTO tower_sessions (id, data, expiry_date)
             SELECT $1, data, now() - interval '1 day' FROM tower_sessions LIMIT 1"
        } else {
            "INSERT INTO tower_sessions (id, data, expiry_date)
             SELECT $1, data, datetime('now', '-1 day') FROM tower_sessions LIMIT 1"
        };
        sqlx::query(expired_data).bind(format!("expired-{n}")).execute(&app.sql).await.expect("expired session data");
    }

    // Four more "instances": pools and stores of their own on the same database, purging all at once.
    let config = &app.state.config;
    let mut instances = Vec::new();
    for _ in 0..4 {
        let db = Db::connect(&config.database).await.expect("another instance connects");
        let store = session::Store::open(&db).await.expect("its session store");
        instances.push((db, store));
    }
    let purges = instances.into_iter().map(|(db, store)| {
        let settings = config.sessions;
        tokio::spawn(async move {
            let (rows, data) = tokio::join!(session::purge_expired(&db, &settings), store.delete_expired());
            (rows.map_err(|e| e.to_string()), data.map_err(|e| e.to_string()))
        })
    });
    let mut purged = 0;
    for result in futures_join(purges).await {
        let (rows, data) = result.expect("task");
        purged += rows.expect("every purge succeeds");
        data.expect("every store purge succeeds");
    }

    assert_eq!(purged, 40, "each expired row deleted once, by one of them");
    assert_eq!(app.count("user_sessions").await, 1, "the live session's row stays");
    assert_eq!(app.count("tower_sessions").await, 1, "the live session's data stays");
    assert_eq!(app.me_status().await, 200, "and the person is still signed in");
}

/// A new session whose random id is already taken gets another: the session stored under it is never overwritten
/// (SQLite's store creates in one statement of its own, PostgreSQL's in the library's transaction; both retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_never_takes_over_the_id_of_a_stored_one() {
    use tower_sessions::{
        cookie::time::{Duration, OffsetDateTime},
        session::Record,
        session_store::SessionStore,
    };
    let (_provider, app) = signed_in(&[]).await;
    let stored = |id: String| {
        let sql = app.sql.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT data FROM tower_sessions WHERE id = $1")
                .bind(id)
                .fetch_one(&sql)
                .await
                .expect("the stored session")
        }
    };
    let taken: String = sqlx::query_scalar("SELECT id FROM tower_sessions").fetch_one(&app.sql).await.expect("one");
    let before = stored(taken.clone()).await;

    let store = session::Store::open(&app.state.db).await.expect("the session store");
    let mut record = Record {
        id: taken.parse().expect("a session id"),
        data: Default::default(),
        expiry_date: OffsetDateTime::now_utc() + Duration::hours(1),
    };
    store.create(&mut record).await.expect("created under another id");
    assert_ne!(record.id.to_string(), taken, "the taken id was not reused");
    assert_eq!(stored(taken).await, before, "the stored session is untouched");
    assert!(store.load(&record.id).await.expect("loads").is_some(), "the new one is stored under its new id");
    assert_eq!(app.count("tower_sessions").await, 2);
    assert_eq!(app.me_status().await, 200, "and the person is still signed in");
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await);
    }
    results
}

/// A request dropped while its transaction is beginning (the client hung up) must not hand the next request a
/// connection still inside that transaction. Found under `make bench` on PostgreSQL: sqlx counts a transaction only
/// once `BEGIN` is answered, so a read-only transaction begun for a dropped request lived on in the pool, and the next
/// request's UPDATE failed (500). Here one connection serves everything, and each `BEGIN` is dropped at a different
/// moment; the connection must be outside any transaction every time it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_while_it_begins_never_leaks_into_the_next_request() {
    let Some(server) = postgres_server() else { return };
    let url = fresh_postgres_schema(&server).await;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.expect("pool");
    let db = Db::Postgres(pool.clone());
    for round in 0..300u64 {
        let dropped: Begin<'_> = if round % 2 == 0 { Box::pin(db.begin_read()) } else { Box::pin(db.begin_write()) };
        drop_while_beginning(dropped, round).await;
        // A savepoint can only be made inside a transaction block: outside one, PostgreSQL refuses it.
        let inside = sqlx::query("SAVEPOINT probe").execute(&pool).await.is_ok();
        assert!(!inside, "round {round}: the connection came back inside a transaction");
    }
}

/// The same on SQLite, where a transaction left open by a dropped `BEGIN IMMEDIATE` holds the database's write lock:
/// found under `make bench` (wrk closing its connections at the end of a row), after which every write in the process
/// waited out the busy timeout and failed. Each round drops a `BEGIN` at a different moment; afterwards another
/// connection must be able to take the write lock at once, and the pool's connection must begin a transaction of its
/// own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_transaction_dropped_while_it_begins_never_keeps_the_write_lock() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let folder = tempfile::tempdir().expect("temporary directory");
    let file = folder.path().join("begin.db");
    let options =
        SqliteConnectOptions::new().filename(&file).create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.expect("pool");
    let other = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.busy_timeout(Duration::from_millis(0)))
        .await
        .expect("another connection");
    let db = Db::Sqlite(pool.clone());
    for round in 0..300u64 {
        let dropped: Begin<'_> = if round % 2 == 0 { Box::pin(db.begin_read()) } else { Box::pin(db.begin_write()) };
        drop_while_beginning(dropped, round).await;
        let mut own = pool.begin_with("BEGIN IMMEDIATE").await.unwrap_or_else(|error| {
            panic!("round {round}: the pool's connection came back inside a transaction: {error}")
        });
        sqlx::query("SELECT 1").execute(&mut *own).await.expect("a statement in it");
        own.rollback().await.expect("rolled back");
        let mut lock = other
            .begin_with("BEGIN IMMEDIATE")
            .await
            .unwrap_or_else(|error| panic!("round {round}: the write lock was still held: {error}"));
        sqlx::query("SELECT 1").execute(&mut *lock).await.expect("a statement in it");
        lock.rollback().await.expect("rolled back");
    }
    pool.close().await;
    other.close().await;
}

/// Writers to one SQLite file take turns in the order they asked. SQLite's busy handler alone serves whoever polls
/// first after the lock is released, and a writer that has waited long polls least often (its sleeps grow to 100 ms):
/// under `make bench`'s refresh row, where every request writes, one request waited over two seconds. Here six
/// writers queue one after another behind a held write transaction; once it ends they must write in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_take_turns_in_the_order_they_asked() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let folder = tempfile::tempdir().expect("temporary directory");
    let options = SqliteConnectOptions::new()
        .filename(folder.path().join("turns.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await.expect("pool");
    sqlx::query("CREATE TABLE turns (n INTEGER NOT NULL)").execute(&pool).await.expect("table");
    let db = Db::Sqlite(pool.clone());

    let holder = db.begin_write().await.expect("the first writer");
    let mut writers = Vec::new();
    for n in 0..6i64 {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            let mut tx = db.begin_write().await.expect("a turn");
            let db::Exec::Sqlite(conn) = tx.as_exec() else { unreachable!("a SQLite transaction") };
            sqlx::query("INSERT INTO turns (n) VALUES ($1)").bind(n).execute(conn).await.expect("written");
            tx.commit().await.expect("committed");
        }));
        // Long enough for this writer to be waiting before the next one asks.
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM turns").fetch_one(&pool).await.expect("count");
    assert_eq!(written, 0, "nobody writes while the first writer holds the lock");
    holder.commit().await.expect("the first writer commits");
    for writer in writers {
        writer.await.expect("a writer finished");
    }
    let order: Vec<i64> =
        sqlx::query_scalar("SELECT n FROM turns ORDER BY rowid").fetch_all(&pool).await.expect("order");
    assert_eq!(order, [0, 1, 2, 3, 4, 5], "writers wrote in the order they asked");
    pool.close().await;
}

/// A writer that gets no turn within SQLite's busy timeout (`DATABASE_STATEMENT_TIMEOUT`) fails as one that got no
/// lock did: unavailable (503), after that long — it does not wait for ever behind a writer that never finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_writer_waits_for_its_turn_no_longer_than_the_busy_timeout() {
    let folder = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", folder.path().join("wait.db").display());
    let config = Config::from_lookup(|key| {
        Ok(match key {
            "DATABASE_URL" => Some(url.clone()),
            "DATABASE_STATEMENT_TIMEOUT" => Some("1s".to_owned()),
            "LEPTOS_SITE_ADDR" => Some("127.0.0.1:0".to_owned()),
            _ => None,
        })
    })
    .expect("configuration");
    let db = Db::connect(&config.database).await.expect("connects");
    let holder = db.begin_write().await.expect("the first writer");
    let started = std::time::Instant::now();
    let refused = db.begin_write().await.err().expect("no turn while the first writer holds it");
    let waited = started.elapsed();
    assert!(db::is_unavailable(&refused), "unavailable, so a 503: {refused}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "waited {waited:?}");
    holder.commit().await.expect("the first writer commits");
    db.begin_write().await.expect("the next writer has its turn").commit().await.expect("committed");
}

/// A transaction beginning, as the tests below hold it.
type Begin<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<db::Tx, sqlx::Error>> + Send + 'a>>;

/// As hyper drops a request whose client hung up: `begin` polled a few times (how many, and how long apart, varies
/// with `round`), then dropped without another poll — also after its `BEGIN` was answered but before the answer was
/// read, which a timeout (it polls the future once more before giving up) never reaches.
async fn drop_while_beginning(mut begin: Begin<'_>, round: u64) {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..=(round % 3) {
        if begin.as_mut().poll(&mut context).is_ready() {
            return;
        }
        tokio::time::sleep(Duration::from_micros(200 * (round % 5))).await;
    }
}
