//! The database: SQLite (the default: one file, nothing else to run) or PostgreSQL (several instances on one
//! database), chosen by the scheme of `DATABASE_URL`. Migrations for each live side by side under `migrations/` and
//! are applied at start-up.
//!
//! Queries are written once, in the SQL both understand (`$1` placeholders, `lower(email)`, `RETURNING`), and run
//! on the native driver of each through [`on!`], which expands the same code once per backend: rows and parameters
//! keep their native types, and the SQLite path costs what it did before PostgreSQL existed.

use std::{
    collections::HashMap,
    ops::{Deref, DerefMut},
    path::Path,
    str::FromStr,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction,
    pool::{MaybePoolConnection, PoolConnection},
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::server::platform::config::{DatabaseKind, DatabaseSettings};

/// One thing per backend: a pool, a connection, a transaction. [`on!`] runs the same code on whichever it holds.
#[derive(Clone, Debug)]
pub enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// The pool. Cheap to clone.
pub type Db = Backend<SqlitePool, PgPool>;
/// A connection taken from the pool for several queries.
pub type Conn = Backend<PoolConnection<Sqlite>, PoolConnection<Postgres>>;
/// A transaction: committed by [`Tx::commit`], rolled back when dropped.
pub type Tx = Backend<Gated<Transaction<'static, Sqlite>>, Transaction<'static, Postgres>>;
/// A borrowed connection, from a [`Conn`] or a [`Tx`]: what a query that may run inside a transaction takes.
pub type Exec<'c> = Backend<&'c mut SqliteConnection, &'c mut PgConnection>;

/// Runs `$body` with `$x` bound to what `$target` (a [`Backend`]) holds, once written, compiled for each backend.
/// The body must have the same type on both: map a `QueryResult` to `rows_affected()` inside it.
macro_rules! on {
    ($target:expr, $x:ident => $body:expr) => {
        match $target {
            $crate::server::platform::db::Backend::Sqlite($x) => $body,
            $crate::server::platform::db::Backend::Postgres($x) => $body,
        }
    };
}
pub(crate) use on;

/// Why the database could not be opened. Messages name the file or the host, never the full URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot create the folder {folder} for the database: {source}")]
    CreateFolder { folder: String, source: std::io::Error },
    #[error("cannot open the database {place}: {reason}")]
    Open { place: String, reason: String },
    #[error("cannot apply the database migration {migration} to {place} (nothing of it was kept): {reason}")]
    Migrate { place: String, migration: String, reason: String },
}

impl Db {
    /// Opens the pool and applies every pending migration. On PostgreSQL the migrator holds an advisory lock while
    /// it works, so of several instances starting at once exactly one applies them and the others wait, then find
    /// nothing left to do. Each migration runs in its own transaction: one that fails leaves nothing behind.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, DatabaseError> {
        let (db, place) = match settings.kind() {
            DatabaseKind::Sqlite => {
                let (pool, file) = connect_sqlite(settings).await?;
                (Db::Sqlite(pool), file)
            }
            DatabaseKind::Postgres => {
                let (pool, place) = connect_postgres(settings).await?;
                (Db::Postgres(pool), place)
            }
        };
        let migrated = on!(&db, pool => migrator(&db).run(pool).await);
        migrated.map_err(|error| migration_failed(&db, &place, error))?;
        Ok(db)
    }

    /// "sqlite" or "postgres": for logs and the readiness report.
    pub fn dialect(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A connection for several queries in a row.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Starts a transaction that will write. On SQLite, `BEGIN IMMEDIATE` takes the write lock up front, so a
    /// concurrent writer makes it wait (up to the busy timeout) instead of failing later with `SQLITE_BUSY` when a
    /// read turns into a write. PostgreSQL locks rows as they are written.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(begin_sqlite_write(pool).await?),
            Db::Postgres(pool) => Tx::Postgres(begin_to_completion(pool, "BEGIN").await?),
        })
    }

    /// Starts a transaction that only reads: one consistent snapshot for a page's several queries.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(Gated { tx: begin_to_completion(pool, "BEGIN").await?, _turn: None }),
            Db::Postgres(pool) => {
                Tx::Postgres(begin_to_completion(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?)
            }
        })
    }

    /// Whether the database answers a trivial query: the readiness check.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Closes every connection; queries after this fail.
    pub async fn close(&self) {
        on!(self, pool => pool.close().await)
    }
}

