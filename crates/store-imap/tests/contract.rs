//! The backend contract against a real IMAP server, started by the project's scripts:
//! `IMAP_TEST_SERVER=dovecot` (the default) with `integration-tests/dovecot/dovecot.py start
//! DIR`'s DIR/env loaded, or `IMAP_TEST_SERVER=cyrus` with `integration-tests/cyrus/cyrus.py
//! start DIR`'s. `make imap` runs it on Dovecot over each transport: `DOVECOT_IMAP_URL` on
//! loopback is plain text, `DOVECOT_IMAPS_URL` with `DOVECOT_CA` is IMAPS, and
//! `DOVECOT_STARTTLS=1` is STARTTLS on the plain port.

#![cfg(feature = "imap-server-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

mod common;

use common::{options, Server};
use store::testkit::ContractFixture;
use store::{Backend, Credentials};
use tokio::io::AsyncBufReadExt;

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

/// Another mail client (webmail, Thunderbird's mail side) speaking plain IMAP to the same
/// account: just enough of it to append and expunge a message. Plain text on loopback only.
struct OtherClient {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: tokio::net::tcp::OwnedWriteHalf,
    tag: u32,
}

impl OtherClient {
    async fn login(credentials: &Credentials) -> Option<OtherClient> {
        let url = options().url;
        let authority = url.strip_prefix("imap://")?.trim_end_matches('/').to_owned();
        if std::env::var("DOVECOT_STARTTLS").is_ok_and(|v| v == "1") {
            return None;
        }
        let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
        let (read, write) = stream.into_split();
        let mut client = OtherClient { lines: tokio::io::BufReader::new(read).lines(), write, tag: 0 };
        client.lines.next_line().await.unwrap();
        client.run(&format!("LOGIN {} {}", credentials.username, credentials.password), None).await;
        Some(client)
    }

    /// Sends a command (with one literal, LITERAL+) and returns the tagged line.
    async fn run(&mut self, command: &str, literal: Option<&[u8]>) -> String {
        use tokio::io::AsyncWriteExt;
        self.tag += 1;
        let tag = format!("o{}", self.tag);
        let mut bytes = format!("{tag} {command}").into_bytes();
        if let Some(literal) = literal {
            bytes.extend_from_slice(format!(" {{{}+}}\r\n", literal.len()).as_bytes());
            bytes.extend_from_slice(literal);
        }
        bytes.extend_from_slice(b"\r\n");
        self.write.write_all(&bytes).await.unwrap();
        loop {
            let line = self.lines.next_line().await.unwrap().expect("the server hung up");
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
                return line;
            }
        }
    }
}

/// A change made by another mail client shows up at the next sync: an invitation appended
/// by a mail client (multipart, the calendar as its second part) is a new member named after
/// its UID, read as its calendar part; its expunge is a removed member (404 from then on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_other_mail_clients_are_members_and_their_expunge_a_removal() {
    let server = Server::new();
    let credentials = server.fresh_user().await;
    let session = server.backend.login(&credentials).await.unwrap();
    let folder = session.create_folder(&store::NewFolder::named("c", store::ComponentSet::ALL)).await.unwrap();
    let since = session.state(&folder.id).await.unwrap();
    let Some(mut other) = OtherClient::login(&credentials).await else {
        eprintln!("skipped: the other client speaks plain IMAP only");
        return;
    };
    let calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:from-mail\r\n\
                    DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let message = format!(
        "From: organizer@example.org\r\nSubject: Invitation\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         You are invited.\r\n--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n{calendar}--b--\r\n"
    );
    let appended = other.run("APPEND \"Calendars/c\" ()", Some(message.as_bytes())).await;
    // `oN OK [APPENDUID <uidvalidity> <uid>] ...`
    let uid: u32 = appended.split_whitespace().nth(4).unwrap().trim_end_matches(']').parse().unwrap();
    let name = store::ItemName::new(format!("imap-{uid}.ics"));
    let store::Changes::Delta { state, changed, removed } = session.changes(&folder.id, &since).await.unwrap() else {
        panic!("resync from a state the folder had");
    };
    assert_eq!((changed.iter().map(|m| m.name.clone()).collect::<Vec<_>>(), removed), (vec![name.clone()], vec![]));
    // RFC 2046 §5.1.1: the line end before a boundary belongs to the boundary.
    let part = calendar.strip_suffix("\r\n").unwrap();
    assert_eq!(changed[0].size, part.len() as u64);
    let got = session.get(&folder.id, std::slice::from_ref(&name)).await.unwrap();
    assert_eq!(got[0].body.as_ref(), part.as_bytes());
    other.run("SELECT \"Calendars/c\"", None).await;
    other.run(&format!("UID STORE {uid} +FLAGS (\\Deleted)"), None).await;
    other.run(&format!("UID EXPUNGE {uid}"), None).await;
    match session.changes(&folder.id, &state).await.unwrap() {
        store::Changes::Delta { changed, removed, .. } => assert_eq!((changed, removed), (vec![], vec![name.clone()])),
        store::Changes::Resync => panic!("resync from a state the folder had"),
    }
    assert!(session.get(&folder.id, &[name]).await.unwrap().is_empty());
}
