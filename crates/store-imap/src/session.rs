//! One user's session: folders as mailboxes below the calendar folder, reads of items
//! through the mailbox's view (`view.rs`), and deltas from QRESYNC.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use store::mail_layout::FolderProps;
use store::{
    CandidateQuery, Changes, Credentials, DeadPropertyChange, Expected, Folder, FolderId, FolderPatch, Item, ItemName,
    Listing, NewFolder, NewItem, Principal, Session, State, StoreError, Stored,
};

use crate::connection::{Connection, Endpoint};
use crate::mailbox_name;
use crate::pool::Pool;
use crate::view::{self, Status, View};
use crate::wire::{Command, Value};
use crate::ImapOptions;

/// Views kept at once (one per user and mailbox).
const VIEWS: u64 = 100_000;

/// What all sessions of one backend share.
pub(crate) struct Shared {
    pub options: ImapOptions,
    pub endpoint: Endpoint,
    /// `(user, mailbox on the wire)` → the mailbox as last read.
    views: moka::future::Cache<(String, String), Arc<View>>,
    /// `(user, mailbox, UIDVALIDITY, UID of its properties message)` → what it holds:
    /// messages never change, so this is never stale.
    props: moka::future::Cache<(String, String, u32, u32), Arc<FolderProps>>,
}

impl Shared {
    pub fn new(options: ImapOptions, endpoint: Endpoint) -> Shared {
        Shared {
            options,
            endpoint,
            views: moka::future::Cache::builder().max_capacity(VIEWS).build(),
            props: moka::future::Cache::builder().max_capacity(VIEWS).build(),
        }
    }
}

pub(crate) struct ImapSession {
    pub shared: Arc<Shared>,
    pub pool: Pool,
    principal: Principal,
    /// The server's hierarchy separator (RFC 3501 §6.3.8), from `LIST "" ""`.
    delimiter: char,
}

/// A folder's mailbox: its name on the wire and the UIDVALIDITY its id was made under.
pub(crate) struct Mailbox {
    pub wire: String,
    pub uidvalidity: u32,
}

impl ImapSession {
    pub async fn login(shared: Arc<Shared>, credentials: &Credentials) -> Result<ImapSession, StoreError> {
        let mut first = Connection::open(&shared.endpoint, &credentials.username, &credentials.password).await?;
        let answer = first.run(Command::new("LIST").string("").string("")).await?;
        let delimiter = answer
            .untagged
            .iter()
            .find(|r| r.tokens.first().is_some_and(|t| t.is("LIST")))
            .and_then(|r| r.tokens.get(2))
            .and_then(Value::text)
            .and_then(|d| d.chars().next())
            .unwrap_or('/');
        let options = &shared.options;
        let principal = Principal {
            user: credentials.username.clone(),
            display_name: credentials.username.clone(),
            email: store::mail_address::login_address(&credentials.username, &options.mail_domain),
        };
        let pool = Pool::new(
            shared.endpoint.clone(),
            credentials.clone(),
            first,
            options.max_connections,
            options.idle_timeout,
        );
        Ok(ImapSession { shared, pool, principal, delimiter })
    }

    fn user(&self) -> &str {
        &self.principal.user
    }

    fn root(&self) -> String {
        mailbox_name::encode(&self.shared.options.calendar_folder)
    }

    /// The mailbox of a folder name (`docs/2026`); `Rejected` for a name no mailbox can have.
    pub fn wire_name(&self, name: &str) -> Result<String, StoreError> {
        let segments: Vec<&str> = name.split('/').collect();
        if segments.iter().any(|s| s.is_empty() || s.contains(self.delimiter)) {
            return Err(StoreError::Rejected(format!("{name:?} cannot be a mailbox name on this server")));
        }
        let path = format!(
            "{}{}{}",
            self.shared.options.calendar_folder,
            self.delimiter,
            segments.join(&self.delimiter.to_string())
        );
        Ok(mailbox_name::encode(&path))
    }

