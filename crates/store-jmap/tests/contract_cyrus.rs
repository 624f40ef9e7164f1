//! The backend contract against a real Cyrus IMAP over JMAP. Needs the server that
//! `integration-tests/cyrus/cyrus.py start DIR` runs; `make jmap-contract` does all of it.

#![cfg(feature = "cyrus-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use store::testkit::cases::event;
use store::testkit::ContractFixture;
use store::{Backend, Changes, ComponentSet, Credentials, Expected, ItemName, NewFolder, NewItem, State, StoreError};
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

impl Cyrus {
    /// Limits `user`'s storage to `kilobytes` ("": no limit), as a mail operator does.
    async fn quota(&self, user: &str, kilobytes: &str) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration-tests/cyrus/cyrus.py");
        let status = tokio::process::Command::new("python3")
            .arg(script)
            .args(["quota", &self.dir, user, kilobytes])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "setting the quota of {user}");
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

fn with_body(item: NewItem, body: String) -> NewItem {
    NewItem { body: Bytes::from(body), ..item }
}

/// Calendar text with CRLF line ends goes inline in the `Email/set` (UTF-8, and a line past
/// 998 octets that Cyrus must encode); a body with bare LF is uploaded. Both read back byte
/// for byte from the server (another process: no cache of this one), under the ETag and with
/// the size the PUT answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_bodies_read_back_exactly_whether_sent_inline_or_uploaded() {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let session = cyrus.backend.login(&credentials).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let crlf = String::from_utf8(event("inline", "Ünïcødé").body.to_vec()).unwrap();
    let long = crlf.replace("SUMMARY:", &format!("DESCRIPTION:{}\r\nSUMMARY:", "x".repeat(1200)));
    let bare_lf = String::from_utf8(event("uploaded", "plain").body.to_vec()).unwrap().replace("\r\n", "\n");
    for item in [with_body(event("inline", "-"), long), with_body(event("uploaded", "-"), bare_lf)] {
        let stored = session.put(&folder.id, item.clone(), Expected::Absent).await.unwrap();
        assert!(stored.verbatim, "{}", item.name.as_str());
        let elsewhere = cyrus.reopened().await.login(&credentials).await.unwrap();
        let got = elsewhere.get(&folder.id, std::slice::from_ref(&item.name)).await.unwrap();
        assert_eq!(got[0].body, item.body, "{}", item.name.as_str());
        assert_eq!(got[0].meta, stored.meta);
    }
}

fn requests(backend: &JmapBackend) -> u64 {
    backend.metrics().into_iter().find(|m| m.name == "jmap_requests_total").map(|m| m.value).unwrap()
}

/// Once a client request has validated the account, a PUT is one request (the guarded
/// `Email/set`, which also tells the account's state after it), and the next client request
/// finds the account as the write left it: it validates, and reads nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_is_one_request_after_the_validation_and_leaves_the_account_current() {
    let cyrus = Cyrus::new();
    let backend = JmapBackend::new(options(&cyrus.url)).unwrap();
    let session = backend.login(&cyrus.fresh_user().await).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    session.put(&folder.id, event("first", "1"), Expected::Absent).await.unwrap();
    let before = requests(&backend);
    let created = store::scope::scoped(async {
        session.folder("c").await.unwrap();
        session.put(&folder.id, event("second", "2"), Expected::Absent).await.unwrap()
    })
    .await;
    assert_eq!(requests(&backend) - before, 2, "validation and the write");
    let before = requests(&backend);
    store::scope::scoped(async {
        let listing = session.list(&folder.id).await.unwrap();
        assert_eq!(listing.items.len(), 2);
        session.put(&folder.id, event("second", "changed"), Expected::ETag(created.meta.etag)).await.unwrap();
    })
    .await;
    assert_eq!(requests(&backend) - before, 2, "validation and the write, no read of the account");
}

/// Another process's change is not in this one's snapshot: the write checked against it is
/// refused by `ifInState`, and the precondition is checked again on the account as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_by_another_process_is_what_the_next_precondition_here_sees() {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let here = cyrus.backend.login(&credentials).await.unwrap();
    let folder = here.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let first = here.put(&folder.id, event("x", "1"), Expected::Absent).await.unwrap();
    let there = cyrus.reopened().await.login(&credentials).await.unwrap();
    let second = there.put(&folder.id, event("x", "2"), Expected::ETag(first.meta.etag.clone())).await.unwrap();
    there.put(&folder.id, event("taken", "t"), Expected::Absent).await.unwrap();
    let stale = here.put(&folder.id, event("x", "3"), Expected::ETag(first.meta.etag)).await;
    assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })), "{stale:?}");
    here.put(&folder.id, event("x", "3"), Expected::ETag(second.meta.etag)).await.unwrap();
    let same_uid = NewItem { name: ItemName::new("mine.ics"), ..event("taken", "mine") };
    let conflict = here.put(&folder.id, same_uid, Expected::Absent).await;
    assert!(matches!(conflict, Err(StoreError::UidConflict { .. })), "{conflict:?}");
}

/// Ten creates of one name at once, each with If-None-Match: one is stored, nine are 412;
/// ten creates of distinct names at once are all stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_have_one_winner_and_of_distinct_names_all_succeed() {
    let cyrus = Cyrus::new();
    let session = cyrus.backend.login(&cyrus.fresh_user().await).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let mut same = Vec::new();
    let mut distinct = Vec::new();
    for n in 0..10 {
        let (s, id) = (session.clone(), folder.id.clone());
        same.push(tokio::spawn(async move {
            let item = NewItem { name: ItemName::new("same.ics"), ..event(&format!("same-{n}"), "s") };
            s.put(&id, item, Expected::Absent).await
        }));
        let (s, id) = (session.clone(), folder.id.clone());
        distinct.push(tokio::spawn(async move { s.put(&id, event(&format!("d{n}"), "d"), Expected::Absent).await }));
    }
    let (mut won, mut lost) = (0, 0);
    for task in same {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::PreconditionFailed { .. }) => lost += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((won, lost), (1, 9));
    for task in distinct {
        task.await.unwrap().unwrap();
    }
    assert_eq!(session.list(&folder.id).await.unwrap().items.len(), 11);
}

