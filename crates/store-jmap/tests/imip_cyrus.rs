//! iMIP through the user's mail account on a real Cyrus: mail delivered into the INBOX the
//! way an MTA does (LMTP) shows up in `incoming_itip` until taken; `submit` reaches the SMTP
//! relay Cyrus is configured with (`cyrus.py start DIR --smtp PORT`), here a sink in this test.

#![cfg(feature = "cyrus-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use store::{Backend, ComponentSet, Credentials, NewFolder, OutgoingMail, Session, StoreError};
use store_jmap::{JmapBackend, JmapOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

static USERS: AtomicU32 = AtomicU32::new(0);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: start Cyrus with integration-tests/cyrus/cyrus.py"))
}

fn cyrus_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration-tests/cyrus/cyrus.py")
}

async fn fresh_session() -> Arc<dyn Session> {
    fresh_user().await.1
}

/// HTTP requests the backend sent to the mail server so far.
fn requests(backend: &JmapBackend) -> u64 {
    backend.metrics().iter().find(|m| m.name == "jmap_requests_total").map(|m| m.value).unwrap()
}

async fn fresh_user() -> (JmapBackend, Arc<dyn Session>) {
    let name = format!("i{}x{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
    let password = format!("{name}-secret");
    let status = tokio::process::Command::new("python3")
        .arg(cyrus_py())
        .args(["user", &env("CYRUS_DIR"), &name, &password])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "creating Cyrus user {name}");
    let backend = JmapBackend::new(JmapOptions { url: env("CYRUS_JMAP_URL"), ..JmapOptions::default() }).unwrap();
    let session = backend.login(&Credentials { username: name, password }).await.unwrap();
    (backend, session)
}

/// Delivers `message` into `user`'s INBOX over Cyrus's LMTP, as an MTA would.
async fn deliver(user: &str, message: &str) {
    let mut child = tokio::process::Command::new("python3")
        .arg(cyrus_py())
        .args(["deliver", &env("CYRUS_DIR"), user])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message.replace('\n', "\r\n").as_bytes()).await.unwrap();
    assert!(child.wait().await.unwrap().success(), "LMTP delivery to {user}");
}

