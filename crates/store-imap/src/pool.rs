//! The authenticated connections of one user's session: a phone's sync burst reuses them
//! instead of logging in per request, and at most `max_connections` are open at once.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::Duration;

use store::{Credentials, StoreError};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::connection::{Connection, Endpoint};
use crate::wire::Command;

/// A connection used this recently is reused without asking whether it still works.
const VOUCHED: Duration = Duration::from_secs(5);

pub(crate) struct Pool {
    endpoint: Endpoint,
    credentials: Credentials,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    idle_timeout: Duration,
}

/// A connection lent out of the pool; back into it when dropped, unless broken.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    /// A pool holding `first`, the connection whose login proved the credentials.
    pub fn new(
        endpoint: Endpoint,
        credentials: Credentials,
        first: Connection,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Pool {
        Pool {
            endpoint,
            credentials,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(max_connections.max(1)),
            idle_timeout,
        }
    }

    pub async fn get(&self) -> Result<Lease<'_>, StoreError> {
        let permit = self.permits.acquire().await.map_err(StoreError::internal)?;
        let reusable = {
            let mut idle = self.idle.lock().map_err(|_| StoreError::internal("connection pool poisoned"))?;
            // Connections idle for longer than the timeout may have been closed by the
            // server (its autologout) or by a middlebox: dropped, not tried.
            idle.retain(|c| c.last_used.elapsed() < self.idle_timeout);
            idle.pop()
        };
        let connection = match reusable {
            Some(connection) if connection.last_used.elapsed() < VOUCHED => connection,
            // Idle for a while: the server may have closed it meanwhile (a restart, its
            // autologout). One NOOP tells, rather than the client's request failing with 503.
            Some(mut connection) => match connection.run(Command::new("NOOP")).await {
                Ok(answer) if answer.ok() && !connection.broken => connection,
                _ => self.open().await?,
            },
            None => self.open().await?,
        };
        Ok(Lease { pool: self, connection: Some(connection), _permit: permit })
    }
}

impl Pool {
    async fn open(&self) -> Result<Connection, StoreError> {
        Connection::open(&self.endpoint, &self.credentials.username, &self.credentials.password).await
    }
}

impl Deref for Lease<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Some from construction until drop.
        self.connection.as_ref().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if !connection.broken {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(connection);
                }
            }
        }
    }
}
