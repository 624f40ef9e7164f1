//! sync-collection over JMAP: the delta since a folder state, asked of the mail server
//! (`Email/changes`, RFC 8620 §5.2) rather than of anything this process remembers, so a
//! sync token stays good across restarts and on every replica.
//!
//! A state is `{digest}-{email state}` (see the crate docs, "Versions"). From the token's
//! Email state the server tells which messages of the account were created, updated or
//! destroyed since; from those and the folder's message ids now, the folder's ids at the
//! token are rebuilt and checked against the token's digest. Only a rebuild that matches is
//! used, so the answer is exact or `Resync`, never a guess:
//! - kept: ids in the folder now that were not created since, nor moved in since;
//! - gone: ids destroyed or updated since, not in the folder now, that were written to this
//!   mailbox (their `X-CalDAV-Collection`, from the cache or, for messages that still exist,
//!   from the server). A message created and destroyed after the token is left out: the
//!   client never saw it (RFC 6578 §3.5.2 allows either; the contract suite picks this).
//!
//! A rebuild fails (and the client resyncs) when a destroyed message of the folder was never
//! seen by this process and carried no header of ours, or when the token's Email state was
//! read a moment before its content (a write in between): both rare. It also fails when the
//! server no longer computes changes from the token's Email state: Cyrus forgets every Email
//! change made before any mailbox of the account is deleted (`cannotCalculateChanges`), so a
//! token handed out before such a deletion resyncs once its folder changed. Tokens handed
//! out after one are not affected: `snapshot.rs` re-pairs a folder's content with a state
//! the server still computes changes from.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};
use store::{Changes, FolderId, ItemName, State, StoreError};

use crate::client::{self, garbage};
use crate::model::{self, Entry};
use crate::session::JmapSession;

/// Changes asked for in one `Email/changes` call.
const CHANGES_PAGE: usize = 4096;
/// More changes than this since a token: the client lists again instead.
const MAX_CHANGES: usize = 200_000;

/// What `Email/changes` reported since a state, account-wide.
#[derive(Default)]
struct EmailChanges {
    created: HashSet<String>,
    updated: HashSet<String>,
    destroyed: HashSet<String>,
    /// The account's Email state the changes reach (the last page's `newState`).
    state: String,
}

impl JmapSession {
    /// What changed in the folder since `since` (see the module docs).
    pub(crate) async fn delta(&self, folder: &FolderId, since: &State) -> Result<Changes, StoreError> {
        let Some((old_digest, old_email_state)) = model::split_state(since.as_str()) else {
            return Ok(Changes::Resync);
        };
        let mut snapshot = self.snapshot().await?;
        let differs = |snapshot: &crate::cache::Snapshot| {
            Self::find(snapshot, folder).is_ok_and(|(mailbox, _)| {
                old_digest != model::digest_of(mailbox, snapshot.ids.get(mailbox).map_or(&[][..], |ids| ids.as_slice()))
            })
        };
        // `Email/changes` since the token, when asked before the view was known to be the
        // one the delta is computed on (`None`: ask below).
        let mut asked = None;
        if differs(&snapshot) {
            // The token names other content than the view served: something changed, and the
            // view may be one served without asking (push, freshness window), older than the
            // token when another replica handed it out. The changes are needed anyway, and
            // their `newState` is the account's Email state now: equal to the view's, nothing
            // was written since the view was read (its state was read before its ids), so the
            // view is current and needs no request of its own.
            let changes = self.email_changes(old_email_state).await?;
            let current = (snapshot.request.is_some() && snapshot.request == store::scope::current())
                || changes.as_ref().is_some_and(|c| c.state == snapshot.email_state);
            if !current {
                snapshot = self.confirmed_snapshot().await?;
            }
            // Changes up to another state than the confirmed view's are asked again below: a
            // rebuild from them would miss what was written in between (a resync).
            if current || changes.as_ref().is_none_or(|c| c.state == snapshot.email_state) {
                asked = Some(changes);
            }
        }
        let (mailbox, _) = Self::find(&snapshot, folder)?;
        let mailbox = mailbox.as_str();
        let ids = snapshot.ids.get(mailbox).cloned().unwrap_or_default();
        // Equal content, equal digest: nothing changed, whatever moved elsewhere in the account
        // (and whichever replica handed out the token). The token's spelling of this content
        // is as good as ours (any delta from it is checked against the digest), so it is
        // adopted: replicas, and this process after a restart, converge on the clients' ctag.
        let state = State::new(self.folder_state(&snapshot, mailbox, &ids).await);
        if old_digest == model::digest_of(mailbox, &ids) {
            // Only a spelling the server can compute changes from is adopted: a made-up one
            // would make every later delta of this folder a resync.
            if state != *since && self.is_email_state(old_email_state).await? {
                self.shared.cache.adopt(self.id(), mailbox, old_digest, old_email_state).await;
                return Ok(Changes::Delta { state: since.clone(), changed: Vec::new(), removed: Vec::new() });
            }
            return Ok(Changes::Delta { state, changed: Vec::new(), removed: Vec::new() });
        }
        let changes = match asked {
            Some(changes) => changes,
            None => self.email_changes(old_email_state).await?,
        };
        let Some(changes) = changes else {
            return Ok(Changes::Resync);
        };
        let Some(before) = self.content_at(mailbox, &ids, old_digest, &changes).await? else {
            return Ok(Changes::Resync);
        };
        let described = self.folder_entries(mailbox, &ids).await?;
        let items = &described.items;
        let before_ids: HashSet<&str> = before.iter().map(|(id, _)| id.as_str()).collect();
        let now_names: HashSet<&ItemName> = items.iter().map(|i| &i.name).collect();
        let changed = items.iter().filter(|i| !before_ids.contains(i.email_id.as_str())).map(|i| i.meta()).collect();
        let mut removed: Vec<ItemName> = before
            .iter()
            .filter_map(|(_, entry)| match entry.as_ref() {
                Entry::Item(item) if !now_names.contains(&item.name) => Some(item.name.clone()),
                _ => None,
            })
            .collect();
        removed.sort();
        removed.dedup();
        Ok(Changes::Delta { state, changed, removed })
    }