const REQUEST: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n\
UID:meeting-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nSUMMARY:Plän\r\n\
ORGANIZER:mailto:org@example.org\r\nATTENDEE:mailto:someone@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// An RFC 6047 message as Thunderbird and Outlook send them: text and calendar as
/// alternatives, the calendar base64-encoded.
fn invitation(id: &str, method: &str, calendar: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(calendar);
    format!(
        "From: Organizer <Org@Example.org>\nTo: someone@example.org\nSubject: Invitation {id}\n\
         Message-ID: <{id}@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\n\nYou are invited.\n\
         --b\nContent-Type: text/calendar; charset=utf-8;\n method={method}\nContent-Transfer-Encoding: base64\n\n\
         {encoded}\n--b--\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_in_the_inbox_is_incoming_until_taken() {
    let (backend, session) = fresh_user().await;
    let user = session.principal().user.clone();
    assert_eq!(session.incoming_itip(10).await.unwrap(), vec![]);
    deliver(&user, "From: friend@example.org\nSubject: lunch?\nMessage-ID: <plain@example.org>\n\nNo calendar here.\n")
        .await;
    // A calendar file without METHOD is no scheduling message (RFC 6047 §2.4).
    deliver(
        &user,
        "From: friend@example.org\nSubject: file\nMessage-ID: <file@example.org>\nMIME-Version: 1.0\n\
         Content-Type: text/calendar; charset=utf-8\n\nBEGIN:VCALENDAR\nEND:VCALENDAR\n",
    )
    .await;
    deliver(&user, &invitation("first", "REQUEST", REQUEST)).await;
    let incoming = session.incoming_itip(10).await.unwrap();
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    assert_eq!(incoming[0].from.as_deref(), Some("org@example.org"));
    assert_eq!(incoming[0].calendar, Bytes::from(REQUEST), "the decoded text/calendar part");
    // Asked again before taking: the same message again, for one request (the INBOX query:
    // what each message is, and the calendar, are known by now).
    let before = requests(&backend);
    assert_eq!(session.incoming_itip(10).await.unwrap(), incoming);
    assert_eq!(requests(&backend) - before, 1);
    session.take_itip(&incoming[0].id).await.unwrap();
    assert_eq!(session.incoming_itip(10).await.unwrap(), vec![]);
    // Taking is idempotent, and what was taken stays taken for a new session too.
    session.take_itip(&incoming[0].id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_come_oldest_first_within_the_limit() {
    let session = fresh_session().await;
    let user = session.principal().user.clone();
    deliver(&user, &invitation("one", "REQUEST", REQUEST)).await;
    // receivedAt has whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cancel = REQUEST.replace("METHOD:REQUEST", "METHOD:CANCEL");
    deliver(&user, &invitation("two", "CANCEL", &cancel)).await;
    let first = session.incoming_itip(1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].calendar, Bytes::from(REQUEST));
    let both = session.incoming_itip(5).await.unwrap();
    assert_eq!(
        both.iter().map(|m| m.calendar.clone()).collect::<Vec<_>>(),
        [Bytes::from(REQUEST), Bytes::from(cancel)]
    );
    session.take_itip(&first[0].id).await.unwrap();
    let rest = session.incoming_itip(5).await.unwrap();
    assert_eq!(rest, both[1..]);
    let unknown = session.take_itip("Mno-such-message").await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

/// What the sink received in one SMTP transaction.
#[derive(Clone, Debug, Default)]
struct Received {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

/// A minimal SMTP server (RFC 5321) on 127.0.0.1:`port` that keeps each transaction and
/// refuses recipients whose address starts with `refused`.
async fn smtp_sink(port: u16) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                let mut current = Received::default();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let command = line.trim_end().to_owned();
                    line.clear();
                    let upper = command.to_ascii_uppercase();
                    let address =
                        || command.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(a, _)| a.to_owned());
                    let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        current = Received { from: address().unwrap_or_default(), ..Received::default() };
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        let to = address().unwrap_or_default();
                        if to.starts_with("refused") {
                            b"550 5.1.1 no such user\r\n"
                        } else {
                            current.to.push(to);
                            b"250 ok\r\n"
                        }
                    } else if upper == "DATA" {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = Vec::new();
                        loop {
                            let mut raw = Vec::new();
                            if lines.read_until(b'\n', &mut raw).await.unwrap_or(0) == 0 || raw == b".\r\n" {
                                break;
                            }
                            // RFC 5321 §4.5.2 transparency.
                            data.extend_from_slice(raw.strip_prefix(b".").unwrap_or(&raw));
                        }
                        current.data = data;
                        kept.lock().unwrap().push(std::mem::take(&mut current));
                        b"250 kept\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (task, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_hands_the_message_to_the_relay_with_the_given_envelope() {
    let Ok(port) = std::env::var("CYRUS_SMTP_PORT") else {
        eprintln!("skipped: this Cyrus has no SMTP relay configured (start it with cyrus.py start DIR --smtp 0)");
        return;
    };
    let port: u16 = port.parse().unwrap();
    let session = fresh_session().await;
    // The gateway provisions a calendar at first login; its parent mailbox holds the draft
    // when the account has no Drafts mailbox (the test users have only an INBOX).
    session.create_folder(&NewFolder::named("calendar", ComponentSet::EVENTS)).await.unwrap();
    let from = session.principal().email.clone().unwrap();
    let message = format!(
        "From: <{from}>\r\nTo: <a@example.org>, <b@example.net>\r\nSubject: Invitation\r\n\
         Message-ID: <submit-{}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n{REQUEST}.leading dot\r\n",
        session.principal().user
    );
    let mail = OutgoingMail {
        from: from.clone(),
        recipients: vec!["a@example.org".into(), "b@example.net".into()],
        message: Bytes::from(message.clone()),
    };
    if let Ok(spool) = std::env::var("MAIL_SPOOL") {
        return through_the_test_mta(&session, &mail, std::path::Path::new(&spool)).await;
    }
    // No relay listening: a passing outage, not a refusal of this message.
    let down = session.submit(&mail).await;
    assert!(matches!(down, Err(StoreError::Unavailable { .. })), "{down:?}");

    let (sink, received) = smtp_sink(port).await;
    let sent = session.submit(&mail).await;
    let refused =
        session.submit(&OutgoingMail { recipients: vec!["refused@example.org".into()], ..mail.clone() }).await;
    sink.abort();
    assert!(sent.unwrap(), "JMAP submission sends");
    assert!(matches!(refused, Err(StoreError::Rejected(_))), "{refused:?}");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].from, from);
    assert_eq!(received[0].to, ["a@example.org", "b@example.net"]);
    assert_eq!(String::from_utf8_lossy(&received[0].data), message, "the bytes unchanged");
}

/// With the test MTA in front of Cyrus (`cyrus.py start DIR --smtp 0 --relay PYTHON`, as
/// `make jmap` runs it): the message reaches it with the envelope given and its bytes
/// unchanged. (The outage and refusal cases need the relay under the test's control, above.)
async fn through_the_test_mta(session: &Arc<dyn Session>, mail: &OutgoingMail, spool: &std::path::Path) {
    let count = |spool: &std::path::Path| std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0);
    let before: std::collections::HashSet<_> =
        std::fs::read_dir(spool).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(session.submit(mail).await.unwrap(), "JMAP submission sends");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let new: Vec<_> = std::fs::read_dir(spool)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !before.contains(p) && p.extension().is_some_and(|x| x == "json"))
            .collect();
        for meta in &new {
            let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
            if envelope["from"] == mail.from.as_str() && envelope["to"] == serde_json::json!(mail.recipients) {
                let data = std::fs::read(meta.with_extension("eml")).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&data),
                    String::from_utf8_lossy(&mail.message),
                    "the bytes unchanged"
                );
                return;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the relay got nothing new ({} files)", count(spool));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
