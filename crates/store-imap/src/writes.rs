//! Writes as compare-and-swaps on the server (see the crate docs, "Writes"): the message
//! being replaced or removed is claimed with `UID STORE ... (UNCHANGEDSINCE modseq)`
//! (RFC 7162 §3.1.3), which only one concurrent writer can do.

use bytes::Bytes;
use store::mail_layout::FolderProps;
use store::{DeadPropertyChange, Expected, FolderId, ItemMeta, ItemName, NewItem, StoreError, Stored};

use crate::connection::Connection;
use crate::message::{self, Part};
use crate::session::{ImapSession, Mailbox};
use crate::view::{self, Current, REPLACED_KEYWORD};
use crate::wire::{Command, Value};

/// How often a write checks its precondition again after losing a compare-and-swap to a
/// writer whose precondition also held (`Expected::Anything`, or the same `If-Match`
/// rejected only then).
const WRITE_ATTEMPTS: usize = 8;

/// How often a write waits for a message another writer has claimed (and is replacing) to
/// be expunged, before it takes it over as left by a writer that died mid-write.
const CLAIM_WAITS: usize = 40;

/// Whether the write should read the folder again because `current` is claimed by another
/// writer between its claim and its append: the precondition cannot be judged until the
/// new version is there (checked now, both writers would win). Waits a little first.
async fn claimed_elsewhere(current: Option<&Current>, waits: &mut usize) -> bool {
    if !current.is_some_and(|c| c.replaced) || *waits >= CLAIM_WAITS {
        return false;
    }
    *waits += 1;
    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    true
}

fn busy() -> StoreError {
    StoreError::Unavailable {
        retry_after: Some(std::time::Duration::from_secs(1)),
        source: "the calendar kept changing during the write; gave up".into(),
    }
}

/// What claiming a message came to.
enum Claim {
    Won,
    /// Another writer changed the message first.
    Lost,
}