impl Conn {
    pub fn as_exec(&mut self) -> Exec<'_> {
        match self {
            Conn::Sqlite(conn) => Exec::Sqlite(conn),
            Conn::Postgres(conn) => Exec::Postgres(conn),
        }
    }
}

impl Tx {
    pub fn as_exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(tx) => Exec::Sqlite(tx),
            Tx::Postgres(tx) => Exec::Postgres(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            // The turn ends once the commit has released SQLite's write lock.
            Tx::Sqlite(gated) => gated.tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// A SQLite transaction and, for a writing one, this process's turn to write to its file (see
/// [`begin_sqlite_write`]): the turn ends when the transaction commits or is dropped.
pub struct Gated<T> {
    tx: T,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl<T> Deref for Gated<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.tx
    }
}

impl<T> DerefMut for Gated<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.tx
    }
}

/// One turn at a time per SQLite file in this process, handed out in the order asked for, and how long a writer waits
/// for its turn: SQLite's busy timeout for that file (`DATABASE_STATEMENT_TIMEOUT`), as long as it waited for the lock.
static WRITE_TURNS: LazyLock<Mutex<HashMap<String, Turns>>> = LazyLock::new(Default::default);

/// A file's turns (one permit) and how long a writer waits for one.
type Turns = (Arc<tokio::sync::Semaphore>, Duration);

/// The wait for a turn on a file no pool of [`Db::connect`] opened (one a test made itself).
const DEFAULT_TURN_WAIT: Duration = Duration::from_secs(10);

/// The turns of `file`, made on first use; `wait` (when connecting) sets how long a writer waits for one.
fn write_turns(file: String, wait: Option<Duration>) -> Turns {
    let mut all = WRITE_TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let turns = all.entry(file).or_insert_with(|| (Arc::new(tokio::sync::Semaphore::new(1)), DEFAULT_TURN_WAIT));
    if let Some(wait) = wait {
        turns.1 = wait;
    }
    turns.clone()
}

/// Begins a write transaction on SQLite once it is this request's turn: the writers of a process queue in order
/// (tokio's semaphore is first come, first served) instead of all polling SQLite's write lock. SQLite's busy handler
/// sleeps 1, 2, 5, 10… up to 100 ms between tries, so a writer that has waited long sleeps longest and a newcomer
/// takes the lock first: under `make bench`'s refresh row (64 clients, every request a write) one request in some
/// 26,000 waited over two seconds. The busy handler still settles contention with other processes on the same file.
/// The connection is taken first and the turn second, as before the turn existed: a writer that has its turn never
/// waits for a connection held by one waiting for the turn. A writer that gets no turn within the busy timeout fails
/// as one that got no lock did: unavailable (503), nothing written.
async fn begin_sqlite_write(pool: &SqlitePool) -> Result<Gated<Transaction<'static, Sqlite>>, sqlx::Error> {
    let (turns, wait) = write_turns(pool.connect_options().get_filename().display().to_string(), None);
    let pool = pool.clone();
    // In a task of its own, for the reason `begin_to_completion` gives.
    tokio::spawn(async move {
        let conn = pool.acquire().await?;
        let turn = match tokio::time::timeout(wait, turns.acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
        };
        let tx = Transaction::begin(MaybePoolConnection::PoolConnection(conn), Some("BEGIN IMMEDIATE".into())).await?;
        Ok(Gated { tx, _turn: Some(turn) })
    })
    .await
    .unwrap_or_else(|error| Err(sqlx::Error::Io(std::io::Error::other(format!("BEGIN did not finish: {error}")))))
}

impl Exec<'_> {
    /// The same connection, borrowed again: for a function that runs several queries on its `Exec`.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::Sqlite(conn) => Exec::Sqlite(conn),
            Exec::Postgres(conn) => Exec::Postgres(conn),
        }
    }
}

/// One column of a [`Lists`] statement.
pub enum Column<'a> {
    /// A whole list: `values` (column names of `from`'s rows, in order) for each row of `from`, a `SELECT` that
    /// may use the statement's parameters.
    List { values: &'a str, from: &'a str },
    /// A single value (NULL when there is none).
    Scalar(&'a str),
}

/// A statement whose one row holds a page's lists, each as a JSON array of rows (a row is an array of values), so a
/// page's data is one statement and one round trip to the database instead of a transaction with one query per
/// list. On SQLite each round trip is two thread switches (to the connection's worker thread and back), which cost
/// more than the queries; a single statement also reads one consistent snapshot on both backends without a
/// transaction. The order inside a list is not promised: sort after [`rows`].
pub struct Lists {
    sqlite: String,
    postgres: String,
}

