//! One user's calendars over JMAP: the `Session` contract on top of `client` and `cache`.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use store::{
    CandidateQuery, Changes, Expected, Folder, FolderId, FolderPatch, Item, ItemName, Listing, NewFolder, NewItem,
    Principal, Session, State, StoreError, Stored,
};

use crate::cache::{Cache, Snapshot};
use crate::client::{self, garbage, Account, Client};
use crate::model::{self, Entry, FolderProps, ItemEntry};
use crate::writes::{busy, set_error, Body, Part, Read};
use crate::JmapOptions;

/// Ids asked for in one `Email/get` or returned by one `Email/query` page.
pub(crate) const PAGE: usize = 1024;
/// Blob downloads in flight at once for one request.
const DOWNLOADS_IN_FLIGHT: usize = 16;

pub(crate) struct Shared {
    pub client: Client,
    pub cache: Cache,
    pub options: JmapOptions,
    /// One writer per account at a time in this process (see `writes.rs`).
    pub writers: crate::writes::WriterLocks,
    /// What each INBOX message looked at for iMIP is.
    pub inbox: crate::imip::InboxCache,
    /// The accounts' push streams.
    pub push: crate::push::Push,
}

pub(crate) struct JmapSession {
    pub(crate) shared: Arc<Shared>,
    pub(crate) account: Account,
    /// The key of this session's snapshot of the account: what a login sees of an account
    /// (its mailboxes and `myRights`) depends on the login, so the service account's view
    /// of a user's account is kept apart from the user's own.
    view: String,
    principal: Principal,
    /// The JMAP identity mail is submitted as (RFC 8621 §6); Cyrus names it by the login.
    pub(crate) identity: String,
    /// INBOX and Drafts, looked up at the first iMIP call of the session.
    pub(crate) roles: std::sync::OnceLock<Arc<crate::imip::Roles>>,
}

impl JmapSession {
    pub fn new(shared: Arc<Shared>, account: Account, email: Option<String>, identity: Option<String>) -> Self {
        let principal = principal(&account.owner, email);
        let identity = identity.unwrap_or_else(|| account.owner.clone());
        let view = view_key(&account.account_id, &account.username, &account.owner);
        JmapSession { shared, account, view, principal, identity, roles: std::sync::OnceLock::new() }
    }

    pub(crate) fn id(&self) -> &str {
        &self.account.account_id
    }

    pub(crate) fn view(&self) -> &str {
        &self.view
    }

    /// After a change of the account's mailboxes or messages: neither this login's snapshot
    /// nor the owner's own is served again without asking (a delivery through the service
    /// account is seen by the user's next request).
    pub(crate) async fn forget_snapshots(&self) {
        self.shared.cache.snapshots.invalidate(self.view()).await;
        if self.view() != self.id() {
            self.shared.cache.snapshots.invalidate(self.id()).await;
        }
    }

    pub(crate) async fn call(&self, calls: Vec<(&str, Value)>) -> Result<Vec<client::Invocation>, StoreError> {
        self.shared.client.call(&self.account, calls).await
    }

