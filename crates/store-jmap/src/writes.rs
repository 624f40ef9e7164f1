//! Writes over JMAP: messages are immutable and JMAP has no If-Match, so every write checks
//! the client's precondition against a snapshot of the account and sends one `Email/set`
//! guarded by `ifInState` (`commit.rs`); when the account changed in between it reads the
//! account again and starts over.
//!
//! The snapshot checked against is the newest one known: the one the last write of this
//! process left (`Writer`), or the one read or validated for the client request. No separate
//! read precedes the write: `ifInState` is the validation, and a stale snapshot costs one
//! refused `Email/set` and a fresh read.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};
use store::StoreError;

use crate::cache::Snapshot;
use crate::client;
use crate::commit::Committed;
use crate::folder_entries::FolderEntries;
use crate::model::{self, Entry, FolderProps, ItemEntry};
use crate::session::JmapSession;

/// How often a write reads the account again and retries when it changed under it.
const WRITE_ATTEMPTS: usize = 8;

/// Accounts whose writer lock is kept. A lock evicted while held only lets a second writer
/// of that account in: `ifInState` still makes one of them retry, so the bound is safe.
const WRITER_LOCKS: u64 = 100_000;

/// One account's writers in this process.
#[derive(Default)]
pub(crate) struct Writer {
    /// The account as the last write left it, and the view (see `JmapSession::view`) it is of.
    last: Option<(String, Arc<Snapshot>)>,
}

/// One writer per account at a time in this process. JMAP states are account-wide, so two
/// writes to the same account (even to different calendars) would otherwise make each
/// other's `ifInState` fail; serialised, only writers outside the gateway (or in another
/// gateway process) can, and the retry handles those.
pub(crate) type WriterLocks = moka::future::Cache<String, Arc<tokio::sync::Mutex<Writer>>>;

/// The per-account writer locks, bounded in number and dropped when idle.
pub(crate) fn writers() -> WriterLocks {
    moka::future::Cache::builder().max_capacity(WRITER_LOCKS).time_to_idle(std::time::Duration::from_secs(600)).build()
}

/// The folder as a write sees it: the snapshot it is checked against and what the mailbox
/// holds there.
pub(crate) struct Read {
    pub basis: Arc<Snapshot>,
    /// The folder's messages in `basis`: its items and properties message.
    pub listed: Arc<FolderEntries>,
}

impl Read {
    /// The item named `name` as the write read it; `NotFound` when there is none.
    pub fn item<'a>(items: &'a [ItemEntry], name: &store::ItemName) -> Result<&'a ItemEntry, StoreError> {
        items.iter().find(|i| i.name == *name).ok_or(StoreError::NotFound)
    }
}

/// The attempts of one write: holds the account's writer lock and paces the retries.
pub(crate) struct Attempts {
    writer: tokio::sync::OwnedMutexGuard<Writer>,
    attempt: usize,
    /// Reads of the account made so far (each after a write was refused).
    rereads: usize,
    /// Email states of the snapshots a write was refused at.
    refused: Vec<String>,
    /// Start from a fresh read of the account: the caller changed it itself just before
    /// (Cyrus moves the account's state with every blob upload).
    fresh: bool,
    /// The last read asked the server (not a snapshot served from memory): a refusal
    /// checked against it is final (see [`Attempts::refuse`]).
    confirmed: bool,
}

impl Attempts {
    /// The folder as the next attempt checks it; `None` once the attempts are used up (the
    /// caller answers [`busy`]). A snapshot known here and not yet refused first (no request
    /// when it is the account's current one), then the account read again, after a growing
    /// pause when that was refused too.
    pub async fn next(&mut self, session: &JmapSession, mailbox: &str) -> Option<Result<Read, StoreError>> {
        if self.attempt == WRITE_ATTEMPTS {
            return None;
        }
        self.attempt += 1;
        Some(self.read(session, mailbox).await)
    }

    async fn read(&mut self, session: &JmapSession, mailbox: &str) -> Result<Read, StoreError> {
        if !self.fresh {
            if let Some(basis) = self.untried(session).await? {
                // A mailbox created since that snapshot is found by the fresh read below.
                if let Some(read) = session.read_at(basis, mailbox).await? {
                    self.confirmed = read.basis.request.is_some() && read.basis.request == store::scope::current();
                    return Ok(read);
                }
            }
        }
        backoff(self.rereads).await;
        self.rereads += 1;
        self.fresh = false;
        self.confirmed = true;
        let basis = session.reread().await?;
        self.writer.last = Some((session.view().to_owned(), basis.clone()));
        session.read_at(basis, mailbox).await?.ok_or(StoreError::NotFound)
    }

