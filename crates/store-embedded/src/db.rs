//! Connections and the two ways to use them: `read` on a pooled connection, `write` in an
//! immediate transaction on the single writer. Both run on tokio's blocking pool, since
//! SQLite calls block.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use store::StoreError;

use crate::schema;
use crate::DATABASE_FILE;

/// Idle read connections kept; more are opened under load and closed afterwards.
const IDLE_READERS: usize = 4;
/// How long a statement waits for a lock before the request is answered 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Db {
    path: std::path::PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl Db {
    pub fn open(dir: &Path) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::internal)?;
        let path = dir.join(DATABASE_FILE);
        let mut writer = connect(&path)?;
        schema::migrate(&mut writer).map_err(to_store_error)?;
        Ok(Db { path, writer: Arc::new(Mutex::new(writer)), readers: Arc::new(Mutex::new(Vec::new())) })
    }

    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        let readers = self.readers.clone();
        blocking(move || {
            let pooled = readers.lock().map_err(|_| StoreError::internal("reader pool poisoned"))?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => connect(&path)?,
            };
            let result = work(&conn);
            if let Ok(mut idle) = readers.lock() {
                if idle.len() < IDLE_READERS {
                    idle.push(conn);
                }
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
