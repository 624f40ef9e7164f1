//! A mail server restarted under a session. Its own test binary: the restart would break
//! the tests of contract.rs running beside it (cargo test runs binaries one at a time).
//! Dovecot only: it needs `halt` and `resume` on the script's command line, which
//! dovecot.py has and cyrus.py has only as functions.

#![cfg(feature = "imap-server-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

mod common;

use common::Server;
use store::testkit::ContractFixture;
use store::Backend;

/// A mail server restarted under a session (pooled connections closed by it) serves the
/// session's next request on a new connection, not a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_mail_server_is_logged_into_again() {
    let server = Server::new();
    let credentials = server.fresh_user().await;
    let session = server.backend.login(&credentials).await.unwrap();
    let folder = session.create_folder(&store::NewFolder::named("c", store::ComponentSet::EVENTS)).await.unwrap();
    server.script(&["halt", &server.dir]).await;
    server.script(&["resume", &server.dir]).await;
    // Past the time a pooled connection is reused without a NOOP first (pool.rs).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(session.folders().await.unwrap(), vec![folder]);
}
