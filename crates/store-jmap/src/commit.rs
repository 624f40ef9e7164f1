//! The write itself: one JMAP request that changes the account only while it is still in the
//! state the change was checked against (`ifInState`), and that tells in the same round trip
//! what the account looks like afterwards. When the answer shows that nothing but this write
//! changed the account, the snapshot the write was checked against, with the write applied,
//! is the account now: the next write and the next read start from it instead of reading the
//! account again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use store::StoreError;

use crate::cache::Snapshot;
use crate::client::{self, garbage, Invocation};
use crate::model::{self, Entry};
use crate::session::JmapSession;
use crate::writes::set_error;

/// Mailbox properties that move with every message added or removed (RFC 8621 §2.2): a
/// `Mailbox/changes` naming only these left names, parents and rights as they were.
const COUNTS: [&str; 4] = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"];

/// More mailbox changes than a write of one mailbox makes: past this the tree is read again.
const MAX_MAILBOX_CHANGES: u64 = 16;

/// Creation id of the new message in `Email/set`, referenced by the `Email/get` after it.
const NEW: &str = "new";

/// What a committed write did.
pub(crate) struct Committed {
    /// The message created, as the server describes it.
    pub created: Option<(String, Arc<Entry>)>,
    /// The account after the write, when the answer shows that nothing else changed it since
    /// the snapshot the write was checked against.
    pub after: Option<Arc<Snapshot>>,
}

impl JmapSession {
    /// Creates `create` and destroys `destroy` in `mailbox` if the account is still at
    /// `basis`'s Email state; `Ok(None)` when it is not (nothing was changed). The cached
    /// snapshot becomes the account after the write, or is dropped when that is not known.
    pub(crate) async fn commit(
        &self,
        basis: &Snapshot,
        mailbox: &str,
        create: Option<Value>,
        destroy: Vec<String>,
    ) -> Result<Option<Committed>, StoreError> {
        let creates = create.is_some();
        let r = self.call(commit_calls(self.id(), basis, create, &destroy)).await?;
        if client::is_state_mismatch(&r, 0) {
            return Ok(None);
        }
        let outcome = self.read_commit(basis, mailbox, creates, &destroy, &r).await;
        match &outcome {
            Ok(Committed { after: Some(after), .. }) => {
                self.shared.cache.snapshots.insert(self.view().to_owned(), after.clone()).await;
                if self.view() != self.id() {
                    // The owner's own view did not see this write.
                    self.shared.cache.snapshots.invalidate(self.id()).await;
                }
            }
            // Failed or unknown: whatever the server did is read again.
            _ => self.forget_snapshots().await,
        }
        outcome.map(Some)
    }

    async fn read_commit(
        &self,
        basis: &Snapshot,
        mailbox: &str,
        creates: bool,
        destroy: &[String],
        r: &[Invocation],
    ) -> Result<Committed, StoreError> {
        let set = client::response(r, 0, "Email/set")?;
        if let Some(failed) = set.get("notCreated").and_then(|v| v.get(NEW)) {
            return Err(set_error(failed));
        }
        if let Some(failed) = set.get("notDestroyed").and_then(Value::as_object).and_then(|m| m.values().next()) {
            // Already gone is what the caller wanted; anything else is a failure.
            if failed.get("type").and_then(Value::as_str) != Some("notFound") {
                return Err(set_error(failed));
            }
        }
        let created = if creates {
            let get = client::response(r, 1, "Email/get")?;
            let email = get.get("list").and_then(Value::as_array).and_then(|l| l.first());
            let (id, entry) =
                email.and_then(model::entry).ok_or_else(|| garbage("Email/get of the created message"))?;
            Some((id.clone(), self.shared.cache.put_entry(self.id(), &id, entry).await))
        } else {
            None
        };
        let after = after_write(basis, mailbox, created.as_ref().map(|(id, _)| id.as_str()), destroy, set, r);
        Ok(Committed { created, after: after.map(Arc::new) })
    }
}

/// `Email/set` guarded by `ifInState`, the created message (by creation id), the mailbox
/// changes since the basis, and the Email state after it all.
fn commit_calls(
    account: &str,
    basis: &Snapshot,
    create: Option<Value>,
    destroy: &[String],
) -> Vec<(&'static str, Value)> {
    let mut set = Map::new();
    set.insert("accountId".into(), json!(account));
    set.insert("ifInState".into(), json!(basis.email_state));
    let creates = create.is_some();
    if let Some(create) = create {
        set.insert("create".into(), json!({ NEW: create }));
    }
    if !destroy.is_empty() {
        set.insert("destroy".into(), json!(destroy));
    }
    let mut calls = vec![("Email/set", Value::Object(set))];
    if creates {
        // RFC 8620 §5.3: a creation id stands for the created record's id later in the request.
        calls.push((
            "Email/get",
            json!({"accountId": account, "ids": [format!("#{NEW}")], "properties": model::email_properties(),
                   "bodyProperties": model::body_properties()}),
        ));
    }
    calls.push((
        "Mailbox/changes",
        json!({"accountId": account, "sinceState": basis.mailbox_state, "maxChanges": MAX_MAILBOX_CHANGES}),
    ));
    calls.push(("Email/get", json!({"accountId": account, "ids": []})));
    calls
}