/// A replacement whose new message the server refuses (over quota) leaves the old one as it
/// was: the destroy of the old message waits for the create to succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_refused_over_quota_keeps_the_old_object() {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let session = cyrus.backend.login(&credentials).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let old = session.put(&folder.id, event("x", "old"), Expected::Absent).await.unwrap();
    cyrus.quota(&credentials.username, "1").await;
    let bigger = event("x", &"new ".repeat(600));
    let refused = session.put(&folder.id, bigger.clone(), Expected::ETag(old.meta.etag.clone())).await;
    assert!(matches!(refused, Err(StoreError::QuotaExceeded)), "{refused:?}");
    for reader in [session.clone(), cyrus.reopened().await.login(&credentials).await.unwrap()] {
        let listing = reader.list(&folder.id).await.unwrap();
        assert_eq!(listing.items.len(), 1);
        let got = reader.get(&folder.id, &[ItemName::new("x.ics")]).await.unwrap();
        assert_eq!(got[0].body, event("x", "old").body);
        assert_eq!(got[0].meta.etag, old.meta.etag);
    }
    cyrus.quota(&credentials.username, "").await;
    let replaced = session.put(&folder.id, bigger.clone(), Expected::ETag(old.meta.etag)).await.unwrap();
    let elsewhere = cyrus.reopened().await.login(&credentials).await.unwrap();
    assert_eq!(elsewhere.list(&folder.id).await.unwrap().items.len(), 1, "the old message is gone");
    let got = elsewhere.get(&folder.id, &[ItemName::new("x.ics")]).await.unwrap();
    assert_eq!((got[0].body.clone(), got[0].meta.etag.clone()), (bigger.body, replaced.meta.etag));
}

/// The backend with a freshness window long enough that no test outlives it: views are
/// served without asking, as the gateway's default window does within its second.
fn trusting(url: &str) -> JmapBackend {
    JmapBackend::new(JmapOptions { freshness: std::time::Duration::from_secs(600), ..options(url) }).unwrap()
}

/// A sync from a token older than a current view costs the `Email/changes` of its delta and
/// nothing more: its `newState` is the view's own, so the view needs no confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_from_an_older_token_on_a_current_view_is_one_request() {
    let cyrus = Cyrus::new();
    let backend = trusting(&cyrus.url);
    let session = backend.login(&cyrus.fresh_user().await).await.unwrap();
    let folder = session.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    session.put(&folder.id, event("kept", "k"), Expected::Absent).await.unwrap();
    let token = session.state(&folder.id).await.unwrap();
    let added = session.put(&folder.id, event("added", "a"), Expected::Absent).await.unwrap();
    let now = session.state(&folder.id).await.unwrap();
    let expected = Changes::Delta { state: now, changed: vec![added.meta], removed: vec![] };
    assert_eq!(store::scope::scoped(session.changes(&folder.id, &token)).await.unwrap(), expected);
    let before = requests(&backend);
    assert_eq!(store::scope::scoped(session.changes(&folder.id, &token)).await.unwrap(), expected);
    assert_eq!(requests(&backend) - before, 1, "Email/changes only");
}

/// A view served without asking that is older than the client's token (another replica
/// wrote, and handed the token out) is caught by the delta's `Email/changes`: the answer is
/// the exact delta of the account as it is, never one computed on the older view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_older_than_another_replicas_token_is_read_again_for_the_delta() {
    let cyrus = Cyrus::new();
    let credentials = cyrus.fresh_user().await;
    let backend = trusting(&cyrus.url);
    let here = backend.login(&credentials).await.unwrap();
    let folder = here.create_folder(&NewFolder::named("c", ComponentSet::EVENTS)).await.unwrap();
    let kept = here.put(&folder.id, event("kept", "k"), Expected::Absent).await.unwrap();
    let old = here.state(&folder.id).await.unwrap();
    let there = cyrus.reopened().await.login(&credentials).await.unwrap();
    let first = there.put(&folder.id, event("first", "1"), Expected::Absent).await.unwrap();
    let newer = there.state(&folder.id).await.unwrap();
    let second = there.put(&folder.id, event("second", "2"), Expected::Absent).await.unwrap();
    there.delete(&folder.id, &kept.meta.name, Expected::Anything).await.unwrap();
    let latest = there.state(&folder.id).await.unwrap();
    // `here` still serves its view from before `there` wrote (the window), yet a token of
    // `there` gets the delta up to the account as it is now.
    assert_eq!(here.state(&folder.id).await.unwrap(), old, "the view served without asking");
    let expected = Changes::Delta {
        state: latest.clone(),
        changed: vec![second.meta.clone()],
        removed: vec![kept.meta.name.clone()],
    };
    assert_eq!(store::scope::scoped(here.changes(&folder.id, &newer)).await.unwrap(), expected);
    let mut changed = vec![first.meta, second.meta];
    changed.sort_by(|a, b| a.name.cmp(&b.name));
    let expected = Changes::Delta { state: latest, changed, removed: vec![kept.meta.name] };
    assert_eq!(store::scope::scoped(here.changes(&folder.id, &old)).await.unwrap(), expected);
}
