//! The contract every backend must keep, as tests each backend runs against itself:
//! `store::contract_tests!(MyFixture::new().await)` expands to one `#[tokio::test]` per case.
//!
//! A fixture hands out fresh users on one backend: the cases create what they need and
//! assume nothing else exists.

// Test code: a failed step should fail the test on the spot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    Backend, Change, Changes, Component, ComponentSet, Credentials, DeadProperty, DeadPropertyChange, ETag, Expected,
    FolderKind, FolderPatch, ItemName, NewFolder, NewItem, Session, StoreError,
};

mod changes;
mod scheduling;

/// Gives the contract suite a backend and users on it.
#[async_trait]
pub trait ContractFixture: Send + Sync {
    fn backend(&self) -> Arc<dyn Backend>;
    /// A new instance of the backend over the same data, sharing nothing in memory with
    /// [`ContractFixture::backend`]: what a restarted gateway or another replica sees.
    async fn reopened(&self) -> Arc<dyn Backend>;
    /// Credentials of a new user with no folders.
    async fn fresh_user(&self) -> Credentials;
}

/// Expands to the contract suite. `$fixture` is an expression (evaluated once per test,
/// inside the test's runtime, `.await` allowed) of a type implementing [`ContractFixture`].
#[macro_export]
macro_rules! contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(@cases $fixture;
            login_with_wrong_password_is_unauthenticated,
            create_folder_then_list_it,
            create_folder_with_taken_name_is_already_exists,
            update_folder_changes_props_and_state,
            delete_folder_removes_items,
            put_then_get_returns_exact_bytes,
            put_creates_then_replaces,
            if_none_match_star_refuses_existing,
            if_match_wrong_etag_is_precondition_failed_with_current,
            if_match_star_requires_presence,
            duplicate_uid_in_folder_is_uid_conflict,
            same_uid_in_other_folder_is_allowed,
            state_changes_on_every_write_and_only_then,
            changes_since_reports_changed_and_removed,
            changes_from_unknown_state_is_resync,
            changes_from_current_state_is_empty_delta,
            delete_missing_is_not_found,
            get_ignores_missing_names,
            concurrent_conditional_puts_have_one_winner,
            other_users_folder_is_not_visible,
            candidates_are_a_superset_of_overlapping_items_of_the_component,
            dead_properties_are_kept_replaced_and_removed,
            plain_collections_nest_and_hold_files_of_any_type,
            item_properties_change_state_but_not_etag,
            sync_token_survives_a_restart_and_other_replicas,
            changes_in_another_folder_leave_the_state_alone,
            items_created_and_removed_after_a_token_are_not_reported,
            identical_put_changes_nothing,
            schedule_inbox_is_created_listed_and_deleted_as_a_folder,
            schedule_inbox_items_may_share_a_uid,
            schedule_inbox_reports_changes_and_removals,
            directory_resolves_a_user_by_address_ignoring_case,
            directory_misses_unknown_addresses,
            directory_opens_a_session_of_the_user,
        );
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $fixture;
                $crate::testkit::cases::$case(&fixture).await;
            }
        )*
    };
}

/// The cases, public so the macro can reach them from another crate.
pub mod cases {
    use super::*;

    pub use super::changes::*;
    pub use super::scheduling::*;

    pub(super) async fn session(fixture: &dyn ContractFixture) -> Arc<dyn Session> {
        let credentials = fixture.fresh_user().await;
        fixture.backend().login(&credentials).await.expect("login of a fresh user")
    }

    /// A one-hour event named `{uid}.ics`; public for a backend's own cases beyond the contract.
    pub fn event(uid: &str, summary: &str) -> NewItem {
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//contract//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
             DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        NewItem {
            name: ItemName::new(format!("{uid}.ics")),
            uid: uid.into(),
            component: Some(Component::Event),
            content_type: None,
            body: Bytes::from(body),
            // 2026-01-02 10:00Z and an hour later, as the gateway would compute it.
            span: Some(crate::TimeSpan { start: Some(1_767_348_000), end: Some(1_767_351_600) }),
        }
    }