    /// The newest snapshot of the account known here that no write was refused at: the one
    /// the last write left or the cached one (read, validated or written meanwhile), the one
    /// learnt last first. Which of the two is newer is a guess (a validation and a write may
    /// overlap); `ifInState` settles it.
    async fn untried(&self, session: &JmapSession) -> Result<Option<Arc<Snapshot>>, StoreError> {
        let remembered = self.writer.last.as_ref().filter(|(view, _)| view == session.view()).map(|(_, s)| s.clone());
        let cached = session.shared.cache.snapshots.get(session.view()).await;
        if remembered.is_none() && cached.is_none() {
            return session.snapshot().await.map(Some);
        }
        let mut known: Vec<Arc<Snapshot>> = remembered.into_iter().chain(cached).collect();
        known.sort_by_key(|s| std::cmp::Reverse(s.validated));
        Ok(known.into_iter().find(|s| !self.refused.contains(&s.email_state)))
    }

    /// The outcome of a check against the last read: `Ok(Some)` when it passed, `Err` with a
    /// refusal (failed precondition, missing item, UID conflict) when the server confirmed
    /// that read for this client request, otherwise `Ok(None)` and the next attempt reads the
    /// account again first. A snapshot served within the freshness window or on a push
    /// stream's word may miss a change made a moment ago through another gateway replica or
    /// mail client; a write it would wrongly refuse (a 412 for the ETag the client just got
    /// from the other replica) must not be answered from it. A write it wrongly lets through
    /// is caught by `ifInState`.
    pub fn settle<T>(&mut self, checked: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        match checked {
            Ok(value) => Ok(Some(value)),
            Err(refused) if self.confirmed => Err(refused),
            Err(_) => {
                self.fresh = true;
                Ok(None)
            }
        }
    }

    /// Sends the write checked against `read`; `Ok(None)` when the account changed first.
    pub async fn commit(
        &mut self,
        session: &JmapSession,
        read: &Read,
        mailbox: &str,
        create: Option<Value>,
        destroy: Vec<String>,
    ) -> Result<Option<Committed>, StoreError> {
        let outcome = session.commit(&read.basis, mailbox, create, destroy).await;
        self.writer.last = match &outcome {
            Ok(Some(Committed { after: Some(after), .. })) => Some((session.view().to_owned(), after.clone())),
            Ok(None) => {
                self.refused.push(read.basis.email_state.clone());
                None
            }
            // Failed or unknown: the account is read again.
            _ => None,
        };
        outcome
    }
}

impl JmapSession {
    /// Starts a write (one per account at a time in this process, see [`WriterLocks`]);
    /// `fresh`: the caller just changed the account itself, so no snapshot is current.
    pub(crate) async fn begin_write(&self, fresh: bool) -> Attempts {
        let lock = self.shared.writers.get_with(self.id().to_owned(), async { Arc::default() }).await;
        Attempts {
            writer: lock.lock_owned().await,
            attempt: 0,
            rereads: 0,
            refused: Vec::new(),
            fresh,
            confirmed: false,
        }
    }

    /// The folder's items as of `basis`; `None` when the snapshot has no such mailbox.
    async fn read_at(&self, basis: Arc<Snapshot>, mailbox: &str) -> Result<Option<Read>, StoreError> {
        let Some(ids) = basis.ids.get(mailbox).cloned() else { return Ok(None) };
        let listed = self.folder_entries(mailbox, &ids).await?;
        Ok(Some(Read { basis, listed }))
    }

    pub(crate) fn message(
        &self,
        mailbox: &str,
        name: &str,
        part: &Part<'_>,
        received: chrono::DateTime<chrono::Utc>,
    ) -> Value {
        let mut email = json!({
            "mailboxIds": { mailbox: true },
            "keywords": { "$seen": true },
            "subject": name,
            "receivedAt": received.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            format!("header:{}:asText", model::RESOURCE_HEADER): name,
            format!("header:{}:asText", model::COLLECTION_HEADER): mailbox,
        });
        if let Some(map) = email.as_object_mut() {
            match part.body {
                Body::Blob(blob) => {
                    map.insert("bodyStructure".into(), json!({ "type": part.content_type, "blobId": blob }));
                }
                // RFC 8621 §4.6: a text part given by value; the server picks the encoding.
                Body::Text(text) => {
                    map.insert("bodyStructure".into(), json!({ "type": part.content_type, "partId": "1" }));
                    map.insert("bodyValues".into(), json!({ "1": { "value": text } }));
                }
            }
            if let Some((component, span)) = part.index {
                map.insert(
                    format!("header:{}:asText", model::INDEX_HEADER),
                    json!(model::format_index(component, span)),
                );
            }
            if let Some(uid) = part.uid {
                map.insert(format!("header:{}:asText", model::UID_HEADER), json!(uid));
            }
            if !part.properties.is_empty() {
                let stored = serde_json::to_string(&model::to_stored(part.properties)).unwrap_or_default();
                map.insert(format!("header:{}:asText", model::PROPERTIES_HEADER), json!(stored));
            }
        }
        email
    }

