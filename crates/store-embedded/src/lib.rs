//! The default backend: a durable SQLite store that needs no setup.
//!
//! Users with argon2 password hashes, calendar folders, items (the exact bytes a client PUT,
//! with UID, component type and a content ETag), and per folder a modification sequence with
//! tombstones, so that sync-collection can report deletions.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a write acknowledged to a client has
//! reached the disk; every write is one transaction, so a crash leaves no half-written item.
//! Conditional writes take the write lock first (`BEGIN IMMEDIATE`), then check, then write:
//! of concurrent writers with the same If-Match exactly one wins.

mod db;
mod folders;
mod items;
mod schema;
mod session;
mod state;
mod users;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use store::{Backend, Credentials, Directory, Principal, Session, StoreError};

pub use users::UserInfo;

use crate::db::Db;
use crate::session::EmbeddedSession;

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "gateway.sqlite3";

#[derive(Clone)]
pub struct EmbeddedBackend {
    db: Arc<Db>,
    /// Domain of the address of a user added without `--email` (see [`store::mail_address`]).
    mail_domain: String,
    /// Keeps a temporary directory alive as long as the backend (tests only).
    _temporary: Option<Arc<tempfile::TempDir>>,
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the store in `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.to_owned();
        let db = tokio::task::spawn_blocking(move || Db::open(&dir)).await.map_err(StoreError::internal)??;
        Ok(EmbeddedBackend {
            db: Arc::new(db),
            mail_domain: store::mail_address::FALLBACK_MAIL_DOMAIN.to_owned(),
            _temporary: None,
        })
    }

    /// Users without a stored address are `<name>@<domain>` (or their name, when it is an
    /// address): RFC 6638 needs a `mailto:` calendar user address for every user.
    pub fn with_mail_domain(mut self, domain: &str) -> Self {
        domain.clone_into(&mut self.mail_domain);
        self
    }

    /// A store in a fresh temporary directory, removed when the last clone is dropped.
    pub async fn temporary() -> Result<Self, StoreError> {
        let dir = tempfile::tempdir().map_err(StoreError::internal)?;
        let mut backend = EmbeddedBackend::open(dir.path()).await?;
        backend._temporary = Some(Arc::new(dir));
        Ok(backend)
    }

    /// Adds a user. `AlreadyExists` when the name is taken, `Rejected` for an invalid name.
    /// Creates no folders: the gateway provisions defaults at first login.
    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        users::validate_name(name)?;
        let hash = users::hash_password(password.to_owned()).await?;
        let (name, display_name, email) = (name.to_owned(), display_name.map(str::to_owned), email.map(str::to_owned));
        self.db.write(move |tx| users::insert(tx, &name, &hash, display_name.as_deref(), email.as_deref())).await
    }

    /// Sets a user's password. `NotFound` for an unknown user.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        let hash = users::hash_password(password.to_owned()).await?;
        let name = name.to_owned();
        self.db.write(move |tx| users::set_password(tx, &name, &hash)).await
    }

    /// Deletes a user with all their folders and items. `NotFound` for an unknown user.
    pub async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.db.write(move |tx| users::delete(tx, &name)).await
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        self.db.read(users::list).await
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    async fn login(&self, credentials: &Credentials) -> Result<Arc<dyn Session>, StoreError> {
        let name = credentials.username.clone();
        let record = self.db.read(move |conn| users::find(conn, &name)).await?;
        let info = users::verify(record, credentials.password.clone()).await?;
        let principal = users::principal(info, &self.mail_domain);
        Ok(Arc::new(EmbeddedSession::new(self.db.clone(), principal)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db::to_store_error)).await
    }

    /// Every user of this store is in its `users` table, so the gateway can deliver to and
    /// read the busy time of any of them.
    fn directory(&self) -> Option<&dyn Directory> {
        Some(self)
    }
}

#[async_trait]
impl Directory for EmbeddedBackend {
    async fn resolve(&self, address: &str) -> Result<Option<Principal>, StoreError> {
        let (address, domain) = (address.to_owned(), self.mail_domain.clone());
        self.db.read(move |conn| users::by_address(conn, &address, &domain)).await
    }

    async fn open(&self, user: &str) -> Result<Arc<dyn Session>, StoreError> {
        let name = user.to_owned();
        let record = self.db.read(move |conn| users::find(conn, &name)).await?;
        let info = record.ok_or(StoreError::NotFound)?.info;
        Ok(Arc::new(EmbeddedSession::new(self.db.clone(), users::principal(info, &self.mail_domain))))
    }
}
