//! The account view: one snapshot of the mailbox tree and the message ids of each calendar,
//! served within the freshness window or the same client request, otherwise validated with
//! one state request, and rebuilt only when the account changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use store::StoreError;

use crate::cache::{Freshness, Snapshot};
use crate::client::{self, garbage};
use crate::model;
use crate::session::{state, JmapSession, PAGE};

/// Most method calls one request carries when probes are added to it.
const MAX_CALLS: usize = 16;

/// Reads of the account before one is kept although writers moved the Email state meanwhile.
const REBUILD_ATTEMPTS: usize = 3;

impl JmapSession {
    /// The account as the server has it now (as its push stream tells, or within the
    /// freshness window).
    pub(crate) async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        self.snapshot_trusting(true).await
    }

    /// As `snapshot`, but confirmed by the server unless this client request read it already:
    /// for a client that shows a state the served view does not have (a sync token handed out
    /// by another replica after its write), which must not wait for the freshness window.
    pub(crate) async fn confirmed_snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        self.snapshot_trusting(false).await
    }

    async fn snapshot_trusting(&self, unconfirmed: bool) -> Result<Arc<Snapshot>, StoreError> {
        let cache = &self.shared.cache;
        let stream = self.push_stream();
        let cached = match cache.snapshot(self.view(), stream.as_deref(), unconfirmed).await {
            Freshness::Fresh(snapshot) => return Ok(snapshot),
            Freshness::Stale(cached) => cached,
        };
        // Taken before the states are read: what the stream announces from here on is
        // compared with them (push.rs).
        let push = stream.and_then(|s| s.mark());
        if let Some(cached) = cached {
            // Before the question: the answer tells the account as it was at some moment after.
            let asked = Instant::now();
            let states = self.states().await?;
            // A write of this process may have cached the account in these very states while
            // they were asked (commit.rs): as good as the snapshot the question was about.
            let latest = cache.snapshots.get(self.view()).await;
            let matching = [Some(cached), latest]
                .into_iter()
                .flatten()
                .find(|known| states == (known.mailbox_state.clone(), known.email_state.clone()));
            if let Some(cached) = matching {
                cache.validated();
                let renewed = Arc::new(Snapshot {
                    mailbox_state: cached.mailbox_state.clone(),
                    email_state: cached.email_state.clone(),
                    mailboxes: cached.mailboxes.clone(),
                    root: cached.root.clone(),
                    folders: cached.folders.clone(),
                    ids: cached.ids.clone(),
                    validated: asked,
                    request: store::scope::current(),
                    push,
                });
                cache.snapshots.insert(self.view().to_owned(), renewed.clone()).await;
                return Ok(renewed);
            }
        }
        self.rebuild(push).await
    }

    /// The account's push stream, for a view of the user's own login (a delegated view is
    /// validated per request).
    fn push_stream(&self) -> Option<Arc<crate::push::Stream>> {
        if self.view() != self.id() {
            return None;
        }
        self.shared.push.stream(&self.account)
    }

    /// Mailbox and Email states in one request: the cheap "anything changed?" question.
    pub(crate) async fn states(&self) -> Result<(String, String), StoreError> {
        let r = self
            .call(vec![
                ("Mailbox/get", json!({"accountId": self.id(), "ids": []})),
                ("Email/get", json!({"accountId": self.id(), "ids": []})),
            ])
            .await?;
        Ok((state(client::response(&r, 0, "Mailbox/get")?)?, state(client::response(&r, 1, "Email/get")?)?))
    }

    /// The account read again, as a write whose guarded `Email/set` was refused needs it.
    pub(crate) async fn reread(&self) -> Result<Arc<Snapshot>, StoreError> {
        self.rebuild(self.push_stream().and_then(|s| s.mark())).await
    }

    async fn rebuild(&self, push: Option<crate::push::Mark>) -> Result<Arc<Snapshot>, StoreError> {
        let mut attempt = 1;
        loop {
            let (snapshot, settled) = self.read_account(push).await?;
            // A folder's state pairs its content with the Email state it was read under
            // (changes.rs rebuilds old contents from Email/changes since that state). Ids read
            // while another writer moved the Email state belong to no single state, and pairing
            // them with the older one would turn the next sync of that folder into a full resync
            // (measured: 5 in 900 syncs under the soak's concurrent writers). So such a read is
            // repeated; after the last attempt it is kept, which costs a resync, never an error.
            if settled || attempt == REBUILD_ATTEMPTS {
                self.shared.cache.rebuilt();
                self.shared.cache.snapshots.insert(self.view().to_owned(), snapshot.clone()).await;
                return Ok(snapshot);
            }
            attempt += 1;
        }
    }

    /// The mailbox tree and the ids of every calendar mailbox, and whether the Email state
    /// stayed the same from before the first read to after the last one.
    async fn read_account(&self, push: Option<crate::push::Mark>) -> Result<(Arc<Snapshot>, bool), StoreError> {
        // The states first: ids read afterwards are at least as new, so a change in between
        // makes the next validation rebuild rather than serve something stale.
        let r = self
            .call(vec![
                ("Email/get", json!({"accountId": self.id(), "ids": []})),
                ("Mailbox/get", json!({"accountId": self.id(), "properties": ["id", "name", "parentId", "myRights"]})),
            ])
            .await?;
        let email_state = state(client::response(&r, 0, "Email/get")?)?;
        let mailbox_args = client::response(&r, 1, "Mailbox/get")?;
        let mailbox_state = state(mailbox_args)?;
        let list = mailbox_args.get("list").and_then(Value::as_array).ok_or_else(|| garbage("Mailbox/get list"))?;
        let mailboxes = model::mailboxes(list);
        let (root, folders) = model::folder_names(&mailboxes, &self.shared.options.calendar_folder);
        // Why the recorded pairings are checked here: a folder's state keeps the Email state
        // its content was first read at (`Cache::origin`), possibly long ago, and a sync token
        // names it. Cyrus forgets every Email change before a mailbox deletion (any mailbox of
        // the account, deleted by any process or mail client): `Email/changes` from an older
        // state answers `cannotCalculateChanges` ("outdated sinceModseq", its account-wide
        // deleted-mail modseq). A token handed out with such a state after the deletion was
        // dead on issue: the folder's next write made its sync a resync (the Thunderbird
        // replay's 403 valid-sync-token, after another gateway deleted a calendar). So each
        // rebuild (any deletion moves the account's states, so one follows it) asks, in its
        // first ids request, whether the server still computes changes from each recorded
        // state; a refused one is forgotten and the content paired with this read's state.
        let mut probes: Vec<String> = Vec::new();
        for (mailbox, _) in &folders {
            if let Some(origin) = self.shared.cache.origin_state(self.id(), mailbox).await {
                if origin != email_state && !probes.contains(&origin) {
                    probes.push(origin);
                }
            }
        }
        let (ids, state_after, refused) =
            self.mailbox_ids_with_state(folders.iter().map(|(id, _)| id.as_str()).collect(), &probes).await?;
        for (mailbox, _) in &folders {
            for origin in &refused {
                self.shared.cache.forget_origin(self.id(), mailbox, origin).await;
            }
        }
        // No calendar mailbox, nothing read after the state: nothing to pair.
        let settled = state_after.is_none_or(|after| after == email_state);
        let snapshot = Arc::new(Snapshot {
            mailbox_state,
            email_state,
            mailboxes,
            root,
            folders,
            ids,
            validated: Instant::now(),
            request: store::scope::current(),
            push,
        });
        Ok((snapshot, settled))
    }

    /// Sorted message ids of each mailbox, every mailbox in one request per page, with the
    /// Email state read at the end of the last page's request (`None` when there was no
    /// mailbox to read), and those of `probes` (Email states) the server no longer computes
    /// changes from, both at no extra round trip.
    async fn mailbox_ids_with_state(
        &self,
        mailboxes: Vec<&str>,
        probes: &[String],
    ) -> Result<(HashMap<String, Arc<Vec<String>>>, Option<String>, Vec<String>), StoreError> {
        let mut state_after = None;
        let mut refused = Vec::new();
        let mut result: HashMap<String, Vec<String>> =
            mailboxes.iter().map(|m| ((*m).to_owned(), Vec::new())).collect();
        let mut pending: Vec<&str> = mailboxes;
        let mut position = 0usize;
        while !pending.is_empty() {
            let mut calls: Vec<(&str, Value)> = pending
                .iter()
                .map(|m| ("Email/query", json!({"accountId": self.id(), "filter": {"inMailbox": m}, "position": position, "limit": PAGE})))
                .collect();
            calls.push(("Email/get", json!({"accountId": self.id(), "ids": []})));
            // Within 16 calls a request (Stalwart's default `maxCallsInRequest`; Cyrus allows
            // more): states left unprobed are kept, as before the probes existed.
            let room = MAX_CALLS.saturating_sub(pending.len() + 1).min(probes.len());
            let probed = if position == 0 { &probes[..room] } else { &[] };
            calls.extend(
                probed.iter().map(|since| {
                    ("Email/changes", json!({"accountId": self.id(), "sinceState": since, "maxChanges": 1}))
                }),
            );
            let r = self.call(calls).await?;
            state_after = Some(state(client::response(&r, pending.len(), "Email/get")?)?);
            for (i, since) in probed.iter().enumerate() {
                if r.get(pending.len() + 1 + i)
                    .is_some_and(|(name, args)| crate::changes::is_dead_state(name.as_str(), args))
                {
                    refused.push(since.clone());
                }
            }
            let mut more = Vec::new();
            for (i, mailbox) in pending.iter().enumerate() {
                let args = client::response(&r, i, "Email/query")?;
                let ids = client::query_ids(args)?;
                let full_page = ids.len() >= PAGE;
                result.entry((*mailbox).to_owned()).or_default().extend(ids);
                if full_page {
                    more.push(*mailbox);
                }
            }
            pending = more;
            position += PAGE;
        }
        let ids = result
            .into_iter()
            .map(|(m, mut ids)| {
                ids.sort();
                ids.dedup();
                (m, Arc::new(ids))
            })
            .collect();
        Ok((ids, state_after, refused))
    }
}