    fn properties_message(&self, mailbox: &str, blob: &str) -> Value {
        json!({
            "mailboxIds": { mailbox: true },
            "keywords": { "$seen": true },
            "subject": "calendar properties",
            "receivedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            format!("header:{}:asText", model::FOLDER_HEADER): "properties",
            format!("header:{}:asText", model::COLLECTION_HEADER): mailbox,
            "bodyStructure": { "type": "application/json", "blobId": blob },
        })
    }

    /// Writes the folder's properties message, replacing any there. Unless `always`, equal
    /// content is left alone; with `always` the new message moves the folder's state even so
    /// (a PROPPATCH is a change of the collection).
    pub(crate) async fn write_props(&self, mailbox: &str, props: &FolderProps, always: bool) -> Result<(), StoreError> {
        let json = serde_json::to_vec(props).map_err(StoreError::internal)?;
        let blob = self.shared.client.upload(&self.account, Bytes::from(json), "application/json").await?;
        let mut attempts = self.begin_write(true).await;
        while let Some(read) = attempts.next(self, mailbox).await {
            let read = read?;
            if !always && read.listed.properties.as_deref() == Some(blob.as_str()) {
                return Ok(());
            }
            let destroy = match read.listed.properties {
                Some(_) => self.properties_ids(&read, mailbox).await?,
                None => Vec::new(),
            };
            let message = self.properties_message(mailbox, &blob);
            if attempts.commit(self, &read, mailbox, Some(message), destroy).await?.is_some() {
                return Ok(());
            }
        }
        Err(busy())
    }

    /// Message ids of the folder's properties messages as `read` saw them.
    async fn properties_ids(&self, read: &Read, mailbox: &str) -> Result<Vec<String>, StoreError> {
        let ids = read.basis.ids.get(mailbox).cloned().unwrap_or_default();
        Ok(self
            .entries(&ids)
            .await?
            .into_iter()
            .filter(|(_, e)| matches!(e.as_ref(), Entry::Properties { .. }))
            .map(|(id, _)| id)
            .collect())
    }

    pub(crate) async fn destroy_mailbox(&self, mailbox: &str, args: Value) -> Result<(), StoreError> {
        let r = self.call(vec![("Mailbox/set", args)]).await?;
        let args = client::response(&r, 0, "Mailbox/set")?;
        match args.get("notDestroyed").and_then(|m| m.get(mailbox)) {
            None => Ok(()),
            Some(failed) if failed.get("type").and_then(Value::as_str) == Some("notFound") => Err(StoreError::NotFound),
            Some(failed) => Err(set_error(failed)),
        }
    }
}

/// The body part of an item message and the headers that describe it.
pub(crate) struct Part<'a> {
    pub body: Body<'a>,
    pub content_type: &'a str,
    pub uid: Option<&'a str>,
    pub properties: &'a [store::DeadProperty],
    pub index: Option<(store::Component, store::TimeSpan)>,
}

/// Where the bytes of a part come from.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    /// A blob on the server (uploaded, or the part of an existing message).
    Blob(&'a str),
    /// Text sent in the `Email/set` itself: no upload first.
    Text(&'a str),
}

pub(crate) fn set_error(failed: &Value) -> StoreError {
    let kind = failed.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let description = failed.get("description").and_then(Value::as_str).unwrap_or("");
    match kind {
        "overQuota" | "tooLarge" => StoreError::QuotaExceeded,
        "forbidden" => StoreError::Forbidden(description.to_owned()),
        "notFound" => StoreError::NotFound,
        "alreadyExists" => StoreError::AlreadyExists,
        _ => StoreError::Rejected(format!("{kind}: {description}")),
    }
}

/// Nothing before the first attempt; then a growing, jittered pause, so writers of several
/// gateway processes that collided do not collide again in lockstep.
async fn backoff(attempt: usize) {
    if attempt == 0 {
        return;
    }
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos() % 10,
    );
    let millis = (5u64 << attempt.min(6)) + jitter;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

pub(crate) fn busy() -> StoreError {
    StoreError::Unavailable {
        retry_after: Some(std::time::Duration::from_secs(1)),
        source: "the mail account kept changing during the write; gave up".into(),
    }
}
