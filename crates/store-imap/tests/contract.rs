//! The backend contract against a real IMAP server, started by the project's scripts:
//! `IMAP_TEST_SERVER=dovecot` (the default) with `integration-tests/dovecot/dovecot.py start
//! DIR`'s DIR/env loaded, or `IMAP_TEST_SERVER=cyrus` with `integration-tests/cyrus/cyrus.py
//! start DIR`'s. `make imap` runs it on Dovecot over each transport: `DOVECOT_IMAP_URL` on
//! loopback is plain text, `DOVECOT_IMAPS_URL` with `DOVECOT_CA` is IMAPS, and
//! `DOVECOT_STARTTLS=1` is STARTTLS on the plain port.

#![cfg(feature = "imap-server-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use store::testkit::ContractFixture;
use store::{Backend, Credentials};
use store_imap::{ImapBackend, ImapOptions};

/// The server under test: where it is, and the script that adds its users.
struct Server {
    backend: Arc<ImapBackend>,
    script: &'static str,
    dir: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make imap` (see the file's docs)"))
}

fn cyrus() -> bool {
    std::env::var("IMAP_TEST_SERVER").is_ok_and(|s| s == "cyrus")
}

fn options() -> ImapOptions {
    if cyrus() {
        return ImapOptions { url: format!("imap://127.0.0.1:{}", env("CYRUS_IMAP_PORT")), ..ImapOptions::default() };
    }
    let ca_file = std::env::var("DOVECOT_CA").ok().filter(|c| !c.is_empty());
    let starttls_on_loopback = std::env::var("DOVECOT_STARTTLS").is_ok_and(|v| v == "1");
    ImapOptions { url: env("DOVECOT_IMAP_URL"), ca_file, starttls_on_loopback, ..ImapOptions::default() }
}

impl Server {
    fn new() -> Server {
        let (script, dir) = if cyrus() {
            ("integration-tests/cyrus/cyrus.py", env("CYRUS_DIR"))
        } else {
            ("integration-tests/dovecot/dovecot.py", env("DOVECOT_DIR"))
        };
        Server { backend: Arc::new(ImapBackend::new(options()).unwrap()), script, dir }
    }
}

#[async_trait]
impl ContractFixture for Server {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn reopened(&self) -> Arc<dyn Backend> {
        Arc::new(ImapBackend::new(options()).unwrap())
    }

    async fn fresh_user(&self) -> Credentials {
        let name = format!("i{}x{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
        let password = format!("{name}-secret");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(self.script);
        let status = tokio::process::Command::new("python3")
            .arg(script)
            .args(["user", &self.dir, &name, &password])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "creating user {name}");
        Credentials { username: name, password }
    }
}

store::contract_tests!(Server::new());

/// The iOS/macOS poll of the calendar home (a Depth:1 PROPFIND) when nothing changed: one
/// IMAP command (LIST with RETURN (STATUS ...), RFC 5819), however many calendars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_poll_of_the_folders_is_one_command() {
    let server = Server::new();
    let credentials = server.fresh_user().await;
    let session = server.backend.login(&credentials).await.unwrap();
    for name in ["a", "b", "c"] {
        let folder = session.create_folder(&store::NewFolder::named(name, store::ComponentSet::EVENTS)).await.unwrap();
        let event = store::testkit::cases::event(&format!("{name}-1"), "x");
        session.put(&folder.id, event, store::Expected::Absent).await.unwrap();
    }
    let cold = session.folders().await.unwrap();
    let before = server.backend.commands();
    let warm = session.folders().await.unwrap();
    assert_eq!(warm, cold);
    assert_eq!(server.backend.commands() - before, 1);
}
