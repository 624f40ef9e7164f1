//! Writes over JMAP: messages are immutable and JMAP has no If-Match, so every write reads
//! the folder at an account state, checks the client's precondition there, and sends one
//! `Email/set` guarded by `ifInState`; when the account changed in between it starts over.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use store::StoreError;

use crate::client;
use crate::model::{self, Entry, FolderProps, ItemEntry};
use crate::session::{state, JmapSession};

/// How often a write re-reads and retries when the account changed under it.
const WRITE_ATTEMPTS: usize = 8;

/// The folder as a write sees it: the account state and what the mailbox held at or after it.
pub(crate) struct Read {
    pub state: String,
    pub items: Vec<ItemEntry>,
    /// Blob of the folder's properties message, if it has one.
    pub properties: Option<String>,
}

impl Read {
    /// The item named `name` as the write read it; `NotFound` when there is none.
    pub fn item<'a>(items: &'a [ItemEntry], name: &store::ItemName) -> Result<&'a ItemEntry, StoreError> {
        items.iter().find(|i| i.name == *name).ok_or(StoreError::NotFound)
    }
}

/// The attempts of one write: holds the account's writer lock and paces the retries.
pub(crate) struct Attempts {
    _writer: tokio::sync::OwnedMutexGuard<()>,
    attempt: usize,
}

impl Attempts {
    /// The next read of the folder, after a pause when this is a retry; `None` once the
    /// attempts are used up (the caller answers [`busy`]).
    pub async fn next(&mut self, session: &JmapSession, mailbox: &str) -> Option<Result<Read, StoreError>> {
        if self.attempt == WRITE_ATTEMPTS {
            return None;
        }
        backoff(self.attempt).await;
        self.attempt += 1;
        Some(session.read_for_write(mailbox).await)
    }
}

impl JmapSession {
    /// Starts a write. One writer per account at a time in this process: JMAP states are
    /// account-wide, so two writes to the same account (even to different calendars) would
    /// otherwise make each other's `ifInState` fail.
    pub(crate) async fn begin_write(&self) -> Attempts {
        let lock = self.shared.writers.get_with(self.id().to_owned(), async { std::sync::Arc::default() }).await;
        Attempts { _writer: lock.lock_owned().await, attempt: 0 }
    }

    /// The account state and the folder's items read at or after it, in one request: what a
    /// conditional write checks its precondition against.
    async fn read_for_write(&self, mailbox: &str) -> Result<Read, StoreError> {
        let r = self
            .call(vec![
                ("Email/get", json!({"accountId": self.id(), "ids": []})),
                ("Email/query", json!({"accountId": self.id(), "filter": {"inMailbox": mailbox}, "limit": 100_000})),
            ])
            .await?;
        let state = state(client::response(&r, 0, "Email/get")?)?;
        let args = client::response(&r, 1, "Email/query")?;
        let mut ids = client::query_ids(args)?;
        let total = args.get("total").and_then(Value::as_u64).unwrap_or(0);
        if (ids.len() as u64) < total {
            // Larger than one query answers: page through (the state check still guards it).
            ids = self.mailbox_ids(vec![mailbox]).await?.remove(mailbox).map(|v| v.to_vec()).unwrap_or_default();
        }
        ids.sort();
        let (items, properties) = self.items(&ids).await?;
        Ok(Read { state, items, properties })
    }

    /// One `Email/set` guarded by `ifInState`; `Ok(None)` when the account changed first.
    pub(crate) async fn guarded_set(
        &self,
        state: &str,
        create: Option<Value>,
        destroy: Vec<String>,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut args = Map::new();
        args.insert("accountId".into(), json!(self.id()));
        args.insert("ifInState".into(), json!(state));
        if let Some(create) = create {
            args.insert("create".into(), json!({ "new": create }));
        }
        if !destroy.is_empty() {
            args.insert("destroy".into(), json!(destroy));
        }
        let r = self.call(vec![("Email/set", Value::Object(args))]).await?;
        if client::is_state_mismatch(&r, 0) {
            return Ok(None);
        }
        let args = client::response(&r, 0, "Email/set")?;
        if let Some(failed) = args.get("notCreated").and_then(|v| v.get("new")) {
            return Err(set_error(failed));
        }
        if let Some(failed) = args.get("notDestroyed").and_then(Value::as_object).and_then(|m| m.values().next()) {
            // Already gone is what the caller wanted; anything else is a failure.
            if failed.get("type").and_then(Value::as_str) != Some("notFound") {
                return Err(set_error(failed));
            }
        }
        let created = args.pointer("/created/new/id").and_then(Value::as_str).map(str::to_owned);
        self.forget_snapshots().await;
        Ok(Some(created))
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
            "bodyStructure": { "type": part.content_type, "blobId": part.blob },
        });
        if let Some(map) = email.as_object_mut() {
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
        let mut attempts = self.begin_write().await;
        while let Some(read) = attempts.next(self, mailbox).await {
            let read = read?;
            if !always && read.properties.as_deref() == Some(blob.as_str()) {
                return Ok(());
            }
            let destroy = if read.properties.is_some() { self.properties_ids(mailbox).await? } else { Vec::new() };
            if self.guarded_set(&read.state, Some(self.properties_message(mailbox, &blob)), destroy).await?.is_some() {
                return Ok(());
            }
        }
        Err(busy())
    }

    /// Message ids of the folder's properties messages.
    async fn properties_ids(&self, mailbox: &str) -> Result<Vec<String>, StoreError> {
        let ids = self.mailbox_ids(vec![mailbox]).await?.remove(mailbox).unwrap_or_default();
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
    pub blob: &'a str,
    pub content_type: &'a str,
    pub uid: Option<&'a str>,
    pub properties: &'a [store::DeadProperty],
    pub index: Option<(store::Component, store::TimeSpan)>,
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