    /// Whether the server can compute Email changes from `state` (one small request).
    async fn is_email_state(&self, state: &str) -> Result<bool, StoreError> {
        let args = json!({"accountId": self.id(), "sinceState": state, "maxChanges": 1});
        let r = self.call(vec![("Email/changes", args)]).await?;
        Ok(matches!(r.first(), Some((name, _)) if name == "Email/changes"))
    }

    /// Every `Email/changes` page since `since`; `None` when the server cannot tell (an
    /// expired or foreign state) or the delta is too large to be worth it.
    async fn email_changes(&self, since: &str) -> Result<Option<EmailChanges>, StoreError> {
        let mut changes = EmailChanges::default();
        let mut state = since.to_owned();
        loop {
            let args = json!({"accountId": self.id(), "sinceState": state, "maxChanges": CHANGES_PAGE});
            let r = self.call(vec![("Email/changes", args)]).await?;
            if r.first().is_some_and(|(name, args)| is_dead_state(name.as_str(), args)) {
                return Ok(None);
            }
            let args = client::response(&r, 0, "Email/changes")?;
            for (key, set) in [
                ("created", &mut changes.created),
                ("updated", &mut changes.updated),
                ("destroyed", &mut changes.destroyed),
            ] {
                let list = args.get(key).and_then(Value::as_array).ok_or_else(|| garbage("Email/changes lists"))?;
                set.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            if changes.created.len() + changes.updated.len() + changes.destroyed.len() > MAX_CHANGES {
                return Ok(None);
            }
            let next = args.get("newState").and_then(Value::as_str).ok_or_else(|| garbage("Email/changes newState"))?;
            let more = args.get("hasMoreChanges").and_then(Value::as_bool).unwrap_or(false);
            // A server that says "more" without moving on would loop forever.
            if !more || next == state {
                changes.state = next.to_owned();
                return Ok(Some(changes));
            }
            state = next.to_owned();
        }
    }

    /// The folder's messages at the token, rebuilt from its messages now and the changes
    /// since, when the rebuild has the token's digest; `None` otherwise.
    async fn content_at(
        &self,
        mailbox: &str,
        ids: &[String],
        digest: &str,
        changes: &EmailChanges,
    ) -> Result<Option<Vec<(String, Arc<Entry>)>>, StoreError> {
        let moved_in =
            |id: &str, entry: &Entry| changes.updated.contains(id) && entry.collection().is_some_and(|c| c != mailbox);
        let mut before: Vec<(String, Arc<Entry>)> = self
            .folder_entries(mailbox, ids)
            .await?
            .entries
            .iter()
            .filter(|(id, entry)| !changes.created.contains(id) && !moved_in(id, entry))
            .cloned()
            .collect();
        let here: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let left: Vec<String> = changes
            .destroyed
            .iter()
            .chain(&changes.updated)
            .filter(|id| !here.contains(id.as_str()) && !changes.created.contains(*id))
            .cloned()
            .collect();
        let ours = |entry: &Entry| entry.collection() == Some(mailbox);
        // What the cache knows first (free); the server only when that does not add up.
        let mut unknown = Vec::new();
        for id in left {
            match self.shared.cache.entry(self.id(), &id).await {
                Some(entry) if ours(&entry) => before.push((id, entry)),
                Some(_) => {}
                None => unknown.push(id),
            }
        }
        if matches_digest(mailbox, &before, digest) {
            return Ok(Some(before));
        }
        if unknown.is_empty() {
            return Ok(None);
        }
        // Destroyed messages are simply absent from the answer.
        before.extend(self.entries(&unknown).await?.into_iter().filter(|(_, entry)| ours(entry)));
        Ok(matches_digest(mailbox, &before, digest).then_some(before))
    }
}

fn matches_digest(mailbox: &str, entries: &[(String, Arc<Entry>)], digest: &str) -> bool {
    let mut ids: Vec<String> = entries.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    model::digest_of(mailbox, &ids) == digest
}
/// Whether an `Email/changes` answer says the server computes no changes from that state:
/// RFC 8620 §5.2 `cannotCalculateChanges`, or Cyrus's `invalidArguments` for a state it never
/// issued. Other errors (`serverFail`...) say nothing about the state.
pub(crate) fn is_dead_state(name: &str, args: &Value) -> bool {
    name == "error"
        && matches!(args.get("type").and_then(Value::as_str), Some("cannotCalculateChanges" | "invalidArguments"))
}
