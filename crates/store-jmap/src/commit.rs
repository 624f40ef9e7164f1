//! The write itself: one JMAP request that changes the account only while it is still in the
//! state the change was checked against (`ifInState`), and that tells in the same round trip
//! what the account looks like afterwards. When the answer shows that nothing but this write
//! changed the account, the snapshot the write was checked against, with the write applied,
//! is the account now: the next write and the next read start from it instead of reading the
//! account again.
//!
//! A replacement creates the new message and destroys the old one in two `Email/set` calls of
//! that request, the destroy only after the create succeeded: RFC 8620 §5.3 makes each create
//! and destroy of one `Email/set` its own atomic unit, and Cyrus destroys even when the
//! create beside it failed (over quota, too large), which lost the old object. The chain: the
//! `Email/get` of the created message takes an argument by result reference to the created
//! record, so it fails when nothing was created (`ids` cannot take the reference itself: Cyrus
//! 3.6 refuses a string where it wants a list); the destroy's `ifInState` is that get's state,
//! so a failed reference fails it too and nothing is destroyed.

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
    /// `basis`'s Email state, `destroy` only once `create` is made; `Ok(None)` when the account
    /// is not at `basis` (nothing was changed). The cached
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
        let mut outcome = self.read_commit(basis, mailbox, creates, &destroy, &r).await;
        if creates && !destroy.is_empty() && client::is_state_mismatch(&r, 2) {
            // Something changed the account between the create and the destroy; the create
            // was checked against the basis, so the old message goes all the same, and the
            // account is read again.
            outcome = match self.destroy_now(&destroy).await {
                Ok(()) => outcome.map(|c| Committed { after: None, ..c }),
                Err(e) => Err(e),
            };
        }
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
        let mut sets = vec![set];
        if creates && !destroy.is_empty() && !client::is_state_mismatch(r, 2) {
            sets.push(client::response(r, 2, "Email/set")?);
        }
        if let Some(destroyed) = sets.last() {
            not_destroyed(destroyed)?;
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
        let after = after_write(basis, mailbox, created.as_ref().map(|(id, _)| id.as_str()), destroy, &sets, r);
        Ok(Committed { created, after: after.map(Arc::new) })
    }

    /// Destroys `destroy` whatever the account's state.
    async fn destroy_now(&self, destroy: &[String]) -> Result<(), StoreError> {
        let r = self.call(vec![("Email/set", json!({"accountId": self.id(), "destroy": destroy}))]).await?;
        not_destroyed(client::response(&r, 0, "Email/set")?)
    }
}

/// The failure of an `Email/set` destroy; already gone is what the caller wanted.
fn not_destroyed(set: &Value) -> Result<(), StoreError> {
    match set.get("notDestroyed").and_then(Value::as_object).and_then(|m| m.values().next()) {
        Some(failed) if failed.get("type").and_then(Value::as_str) != Some("notFound") => Err(set_error(failed)),
        _ => Ok(()),
    }
}

/// `Email/set` guarded by `ifInState`, the created message (by creation id), the destroy of a
/// replacement once the create succeeded (see the module docs), the mailbox changes since the
/// basis, and the Email state after it all.
fn commit_calls(
    account: &str,
    basis: &Snapshot,
    create: Option<Value>,
    destroy: &[String],
) -> Vec<(&'static str, Value)> {
    let mut set = Map::new();
    set.insert("accountId".into(), json!(account));
    set.insert("ifInState".into(), json!(basis.email_state));
    let Some(create) = create else {
        set.insert("destroy".into(), json!(destroy));
        return with_states(account, basis, vec![("Email/set", Value::Object(set))]);
    };
    set.insert("create".into(), json!({ NEW: create }));
    // RFC 8620 §5.3: a creation id stands for the created record's id later in the request.
    let mut get = json!({"accountId": account, "ids": [format!("#{NEW}")], "properties": model::email_properties(),
                         "bodyProperties": model::body_properties()});
    let mut calls = vec![("Email/set", Value::Object(set))];
    if destroy.is_empty() {
        calls.push(("Email/get", get));
        return with_states(account, basis, calls);
    }
    // No body value is fetched, so the limit is moot; its reference (RFC 8621 §4.6: `size` is
    // in every created Email) fails the get when the create failed.
    get["#maxBodyValueBytes"] = json!({"resultOf": "0", "name": "Email/set", "path": format!("/created/{NEW}/size")});
    calls.push(("Email/get", get));
    calls.push((
        "Email/set",
        json!({"accountId": account, "destroy": destroy,
               "#ifInState": {"resultOf": "1", "name": "Email/get", "path": "/state"}}),
    ));
    with_states(account, basis, calls)
}

