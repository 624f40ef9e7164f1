//! Contract cases for RFC 6638 scheduling: the schedule inbox folder, and the directory of
//! the other users of the mail system (for backends that have one). Re-exported from
//! [`super::cases`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::cases::{calendar, event, session};
use super::ContractFixture;
use crate::{
    Changes, ComponentSet, Directory, Expected, FolderKind, ItemName, NewFolder, NewItem, Session, StoreError,
};

fn inbox_spec() -> NewFolder {
    NewFolder { kind: FolderKind::ScheduleInbox, ..NewFolder::named("inbox", ComponentSet::ALL) }
}

/// One iTIP message as the gateway delivers it: its own name, the meeting's UID.
fn message(name: &str, uid: &str, summary: &str) -> NewItem {
    NewItem { name: ItemName::new(format!("{name}.ics")), ..event(uid, summary) }
}

fn names(items: &[crate::ItemMeta]) -> Vec<&str> {
    let mut names: Vec<&str> = items.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    names
}

/// The backend's directory, or `None` (said on stderr) when it has none: such a backend
/// schedules with other users only through mail, and the directory cases do not apply.
fn directory<'a>(backend: &'a dyn crate::Backend, case: &str) -> Option<&'a dyn Directory> {
    let directory = backend.directory();
    if directory.is_none() {
        eprintln!("{case}: skipped, this backend has no directory (Backend::directory is None)");
    }
    directory
}

pub async fn schedule_inbox_is_created_listed_and_deleted_as_a_folder(fixture: &dyn ContractFixture) {
    let credentials = fixture.fresh_user().await;
    let s = fixture.backend().login(&credentials).await.unwrap();
    let home = calendar(s.as_ref(), "home").await;
    let inbox = s.create_folder(&inbox_spec()).await.unwrap();
    assert_eq!(inbox.kind, FolderKind::ScheduleInbox);
    assert_eq!(inbox.name, "inbox");
    assert_eq!(s.folder("inbox").await.unwrap(), inbox);
    let listed = s.folders().await.unwrap();
    let kinds: Vec<(&str, FolderKind)> = listed.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(kinds, [("home", FolderKind::Calendar), ("inbox", FolderKind::ScheduleInbox)]);
    let again = s.create_folder(&inbox_spec()).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    // The kind is stored, not remembered: a restarted gateway sees it too.
    let restarted = fixture.reopened().await.login(&credentials).await.unwrap();
    assert_eq!(restarted.folder("inbox").await.unwrap().kind, FolderKind::ScheduleInbox);
    s.put(&inbox.id, message("m1", "meeting", "invite"), Expected::Absent).await.unwrap();
    s.delete_folder(&inbox.id).await.unwrap();
    assert!(matches!(s.folder("inbox").await, Err(StoreError::NotFound)));
    assert_eq!(s.folders().await.unwrap(), vec![s.folder("home").await.unwrap()]);
    assert_eq!(s.folder("home").await.unwrap().id, home.id);
}

/// RFC 6638 §2.2: the inbox holds each scheduling message, so a REQUEST and its later
/// update (or a REPLY) for one meeting are two resources with one UID; calendars still
/// refuse that (RFC 4791 §5.3.2.1).
pub async fn schedule_inbox_items_may_share_a_uid(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let inbox = s.create_folder(&inbox_spec()).await.unwrap();
    let first = s.put(&inbox.id, message("m1", "meeting", "invite"), Expected::Absent).await.unwrap();
    let second = s.put(&inbox.id, message("m2", "meeting", "moved"), Expected::Absent).await.unwrap();
    assert!(first.created && second.created);
    let listing = s.list(&inbox.id).await.unwrap();
    assert_eq!(names(&listing.items), ["m1.ics", "m2.ics"]);
    let got = s.get(&inbox.id, &[ItemName::new("m1.ics"), ItemName::new("m2.ics")]).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().any(|item| item.body == message("m2", "meeting", "moved").body));
    // Replacing one of them is still a replace, not a conflict with the other.
    let replaced = s.put(&inbox.id, message("m1", "meeting", "again"), Expected::ETag(first.meta.etag)).await.unwrap();
    assert!(!replaced.created);
    let home = calendar(s.as_ref(), "home").await;
    s.put(&home.id, message("m1", "meeting", "invite"), Expected::Absent).await.unwrap();
    let conflict = s.put(&home.id, message("m2", "meeting", "moved"), Expected::Absent).await;
    assert!(matches!(conflict, Err(StoreError::UidConflict { .. })), "{conflict:?}");
}