impl Lists {
    pub fn new(columns: &[Column<'_>]) -> Self {
        let select = |list: fn(&str, &str) -> String| {
            let columns: Vec<String> = columns
                .iter()
                .map(|column| match column {
                    Column::List { values, from } => list(values, from),
                    Column::Scalar(expression) => format!("({expression})"),
                })
                .collect();
            format!("SELECT {}", columns.join(",\n       "))
        };
        Self {
            sqlite: select(|values, from| format!("(SELECT json_group_array(json_array({values})) FROM ({from}))")),
            postgres: select(|values, from| {
                format!("(SELECT COALESCE(json_agg(json_build_array({values})), '[]')::text FROM ({from}) AS list)")
            }),
        }
    }

    /// The statement in the dialect of `on`.
    pub fn sql<S, P>(&self, on: &Backend<S, P>) -> &str {
        match on {
            Backend::Sqlite(_) => &self.sqlite,
            Backend::Postgres(_) => &self.postgres,
        }
    }
}

/// A list column of a [`Lists`] row, read as rows of `T`: a tuple, or a struct deriving `Deserialize` whose fields
/// are in the order of the list's values.
pub fn rows<T: serde::de::DeserializeOwned>(list: &str) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(list).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// The migrations of each dialect, compiled into the binary. They share version numbers: a change one dialect
/// does not need is simply absent from its folder.
pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn migrator(db: &Db) -> &'static sqlx::migrate::Migrator {
    match db {
        Db::Sqlite(_) => &SQLITE_MIGRATIONS,
        Db::Postgres(_) => &POSTGRES_MIGRATIONS,
    }
}

/// Names the migration that failed ("20261123000001 accounts") and why.
fn migration_failed(db: &Db, place: &str, error: sqlx::migrate::MigrateError) -> DatabaseError {
    use sqlx::migrate::MigrateError;
    let named = |version: i64| {
        migrator(db)
            .iter()
            .find(|m| m.version == version)
            .map_or_else(|| version.to_string(), |m| format!("{} {}", m.version, m.description))
    };
    let (migration, reason) = match &error {
        MigrateError::ExecuteMigration(source, version) => (named(*version), describe(source)),
        MigrateError::VersionMismatch(version) => {
            (named(*version), "it was changed after it was applied; restore the original file".to_owned())
        }
        MigrateError::VersionMissing(version) => (
            version.to_string(),
            "the database has it but this build does not: it was made by a newer Gatehouse".to_owned(),
        ),
        MigrateError::Dirty(version) => (named(*version), "a previous attempt to apply it did not finish".to_owned()),
        other => ("(none)".to_owned(), other.to_string()),
    };
    DatabaseError::Migrate { place: place.to_owned(), migration, reason }
}

async fn connect_sqlite(settings: &DatabaseSettings) -> Result<(SqlitePool, String), DatabaseError> {
    let options = SqliteConnectOptions::from_str(settings.url())
        .map_err(|e| DatabaseError::Open { place: "(invalid URL)".into(), reason: e.to_string() })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable in WAL mode except for the last transactions before a power loss.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Each connection's page cache is emptied whenever another connection has written (every sign-in writes), so
        // pages are read again and again: mapped, a read is a pointer into the file instead of a system call and a
        // copy. 256 MiB of address space, not of memory; the kernel's page cache holds the pages either way.
        .pragma("mmap_size", "268435456")
        .busy_timeout(settings.statement_timeout);
    let file = options.get_filename().display().to_string();
    // This process's writers to the file wait for their turn as long as SQLite waits for its lock.
    write_turns(file.clone(), Some(settings.statement_timeout));

    let folder = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder
        && !is_memory(options.get_filename())
    {
        std::fs::create_dir_all(folder)
            .map_err(|source| DatabaseError::CreateFolder { folder: folder.display().to_string(), source })?;
    }

    let pool = SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        // A connection to a local file does not go stale; pinging it before every use cost a round trip to its
        // worker thread per query (a failed query still reports its error).
        .test_before_acquire(false)
        // Opening the first connection runs the PRAGMAs, which is where a corrupt or foreign file shows itself.
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| DatabaseError::Open { place: file.clone(), reason: describe(&e) })?;
    Ok((pool, file))
}

