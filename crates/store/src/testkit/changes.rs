//! Contract cases on folder state and RFC 6578 deltas: what getctag and sync-collection
//! rely on. Re-exported from [`super::cases`], so the case list of `contract_tests!` names
//! them like the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::cases::{calendar, event, session};
use super::ContractFixture;
use crate::{Changes, Expected, ItemName, StoreError};

pub async fn state_changes_on_every_write_and_only_then(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    let s0 = s.state(&folder.id).await.unwrap();
    assert_eq!(s0, folder.state);
    let _ = s.list(&folder.id).await.unwrap();
    let _ = s.get(&folder.id, &[ItemName::new("x.ics")]).await.unwrap();
    assert_eq!(s.state(&folder.id).await.unwrap(), s0, "reads must not change the state");
    s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
    let s1 = s.state(&folder.id).await.unwrap();
    assert_ne!(s1, s0);
    let failed = s.put(&folder.id, event("x", "two"), Expected::Absent).await;
    assert!(failed.is_err());
    assert_eq!(s.state(&folder.id).await.unwrap(), s1, "a refused write must not change the state");
    s.delete(&folder.id, &ItemName::new("x.ics"), Expected::Anything).await.unwrap();
    let s2 = s.state(&folder.id).await.unwrap();
    // The folder holds what it held at s0 again; a backend whose state names the content
    // may answer s0 again (see `State`), one with a counter answers something new.
    assert_ne!(s2, s1);
}

pub async fn changes_since_reports_changed_and_removed(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    s.put(&folder.id, event("keep", "k"), Expected::Anything).await.unwrap();
    s.put(&folder.id, event("drop", "d"), Expected::Anything).await.unwrap();
    let since = s.state(&folder.id).await.unwrap();
    let modified = s.put(&folder.id, event("keep", "k2"), Expected::Anything).await.unwrap();
    let added = s.put(&folder.id, event("new", "n"), Expected::Anything).await.unwrap();
    s.delete(&folder.id, &ItemName::new("drop.ics"), Expected::Anything).await.unwrap();
    match s.changes(&folder.id, &since).await.unwrap() {
        Changes::Delta { state, mut changed, removed } => {
            assert_eq!(state, s.state(&folder.id).await.unwrap());
            changed.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(changed, vec![modified.meta, added.meta]);
            assert_eq!(removed, vec![ItemName::new("drop.ics")]);
        }
        Changes::Resync => panic!("resync from a state the folder had"),
    }
}

pub async fn changes_from_unknown_state_is_resync(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    let unknown = crate::State::new("certainly-not-a-state-of-this-folder");
    assert_eq!(s.changes(&folder.id, &unknown).await.unwrap(), Changes::Resync);
    // A state of a deleted folder does not apply to its same-named successor.
    let old = s.state(&folder.id).await.unwrap();
    s.delete_folder(&folder.id).await.unwrap();
    let again = calendar(s.as_ref(), "c").await;
    assert_eq!(s.changes(&again.id, &old).await.unwrap(), Changes::Resync);
}

pub async fn changes_from_current_state_is_empty_delta(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
    let now = s.state(&folder.id).await.unwrap();
    assert_eq!(
        s.changes(&folder.id, &now).await.unwrap(),
        Changes::Delta { state: now, changed: vec![], removed: vec![] }
    );
}

