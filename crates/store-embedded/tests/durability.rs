//! What the embedded store promises beyond the contract: data survives a reopen, tombstone
//! expiry forces a resync, user management.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use bytes::Bytes;
use store::{
    Backend, Changes, Component, ComponentSet, Credentials, Expected, ItemName, NewFolder, NewItem, StoreError,
};
use store_embedded::EmbeddedBackend;

fn event(uid: &str) -> NewItem {
    let body = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20260102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    NewItem {
        name: ItemName::new(format!("{uid}.ics")),
        uid: uid.into(),
        component: Some(Component::Event),
        content_type: None,
        body: Bytes::from(body),
        span: None,
    }
}

fn alice() -> Credentials {
    Credentials { username: "alice".into(), password: "secret".into() }
}

#[tokio::test]
async fn acknowledged_writes_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (folder_id, etag) = {
        let backend = EmbeddedBackend::open(dir.path()).await.unwrap();
        backend.add_user("alice", "secret", None, None).await.unwrap();
        let session = backend.login(&alice()).await.unwrap();
        let folder = session.create_folder(&NewFolder::named("cal", ComponentSet::EVENTS)).await.unwrap();
        let stored = session.put(&folder.id, event("durable"), Expected::Absent).await.unwrap();
        (folder.id, stored.meta.etag)
    };
    let reopened = EmbeddedBackend::open(dir.path()).await.unwrap();
    let session = reopened.login(&alice()).await.unwrap();
    let items = session.get(&folder_id, &[ItemName::new("durable.ics")]).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].meta.etag, etag);
    assert_eq!(items[0].body, event("durable").body);
}

#[tokio::test]
async fn a_token_older_than_the_kept_tombstones_must_resync() {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("alice", "secret", None, None).await.unwrap();
    let session = backend.login(&alice()).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("cal", ComponentSet::EVENTS)).await.unwrap();
    let before = session.state(&folder.id).await.unwrap();
    // One more deletion than the store keeps tombstones for.
    let count = 10_001;
    for n in 0..count {
        session.put(&folder.id, event(&format!("e{n}")), Expected::Anything).await.unwrap();
        session.delete(&folder.id, &ItemName::new(format!("e{n}.ics")), Expected::Anything).await.unwrap();
    }
    assert_eq!(session.changes(&folder.id, &before).await.unwrap(), Changes::Resync);
    let recent = session.state(&folder.id).await.unwrap();
    session.put(&folder.id, event("last"), Expected::Anything).await.unwrap();
    assert!(matches!(session.changes(&folder.id, &recent).await.unwrap(), Changes::Delta { .. }));
}

#[tokio::test]
async fn users_are_added_listed_renamed_in_password_and_deleted() {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("bob", "one", Some("Bob"), Some("bob@example.com")).await.unwrap();
    assert!(matches!(backend.add_user("bob", "two", None, None).await, Err(StoreError::AlreadyExists)));
    assert!(matches!(backend.add_user("../evil", "x", None, None).await, Err(StoreError::Rejected(_))));
    let users = backend.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email.as_deref(), Some("bob@example.com"));

    let bob = |password: &str| Credentials { username: "bob".into(), password: password.into() };
    let session = backend.login(&bob("one")).await.unwrap();
    assert_eq!(session.principal().display_name, "Bob");
    backend.set_password("bob", "two").await.unwrap();
    assert!(matches!(backend.login(&bob("one")).await, Err(StoreError::Unauthenticated)));
    assert!(backend.login(&bob("two")).await.is_ok());

    let folder = session.create_folder(&NewFolder::named("cal", ComponentSet::EVENTS)).await.unwrap();
    session.put(&folder.id, event("x"), Expected::Anything).await.unwrap();
    backend.delete_user("bob").await.unwrap();
    assert!(matches!(backend.login(&bob("two")).await, Err(StoreError::Unauthenticated)));
    assert!(matches!(backend.delete_user("bob").await, Err(StoreError::NotFound)));
    assert!(matches!(backend.set_password("bob", "x").await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_its_items_stay_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store_embedded::DATABASE_FILE);
    {
        // The v1 schema as released, with one item in it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("fixtures/schema-v1.sql")).unwrap();
    }
    let backend = EmbeddedBackend::open(dir.path()).await.unwrap();
    backend.set_password("old", "secret").await.unwrap();
    let session = backend.login(&Credentials { username: "old".into(), password: "secret".into() }).await.unwrap();
    let folder = session.folder("cal").await.unwrap();
    let query = store::CandidateQuery {
        component: Some(Component::Event),
        range: Some(store::TimeSpan { start: Some(0), end: Some(1) }),
    };
    let candidates = session.candidates(&folder.id, &query).await.unwrap().unwrap();
    assert_eq!(candidates.iter().map(|c| &c.name).collect::<Vec<_>>(), vec![&ItemName::new("old.ics")]);
    // v6 moved the one-UID-per-calendar rule out of the table; it still holds for old rows.
    let mut twin = event("old");
    twin.name = ItemName::new("twin.ics");
    let conflict = session.put(&folder.id, twin, Expected::Anything).await;
    assert!(matches!(conflict, Err(StoreError::UidConflict { .. })), "{conflict:?}");
    assert_eq!(folder.kind, store::FolderKind::Calendar);
}

/// Folders are kept between requests (issue 12) only while no write committed on any other
/// connection: changes made by this process and by another one on the same database (the
/// `user` commands while the gateway serves) are seen by the next call.
#[tokio::test]
async fn kept_folders_follow_writes_of_this_and_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let serving = EmbeddedBackend::open(dir.path()).await.unwrap();
    serving.add_user("alice", "secret", None, None).await.unwrap();
    let session = serving.login(&alice()).await.unwrap();
    let writer = serving.login(&alice()).await.unwrap();
    assert!(session.folders().await.unwrap().is_empty());
    // Another session of this process.
    let created = writer.create_folder(&NewFolder::named("cal", ComponentSet::EVENTS)).await.unwrap();
    assert_eq!(session.folder("cal").await.unwrap().id, created.id);
    // A write that changes the folder's state.
    writer.put(&created.id, event("one"), Expected::Absent).await.unwrap();
    let state = writer.folder("cal").await.unwrap().state;
    assert_eq!(session.folders().await.unwrap()[0].state, state);
    assert_ne!(state, created.state);
    // Another process: a second store opened on the same directory.
    let other = EmbeddedBackend::open(dir.path()).await.unwrap();
    let elsewhere = other.login(&alice()).await.unwrap();
    elsewhere.create_folder(&NewFolder::named("work", ComponentSet::EVENTS)).await.unwrap();
    let names: Vec<String> = session.folders().await.unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["cal", "work"]);
    other.delete_user("alice").await.unwrap();
    assert!(session.folders().await.unwrap().is_empty());
    assert!(matches!(session.folder("cal").await, Err(StoreError::NotFound)));
}