    /// The folder name of a mailbox below the calendar folder.
    fn folder_name(&self, wire: &str) -> Option<String> {
        let decoded = mailbox_name::decode(wire)?;
        let prefix = format!("{}{}", self.shared.options.calendar_folder, self.delimiter);
        let rest = decoded.strip_prefix(&prefix)?;
        let segments: Vec<&str> = rest.split(self.delimiter).collect();
        // A segment with `/` cannot be a path segment of ours.
        segments.iter().all(|s| !s.is_empty() && !s.contains('/')).then(|| segments.join("/"))
    }

    pub fn mailbox(&self, folder: &FolderId) -> Result<Mailbox, StoreError> {
        let (uidvalidity, name) = folder.as_str().split_once(':').ok_or(StoreError::NotFound)?;
        Ok(Mailbox { wire: self.wire_name(name)?, uidvalidity: uidvalidity.parse().map_err(|_| StoreError::NotFound)? })
    }

    /// Selects the folder's mailbox and brings its view up to date; `NotFound` when the
    /// mailbox is gone or is another one by now (a new UIDVALIDITY).
    pub async fn view(&self, connection: &mut Connection, mailbox: &Mailbox) -> Result<Arc<View>, StoreError> {
        let (status, _) = view::select(connection, &mailbox.wire, None).await?;
        if status.uidvalidity != mailbox.uidvalidity {
            return Err(StoreError::NotFound);
        }
        self.view_at(connection, &mailbox.wire, status).await
    }

    /// The view of the selected mailbox at `status`.
    pub async fn view_at(
        &self,
        connection: &mut Connection,
        wire: &str,
        status: Status,
    ) -> Result<Arc<View>, StoreError> {
        let key = (self.user().to_owned(), wire.to_owned());
        let cached = self.shared.views.get(&key).await;
        if let Some(cached) = &cached {
            if cached.status == status {
                return Ok(cached.clone());
            }
        }
        let view = Arc::new(view::refresh(connection, status, cached.as_deref()).await?);
        self.shared.views.insert(key, view.clone()).await;
        Ok(view)
    }

    /// Remembers what a write of this session learnt (the UID of an appended message and
    /// its name), so a delta can name it once it is expunged.
    pub async fn remember(&self, wire: &str, uidvalidity: u32, uid: u32, name: Option<ItemName>) {
        let key = (self.user().to_owned(), wire.to_owned());
        if let Some(cached) = self.shared.views.get(&key).await {
            if cached.status.uidvalidity == uidvalidity {
                let mut updated = (*cached).clone();
                updated.remember(uid, name);
                self.shared.views.insert(key, Arc::new(updated)).await;
            }
        }
    }

    async fn forget(&self, wire: &str) {
        self.shared.views.invalidate(&(self.user().to_owned(), wire.to_owned())).await;
    }

    /// The folder of a mailbox as its view shows it.
    async fn folder_of(&self, connection: &mut Connection, name: &str, view: &View) -> Result<Folder, StoreError> {
        let props = self.props(connection, &self.wire_name(name)?, view).await?;
        let id = FolderId::new(format!("{}:{name}", view.status.uidvalidity));
        Ok(props.folder(id, name, view.status.state(), false))
    }

    /// The folder's properties (the lowest live properties message), read from the
    /// selected mailbox; none for a folder without one.
    pub async fn props(
        &self,
        connection: &mut Connection,
        wire: &str,
        view: &View,
    ) -> Result<Arc<FolderProps>, StoreError> {
        let Some(uid) = view.properties_uids().first().copied() else { return Ok(Arc::default()) };
        let key = (self.user().to_owned(), wire.to_owned(), view.status.uidvalidity, uid);
        if let Some(known) = self.shared.props.get(&key).await {
            return Ok(known);
        }
        if connection.selected.as_deref() != Some(wire) {
            view::select(connection, wire, None).await?;
        }
        let bodies = self.bodies(connection, &[(uid, "1".to_owned())]).await?;
        // Unreadable JSON (written by something else) reads as no properties, not an outage.
        let props: FolderProps =
            bodies.first().and_then(|(_, body)| serde_json::from_slice(body).ok()).unwrap_or_default();
        let props = Arc::new(props);
        self.shared.props.insert(key, props.clone()).await;
        Ok(props)
    }