    /// What each message is, from the cache or one `Email/get` per page of unknown ids.
    pub(crate) async fn entries(&self, ids: &[String]) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        let cache = &self.shared.cache;
        let mut known = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match cache.entry(self.id(), id).await {
                Some(entry) => known.push((id.clone(), entry)),
                None => missing.push(id.clone()),
            }
        }
        for page in missing.chunks(PAGE) {
            let r = self
                .call(vec![(
                    "Email/get",
                    json!({"accountId": self.id(), "ids": page, "properties": model::email_properties(),
                           "bodyProperties": model::body_properties()}),
                )])
                .await?;
            let args = client::response(&r, 0, "Email/get")?;
            for email in args.get("list").and_then(Value::as_array).into_iter().flatten() {
                let (id, entry) = match model::entry(email) {
                    Some(found) => found,
                    None => match email.get("id").and_then(Value::as_str) {
                        Some(id) => (id.to_owned(), Entry::Other),
                        None => continue,
                    },
                };
                let entry = cache.put_entry(self.id(), &id, entry).await;
                known.push((id, entry));
            }
        }
        known.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(known)
    }

    pub(crate) async fn blob(&self, blob: &str) -> Result<Bytes, StoreError> {
        if let Some(bytes) = self.shared.cache.blob(self.id(), blob).await {
            return Ok(bytes);
        }
        let bytes = self.shared.client.download(&self.account, blob).await?;
        self.shared.cache.put_blob(self.id(), blob, bytes.clone()).await;
        Ok(bytes)
    }

    pub(crate) async fn props(&self, blob: Option<&str>) -> Result<Arc<FolderProps>, StoreError> {
        let Some(blob) = blob else { return Ok(Arc::new(FolderProps::default())) };
        if let Some(props) = self.shared.cache.props(self.id(), blob).await {
            return Ok(props);
        }
        let bytes = self.blob(blob).await?;
        // Unreadable JSON (written by something else) reads as no properties, not an outage.
        let props = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(self.shared.cache.put_props(self.id(), blob, props).await)
    }

    async fn folder_of(&self, snapshot: &Snapshot, mailbox: &str, name: &str) -> Result<Folder, StoreError> {
        let ids = snapshot.ids.get(mailbox).cloned().unwrap_or_default();
        let state = self.folder_state(snapshot, mailbox, &ids).await;
        // The poll of every phone lands here for every calendar: a state seen before costs
        // one lookup instead of one per message.
        let read_only = !Self::writable(snapshot, mailbox);
        if let Some(known) = self.shared.cache.folder(self.id(), mailbox, &state).await {
            // Name and rights belong to the mailbox, not to its content.
            return Ok(Folder { name: name.to_owned(), read_only, ..(*known).clone() });
        }
        let described = self.folder_entries(mailbox, &ids).await?;
        let props = self.props(described.properties.as_deref()).await?;
        let folder = props.folder(FolderId::new(mailbox), name, State::new(state.clone()), read_only);
        self.shared.cache.put_folder(self.id(), mailbox, &state, folder.clone()).await;
        Ok(folder)
    }

    /// A folder's mailbox and the sorted ids of its messages, as of a validated snapshot.
    async fn contents(&self, folder: &FolderId) -> Result<(String, Arc<Vec<String>>), StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        Ok((mailbox.clone(), snapshot.ids.get(mailbox).cloned().unwrap_or_default()))
    }

    /// Whether the user may write into the mailbox (its `myRights`, see `model::Mailbox`).
    fn writable(snapshot: &Snapshot, mailbox: &str) -> bool {
        snapshot.mailboxes.iter().find(|m| m.id == mailbox).is_none_or(|m| m.writable)
    }

    /// The folder's mailbox for a write: `Forbidden` (403 `DAV:need-privileges`) when the mail
    /// server grants the user no right to add and remove messages there, before anything is
    /// uploaded.
    pub(crate) async fn writable_mailbox(&self, folder: &FolderId) -> Result<String, StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        if !Self::writable(&snapshot, mailbox) {
            return Err(StoreError::Forbidden("the mail server grants no right to change this calendar".into()));
        }
        Ok(mailbox.clone())
    }

    /// A folder's mailbox id and name, if the snapshot has it.
    pub(crate) fn find<'a>(snapshot: &'a Snapshot, folder: &FolderId) -> Result<&'a (String, String), StoreError> {
        snapshot.folders.iter().find(|(id, _)| id == folder.as_str()).ok_or(StoreError::NotFound)
    }

    /// The UID of an item: from our header, else read from its body.
    pub(crate) async fn uid_of(&self, item: &ItemEntry) -> Result<Option<String>, StoreError> {
        if item.uid.is_some() || item.content_type.is_some() {
            return Ok(item.uid.clone());
        }
        Ok(model::scan_uid(&self.blob(&item.blob).await?))
    }

    /// The folder's state as of `snapshot`: the digest of its message ids and the Email state
    /// this content was first read at (see the crate docs, "Versions").
    pub(crate) async fn folder_state(&self, snapshot: &Snapshot, mailbox: &str, ids: &[String]) -> String {
        let digest = model::digest_of(mailbox, ids);
        let email_state = self.shared.cache.origin(self.id(), mailbox, &digest, &snapshot.email_state).await;
        model::folder_state(&digest, &email_state)
    }

    async fn folder_by_name(&self, name: &str) -> Result<Folder, StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, name) = snapshot.folders.iter().find(|(_, n)| n == name).ok_or(StoreError::NotFound)?.clone();
        self.folder_of(&snapshot, &mailbox, &name).await
    }
}

#[async_trait]
impl Session for JmapSession {
    fn principal(&self) -> &Principal {
        &self.principal
    }

    async fn folders(&self) -> Result<Vec<Folder>, StoreError> {
        let snapshot = self.snapshot().await?;
        let mut folders = Vec::with_capacity(snapshot.folders.len());
        for (mailbox, name) in &snapshot.folders {
            folders.push(self.folder_of(&snapshot, mailbox, name).await?);
        }
        Ok(folders)
    }

    async fn folder(&self, name: &str) -> Result<Folder, StoreError> {
        self.folder_by_name(name).await
    }

