//! Every embedded user has a mail address for RFC 6638 `calendar-user-address-set`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use store::{Backend, Credentials};
use store_embedded::EmbeddedBackend;

fn login(name: &str) -> Credentials {
    Credentials { username: name.into(), password: "secret".into() }
}

#[tokio::test]
async fn stored_address_wins_over_the_mail_domain() {
    let backend = EmbeddedBackend::temporary().await.unwrap().with_mail_domain("mail.example");
    backend.add_user("bob", "secret", None, Some("robert@corp.example")).await.unwrap();
    let session = backend.login(&login("bob")).await.unwrap();
    assert_eq!(session.principal().email.as_deref(), Some("robert@corp.example"));
}

#[tokio::test]
async fn user_without_address_is_name_at_the_mail_domain() {
    let backend = EmbeddedBackend::temporary().await.unwrap().with_mail_domain("mail.example");
    backend.add_user("carol", "secret", None, None).await.unwrap();
    let session = backend.login(&login("carol")).await.unwrap();
    assert_eq!(session.principal().email.as_deref(), Some("carol@mail.example"));
}

#[tokio::test]
async fn user_named_by_an_address_keeps_it() {
    let backend = EmbeddedBackend::temporary().await.unwrap().with_mail_domain("mail.example");
    backend.add_user("dan@other.example", "secret", None, None).await.unwrap();
    let session = backend.login(&login("dan@other.example")).await.unwrap();
    assert_eq!(session.principal().email.as_deref(), Some("dan@other.example"));
}

#[tokio::test]
async fn without_a_configured_domain_the_address_is_still_valid() {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("erin", "secret", None, None).await.unwrap();
    let session = backend.login(&login("erin")).await.unwrap();
    assert_eq!(session.principal().email.as_deref(), Some("erin@localhost"));
}