    /// The decoded bytes of parts of messages of the selected mailbox (`BINARY.PEEK`,
    /// RFC 3516), by UID; messages gone meanwhile are absent.
    pub async fn bodies(
        &self,
        connection: &mut Connection,
        parts: &[(u32, String)],
    ) -> Result<Vec<(u32, Bytes)>, StoreError> {
        let mut out = Vec::new();
        let mut by_part: std::collections::BTreeMap<&str, Vec<u32>> = std::collections::BTreeMap::new();
        for (uid, part) in parts {
            by_part.entry(part.as_str()).or_default().push(*uid);
        }
        for (part, uids) in by_part {
            let command = Command::new(&format!("UID FETCH {} (UID BINARY.PEEK[{part}])", view::format_uids(&uids)));
            let answer = connection.run(command).await?;
            if !answer.ok() {
                return Err(StoreError::BadGateway(format!("UID FETCH BINARY refused: {}", answer.done.text)));
            }
            let key = format!("BINARY[{part}]");
            for response in &answer.untagged {
                let Some(items) = view::fetch_items(response) else { continue };
                let uid = items.get("UID").and_then(|v| v.number()).and_then(|v| u32::try_from(v).ok());
                if let (Some(uid), Some(body)) = (uid, items.get(&key).and_then(|v| v.bytes())) {
                    out.push((uid, body.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Every mailbox below the calendar folder with its status: one `LIST ... RETURN
    /// (STATUS ...)` (RFC 5819) where the server has it.
    async fn mailboxes(
        &self,
        connection: &mut Connection,
    ) -> Result<Vec<(String, String, Option<Status>)>, StoreError> {
        let pattern = format!("{}{}*", self.root(), self.delimiter);
        let mut command = Command::new("LIST").string("").string(&pattern);
        let list_status = connection.capabilities.has("LIST-STATUS");
        if list_status {
            command = command.raw("RETURN (STATUS (UIDVALIDITY HIGHESTMODSEQ UIDNEXT MESSAGES))");
        }
        let answer = connection.run(command).await?;
        if !answer.ok() {
            return Err(StoreError::BadGateway(format!("LIST refused: {}", answer.done.text)));
        }
        let mut statuses = std::collections::HashMap::new();
        for response in answer.untagged.iter().filter(|r| r.tokens.first().is_some_and(|t| t.is("STATUS"))) {
            if let (Some(wire), Some(Value::List(items))) =
                (response.tokens.get(1).and_then(Value::text), response.tokens.get(2))
            {
                statuses.insert(wire, view::status_items(items));
            }
        }
        let mut found = Vec::new();
        for response in &answer.untagged {
            if !response.tokens.first().is_some_and(|t| t.is("LIST")) {
                continue;
            }
            let attributes = response.tokens.get(1).and_then(Value::list).unwrap_or_default();
            if attributes.iter().any(|a| a.is("\\Noselect") || a.is("\\NonExistent")) {
                continue;
            }
            let Some(wire) = response.tokens.get(3).and_then(Value::text) else { continue };
            if let Some(name) = self.folder_name(&wire) {
                let status = statuses.remove(&wire).flatten();
                found.push((wire, name, status));
            }
        }
        found.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(found)
    }

    async fn folder_by_name(&self, connection: &mut Connection, name: &str) -> Result<Folder, StoreError> {
        let wire = self.wire_name(name)?;
        let (status, _) = view::select(connection, &wire, None).await?;
        let view = self.view_at(connection, &wire, status).await?;
        self.folder_of(connection, name, &view).await
    }

    /// Creates a mailbox; `AlreadyExists` when it is there.
    async fn create_mailbox(&self, connection: &mut Connection, wire: &str) -> Result<(), StoreError> {
        let answer = connection.run(Command::new("CREATE").string(wire)).await?;
        if answer.ok() {
            return Ok(());
        }
        if answer.done.has_code("ALREADYEXISTS") || answer.done.text.to_ascii_lowercase().contains("exists") {
            return Err(StoreError::AlreadyExists);
        }
        if answer.done.has_code("OVERQUOTA") || answer.done.has_code("LIMIT") {
            return Err(StoreError::QuotaExceeded);
        }
        if answer.done.has_code("NOPERM") {
            return Err(StoreError::Forbidden(answer.done.text.clone()));
        }
        Err(StoreError::Rejected(format!("CREATE: {}", answer.done.text)))
    }
}

#[async_trait]
impl Session for ImapSession {
    fn principal(&self) -> &Principal {
        &self.principal
    }

    async fn folders(&self) -> Result<Vec<Folder>, StoreError> {
        let mut connection = self.pool.get().await?;
        let mut folders = Vec::new();
        for (wire, name, listed) in self.mailboxes(&mut connection).await? {
            // A warm poll: LIST-STATUS said nothing changed, so the kept view is current
            // and no mailbox is selected at all.
            if let Some(listed) = listed {
                let key = (self.user().to_owned(), wire.clone());
                if let Some(view) = self.shared.views.get(&key).await.filter(|v| v.status == listed) {
                    folders.push(self.folder_of(&mut connection, &name, &view).await?);
                    continue;
                }
            }
            let (status, _) = match view::select(&mut connection, &wire, None).await {
                Ok(selected) => selected,
                // Deleted between LIST and SELECT.
                Err(StoreError::NotFound) => continue,
                Err(other) => return Err(other),
            };
            let view = self.view_at(&mut connection, &wire, status).await?;
            folders.push(self.folder_of(&mut connection, &name, &view).await?);
        }
        Ok(folders)
    }

    async fn folder(&self, name: &str) -> Result<Folder, StoreError> {
        if self.wire_name(name).is_err() {
            return Err(StoreError::NotFound);
        }
        let mut connection = self.pool.get().await?;
        self.folder_by_name(&mut connection, name).await
    }

    async fn create_folder(&self, spec: &NewFolder) -> Result<Folder, StoreError> {
        let wire = self.wire_name(&spec.name)?;
        let mut connection = self.pool.get().await?;
        match self.create_mailbox(&mut connection, &self.root()).await {
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(other) => return Err(other),
        }
        self.create_mailbox(&mut connection, &wire).await?;
        let props = FolderProps::of_new(spec);
        if props != FolderProps::default() {
            self.write_props(&mut connection, &wire, &props).await?;
        }
        self.folder_by_name(&mut connection, &spec.name).await
    }

    async fn update_folder(&self, folder: &FolderId, patch: &FolderPatch) -> Result<Folder, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let name = folder.as_str().split_once(':').map(|(_, n)| n.to_owned()).unwrap_or_default();
        let mut connection = self.pool.get().await?;
        let view = self.view(&mut connection, &mailbox).await?;
        let current = self.folder_of(&mut connection, &name, &view).await?;
        let props = FolderProps::patched(&current, patch);
        // A property change is a change of the collection even when the values are equal
        // (the contract): the new message moves HIGHESTMODSEQ.
        self.write_props(&mut connection, &mailbox.wire, &props).await?;
        self.folder_by_name(&mut connection, &name).await
    }

    async fn delete_folder(&self, folder: &FolderId) -> Result<(), StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let (status, _) = view::select(&mut connection, &mailbox.wire, None).await?;
        if status.uidvalidity != mailbox.uidvalidity {
            return Err(StoreError::NotFound);
        }
        connection.run(Command::new("UNSELECT")).await?;
        connection.selected = None;
        // Children first, deepest first: a server may refuse to delete a mailbox with
        // children (Dovecot with LAYOUT=fs does).
        let pattern = format!("{}{}*", mailbox.wire, self.delimiter);
        let answer = connection.run(Command::new("LIST").string("").string(&pattern)).await?;
        let mut children: Vec<String> = answer
            .untagged
            .iter()
            .filter(|r| r.tokens.first().is_some_and(|t| t.is("LIST")))
            .filter_map(|r| r.tokens.get(3).and_then(Value::text))
            .collect();
        children.sort_by_key(|c| std::cmp::Reverse(c.len()));
        for wire in children.iter().chain(std::iter::once(&mailbox.wire)) {
            let answer = connection.run(Command::new("DELETE").string(wire)).await?;
            self.forget(wire).await;
            if !answer.ok() {
                if answer.done.has_code("NONEXISTENT") {
                    return Err(StoreError::NotFound);
                }
                return Err(StoreError::Rejected(format!("DELETE: {}", answer.done.text)));
            }
        }
        Ok(())
    }

    async fn state(&self, folder: &FolderId) -> Result<State, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let (status, _) = view::select(&mut connection, &mailbox.wire, None).await?;
        if status.uidvalidity != mailbox.uidvalidity {
            return Err(StoreError::NotFound);
        }
        Ok(status.state())
    }

    async fn list(&self, folder: &FolderId) -> Result<Listing, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let view = self.view(&mut connection, &mailbox).await?;
        Ok(Listing { state: view.status.state(), items: view.items().iter().map(|c| c.data.meta()).collect() })
    }

    async fn get(&self, folder: &FolderId, names: &[ItemName]) -> Result<Vec<Item>, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let view = self.view(&mut connection, &mailbox).await?;
        let wanted: Vec<view::Current> = view.items().into_iter().filter(|c| names.contains(&c.data.name)).collect();
        let parts: Vec<(u32, String)> = wanted.iter().map(|c| (c.uid, c.data.part.clone())).collect();
        let bodies = self.bodies(&mut connection, &parts).await?;
        Ok(wanted
            .iter()
            .filter_map(|c| {
                let body = bodies.iter().find(|(uid, _)| *uid == c.uid)?.1.clone();
                Some(Item { meta: c.data.meta(), body, properties: c.data.properties.clone() })
            })
            .collect())
    }

    async fn put(&self, folder: &FolderId, item: NewItem, expected: Expected) -> Result<Stored, StoreError> {
        self.put_item(folder, item, expected).await
    }

    async fn delete(&self, folder: &FolderId, name: &ItemName, expected: Expected) -> Result<(), StoreError> {
        self.delete_item(folder, name, expected).await
    }

    async fn set_item_properties(
        &self,
        folder: &FolderId,
        name: &ItemName,
        changes: &[DeadPropertyChange],
    ) -> Result<(), StoreError> {
        self.rewrite_properties(self.mailbox(folder)?, name, changes).await
    }

    async fn candidates(
        &self,
        folder: &FolderId,
        query: &CandidateQuery,
    ) -> Result<Option<Vec<store::ItemMeta>>, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let view = self.view(&mut connection, &mailbox).await?;
        Ok(Some(
            view.items()
                .into_iter()
                .filter(|c| store::mail_layout::may_match(c.data.content_type.is_some(), c.data.index, query))
                .map(|c| c.data.meta())
                .collect(),
        ))
    }