    async fn create_folder(&self, spec: &NewFolder) -> Result<Folder, StoreError> {
        let snapshot = self.snapshot().await?;
        if snapshot.folders.iter().any(|(_, n)| *n == spec.name) {
            return Err(StoreError::AlreadyExists);
        }
        let (parent_name, last) = match spec.name.rsplit_once('/') {
            Some((parent, last)) => (Some(parent), last),
            None => (None, spec.name.as_str()),
        };
        let mut create = Map::new();
        let parent = match (parent_name, &snapshot.root) {
            (Some(parent), _) => {
                Some(&snapshot.folders.iter().find(|(_, n)| n == parent).ok_or(StoreError::NotFound)?.0)
            }
            (None, root) => root.as_ref(),
        };
        // Cyrus answers a create below a mailbox the login may not create in with
        // `invalidProperties` (parentId); it is a missing right, as the rights say.
        if let Some(parent) = parent {
            if snapshot.mailboxes.iter().any(|m| m.id == *parent && !m.may_create_child) {
                return Err(StoreError::Forbidden("the mail server grants no right to create a calendar here".into()));
            }
        }
        let parent_id = match parent {
            Some(parent) => json!(parent),
            None => {
                create.insert("root".into(), json!({"name": self.shared.options.calendar_folder, "parentId": null}));
                json!("#root")
            }
        };
        create.insert("folder".into(), json!({"name": last, "parentId": parent_id}));
        let r = self.call(vec![("Mailbox/set", json!({"accountId": self.id(), "create": create}))]).await?;
        let args = client::response(&r, 0, "Mailbox/set")?;
        if let Some(failed) = args.pointer("/notCreated/folder").or_else(|| args.pointer("/notCreated/root")) {
            return Err(set_error(failed));
        }
        let mailbox =
            args.pointer("/created/folder/id").and_then(Value::as_str).ok_or_else(|| garbage("Mailbox/set created"))?;
        self.forget_snapshots().await;
        let props = FolderProps::of_new(spec);
        if props != FolderProps::default() {
            self.write_props(mailbox, &props, false).await?;
        }
        self.folder_by_name(&spec.name).await
    }

