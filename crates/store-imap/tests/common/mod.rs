//! The server under test, shared by the test files that need a real IMAP server (see
//! contract.rs for how they are run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use store::testkit::ContractFixture;
use store::{Backend, Credentials};
use store_imap::{ImapBackend, ImapOptions};

/// The server under test: where it is, and the script that adds its users.
pub struct Server {
    pub backend: Arc<ImapBackend>,
    script: &'static str,
    pub dir: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make imap` (see the file's docs)"))
}

fn cyrus() -> bool {
    std::env::var("IMAP_TEST_SERVER").is_ok_and(|s| s == "cyrus")
}

pub fn options() -> ImapOptions {
    if cyrus() {
        return ImapOptions { url: format!("imap://127.0.0.1:{}", env("CYRUS_IMAP_PORT")), ..ImapOptions::default() };
    }
    let ca_file = std::env::var("DOVECOT_CA").ok().filter(|c| !c.is_empty());
    let starttls_on_loopback = std::env::var("DOVECOT_STARTTLS").is_ok_and(|v| v == "1");
    ImapOptions { url: env("DOVECOT_IMAP_URL"), ca_file, starttls_on_loopback, ..ImapOptions::default() }
}

impl Server {
    pub fn new() -> Server {
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
        self.script(&["user", &self.dir, &name, &password]).await;
        Credentials { username: name, password }
    }
}

impl Server {
    /// Runs the server's script with `args`.
    pub async fn script(&self, args: &[&str]) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(self.script);
        let status = tokio::process::Command::new("python3").arg(script).args(args).status().await.unwrap();
        assert!(status.success(), "{} {args:?}", self.script);
    }
}
