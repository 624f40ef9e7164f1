//! The embedded directory finds users by the address they are shown with, whichever rule
//! made it (stored address, name at the mail domain, name that is an address).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use store::{Backend, Credentials, StoreError};
use store_embedded::EmbeddedBackend;

async fn backend() -> EmbeddedBackend {
    let backend = EmbeddedBackend::temporary().await.unwrap().with_mail_domain("mail.example");
    backend.add_user("bob", "secret", Some("Bob"), Some("Robert@Corp.example")).await.unwrap();
    backend.add_user("carol", "secret", None, None).await.unwrap();
    backend.add_user("dan@other.example", "secret", None, None).await.unwrap();
    backend.add_user("e..f", "secret", None, None).await.unwrap();
    backend
}

async fn resolved(backend: &EmbeddedBackend, address: &str) -> Option<String> {
    let directory = backend.directory().expect("the embedded store has a directory");
    directory.resolve(address).await.unwrap().map(|p| p.user)
}

#[tokio::test]
async fn every_address_rule_is_found_again() {
    let backend = backend().await;
    assert_eq!(resolved(&backend, "robert@corp.example").await.as_deref(), Some("bob"));
    assert_eq!(resolved(&backend, "carol@MAIL.example").await.as_deref(), Some("carol"));
    assert_eq!(resolved(&backend, "DAN@other.example").await.as_deref(), Some("dan@other.example"));
    assert_eq!(resolved(&backend, "\"e..f\"@mail.example").await.as_deref(), Some("e..f"));
}

#[tokio::test]
async fn a_stored_address_replaces_the_made_up_one() {
    let backend = backend().await;
    assert_eq!(resolved(&backend, "bob@mail.example").await, None);
    assert_eq!(resolved(&backend, "carol@other.example").await, None);
    assert_eq!(resolved(&backend, "carol").await, None);
    assert_eq!(resolved(&backend, "e..f@mail.example").await, None);
}

#[tokio::test]
async fn resolve_and_login_give_the_same_principal() {
    let backend = backend().await;
    let directory = backend.directory().unwrap();
    for user in ["bob", "carol", "dan@other.example"] {
        let session = backend.login(&Credentials { username: user.into(), password: "secret".into() }).await.unwrap();
        let address = session.principal().email.clone().unwrap();
        assert_eq!(directory.resolve(&address).await.unwrap().as_ref(), Some(session.principal()));
        assert_eq!(directory.open(user).await.unwrap().principal(), session.principal());
    }
}

#[tokio::test]
async fn a_deleted_user_is_gone_from_the_directory() {
    let backend = backend().await;
    backend.delete_user("carol").await.unwrap();
    assert_eq!(resolved(&backend, "carol@mail.example").await, None);
    let opened = backend.directory().unwrap().open("carol").await;
    assert!(matches!(opened, Err(StoreError::NotFound)), "{:?}", opened.err());
}
