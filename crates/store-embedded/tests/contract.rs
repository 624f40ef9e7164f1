//! The backend contract (`store::testkit`) against the embedded store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use store::testkit::ContractFixture;
use store::{Backend, Credentials};
use store_embedded::EmbeddedBackend;

struct Embedded {
    backend: EmbeddedBackend,
    users: AtomicUsize,
    dir: tempfile::TempDir,
}

impl Embedded {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = EmbeddedBackend::open(dir.path()).await.unwrap();
        Embedded { backend, users: AtomicUsize::new(0), dir }
    }
}

#[async_trait]
impl ContractFixture for Embedded {
    fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(self.backend.clone())
    }

    async fn reopened(&self) -> Arc<dyn Backend> {
        Arc::new(EmbeddedBackend::open(self.dir.path()).await.unwrap())
    }

    async fn fresh_user(&self) -> Credentials {
        let n = self.users.fetch_add(1, Ordering::SeqCst);
        let credentials = Credentials { username: format!("user{n}"), password: format!("password {n}") };
        self.backend.add_user(&credentials.username, &credentials.password, None, None).await.unwrap();
        credentials
    }
}

store::contract_tests!(Embedded::new().await);
