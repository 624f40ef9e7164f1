//! Connections and the two ways to use them: `read` on a pooled connection, `write` in an
//! immediate transaction on the single writer. Both run on tokio's blocking pool, since
//! SQLite calls block.
//!
//! Read connections are opened once and kept: at most [`READERS`] reads run at once, and a
//! read beyond that waits for a connection instead of opening another. Keeping only a few idle
//! connections and opening more under load (as before issue 12) opened and closed a
//! connection for most reads at 8 clients: 7% of a calendar-home poll went to `connect` and
//! preparing its statements again.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use store::StoreError;

use crate::schema;
use crate::DATABASE_FILE;

/// Read connections, each kept open once opened. More than the machine has cores gains nothing
/// (a read is CPU in SQLite's page cache), and each holds its own page cache (SQLite's default
/// of up to 2 MiB), so the number stays small.
const READERS: usize = 8;
/// How long a statement waits for a lock before the request is answered 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Db {
    path: std::path::PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per read connection: a read holds one while it runs, so no more than
    /// `READERS` connections are ever open for reading.
    read_permits: Arc<Semaphore>,
    /// Used only for `PRAGMA data_version`: see [`Db::version`].
    watch: Mutex<Connection>,
}

impl Db {
    pub fn open(dir: &Path) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::internal)?;
        let path = dir.join(DATABASE_FILE);
        let mut writer = connect(&path)?;
        schema::migrate(&mut writer).map_err(to_store_error)?;
        let watch = Mutex::new(watch_connection(&path)?);
        Ok(Db {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::with_capacity(READERS))),
            read_permits: Arc::new(Semaphore::new(READERS)),
            watch,
        })
    }

    /// A number that changes whenever a transaction commits on another connection to the
    /// database: the gateway's own writer, or another process (`caldav-gateway user ...`).
    /// Caches of what was read are kept under it. Run on the calling thread: it reads the WAL
    /// index in shared memory and waits for no lock (`None` when it would, or on any error:
    /// then nothing cached may be used).
    pub fn version(&self) -> Option<i64> {
        let conn = self.watch.lock().ok()?;
        let mut statement = conn.prepare_cached("PRAGMA data_version").ok()?;
        statement.query_row([], |row| row.get(0)).ok()
    }

    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        let readers = self.readers.clone();
        let permit = self.read_permits.clone().acquire_owned().await.map_err(StoreError::internal)?;
        blocking(move || {
            // Held until the connection is back in the pool.
            let _permit = permit;
            let pooled = readers.lock().map_err(|_| StoreError::internal("reader pool poisoned"))?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => connect(&path)?,
            };
            let result = work(&conn);
            if let Ok(mut idle) = readers.lock() {
                idle.push(conn);
            }
            result
        })
        .await
    }

    /// Runs `work` in a `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.clone();
        blocking(move || {
            let mut conn = writer.lock().map_err(|_| StoreError::internal("writer poisoned"))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(to_store_error)?;
            let value = work(&tx)?;
            tx.commit().map_err(to_store_error)?;
            Ok(value)
        })
        .await
    }
}

async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(StoreError::internal)?
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(to_store_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(to_store_error)?;
    // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so an
    // acknowledged write survives a power loss (NORMAL could lose the last commits).
    conn.pragma_update(None, "journal_mode", "WAL").map_err(to_store_error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(to_store_error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(to_store_error)?;
    Ok(conn)
}

/// The connection `Db::version` asks; it never waits for a lock, since it runs on a runtime
/// worker: a busy database just makes that read uncached.
fn watch_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = connect(path)?;
    conn.busy_timeout(Duration::ZERO).map_err(to_store_error)?;
    Ok(conn)
}

/// Lock contention is a temporary outage (503); everything else is our fault (500).
pub(crate) fn to_store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable { retry_after: Some(Duration::from_secs(1)), source: error.into() }
        }
        _ => StoreError::internal(error),
    }
}

/// Whether a failed statement broke a UNIQUE constraint.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
