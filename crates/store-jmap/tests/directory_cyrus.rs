//! The service-account directory against a real Cyrus: it reaches exactly what the mail
//! operator shared with the service account (`cyrus.py grant`), and a write the grant does
//! not cover is `Forbidden`. Needs the server of `make jmap-contract` (CYRUS_DIR,
//! CYRUS_JMAP_URL, CYRUS_SERVICE_USER, CYRUS_SERVICE_PASSWORD).

#![cfg(feature = "cyrus-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use store::{Backend, ComponentSet, Credentials, Expected, ItemName, NewFolder, NewItem, StoreError};
use store_jmap::{JmapBackend, JmapOptions, ServiceAccount};

static USERS: AtomicU32 = AtomicU32::new(0);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make jmap-contract`"))
}

fn backend() -> JmapBackend {
    let service = ServiceAccount { username: env("CYRUS_SERVICE_USER"), password: env("CYRUS_SERVICE_PASSWORD") };
    JmapBackend::new(JmapOptions { url: env("CYRUS_JMAP_URL"), service: Some(service), ..JmapOptions::default() })
        .unwrap()
}

async fn cyrus(args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration-tests/cyrus/cyrus.py");
    let status = tokio::process::Command::new("python3").arg(script).args(args).status().await.unwrap();
    assert!(status.success(), "cyrus.py {args:?}");
}

/// A new user, shared with the service account as `cyrus.py user` does.
async fn fresh_user() -> Credentials {
    let name = format!("d{}x{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
    let password = format!("{name}-secret");
    cyrus(&["user", &env("CYRUS_DIR"), &name, &password]).await;
    Credentials { username: name, password }
}

fn event(uid: &str) -> NewItem {
    let body = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    NewItem {
        name: ItemName::new(format!("{uid}.ics")),
        uid: uid.into(),
        component: Some(store::Component::Event),
        content_type: None,
        body: Bytes::from(body),
        span: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_not_shared_with_the_service_account_is_not_in_the_directory() {
    let backend = backend();
    let directory = backend.directory().expect("a service account makes a directory");
    let user = fresh_user().await;
    let own = backend.login(&user).await.unwrap();
    let address = own.principal().email.clone().unwrap();
    assert_eq!(directory.resolve(&address).await.unwrap().as_ref(), Some(own.principal()));
    let before = directory.open(&user.username).await.unwrap();
    cyrus(&["grant", &env("CYRUS_DIR"), &user.username, ""]).await;
    // A session opened before the grant was withdrawn is refused by the mail server.
    let refused = before.folders().await;
    assert!(matches!(refused, Err(StoreError::Forbidden(_))), "{refused:?}");
    // The listing of shared accounts is remembered for a minute; a gateway reading it now
    // no longer finds the user.
    let restarted = self::backend();
    let directory = restarted.directory().unwrap();
    assert_eq!(directory.resolve(&address).await.unwrap(), None);
    let opened = directory.open(&user.username).await;
    assert!(matches!(opened, Err(StoreError::NotFound)), "{:?}", opened.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_grant_gives_busy_time_reads_and_refuses_writes() {
    let backend = backend();
    let directory = backend.directory().unwrap();
    let user = fresh_user().await;
    let own = backend.login(&user).await.unwrap();
    let calendar = own.create_folder(&NewFolder::named("calendar", ComponentSet::EVENTS)).await.unwrap();
    own.put(&calendar.id, event("mine"), Expected::Absent).await.unwrap();
    cyrus(&["grant", &env("CYRUS_DIR"), &user.username, "lr"]).await;
    let opened = directory.open(&user.username).await.unwrap();
    assert_eq!(opened.principal(), own.principal());
    let seen = opened.folder("calendar").await.unwrap();
    assert!(seen.read_only);
    let listing = opened.list(&seen.id).await.unwrap();
    assert_eq!(listing.items.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["mine.ics"]);
    assert_eq!(opened.get(&seen.id, &[ItemName::new("mine.ics")]).await.unwrap().len(), 1);
    let write = opened.put(&seen.id, event("delivered"), Expected::Absent).await;
    assert!(matches!(write, Err(StoreError::Forbidden(_))), "{write:?}");
    let inbox = NewFolder { kind: store::FolderKind::ScheduleInbox, ..NewFolder::named("inbox", ComponentSet::ALL) };
    let created = opened.create_folder(&inbox).await;
    assert!(matches!(created, Err(StoreError::Forbidden(_))), "{:?}", created.err());
    // The user's own view is untouched by what the service account saw.
    assert!(!own.folder("calendar").await.unwrap().read_only);
}

/// A service password the mail server refuses is an outage of the directory, never the
/// caller's wrong password (a 401 would make a phone ask its user for a new one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_service_account_is_unavailable_not_unauthenticated() {
    let service = ServiceAccount { username: env("CYRUS_SERVICE_USER"), password: "wrong".into() };
    let backend =
        JmapBackend::new(JmapOptions { url: env("CYRUS_JMAP_URL"), service: Some(service), ..JmapOptions::default() })
            .unwrap();
    let directory = backend.directory().unwrap();
    let resolved = directory.resolve("alice@localhost").await;
    assert!(matches!(resolved, Err(StoreError::Unavailable { .. })), "{resolved:?}");
    let opened = directory.open("alice").await;
    assert!(matches!(opened, Err(StoreError::Unavailable { .. })), "{:?}", opened.err());
}