/// A sync token is the client's, kept for days: a restarted gateway, or another replica
/// behind the same load balancer, must still answer it with the exact delta rather than
/// make every phone list every calendar again.
pub async fn sync_token_survives_a_restart_and_other_replicas(fixture: &dyn ContractFixture) {
    let credentials = fixture.fresh_user().await;
    let (folder, since) = {
        let first = fixture.backend().login(&credentials).await.unwrap();
        let folder = calendar(first.as_ref(), "c").await;
        first.put(&folder.id, event("keep", "k"), Expected::Anything).await.unwrap();
        first.put(&folder.id, event("drop", "d"), Expected::Anything).await.unwrap();
        first.put(&folder.id, event("same", "s"), Expected::Anything).await.unwrap();
        let since = first.state(&folder.id).await.unwrap();
        // A change elsewhere in the account (it moves a mail server's account-wide state).
        let elsewhere = calendar(first.as_ref(), "elsewhere").await;
        first.put(&elsewhere.id, event("else", "e"), Expected::Anything).await.unwrap();
        (folder.id, since)
    };
    // Nothing changed yet: an empty delta, and the instance then spells the state as the
    // client's token does (replicas behind one load balancer must not flip the ctag).
    let idle = fixture.reopened().await.login(&credentials).await.unwrap();
    let _ = idle.folders().await.unwrap();
    assert_eq!(
        idle.changes(&folder, &since).await.unwrap(),
        Changes::Delta { state: since.clone(), changed: vec![], removed: vec![] }
    );
    assert_eq!(idle.state(&folder).await.unwrap(), since);
    // The writes go through an instance that never saw the token's state.
    let replica = fixture.reopened().await.login(&credentials).await.unwrap();
    let modified = replica.put(&folder, event("keep", "k2"), Expected::Anything).await.unwrap();
    let added = replica.put(&folder, event("new", "n"), Expected::Anything).await.unwrap();
    replica.delete(&folder, &ItemName::new("drop.ics"), Expected::Anything).await.unwrap();
    let exact = |changes: Changes, state: crate::State| match changes {
        Changes::Delta { state: now, mut changed, removed } => {
            assert_eq!(now, state);
            changed.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(changed, vec![modified.meta.clone(), added.meta.clone()]);
            assert_eq!(removed, vec![ItemName::new("drop.ics")]);
            true
        }
        Changes::Resync => false,
    };
    let state = replica.state(&folder).await.unwrap();
    assert!(exact(replica.changes(&folder, &since).await.unwrap(), state), "resync from a token of another instance");
    // A third instance, which never saw the removed items: the exact delta or, when it
    // cannot name what was removed (a mail server forgets destroyed messages), a resync;
    // never a wrong delta.
    let other = fixture.reopened().await.login(&credentials).await.unwrap();
    let state = other.state(&folder).await.unwrap();
    exact(other.changes(&folder, &since).await.unwrap(), state);
}

/// The state is the folder's, not the account's: a change in another folder (or, on a mail
/// server, new mail in the INBOX) must not make every client re-sync this one.
pub async fn changes_in_another_folder_leave_the_state_alone(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let quiet = calendar(s.as_ref(), "quiet").await;
    s.put(&quiet.id, event("q", "q"), Expected::Anything).await.unwrap();
    let busy = calendar(s.as_ref(), "busy").await;
    let before = s.state(&quiet.id).await.unwrap();
    s.put(&busy.id, event("b", "b"), Expected::Anything).await.unwrap();
    s.delete(&busy.id, &ItemName::new("b.ics"), Expected::Anything).await.unwrap();
    assert_eq!(s.state(&quiet.id).await.unwrap(), before);
    assert_eq!(s.folder("quiet").await.unwrap().state, before);
    assert_eq!(
        s.changes(&quiet.id, &before).await.unwrap(),
        Changes::Delta { state: before, changed: vec![], removed: vec![] }
    );
}

/// RFC 6578 §3.5.2 lets a server report a member created and removed since the token, or
/// not. Both backends leave it out: the client never saw it, and a mail server forgets
/// destroyed messages. A name the client did have is reported, even when it came back and
/// went again in between.
pub async fn items_created_and_removed_after_a_token_are_not_reported(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    s.put(&folder.id, event("old", "1"), Expected::Anything).await.unwrap();
    let since = s.state(&folder.id).await.unwrap();
    s.put(&folder.id, event("brief", "b"), Expected::Absent).await.unwrap();
    s.delete(&folder.id, &ItemName::new("brief.ics"), Expected::Anything).await.unwrap();
    s.delete(&folder.id, &ItemName::new("old.ics"), Expected::Anything).await.unwrap();
    s.put(&folder.id, event("old", "2"), Expected::Absent).await.unwrap();
    s.delete(&folder.id, &ItemName::new("old.ics"), Expected::Anything).await.unwrap();
    match s.changes(&folder.id, &since).await.unwrap() {
        Changes::Delta { changed, removed, .. } => {
            assert_eq!(changed, vec![]);
            assert_eq!(removed, vec![ItemName::new("old.ics")]);
        }
        Changes::Resync => panic!("resync from a state the folder had"),
    }
}

/// A PUT of the bytes an item already has is no change (see `Session::put`): the same
/// ETag and Last-Modified, and neither getctag nor the sync token moves.
pub async fn identical_put_changes_nothing(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let folder = calendar(s.as_ref(), "c").await;
    let stored = s.put(&folder.id, event("x", "one"), Expected::Absent).await.unwrap();
    let before = s.state(&folder.id).await.unwrap();
    let again = s.put(&folder.id, event("x", "one"), Expected::ETag(stored.meta.etag.clone())).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.meta, stored.meta);
    assert_eq!(s.state(&folder.id).await.unwrap(), before);
    assert_eq!(
        s.changes(&folder.id, &before).await.unwrap(),
        Changes::Delta { state: before, changed: vec![], removed: vec![] }
    );
    // The precondition still applies to a PUT that would change nothing.
    let refused = s.put(&folder.id, event("x", "one"), Expected::Absent).await;
    assert!(matches!(refused, Err(StoreError::PreconditionFailed { .. })), "{refused:?}");
}
