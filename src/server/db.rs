//! The SQLite pool: WAL mode, foreign keys, a busy timeout, and the embedded migrations applied at startup.

use std::{path::Path, str::FromStr};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::config::DatabaseSettings;

/// Why the database could not be opened. Messages name the file, never the full URL.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot create the folder {folder} for the database: {source}")]
    CreateFolder { folder: String, source: std::io::Error },
    #[error("cannot open the database {file}: {reason}")]
    Open { file: String, reason: String },
    #[error("cannot apply the database migrations to {file}: {source}")]
    Migrate { file: String, source: sqlx::migrate::MigrateError },
}

/// Opens the pool and applies every pending migration.
pub async fn connect(settings: &DatabaseSettings) -> Result<SqlitePool, DatabaseError> {
    let options = SqliteConnectOptions::from_str(settings.url())
        .map_err(|e| DatabaseError::Open { file: "(invalid URL)".into(), reason: e.to_string() })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable in WAL mode except for the last transactions before a power loss.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(settings.busy_timeout);
    let file = options.get_filename().display().to_string();

    let folder = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder
        && !is_memory(options.get_filename())
    {
        std::fs::create_dir_all(folder)
            .map_err(|source| DatabaseError::CreateFolder { folder: folder.display().to_string(), source })?;
    }

    let pool = SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        // A connection to a local file does not go stale; pinging it before every use cost a round trip to its
        // worker thread per query (a failed query still reports its error).
        .test_before_acquire(false)
        // Opening the first connection runs the PRAGMAs, which is where a corrupt or foreign file shows itself.
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| DatabaseError::Open { file: file.clone(), reason: describe(&e) })?;

    MIGRATOR.run(&pool).await.map_err(|source| DatabaseError::Migrate { file, source })?;
    Ok(pool)
}

/// The migrations under `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Whether the database answers a trivial query: the readiness check.
pub async fn ping(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

fn is_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

/// A short, human reason for a connection failure ("file is not a database", "unable to open database file").
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// Starts a transaction that will write. `BEGIN IMMEDIATE` takes the write lock up front, so a concurrent writer
/// makes it wait (up to the busy timeout) instead of failing later with `SQLITE_BUSY` when a read turns into a write.
pub async fn begin_write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
