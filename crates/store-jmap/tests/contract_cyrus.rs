//! The backend contract against a real Cyrus IMAP over JMAP. Needs the server that
//! `integration-tests/cyrus/cyrus.py start DIR` runs; `make jmap-contract` does all of it.

#![cfg(feature = "cyrus-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use store::testkit::cases::event;
use store::testkit::ContractFixture;
use store::{Backend, Changes, ComponentSet, Credentials, Expected, NewFolder, State};
use store_jmap::{JmapBackend, JmapOptions, ServiceAccount};

struct Cyrus {
    backend: Arc<JmapBackend>,
    url: String,
    dir: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

/// The backend as the gateway configures it: with the service account `cyrus.py` shares
/// every test user with, so the directory cases run (they are skipped without one).
fn options(url: &str) -> JmapOptions {
    let service = match (std::env::var("CYRUS_SERVICE_USER"), std::env::var("CYRUS_SERVICE_PASSWORD")) {
        (Ok(username), Ok(password)) if !username.is_empty() => Some(ServiceAccount { username, password }),
        _ => None,
    };
    JmapOptions { url: url.into(), service, ..JmapOptions::default() }
}

impl Cyrus {
    fn new() -> Cyrus {
        let dir = std::env::var("CYRUS_DIR").expect("CYRUS_DIR: run through `make jmap-contract`");
        let url = std::env::var("CYRUS_JMAP_URL").expect("CYRUS_JMAP_URL: run through `make jmap-contract`");
        let backend = JmapBackend::new(options(&url)).unwrap();
        Cyrus { backend: Arc::new(backend), url, dir }
    }
}

#[async_trait]
impl ContractFixture for Cyrus {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn reopened(&self) -> Arc<dyn Backend> {
        Arc::new(JmapBackend::new(options(&self.url)).unwrap())
    }

    async fn fresh_user(&self) -> Credentials {
        let name = format!("c{}x{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
        let password = format!("{name}-secret");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration-tests/cyrus/cyrus.py");
        let status = tokio::process::Command::new("python3")
            .arg(script)
            .args(["user", &self.dir, &name, &password])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "creating Cyrus user {name}");
        Credentials { username: name, password }
    }
}

store::contract_tests!(Cyrus::new());

/// A token naming the folder's content with an Email state the server never issued gets an
/// empty delta, but its spelling is not adopted: every later delta would be a resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_email_state_in_a_token_is_not_adopted() {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let session = cyrus.backend.login(&credentials).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let state = session.state(&folder.id).await.unwrap();
    let (digest, _) = state.as_str().split_once('-').unwrap();
    let forged = State::new(format!("{digest}-made-up"));
    assert_eq!(
        session.changes(&folder.id, &forged).await.unwrap(),
        Changes::Delta { state: state.clone(), changed: vec![], removed: vec![] }
    );
    assert_eq!(session.state(&folder.id).await.unwrap(), state);
}

/// Cyrus forgets every Email change made before a mailbox is deleted (its `Email/changes`
/// answers `cannotCalculateChanges`, "outdated sinceModseq"). A token handed out after such
/// a deletion must still give the exact delta, on this process and on any other (the
/// Thunderbird replay's 403 `valid-sync-token`, where another process deleted a calendar).
async fn token_issued_after_a_mailbox_deletion_stays_valid(deleted_by_another_process: bool) {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let first = cyrus.backend.login(&credentials).await.unwrap();
    let folder = first.create_folder(&NewFolder::named("tasks", ComponentSet::ALL)).await.unwrap();
    {
        let other = if deleted_by_another_process {
            cyrus.reopened().await.login(&credentials).await.unwrap()
        } else {
            first.clone()
        };
        let doomed = other.create_folder(&NewFolder::named("doomed", ComponentSet::EVENTS)).await.unwrap();
        for n in 0..5 {
            other.put(&doomed.id, event(&format!("e{n}"), "x"), Expected::Absent).await.unwrap();
        }
        other.delete_folder(&doomed.id).await.unwrap();
    }
    let token = first.state(&folder.id).await.unwrap();
    let created = first.put(&folder.id, event("task", "one"), Expected::Absent).await.unwrap();
    let changed = first.put(&folder.id, event("task", "two"), Expected::ETag(created.meta.etag)).await.unwrap();
    let now = first.state(&folder.id).await.unwrap();
    let expected = Changes::Delta { state: now.clone(), changed: vec![changed.meta.clone()], removed: vec![] };
    assert_eq!(first.changes(&folder.id, &token).await.unwrap(), expected, "the process that issued the token");
    let replica = cyrus.reopened().await.login(&credentials).await.unwrap();
    match replica.changes(&folder.id, &token).await.unwrap() {
        Changes::Delta { changed: delta, removed, .. } => {
            assert_eq!((delta, removed), (vec![changed.meta], vec![]), "another process");
        }
        Changes::Resync => panic!("another process: resync from a token issued after the deletion"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_after_another_process_deleted_a_mailbox_stays_valid() {
    token_issued_after_a_mailbox_deletion_stays_valid(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_after_this_process_deleted_a_mailbox_stays_valid() {
    token_issued_after_a_mailbox_deletion_stays_valid(false).await;
}
