//! Against a scripted IMAP server on loopback: what a login answers when the mail server
//! lacks an extension, answers garbage, or does not answer at all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::time::Duration;

use store::{Backend, Credentials, StoreError};
use store_imap::{ImapBackend, ImapOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A server that greets, then answers every command line with `answer(tag, command)`
/// (`None`: says nothing), for one connection.
async fn scripted(answer: fn(&str, &str) -> Option<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        write.write_all(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").await.unwrap();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
            if let Some(reply) = answer(tag, command) {
                if write.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    port
}

fn backend(port: u16) -> ImapBackend {
    let options = ImapOptions {
        url: format!("imap://127.0.0.1:{port}"),
        command_timeout: Duration::from_millis(300),
        ..ImapOptions::default()
    };
    ImapBackend::new(options).unwrap()
}

fn alice() -> Credentials {
    Credentials { username: "alice".into(), password: "secret".into() }
}

#[tokio::test]
async fn a_server_without_qresync_is_refused_and_named() {
    let port = scripted(|tag, command| {
        command.starts_with("LOGIN").then(|| format!("{tag} OK [CAPABILITY IMAP4rev1 CONDSTORE BINARY UIDPLUS] in\r\n"))
    })
    .await;
    match backend(port).login(&alice()).await {
        Err(StoreError::Unavailable { source, .. }) => assert!(source.to_string().contains("QRESYNC"), "{source}"),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn refused_credentials_are_unauthenticated() {
    let port = scripted(|tag, _| Some(format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"))).await;
    assert!(matches!(backend(port).login(&alice()).await, Err(StoreError::Unauthenticated)));
}

#[tokio::test]
async fn garbage_is_a_bad_gateway() {
    let port = scripted(|_, _| Some("* 1 FETCH (UID \"unclosed\r\n".into())).await;
    assert!(matches!(backend(port).login(&alice()).await, Err(StoreError::BadGateway(_))));
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let port = scripted(|_, _| None).await;
    assert!(matches!(backend(port).login(&alice()).await, Err(StoreError::Timeout(_))));
}

#[tokio::test]
async fn a_server_that_is_down_is_unavailable_and_ping_says_so() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let backend = backend(port);
    assert!(matches!(backend.login(&alice()).await, Err(StoreError::Unavailable { .. })));
    assert!(matches!(backend.ping().await, Err(StoreError::Unavailable { .. })));
    let answering = scripted(|tag, _| Some(format!("{tag} OK bye\r\n"))).await;
    self::backend(answering).ping().await.unwrap();
}