/// Clients sync the inbox like a calendar (Thunderbird polls it, RFC 6578 works on it).
pub async fn schedule_inbox_reports_changes_and_removals(fixture: &dyn ContractFixture) {
    let s = session(fixture).await;
    let inbox = s.create_folder(&inbox_spec()).await.unwrap();
    s.put(&inbox.id, message("old", "meeting", "invite"), Expected::Absent).await.unwrap();
    let since = s.state(&inbox.id).await.unwrap();
    let added = s.put(&inbox.id, message("new", "meeting", "update"), Expected::Absent).await.unwrap();
    s.delete(&inbox.id, &ItemName::new("old.ics"), Expected::Anything).await.unwrap();
    let now = s.state(&inbox.id).await.unwrap();
    assert_ne!(now, since);
    match s.changes(&inbox.id, &since).await.unwrap() {
        Changes::Delta { state, changed, removed } => {
            assert_eq!(state, now);
            assert_eq!(changed, vec![added.meta]);
            assert_eq!(removed, vec![ItemName::new("old.ics")]);
        }
        Changes::Resync => panic!("resync from a state the inbox had"),
    }
}

pub async fn directory_resolves_a_user_by_address_ignoring_case(fixture: &dyn ContractFixture) {
    let backend = fixture.backend();
    let Some(directory) = directory(backend.as_ref(), "directory_resolves_a_user_by_address_ignoring_case") else {
        return;
    };
    let s = session(fixture).await;
    let address = s.principal().email.clone().expect("every user has an address");
    let found = directory.resolve(&address).await.unwrap();
    assert_eq!(found.as_ref(), Some(s.principal()));
    let shouted = directory.resolve(&address.to_ascii_uppercase()).await.unwrap();
    assert_eq!(shouted.as_ref(), Some(s.principal()));
    let other = session(fixture).await;
    let found = directory.resolve(other.principal().email.as_deref().unwrap()).await.unwrap();
    assert_eq!(found.map(|p| p.user), Some(other.principal().user.clone()));
}

pub async fn directory_misses_unknown_addresses(fixture: &dyn ContractFixture) {
    let backend = fixture.backend();
    let Some(directory) = directory(backend.as_ref(), "directory_misses_unknown_addresses") else {
        return;
    };
    let s = session(fixture).await;
    let address = s.principal().email.clone().expect("every user has an address");
    let (local, domain) = address.rsplit_once('@').unwrap();
    for unknown in [
        format!("{local}-not@{domain}"),
        format!("{local}@not-{domain}"),
        "nobody-at-all@example.invalid".to_owned(),
        local.to_owned(),
        String::new(),
    ] {
        assert_eq!(directory.resolve(&unknown).await.unwrap(), None, "{unknown:?}");
    }
}

/// The gateway delivers into another user's inbox and reads their busy time through a
/// session it opens without their password: that session is the user's own view.
pub async fn directory_opens_a_session_of_the_user(fixture: &dyn ContractFixture) {
    let backend = fixture.backend();
    let Some(directory) = directory(backend.as_ref(), "directory_opens_a_session_of_the_user") else {
        return;
    };
    let own = session(fixture).await;
    let folder = calendar(own.as_ref(), "home").await;
    let opened: Arc<dyn Session> = directory.open(&own.principal().user).await.unwrap();
    assert_eq!(opened.principal(), own.principal());
    assert_eq!(opened.folders().await.unwrap(), own.folders().await.unwrap());
    // What it writes, the user sees.
    let inbox = opened.create_folder(&inbox_spec()).await.unwrap();
    opened.put(&inbox.id, message("m1", "meeting", "invite"), Expected::Absent).await.unwrap();
    assert_eq!(names(&own.list(&inbox.id).await.unwrap().items), ["m1.ics"]);
    assert!(own.list(&folder.id).await.unwrap().items.is_empty());
    // Nobody else's folders.
    let stranger = session(fixture).await;
    assert!(matches!(stranger.list(&inbox.id).await, Err(StoreError::NotFound)));
    let unknown = directory.open("no-such-user-4711").await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{:?}", unknown.err());
}