/// `calls` and then the mailbox changes since the basis and the Email state after it all.
fn with_states(account: &str, basis: &Snapshot, mut calls: Vec<(&'static str, Value)>) -> Vec<(&'static str, Value)> {
    calls.push((
        "Mailbox/changes",
        json!({"accountId": account, "sinceState": basis.mailbox_state, "maxChanges": MAX_MAILBOX_CHANGES}),
    ));
    calls.push(("Email/get", json!({"accountId": account, "ids": []})));
    calls
}

/// The account after the write: `basis` with the mailbox's ids changed, when the answer shows
/// nothing else changed since `basis`. `ifInState` held, so no message changed between the
/// basis and the write; each `Email/set` of `sets` starts at the state the one before left;
/// the Email state read last equals the last write's new state, so none changed after it; and
/// the mailboxes changed in nothing but their counts.
fn after_write(
    basis: &Snapshot,
    mailbox: &str,
    created: Option<&str>,
    destroyed: &[String],
    sets: &[&Value],
    r: &[Invocation],
) -> Option<Snapshot> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut email_state = basis.email_state.clone();
    for set in sets {
        if text(set, "oldState")? != email_state {
            return None;
        }
        email_state = text(set, "newState")?;
    }
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
        let after = after_write(&basis(), "m1", Some("b"), &["c".to_owned()], &[&r[0].1], &r).unwrap();
        assert_eq!((after.email_state.as_str(), after.mailbox_state.as_str()), ("11", "11"));
        assert_eq!(*after.ids["m1"], vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(*after.ids["m2"], vec!["x".to_owned()]);
    }

    #[test]
    fn another_change_after_the_write_leaves_the_account_unknown() {
        let r = answer(counts_only(), "12");
        assert!(after_write(&basis(), "m1", Some("b"), &[], &[&r[0].1], &r).is_none());
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
            assert!(after_write(&basis(), "m1", Some("b"), &[], &[&r[0].1], &r).is_none());
        }
    }

    #[test]
    fn a_mailbox_the_basis_does_not_hold_leaves_the_account_unknown() {
        let r = answer(counts_only(), "11");
        assert!(after_write(&basis(), "m9", Some("b"), &[], &[&r[0].1], &r).is_none());
    }

    #[test]
    fn a_replacement_destroys_in_a_second_set_chained_to_the_create() {
        let calls = commit_calls("acc", &basis(), Some(json!({})), &["c".to_owned()]);
        let names: Vec<&str> = calls.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Email/set", "Email/get", "Email/set", "Mailbox/changes", "Email/get"]);
        assert!(calls[0].1.get("destroy").is_none());
        assert_eq!(calls[0].1["ifInState"], "10");
        assert_eq!(calls[1].1["#maxBodyValueBytes"]["path"], "/created/new/size");
        assert_eq!(calls[2].1["destroy"], json!(["c"]));
        assert_eq!(calls[2].1["#ifInState"], json!({"resultOf": "1", "name": "Email/get", "path": "/state"}));
        let only_destroy = commit_calls("acc", &basis(), None, &["c".to_owned()]);
        assert_eq!(only_destroy.len(), 3);
        assert_eq!(only_destroy[0].1["destroy"], json!(["c"]));
    }

    #[test]
    fn a_replacement_moves_the_snapshot_through_both_sets() {
        let mut changes = counts_only();
        changes["newState"] = json!("12");
        let destroy = json!({"oldState": "11", "newState": "12", "destroyed": ["c"]});
        let mut r = answer(changes, "12");
        r.insert(2, ("Email/set".into(), destroy.clone()));
        let after = after_write(&basis(), "m1", Some("b"), &["c".to_owned()], &[&r[0].1, &destroy], &r).unwrap();
        assert_eq!((after.email_state.as_str(), after.mailbox_state.as_str()), ("12", "12"));
        assert_eq!(*after.ids["m1"], vec!["a".to_owned(), "b".to_owned()]);
        // Another change between the create and the destroy.
        let skipped = json!({"oldState": "15", "newState": "16", "destroyed": ["c"]});
        assert!(after_write(&basis(), "m1", Some("b"), &["c".to_owned()], &[&r[0].1, &skipped], &r).is_none());
    }
}