async fn connect_postgres(settings: &DatabaseSettings) -> Result<(PgPool, String), DatabaseError> {
    let options = PgConnectOptions::from_str(settings.url())
        .map_err(|e| DatabaseError::Open { place: "(invalid URL)".into(), reason: e.to_string() })?;
    // What `pg_stat_activity` shows: the URL's `application_name` when it sets one (say, per instance), else ours.
    let name = options.get_application_name().unwrap_or("gatehouse").to_owned();
    let options = options
        .application_name(&name)
        // A statement that runs longer is cancelled by the server: a stuck query cannot hold a connection forever.
        .options([("statement_timeout", format!("{}ms", settings.statement_timeout.as_millis()))]);
    let place =
        format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or("(default)"));
    // One connection first, for the real reason when it fails (the pool would only report a timeout after retrying).
    let open = |reason: String| DatabaseError::Open { place: place.clone(), reason };
    match tokio::time::timeout(settings.connect_timeout, PgConnection::connect_with(&options)).await {
        Err(_) => {
            return Err(open(format!("no answer within {:?} (DATABASE_CONNECT_TIMEOUT)", settings.connect_timeout)));
        }
        Ok(Err(error)) => return Err(open(describe(&error))),
        Ok(Ok(conn)) => conn.close().await.map_err(|e| open(describe(&e)))?,
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        // Connections are checked before use (the default), so one broken by a restart of PostgreSQL is replaced
        // instead of failing a request; idle ones are closed after a while.
        .idle_timeout(Some(Duration::from_secs(300)))
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| open(describe(&e)))?;
    Ok((pool, place))
}

/// Makes the rest of the write transaction run alone among those that claim the same `key`, on every instance, until
/// it commits or rolls back: a check and the write it decides (is this identity new? is this email taken?) cannot
/// interleave with another's. SQLite's write transaction already excludes every other writer; PostgreSQL takes a
/// transaction-scoped advisory lock, and each later statement (READ COMMITTED) sees what the previous holder wrote.
pub async fn claim(tx: Exec<'_>, key: &str) -> Result<(), sqlx::Error> {
    match tx {
        Exec::Sqlite(_) => Ok(()),
        Exec::Postgres(conn) => {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(conn).await.map(drop)
        }
    }
}

/// Deletes the rows of `table` whose `expires_at` (Unix seconds) has passed, in one statement: housekeeping for the
/// short-lived rows a feature keeps (used passkey challenges, sign-in notices, email links). `table` is named by the
/// code, never by a request. Returns how many went.
pub async fn delete_expired(db: &Db, table: &'static str) -> Result<u64, sqlx::Error> {
    let statement = format!("DELETE FROM {table} WHERE expires_at <= $1");
    let now = crate::server::platform::clock::now();
    on!(db, pool => sqlx::query(&statement).bind(now).execute(pool).await.map(|done| done.rows_affected()))
}

/// Begins a transaction in a task of its own, so that it completes even when the request awaiting it is dropped (a
/// client that hangs up). sqlx 0.8 counts a transaction as open only once its `BEGIN` has been answered: dropped in
/// between, the connection went back to the pool inside a transaction the next borrower did not know of. On
/// PostgreSQL, under `make bench`, the next request's UPDATE failed with "cannot execute UPDATE in a read-only
/// transaction" (500). On SQLite it is worse: a `BEGIN IMMEDIATE` answered just as wrk closed its connections at the
/// end of a row left a connection holding the database's write lock for good — every write after it waited out the
/// busy timeout and failed ("database is locked"), and the next transaction on that connection failed with "attempted
/// to call begin_with at non-zero transaction depth". A transaction begun here and no longer wanted is dropped inside
/// the task, which rolls it back.
pub async fn begin_to_completion<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    statement: &'static str,
) -> Result<Transaction<'static, DB>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .unwrap_or_else(|error| Err(sqlx::Error::Io(std::io::Error::other(format!("BEGIN did not finish: {error}")))))
}

/// Whether `error` means the database could not be reached or did not answer in time, rather than that a query was
/// wrong: such a request gets 503 (and is safe to retry: its transaction did not commit).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY or SQLITE_LOCKED (and their extended codes): still locked after the busy timeout.
                code.parse::<u32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
            } else {
                // PostgreSQL: connection exceptions (08…), insufficient resources (53…), operator intervention (57…:
                // shutting down, statement timeout).
                ["08", "53", "57"].iter().any(|class| code.starts_with(class))
            }
        }
        _ => false,
    }
}

fn is_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

/// A short, human reason for a failure ("file is not a database", "password authentication failed for user …").
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "no connection within DATABASE_CONNECT_TIMEOUT".to_owned(),
        other => other.to_string(),
    }
}