    pub(super) async fn calendar(session: &dyn Session, name: &str) -> crate::Folder {
        session.create_folder(&NewFolder::named(name, ComponentSet::EVENTS)).await.expect("create folder")
    }

    pub async fn login_with_wrong_password_is_unauthenticated(fixture: &dyn ContractFixture) {
        let mut credentials = fixture.fresh_user().await;
        credentials.password.push_str("-wrong");
        let result = fixture.backend().login(&credentials).await;
        assert!(matches!(result, Err(StoreError::Unauthenticated)), "{:?}", result.err());
        let unknown = Credentials { username: "no-such-user-4711".into(), password: "x".into() };
        assert!(matches!(fixture.backend().login(&unknown).await, Err(StoreError::Unauthenticated)));
    }

    pub async fn create_folder_then_list_it(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        assert!(s.folders().await.unwrap().is_empty());
        let mut spec = NewFolder::named("work", ComponentSet::TASKS);
        spec.display_name = Some("Work".into());
        spec.color = Some("#112233FF".into());
        let created = s.create_folder(&spec).await.unwrap();
        let listed = s.folders().await.unwrap();
        assert_eq!(listed, vec![created.clone()]);
        assert_eq!(created.name, "work");
        assert_eq!(created.display_name.as_deref(), Some("Work"));
        assert_eq!(created.color.as_deref(), Some("#112233FF"));
        assert_eq!(created.components, ComponentSet::TASKS);
        assert_eq!(s.folder("work").await.unwrap(), created);
        assert!(matches!(s.folder("nope").await, Err(StoreError::NotFound)));
    }

    pub async fn create_folder_with_taken_name_is_already_exists(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        calendar(s.as_ref(), "home").await;
        let again = s.create_folder(&NewFolder::named("home", ComponentSet::ALL)).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    }

    pub async fn update_folder_changes_props_and_state(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let patch = FolderPatch {
            display_name: Change::Set("Renamed".into()),
            order: Change::Set(7),
            description: Change::Remove,
            ..FolderPatch::default()
        };
        let updated = s.update_folder(&folder.id, &patch).await.unwrap();
        assert_eq!(updated.display_name.as_deref(), Some("Renamed"));
        assert_eq!(updated.order, Some(7));
        assert_ne!(updated.state, folder.state);
        assert_eq!(s.state(&folder.id).await.unwrap(), updated.state);
    }