impl ImapSession {
    pub(crate) async fn put_item(
        &self,
        folder: &FolderId,
        item: NewItem,
        expected: Expected,
    ) -> Result<Stored, StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let content_type = item.content_type.clone().unwrap_or_else(|| "text/calendar".into());
        let etag = message::etag_of(&item.body);
        let mut waits = 0;
        let mut attempts = 0;
        while attempts < WRITE_ATTEMPTS {
            let view = self.view(&mut connection, &mailbox).await?;
            let current = view.item(&item.name);
            if claimed_elsewhere(current.as_ref(), &mut waits).await {
                continue;
            }
            attempts += 1;
            expected.check(current.as_ref().map(|c| c.data.etag.clone()))?;
            if let Some(current) = &current {
                if current.data.etag == etag && current.data.content_type == item.content_type {
                    // The same bytes again: nothing changes (the contract's rule).
                    return Ok(Stored { meta: current.data.meta(), created: false, verbatim: true });
                }
            }
            if item.component.is_some() {
                if let Some(other) = view
                    .items()
                    .into_iter()
                    .find(|c| c.data.name != item.name && c.data.ical_uid.as_deref() == Some(item.uid.as_str()))
                {
                    // A schedule inbox keeps every iTIP message of a meeting (RFC 6638 §2.2).
                    if !self.props(&mut connection, &mailbox.wire, &view).await?.schedule_inbox {
                        return Err(StoreError::UidConflict {
                            uid: item.uid.clone(),
                            existing: other.data.name.clone(),
                        });
                    }
                }
            }
            // A replaced resource keeps its dead properties, as on the other stores.
            let properties = current.as_ref().map(|c| c.data.properties.clone()).unwrap_or_default();
            let part = Part {
                name: item.name.as_str(),
                body: &item.body,
                content_type: &content_type,
                uid: item.component.is_some().then_some(item.uid.as_str()),
                properties: &properties,
                index: item.component.zip(item.span),
            };
            match self.replace(&mut connection, &mailbox, &item.name, current.as_ref(), &part).await? {
                Some(meta) => return Ok(Stored { meta, created: current.is_none(), verbatim: true }),
                None => continue,
            }
        }
        Err(busy())
    }

    pub(crate) async fn delete_item(
        &self,
        folder: &FolderId,
        name: &ItemName,
        expected: Expected,
    ) -> Result<(), StoreError> {
        let mailbox = self.mailbox(folder)?;
        let mut connection = self.pool.get().await?;
        let mut waits = 0;
        let mut attempts = 0;
        while attempts < WRITE_ATTEMPTS {
            let view = self.view(&mut connection, &mailbox).await?;
            let Some(current) = view.item(name) else { return Err(StoreError::NotFound) };
            if claimed_elsewhere(Some(&current), &mut waits).await {
                continue;
            }
            attempts += 1;
            expected.check(Some(current.data.etag.clone()))?;
            match claim(&mut connection, &current, "\\Deleted").await? {
                Claim::Won => {
                    // Older messages of the same name (left by an interrupted replace) go too.
                    let mut uids = view.uids_named(name);
                    uids.retain(|uid| *uid != current.uid);
                    if !uids.is_empty() {
                        store_flags(&mut connection, &uids, "+FLAGS.SILENT (\\Deleted)").await?;
                    }
                    uids.push(current.uid);
                    expunge(&mut connection, &uids).await?;
                    return Ok(());
                }
                Claim::Lost => continue,
            }
        }
        Err(busy())
    }

    /// Rewrites the item's message with the same bytes and new dead properties: the ETag
    /// (the bytes' digest) stays, the folder's state moves.
    pub(crate) async fn rewrite_properties(
        &self,
        mailbox: Mailbox,
        name: &ItemName,
        changes: &[DeadPropertyChange],
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.get().await?;
        let mut waits = 0;
        let mut attempts = 0;
        while attempts < WRITE_ATTEMPTS {
            let view = self.view(&mut connection, &mailbox).await?;
            let Some(current) = view.item(name) else { return Err(StoreError::NotFound) };
            if claimed_elsewhere(Some(&current), &mut waits).await {
                continue;
            }
            attempts += 1;
            let bodies = self.bodies(&mut connection, &[(current.uid, current.data.part.clone())]).await?;
            let Some((_, body)) = bodies.into_iter().next() else { continue };
            let mut properties = current.data.properties.clone();
            DeadPropertyChange::apply_all(&mut properties, changes);
            properties.sort();
            let content_type = current.data.content_type.clone().unwrap_or_else(|| "text/calendar".into());
            let part = Part {
                name: name.as_str(),
                body: &body,
                content_type: &content_type,
                uid: current.data.ical_uid.as_deref(),
                properties: &properties,
                index: current.data.index,
            };
            if self.replace(&mut connection, &mailbox, name, Some(&current), &part).await?.is_some() {
                return Ok(());
            }
        }
        Err(busy())
    }

    /// Claims `current` (when there is one), appends the new message and expunges the old
    /// one. `None`: another writer was first; the caller reads the folder again.
    async fn replace(
        &self,
        connection: &mut Connection,
        mailbox: &Mailbox,
        name: &ItemName,
        current: Option<&Current>,
        part: &Part<'_>,
    ) -> Result<Option<ItemMeta>, StoreError> {
        if let Some(current) = current {
            // The keyword's presence flips either way: a STORE that changes nothing would
            // not move the MODSEQ, and so would not exclude the next writer.
            let flag = if current.replaced { "-" } else { "+" };
            if let Claim::Lost = claim_with(connection, current, &format!("{flag}FLAGS ({REPLACED_KEYWORD})")).await? {
                return Ok(None);
            }
        }
        // receivedAt has whole seconds; the reported Last-Modified must equal a later read.
        let now = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_default();
        let bytes = message::item_message(part, &message::mail_date(now));
        let uid = append(connection, &mailbox.wire, &message::imap_date(now), bytes).await?;
        self.remember(&mailbox.wire, mailbox.uidvalidity, uid, Some(name.clone())).await;
        match current {
            Some(current) => {
                store_flags(connection, &[current.uid], "+FLAGS.SILENT (\\Deleted)").await?;
                expunge(connection, &[current.uid]).await?;
            }
            None => {
                // Two creates of one name at once both appended: the lower UID stays.
                let view = self.view(connection, mailbox).await?;
                if view.uids_named(name).iter().any(|other| *other < uid) {
                    store_flags(connection, &[uid], "+FLAGS.SILENT (\\Deleted)").await?;
                    expunge(connection, &[uid]).await?;
                    return Ok(None);
                }
            }
        }
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.timestamp().max(0) as u64);
        Ok(Some(ItemMeta {
            name: name.clone(),
            etag: message::etag_of(part.body),
            size: part.body.len() as u64,
            last_modified: time,
            content_type: (part.content_type != "text/calendar").then(|| part.content_type.to_owned()),
        }))
    }

    /// Writes the folder's properties message and removes the ones before it.
    pub(crate) async fn write_props(
        &self,
        connection: &mut Connection,
        wire: &str,
        props: &FolderProps,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(props).map_err(StoreError::internal)?;
        let now = chrono::Utc::now();
        let (status, _) = view::select(connection, wire, None).await?;
        let old = self.view_at(connection, wire, status.clone()).await?.properties_uids();
        let uid = append(
            connection,
            wire,
            &message::imap_date(now),
            message::properties_message(&json, &message::mail_date(now)),
        )
        .await?;
        self.remember(wire, status.uidvalidity, uid, None).await;
        if !old.is_empty() {
            store_flags(connection, &old, "+FLAGS.SILENT (\\Deleted)").await?;
            expunge(connection, &old).await?;
        }
        Ok(())
    }
}

