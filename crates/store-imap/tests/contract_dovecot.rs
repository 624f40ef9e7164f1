//! The backend contract against a real Dovecot 2.3 over IMAP. Needs the server that
//! `integration-tests/dovecot/dovecot.py start DIR` runs; `make imap` does all of it.
//! `DOVECOT_IMAP_URL` chooses the transport (imap:// on loopback is plain text; the
//! `DOVECOT_IMAPS_URL` of DIR/env with `DOVECOT_CA` runs it over TLS, and
//! `DOVECOT_STARTTLS=1` over STARTTLS on the plain port).

#![cfg(feature = "dovecot-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use store::testkit::ContractFixture;
use store::{Backend, Credentials};
use store_imap::{ImapBackend, ImapOptions};

struct Dovecot {
    backend: Arc<ImapBackend>,
    dir: String,
}

static USERS: AtomicU32 = AtomicU32::new(0);

fn options() -> ImapOptions {
    let url = std::env::var("DOVECOT_IMAP_URL").expect("DOVECOT_IMAP_URL: run through `make imap`");
    let ca_file = std::env::var("DOVECOT_CA").ok().filter(|c| !c.is_empty());
    let starttls_on_loopback = std::env::var("DOVECOT_STARTTLS").is_ok_and(|v| v == "1");
    ImapOptions { url, ca_file, starttls_on_loopback, ..ImapOptions::default() }
}

impl Dovecot {
    fn new() -> Dovecot {
        let dir = std::env::var("DOVECOT_DIR").expect("DOVECOT_DIR: run through `make imap`");
        Dovecot { backend: Arc::new(ImapBackend::new(options()).unwrap()), dir }
    }
}

#[async_trait]
impl ContractFixture for Dovecot {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn reopened(&self) -> Arc<dyn Backend> {
        Arc::new(ImapBackend::new(options()).unwrap())
    }

    async fn fresh_user(&self) -> Credentials {
        let name = format!("d{}x{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
        let password = format!("{name}-secret");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration-tests/dovecot/dovecot.py");
        let status = tokio::process::Command::new("python3")
            .arg(script)
            .args(["user", &self.dir, &name, &password])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "creating Dovecot user {name}");
        Credentials { username: name, password }
    }
}

store::contract_tests!(Dovecot::new());