    async fn update_folder(&self, folder: &FolderId, patch: &FolderPatch) -> Result<Folder, StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, name) = Self::find(&snapshot, folder)?.clone();
        let current = self.folder_of(&snapshot, &mailbox, &name).await?;
        if current.read_only {
            // The properties live in a message of the mailbox: no right to add, no PROPPATCH.
            return Err(StoreError::Forbidden("the mail server grants no right to change this calendar".into()));
        }
        let props = FolderProps::patched(&current, patch);
        // A property change is a change of the collection even when the values are equal
        // (the contract): a rewritten message has a new id, so the state moves.
        self.write_props(&mailbox, &props, true).await?;
        self.folder_by_name(&name).await
    }

    async fn delete_folder(&self, folder: &FolderId) -> Result<(), StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        let destroy = json!({"accountId": self.id(), "destroy": [mailbox], "onDestroyRemoveEmails": true});
        let mut outcome = self.destroy_mailbox(mailbox, destroy.clone()).await;
        if let Err(StoreError::Rejected(reason)) = &outcome {
            // Cyrus keeps a deleted mailbox as DELETED.<name>.<seconds>: deleting a second
            // mailbox of the same name within one second collides. A unique name first
            // makes the kept copy unique too.
            if reason.contains("already exists") {
                let unique = format!("deleted-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
                let rename = json!({"accountId": self.id(), "update": {mailbox.as_str(): {"name": unique}}});
                self.call(vec![("Mailbox/set", rename)]).await?;
                outcome = self.destroy_mailbox(mailbox, destroy).await;
            }
        }
        self.forget_snapshots().await;
        outcome
    }

    async fn state(&self, folder: &FolderId) -> Result<State, StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        let ids = snapshot.ids.get(mailbox).cloned().unwrap_or_default();
        Ok(State::new(self.folder_state(&snapshot, mailbox, &ids).await))
    }

    async fn set_item_properties(
        &self,
        folder: &FolderId,
        name: &ItemName,
        changes: &[store::DeadPropertyChange],
    ) -> Result<(), StoreError> {
        let mailbox = self.writable_mailbox(folder).await?;
        let mut attempts = self.begin_write(false).await;
        while let Some(read) = attempts.next(self, &mailbox).await {
            let read = read?;
            let Some(current) = attempts.settle(Read::item(&read.listed.items, name))? else { continue };
            let mut properties = current.properties.clone();
            store::DeadPropertyChange::apply_all(&mut properties, changes);
            let uid = self.uid_of(current).await?;
            let content_type = current.content_type.clone().unwrap_or_else(|| "text/calendar".into());
            // Same part blob: the ETag stays; the new message id moves the folder's state.
            let part = Part {
                body: Body::Blob(&current.blob),
                content_type: &content_type,
                uid: uid.as_deref(),
                properties: &properties,
                index: current.index,
            };
            let message = self.message(&mailbox, name.as_str(), &part, chrono::Utc::now());
            let destroy = vec![current.email_id.clone()];
            if attempts.commit(self, &read, &mailbox, Some(message), destroy).await?.is_some() {
                return Ok(());
            }
        }
        Err(busy())
    }

    async fn list(&self, folder: &FolderId) -> Result<Listing, StoreError> {
        let snapshot = self.snapshot().await?;
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        let ids = snapshot.ids.get(mailbox).cloned().unwrap_or_default();
        let state = self.folder_state(&snapshot, mailbox, &ids).await;
        let described = self.folder_entries(mailbox, &ids).await?;
        Ok(Listing { state: State::new(state), items: described.items.iter().map(ItemEntry::meta).collect() })
    }

    async fn get(&self, folder: &FolderId, names: &[ItemName]) -> Result<Vec<Item>, StoreError> {
        let (mailbox, ids) = self.contents(folder).await?;
        let described = self.folder_entries(&mailbox, &ids).await?;
        let wanted: HashSet<&ItemName> = names.iter().collect();
        let found: Vec<&ItemEntry> = described.items.iter().filter(|i| wanted.contains(&i.name)).collect();
        let mut result = Vec::with_capacity(found.len());
        for chunk in found.chunks(DOWNLOADS_IN_FLIGHT) {
            let mut tasks = Vec::with_capacity(chunk.len());
            for item in chunk {
                tasks.push(async move { (item, self.blob(&item.blob).await) });
            }
            for (item, body) in futures_util::future::join_all(tasks).await {
                match body {
                    Ok(body) => result.push(Item { meta: item.meta(), body, properties: item.properties.clone() }),
                    // Removed since the listing: simply absent, as the contract says.
                    Err(StoreError::NotFound) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(result)
    }

    async fn put(&self, folder: &FolderId, item: NewItem, expected: Expected) -> Result<Stored, StoreError> {
        self.put_item(folder, item, expected).await
    }

    async fn delete(&self, folder: &FolderId, name: &ItemName, expected: Expected) -> Result<(), StoreError> {
        let mailbox = self.writable_mailbox(folder).await?;
        let mut attempts = self.begin_write(false).await;
        while let Some(read) = attempts.next(self, &mailbox).await {
            let read = read?;
            let Some(current) = attempts.settle(Read::item(&read.listed.items, name))? else { continue };
            if attempts.settle(expected.check(Some(store::ETag::new(current.blob.clone()))))?.is_none() {
                continue;
            }
            let destroy = vec![current.email_id.clone()];
            if attempts.commit(self, &read, &mailbox, None, destroy).await?.is_some() {
                return Ok(());
            }
        }
        Err(busy())
    }

    async fn candidates(
        &self,
        folder: &FolderId,
        query: &CandidateQuery,
    ) -> Result<Option<Vec<store::ItemMeta>>, StoreError> {
        let (mailbox, ids) = self.contents(folder).await?;
        let described = self.folder_entries(&mailbox, &ids).await?;
        Ok(Some(described.items.iter().filter(|i| i.may_match(query)).map(|i| i.meta()).collect()))
    }

    async fn changes(&self, folder: &FolderId, since: &State) -> Result<Changes, StoreError> {
        self.delta(folder, since).await
    }

    async fn submit(&self, mail: &store::OutgoingMail) -> Result<bool, StoreError> {
        self.submit_mail(mail).await
    }

    async fn incoming_itip(&self, limit: usize) -> Result<Vec<store::IncomingItip>, StoreError> {
        self.incoming(limit).await
    }

    async fn take_itip(&self, id: &str) -> Result<(), StoreError> {
        self.take(id).await
    }
}

/// A user's principal, the same whether their own login or the service account opened the
/// session.
pub(crate) fn principal(user: &str, email: Option<String>) -> Principal {
    Principal { user: user.to_owned(), display_name: user.to_owned(), email }
}

/// The account id alone for a user's own login; account and login otherwise. A newline
/// appears in neither.
fn view_key(account_id: &str, login: &str, owner: &str) -> String {
    if login == owner {
        account_id.to_owned()
    } else {
        format!("{account_id}\n{login}")
    }
}

pub(crate) fn state(args: &Value) -> Result<String, StoreError> {
    args.get("state").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| garbage("response without state"))
}