/// Claims a message for removal.
async fn claim(connection: &mut Connection, current: &Current, flag: &str) -> Result<Claim, StoreError> {
    claim_with(connection, current, &format!("+FLAGS ({flag})")).await
}

async fn claim_with(connection: &mut Connection, current: &Current, change: &str) -> Result<Claim, StoreError> {
    let command = Command::new(&format!("UID STORE {} (UNCHANGEDSINCE {}) {change}", current.uid, current.modseq));
    let answer = connection.run(command).await?;
    if !answer.ok() {
        return Err(StoreError::BadGateway(format!("UID STORE refused: {}", answer.done.text)));
    }
    // RFC 7162 §3.1.3: the UIDs whose MODSEQ was newer come back in `[MODIFIED ...]`; a
    // message expunged meanwhile is simply not stored to, and is gone by the next read.
    if answer.done.has_code("MODIFIED") {
        return Ok(Claim::Lost);
    }
    // Without .SILENT the server answers the new flags of each message it stored to; none
    // for ours: another writer expunged it first, and nothing was claimed.
    let stored = answer
        .untagged
        .iter()
        .filter_map(view::fetch_items)
        .any(|items| items.get("UID").and_then(|v| v.number()) == Some(u64::from(current.uid)));
    Ok(if stored { Claim::Won } else { Claim::Lost })
}

async fn store_flags(connection: &mut Connection, uids: &[u32], change: &str) -> Result<(), StoreError> {
    let answer = connection.run(Command::new(&format!("UID STORE {} {change}", view::format_uids(uids)))).await?;
    if answer.ok() {
        Ok(())
    } else {
        Err(StoreError::BadGateway(format!("UID STORE refused: {}", answer.done.text)))
    }
}

async fn expunge(connection: &mut Connection, uids: &[u32]) -> Result<(), StoreError> {
    let answer = connection.run(Command::new(&format!("UID EXPUNGE {}", view::format_uids(uids)))).await?;
    if answer.ok() {
        Ok(())
    } else {
        Err(StoreError::BadGateway(format!("UID EXPUNGE refused: {}", answer.done.text)))
    }
}

/// Appends a message (flagged \Seen: it is no mail for the user to read) and returns its
/// UID from `[APPENDUID uidvalidity uid]` (RFC 4315).
async fn append(connection: &mut Connection, wire: &str, date: &str, message: Bytes) -> Result<u32, StoreError> {
    let command = Command::new("APPEND").string(wire).raw("(\\Seen)").string(date).literal(message);
    let answer = connection.run(command).await?;
    if !answer.ok() {
        if answer.done.has_code("OVERQUOTA") || answer.done.has_code("LIMIT") {
            return Err(StoreError::QuotaExceeded);
        }
        if answer.done.has_code("TRYCREATE") || answer.done.has_code("NONEXISTENT") {
            return Err(StoreError::NotFound);
        }
        if answer.done.has_code("NOPERM") {
            return Err(StoreError::Forbidden(answer.done.text.clone()));
        }
        return Err(StoreError::Rejected(format!("APPEND: {}", answer.done.text)));
    }
    let code = answer.done.code().unwrap_or_default();
    if !code.first().is_some_and(|w| w.is("APPENDUID")) {
        return Err(StoreError::BadGateway("APPEND without APPENDUID (RFC 4315)".into()));
    }
    code.get(2)
        .and_then(Value::number)
        .and_then(|uid| u32::try_from(uid).ok())
        .ok_or_else(|| StoreError::BadGateway("unreadable APPENDUID".into()))
}