    pub async fn delete_folder_removes_items(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "gone").await;
        s.put(&folder.id, event("a", "A"), Expected::Anything).await.unwrap();
        s.delete_folder(&folder.id).await.unwrap();
        assert!(s.folders().await.unwrap().is_empty());
        assert!(matches!(s.list(&folder.id).await, Err(StoreError::NotFound)));
        // A new folder of the same name starts empty.
        let again = calendar(s.as_ref(), "gone").await;
        assert!(s.list(&again.id).await.unwrap().items.is_empty());
    }

    pub async fn put_then_get_returns_exact_bytes(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let item = event("exact", "Ünïcødé; with \\, escapes");
        let stored = s.put(&folder.id, item.clone(), Expected::Absent).await.unwrap();
        let got = s.get(&folder.id, std::slice::from_ref(&item.name)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, item.body);
        assert_eq!(got[0].meta.etag, stored.meta.etag);
        assert_eq!(got[0].meta.size, item.body.len() as u64);
        let listing = s.list(&folder.id).await.unwrap();
        assert_eq!(listing.items, vec![got[0].meta.clone()]);
    }

    pub async fn put_creates_then_replaces(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let first = s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
        assert!(first.created);
        let second = s.put(&folder.id, event("x", "two"), Expected::Anything).await.unwrap();
        assert!(!second.created);
        assert_ne!(first.meta.etag, second.meta.etag);
    }

    pub async fn if_none_match_star_refuses_existing(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let stored = s.put(&folder.id, event("x", "one"), Expected::Absent).await.unwrap();
        let again = s.put(&folder.id, event("x", "two"), Expected::Absent).await;
        match again {
            Err(StoreError::PreconditionFailed { current }) => assert_eq!(current, Some(stored.meta.etag)),
            other => panic!("{other:?}"),
        }
    }

    pub async fn if_match_wrong_etag_is_precondition_failed_with_current(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let stored = s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
        let wrong = s.put(&folder.id, event("x", "two"), Expected::ETag(ETag::new("not-it"))).await;
        match wrong {
            Err(StoreError::PreconditionFailed { current }) => assert_eq!(current, Some(stored.meta.etag.clone())),
            other => panic!("{other:?}"),
        }
        let right = s.put(&folder.id, event("x", "two"), Expected::ETag(stored.meta.etag)).await;
        assert!(right.is_ok(), "{right:?}");
        let deleted = s.delete(&folder.id, &ItemName::new("x.ics"), Expected::ETag(ETag::new("not-it"))).await;
        assert!(matches!(deleted, Err(StoreError::PreconditionFailed { .. })));
    }

    pub async fn if_match_star_requires_presence(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let absent = s.put(&folder.id, event("x", "one"), Expected::Present).await;
        assert!(matches!(absent, Err(StoreError::PreconditionFailed { current: None })), "{absent:?}");
        assert!(s.list(&folder.id).await.unwrap().items.is_empty());
        s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
        assert!(s.put(&folder.id, event("x", "two"), Expected::Present).await.is_ok());
    }

    pub async fn duplicate_uid_in_folder_is_uid_conflict(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        s.put(&folder.id, event("same", "one"), Expected::Anything).await.unwrap();
        let mut other = event("same", "two");
        other.name = ItemName::new("other-name.ics");
        match s.put(&folder.id, other, Expected::Anything).await {
            Err(StoreError::UidConflict { uid, existing }) => {
                assert_eq!(uid, "same");
                assert_eq!(existing, ItemName::new("same.ics"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.list(&folder.id).await.unwrap().items.len(), 1);
    }

    pub async fn same_uid_in_other_folder_is_allowed(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let a = calendar(s.as_ref(), "a").await;
        let b = calendar(s.as_ref(), "b").await;
        s.put(&a.id, event("shared", "one"), Expected::Anything).await.unwrap();
        assert!(s.put(&b.id, event("shared", "one"), Expected::Anything).await.is_ok());
    }

    pub async fn delete_missing_is_not_found(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let result = s.delete(&folder.id, &ItemName::new("missing.ics"), Expected::Anything).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }

    pub async fn get_ignores_missing_names(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        s.put(&folder.id, event("x", "one"), Expected::Anything).await.unwrap();
        let got = s.get(&folder.id, &[ItemName::new("missing.ics"), ItemName::new("x.ics")]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].meta.name, ItemName::new("x.ics"));
    }

    pub async fn concurrent_conditional_puts_have_one_winner(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "c").await;
        let stored = s.put(&folder.id, event("race", "start"), Expected::Anything).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..20 {
            let (s, id, etag) = (s.clone(), folder.id.clone(), stored.meta.etag.clone());
            tasks.push(tokio::spawn(async move {
                s.put(&id, event("race", &format!("writer {n}")), Expected::ETag(etag)).await
            }));
        }
        let (mut won, mut lost) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => won += 1,
                Err(StoreError::PreconditionFailed { .. }) => lost += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!((won, lost), (1, 19));
    }

    pub async fn other_users_folder_is_not_visible(fixture: &dyn ContractFixture) {
        let alice = session(fixture).await;
        let bob = session(fixture).await;
        let folder = calendar(alice.as_ref(), "private").await;
        alice.put(&folder.id, event("secret", "s"), Expected::Anything).await.unwrap();
        assert!(bob.folders().await.unwrap().is_empty());
        assert!(matches!(bob.folder("private").await, Err(StoreError::NotFound)));
        assert!(matches!(bob.list(&folder.id).await, Err(StoreError::NotFound)));
        assert!(matches!(bob.get(&folder.id, &[ItemName::new("secret.ics")]).await, Err(StoreError::NotFound)));
        let write = bob.put(&folder.id, event("intruder", "i"), Expected::Anything).await;
        assert!(matches!(write, Err(StoreError::NotFound)), "{write:?}");
        assert!(matches!(bob.delete_folder(&folder.id).await, Err(StoreError::NotFound)));
        assert_eq!(alice.list(&folder.id).await.unwrap().items.len(), 1);
    }

    pub async fn candidates_are_a_superset_of_overlapping_items_of_the_component(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = s.create_folder(&NewFolder::named("c", ComponentSet::ALL)).await.unwrap();
        let span = |start: i64, end: Option<i64>| Some(crate::TimeSpan { start: Some(start), end });
        let mut early = event("early", "e");
        early.span = span(1_000, Some(2_000));
        let mut late = event("late", "l");
        late.span = span(5_000, Some(6_000));
        let mut endless = event("endless", "x");
        endless.span = span(1_000, None);
        let mut unknown = event("unknown", "u");
        unknown.span = None;
        let mut task = event("task", "t");
        task.component = Some(Component::Todo);
        task.span = span(1_000, Some(2_000));
        // A long series begun long before the window, and a short event begun almost a week
        // before it (an index may bound short spans by their start).
        let mut series = event("series", "r");
        series.span = span(-50_000_000, Some(1_550));
        let mut week = event("week", "w");
        week.span = span(1_500 - 604_000, Some(1_501));
        for item in [early, late, endless, unknown, task, series, week] {
            s.put(&folder.id, item, Expected::Anything).await.unwrap();
        }
        let query = crate::CandidateQuery {
            component: Some(Component::Event),
            range: Some(crate::TimeSpan { start: Some(1_500), end: Some(1_600) }),
        };
        let Some(metas) = s.candidates(&folder.id, &query).await.unwrap() else {
            return; // a backend without an index passes trivially: everything is a candidate
        };
        // Each as a listing describes it.
        let listed = s.list(&folder.id).await.unwrap().items;
        for meta in &metas {
            assert!(listed.contains(meta), "{meta:?} is not as listed");
        }
        let mut names: Vec<ItemName> = metas.into_iter().map(|m| m.name).collect();
        names.sort();
        let expected: Vec<ItemName> = ["early.ics", "endless.ics", "series.ics", "unknown.ics", "week.ics"]
            .into_iter()
            .map(ItemName::new)
            .collect();
        assert_eq!(names, expected);
    }

    pub async fn dead_properties_are_kept_replaced_and_removed(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let dead = |name: &str, xml: &str| crate::DeadProperty {
            namespace: "urn:x".into(),
            name: name.into(),
            xml: xml.into(),
        };
        let mut spec = NewFolder::named("c", ComponentSet::EVENTS);
        spec.properties = vec![dead("a", "one"), dead("b", "<X:y xmlns:X=\"urn:y\">two</X:y>")];
        let folder = s.create_folder(&spec).await.unwrap();
        assert_eq!(folder.properties, spec.properties);
        let change = |name: &str, xml: Option<&str>| crate::DeadPropertyChange {
            namespace: "urn:x".into(),
            name: name.into(),
            xml: xml.map(str::to_owned),
        };
        let patch = FolderPatch {
            properties: vec![change("a", Some("uno")), change("b", None), change("c", Some("tres"))],
            ..FolderPatch::default()
        };
        let updated = s.update_folder(&folder.id, &patch).await.unwrap();
        assert_eq!(updated.properties, vec![dead("a", "uno"), dead("c", "tres")]);
        assert_ne!(updated.state, folder.state);
        assert_eq!(s.folder("c").await.unwrap().properties, updated.properties);
        assert_eq!(s.folders().await.unwrap()[0].properties, updated.properties);
    }

    pub async fn plain_collections_nest_and_hold_files_of_any_type(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let top = s.create_folder(&NewFolder::collection("docs")).await.unwrap();
        let nested = s.create_folder(&NewFolder::collection("docs/2026")).await.unwrap();
        assert_eq!((top.kind, nested.kind), (FolderKind::Collection, FolderKind::Collection));
        assert_eq!(s.folder("docs/2026").await.unwrap(), nested);
        let names: Vec<String> = s.folders().await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["docs", "docs/2026"]);
        // Not iCalendar, not UTF-8: a file is stored as given, with its media type.
        let body = Bytes::from_static(b"\x00\xffbinary\r\n\n");
        let file = NewItem {
            name: ItemName::new("notes.bin"),
            uid: "notes.bin".into(),
            component: None,
            content_type: Some("application/octet-stream".into()),
            body: body.clone(),
            span: None,
        };
        let stored = s.put(&nested.id, file, Expected::Absent).await.unwrap();
        assert!(stored.created);
        let got = s.get(&nested.id, &[ItemName::new("notes.bin")]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, body);
        assert_eq!(got[0].meta.content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(s.list(&nested.id).await.unwrap().items, vec![got[0].meta.clone()]);
        // Files never match a calendar query's component.
        let query = crate::CandidateQuery { component: Some(Component::Event), range: None };
        if let Some(names) = s.candidates(&nested.id, &query).await.unwrap() {
            assert!(names.is_empty(), "{names:?}");
        }
        s.delete_folder(&nested.id).await.unwrap();
        assert!(matches!(s.folder("docs/2026").await, Err(StoreError::NotFound)));
        assert_eq!(s.folder("docs").await.unwrap().kind, FolderKind::Collection);
    }

    pub async fn item_properties_change_state_but_not_etag(fixture: &dyn ContractFixture) {
        let s = session(fixture).await;
        let folder = calendar(s.as_ref(), "props").await;
        let stored = s.put(&folder.id, event("p1", "one"), Expected::Absent).await.unwrap();
        let name = ItemName::new("p1.ics");
        let before = s.state(&folder.id).await.unwrap();
        let set = |ns: &str, local: &str, xml: Option<&str>| DeadPropertyChange {
            namespace: ns.into(),
            name: local.into(),
            xml: xml.map(str::to_owned),
        };
        s.set_item_properties(
            &folder.id,
            &name,
            &[set("urn:x", "a", Some("1")), set("urn:x", "b", Some("<x:y xmlns:x=\"urn:x\"/>"))],
        )
        .await
        .unwrap();
        let after = s.state(&folder.id).await.unwrap();
        assert_ne!(before, after);
        let item = s.get(&folder.id, std::slice::from_ref(&name)).await.unwrap().pop().unwrap();
        assert_eq!(item.meta.etag, stored.meta.etag);
        assert_eq!(
            item.properties,
            vec![
                DeadProperty { namespace: "urn:x".into(), name: "a".into(), xml: "1".into() },
                DeadProperty { namespace: "urn:x".into(), name: "b".into(), xml: "<x:y xmlns:x=\"urn:x\"/>".into() },
            ]
        );
        match s.changes(&folder.id, &before).await.unwrap() {
            Changes::Delta { changed, removed, .. } => {
                assert_eq!(changed.iter().map(|m| m.name.clone()).collect::<Vec<_>>(), vec![name.clone()]);
                assert!(removed.is_empty());
            }
            Changes::Resync => panic!("resync from a known state"),
        }
        s.set_item_properties(&folder.id, &name, &[set("urn:x", "a", None)]).await.unwrap();
        let item = s.get(&folder.id, std::slice::from_ref(&name)).await.unwrap().pop().unwrap();
        assert_eq!(item.properties.len(), 1);
        // Properties go with the item: a new item of the same name starts without any.
        s.delete(&folder.id, &name, Expected::Anything).await.unwrap();
        s.put(&folder.id, event("p1", "again"), Expected::Absent).await.unwrap();
        let item = s.get(&folder.id, std::slice::from_ref(&name)).await.unwrap().pop().unwrap();
        assert!(item.properties.is_empty());
        let missing =
            s.set_item_properties(&folder.id, &ItemName::new("none.ics"), &[set("urn:x", "a", Some("1"))]).await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    }
}