    async fn changes(&self, folder: &FolderId, since: &State) -> Result<Changes, StoreError> {
        let Some((uidvalidity, modseq, uidnext)) = Status::parse_state(since) else { return Ok(Changes::Resync) };
        let mailbox = self.mailbox(folder)?;
        if uidvalidity != mailbox.uidvalidity {
            return Ok(Changes::Resync);
        }
        let mut connection = self.pool.get().await?;
        // RFC 7162 §3.2.5: the SELECT itself says what was expunged since `modseq`.
        let (status, vanished) = view::select(&mut connection, &mailbox.wire, Some((uidvalidity, modseq))).await?;
        if status.uidvalidity != uidvalidity {
            return Err(StoreError::NotFound);
        }
        if status.modseq < modseq {
            return Ok(Changes::Resync);
        }
        let view = self.view_at(&mut connection, &mailbox.wire, status).await?;
        let items = view.items();
        let mut removed = Vec::new();
        // UIDs from `uidnext` on were appended after the token: created and gone since, not
        // reported (the contract). A UID this process never saw cannot be named: resync.
        for uid in vanished.into_iter().filter(|uid| *uid < uidnext) {
            match view.known.get(&uid) {
                Some(Some(name)) => {
                    if !items.iter().any(|c| c.data.name == *name) && !removed.contains(name) {
                        removed.push(name.clone());
                    }
                }
                Some(None) => {}
                None => return Ok(Changes::Resync),
            }
        }
        removed.sort();
        let changed = items.iter().filter(|c| c.modseq > modseq).map(|c| c.data.meta()).collect();
        Ok(Changes::Delta { state: view.status.state(), changed, removed })
    }
}