/// The account after the write: `basis` with the mailbox's ids changed, when the answer shows
/// nothing else changed since `basis`. `ifInState` held, so no message changed between the
/// basis and the write; the Email state read last equals the write's new state, so none
/// changed after it; and the mailboxes changed in nothing but their counts.
fn after_write(
    basis: &Snapshot,
    mailbox: &str,
    created: Option<&str>,
    destroyed: &[String],
    set: &Value,
    r: &[Invocation],
) -> Option<Snapshot> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    if text(set, "oldState")? != basis.email_state {
        return None;
    }
    let email_state = text(set, "newState")?;
    let last = client::response(r, r.len() - 1, "Email/get").ok()?;
    if text(last, "state")? != email_state {
        return None;
    }
    let changes = client::response(r, r.len() - 2, "Mailbox/changes").ok()?;
    let mailbox_state = only_counts_changed(changes, &basis.mailbox_state)?;
    let mut ids: Vec<String> = basis.ids.get(mailbox)?.to_vec();
    let gone: HashSet<&str> = destroyed.iter().map(String::as_str).collect();
    ids.retain(|id| !gone.contains(id.as_str()));
    ids.extend(created.map(str::to_owned));
    ids.sort();
    ids.dedup();
    let mut all = basis.ids.clone();
    all.insert(mailbox.to_owned(), Arc::new(ids));
    Some(Snapshot {
        mailbox_state,
        email_state,
        mailboxes: basis.mailboxes.clone(),
        root: basis.root.clone(),
        folders: basis.folders.clone(),
        ids: all,
        validated: Instant::now(),
        request: store::scope::current(),
        // The stream's announcement of this write equals the new states, so the view stays
        // trusted; any other change announced since the basis was read makes it stale.
        push: basis.push,
    })
}

/// The new Mailbox state when `Mailbox/changes` from `since` reports no mailbox created or
/// destroyed and no change but counts.
fn only_counts_changed(changes: &Value, since: &str) -> Option<String> {
    let empty = |key: &str| changes.get(key).and_then(Value::as_array).is_some_and(Vec::is_empty);
    if changes.get("oldState").and_then(Value::as_str) != Some(since)
        || changes.get("hasMoreChanges").and_then(Value::as_bool) != Some(false)
        || !empty("created")
        || !empty("destroyed")
    {
        return None;
    }
    if !empty("updated") {
        // `updatedProperties` null: anything may have changed (RFC 8621 §2.2).
        let properties = changes.get("updatedProperties").and_then(Value::as_array)?;
        if !properties.iter().all(|p| p.as_str().is_some_and(|p| COUNTS.contains(&p))) {
            return None;
        }
    }
    changes.get("newState").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn basis() -> Snapshot {
        let mut ids = HashMap::new();
        ids.insert("m1".to_owned(), Arc::new(vec!["a".to_owned(), "c".to_owned()]));
        ids.insert("m2".to_owned(), Arc::new(vec!["x".to_owned()]));
        Snapshot {
            mailbox_state: "10".into(),
            email_state: "10".into(),
            mailboxes: Vec::new(),
            root: None,
            folders: Vec::new(),
            ids,
            validated: Instant::now(),
            request: None,
            push: None,
        }
    }

    fn answer(changes: Value, state_after: &str) -> Vec<Invocation> {
        vec![
            ("Email/set".into(), json!({"oldState": "10", "newState": "11", "created": {"new": {"id": "b"}}})),
            ("Email/get".into(), json!({"state": "11", "list": []})),
            ("Mailbox/changes".into(), changes),
            ("Email/get".into(), json!({"state": state_after, "list": []})),
        ]
    }

    fn counts_only() -> Value {
        json!({"oldState": "10", "newState": "11", "hasMoreChanges": false, "created": [], "destroyed": [],
               "updated": ["m1"], "updatedProperties": ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]})
    }

    #[test]
    fn a_write_alone_moves_the_snapshot_to_its_new_state() {
        let r = answer(counts_only(), "11");
        let after = after_write(&basis(), "m1", Some("b"), &["c".to_owned()], &r[0].1, &r).unwrap();
        assert_eq!((after.email_state.as_str(), after.mailbox_state.as_str()), ("11", "11"));
        assert_eq!(*after.ids["m1"], vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(*after.ids["m2"], vec!["x".to_owned()]);
    }

    #[test]
    fn another_change_after_the_write_leaves_the_account_unknown() {
        let r = answer(counts_only(), "12");
        assert!(after_write(&basis(), "m1", Some("b"), &[], &r[0].1, &r).is_none());
    }

    #[test]
    fn a_mailbox_renamed_or_changed_unknowably_leaves_the_account_unknown() {
        let mut renamed = counts_only();
        renamed["updatedProperties"] = json!(["name"]);
        let mut unknown = counts_only();
        unknown["updatedProperties"] = Value::Null;
        let mut created = counts_only();
        created["created"] = json!(["m3"]);
        for changes in [renamed, unknown, created, json!({"type": "cannotCalculateChanges"})] {
            let r = answer(changes, "11");
            assert!(after_write(&basis(), "m1", Some("b"), &[], &r[0].1, &r).is_none());
        }
    }

    #[test]
    fn a_mailbox_the_basis_does_not_hold_leaves_the_account_unknown() {
        let r = answer(counts_only(), "11");
        assert!(after_write(&basis(), "m9", Some("b"), &[], &r[0].1, &r).is_none());
    }
}
