//! One user's view of the store: every query is scoped by the owner.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use store::{
    CandidateQuery, Changes, DeadPropertyChange, Expected, Folder, FolderId, FolderPatch, Item, ItemName, Listing,
    NewFolder, NewItem, Principal, Session, State, StoreError, Stored,
};

use crate::db::Db;
use crate::{folders, items, state};

pub(crate) struct EmbeddedSession {
    db: Arc<Db>,
    principal: Principal,
    /// The owner's folders as last read, with the database version (`Db::version`) read
    /// before them: used while the version is unchanged, i.e. until any write commits.
    /// Nearly every request resolves its folder first, and the calendar-home poll is
    /// nothing else; a trip through the blocking pool for it was about a fifth of a poll
    /// (issue 12). One list per session, and sessions are bounded by the login cache.
    folders: Mutex<Option<(i64, Vec<Folder>)>>,
}

impl EmbeddedSession {
    pub fn new(db: Arc<Db>, principal: Principal) -> Self {
        EmbeddedSession { db, principal, folders: Mutex::new(None) }
    }

    /// The owner's folders, from the kept list when no write committed since it was read.
    async fn current_folders(&self) -> Result<Vec<Folder>, StoreError> {
        // Read before the folders: a write committing in between makes the list look older
        // than it is, never newer.
        let version = self.db.version();
        if let Some(version) = version {
            let kept =
                self.folders.lock().ok().and_then(|kept| {
                    kept.as_ref().filter(|(at, _)| *at == version).map(|(_, folders)| folders.clone())
                });
            if let Some(folders) = kept {
                return Ok(folders);
            }
        }
        let owner = self.owner();
        let folders = self.db.read(move |conn| folders::list(conn, &owner)).await?;
        if let (Some(version), Ok(mut kept)) = (version, self.folders.lock()) {
            *kept = Some((version, folders.clone()));
        }
        Ok(folders)
    }

    fn owner(&self) -> String {
        self.principal.user.clone()
    }
}

#[async_trait]
impl Session for EmbeddedSession {
    fn principal(&self) -> &Principal {
        &self.principal
    }

    async fn folders(&self) -> Result<Vec<Folder>, StoreError> {
        self.current_folders().await
    }

    async fn folder(&self, name: &str) -> Result<Folder, StoreError> {
        self.current_folders().await?.into_iter().find(|f| f.name == name).ok_or(StoreError::NotFound)
    }

    async fn create_folder(&self, spec: &NewFolder) -> Result<Folder, StoreError> {
        let (owner, spec) = (self.owner(), spec.clone());
        self.db.write(move |tx| folders::create(tx, &owner, &spec)).await
    }

    async fn update_folder(&self, folder: &FolderId, patch: &FolderPatch) -> Result<Folder, StoreError> {
        let (owner, folder, patch) = (self.owner(), folder.clone(), patch.clone());
        self.db.write(move |tx| folders::update(tx, &owner, &folder, &patch)).await
    }

    async fn delete_folder(&self, folder: &FolderId) -> Result<(), StoreError> {
        let (owner, folder) = (self.owner(), folder.clone());
        self.db.write(move |tx| folders::delete(tx, &owner, &folder)).await
    }

    async fn state(&self, folder: &FolderId) -> Result<State, StoreError> {
        let (owner, folder) = (self.owner(), folder.clone());
        self.db
            .read(move |conn| {
                folders::resolve(conn, &owner, &folder).map(|row| state::encode(&row.incarnation, row.modseq))
            })
            .await
    }

    async fn list(&self, folder: &FolderId) -> Result<Listing, StoreError> {
        let (owner, folder) = (self.owner(), folder.clone());
        // One read connection, one implicit read transaction per statement; WAL readers see a
        // consistent snapshot only inside a transaction, so take one explicitly.
        self.db
            .read(move |conn| {
                let tx = conn.unchecked_transaction().map_err(crate::db::to_store_error)?;
                let row = folders::resolve(&tx, &owner, &folder)?;
                let listing =
                    Listing { state: state::encode(&row.incarnation, row.modseq), items: items::list(&tx, row.id)? };
                tx.finish().map_err(crate::db::to_store_error)?;
                Ok(listing)
            })
            .await
    }

    async fn get(&self, folder: &FolderId, names: &[ItemName]) -> Result<Vec<Item>, StoreError> {
        let (owner, folder, names) = (self.owner(), folder.clone(), names.to_vec());
        // One read transaction: one snapshot for all the names, and one lock taken instead of
        // one per statement (a multiget of 100 hrefs is 100 lookups).
        self.db
            .read(move |conn| {
                let tx = conn.unchecked_transaction().map_err(crate::db::to_store_error)?;
                let row = folders::resolve(&tx, &owner, &folder)?;
                let items = items::get(&tx, row.id, &names)?;
                tx.finish().map_err(crate::db::to_store_error)?;
                Ok(items)
            })
            .await
    }

    async fn put(&self, folder: &FolderId, item: NewItem, expected: Expected) -> Result<Stored, StoreError> {
        let (owner, folder) = (self.owner(), folder.clone());
        self.db
            .write(move |tx| {
                let row = folders::resolve(tx, &owner, &folder)?;
                items::put(tx, &row, item, &expected)
            })
            .await
    }

    async fn delete(&self, folder: &FolderId, name: &ItemName, expected: Expected) -> Result<(), StoreError> {
        let (owner, folder, name) = (self.owner(), folder.clone(), name.clone());
        self.db
            .write(move |tx| {
                let row = folders::resolve(tx, &owner, &folder)?;
                items::delete(tx, &row, &name, &expected)
            })
            .await
    }

    async fn set_item_properties(
        &self,
        folder: &FolderId,
        name: &ItemName,
        changes: &[DeadPropertyChange],
    ) -> Result<(), StoreError> {
        let (owner, folder, name, changes) = (self.owner(), folder.clone(), name.clone(), changes.to_vec());
        self.db
            .write(move |tx| {
                let row = folders::resolve(tx, &owner, &folder)?;
                items::set_properties(tx, &row, &name, &changes)
            })
            .await
    }

    async fn candidates(
        &self,
        folder: &FolderId,
        query: &CandidateQuery,
    ) -> Result<Option<Vec<store::ItemMeta>>, StoreError> {
        let (owner, folder, query) = (self.owner(), folder.clone(), *query);
        self.db
            .read(move |conn| {
                let row = folders::resolve(conn, &owner, &folder)?;
                items::candidates(conn, row.id, &query).map(Some)
            })
            .await
    }

    async fn changes(&self, folder: &FolderId, since: &State) -> Result<Changes, StoreError> {
        let (owner, folder, since) = (self.owner(), folder.clone(), since.clone());
        self.db
            .read(move |conn| {
                let tx = conn.unchecked_transaction().map_err(crate::db::to_store_error)?;
                let row = folders::resolve(&tx, &owner, &folder)?;
                let Some((incarnation, modseq)) = state::decode(&since) else { return Ok(Changes::Resync) };
                if incarnation != row.incarnation || modseq > row.modseq || modseq < row.pruned_below {
                    return Ok(Changes::Resync);
                }
                let (changed, removed) = items::changes_since(&tx, row.id, modseq)?;
                let state = state::encode(&row.incarnation, row.modseq);
                tx.finish().map_err(crate::db::to_store_error)?;
                Ok(Changes::Delta { state, changed, removed })
            })
            .await
    }
}
