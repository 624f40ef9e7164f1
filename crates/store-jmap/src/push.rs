//! JMAP push (RFC 8620 §7.3): one EventSource stream per active account tells the backend that
//! the account changed, so an account view needs no state request while nothing did.
//!
//! # What a stream guarantees
//!
//! A stream is opened with the user's own credentials when the account is first used (a
//! delegated view of the service account gets none) and asks for `Mailbox` and `Email` only.
//! It counts as alive from the first event it delivers (a `ping` or a `state`): the server
//! then watches the account since before that event, so every change after it is announced.
//! Before an account view reads the mail server's states it takes a [`Mark`] of its stream
//! (connection and number of events so far); the view may later be served without asking as
//! long as the same connection is alive and every state announced after the mark for either
//! type equals the view's (the announcement of a change already in the view, such as the
//! gateway's own write, which also dropped the view at once). Anything else (another state,
//! a lost, reconnecting or not yet confirmed stream, a missed ping) means validation per
//! request, as without push.
//!
//! A change made in the mail store is therefore seen after the server announces it: at once
//! on a server that pushes as it commits, within its polling interval on Cyrus
//! (`jmap_pushpoll`, 60 s by default: operators set 1 s, docs/operations.md). A stream that
//! dies silently (a half-open connection) is noticed after two ping intervals at most.
//!
//! # Bounds
//!
//! Cyrus runs one httpd process per connection, so streams are capped in number
//! (`JmapOptions::max_push_streams`; accounts beyond it are validated per request), never
//! share a connection with anything (one HTTP/1.1 connection each, as connections must
//! never carry two users' requests, see `client.rs`), and close once no client request used
//! the account for `JmapOptions::push_idle`. A server whose event source answers anything
//! but an event stream (Debian's Cyrus 3.6, built without Wslay, answers 204: its push
//! polling is only set up with WebSocket support) is not asked again for ten minutes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use reqwest::{header, StatusCode, Url};

use crate::client::Account;
use crate::event_source::{self, EventStream};
use crate::JmapOptions;

/// The types whose states an account view holds (`snapshot.rs`).
const TYPES: [&str; 2] = ["Mailbox", "Email"];

/// The ping interval asked for: a stream is confirmed by its first ping at the latest, and one
/// that stays silent for two intervals (plus `PING_GRACE`) is dead.
const PING: Duration = Duration::from_secs(5);
const PING_GRACE: Duration = Duration::from_secs(2);

/// How long a server that offered no event stream is left alone.
const UNSUPPORTED_RETRY: Duration = Duration::from_secs(600);

/// Pauses between reconnections of a stream that failed, doubling up to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Largest event read; a StateChange of one account is a few hundred bytes.
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Connections confirmed in this process, so that marks of two connections never compare equal.
static EPOCHS: AtomicU64 = AtomicU64::new(0);

/// What an account view remembers of its stream when it reads the server's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    epoch: u64,
    seq: u64,
}

/// The push streams of one backend.
pub(crate) struct Push {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    max_streams: usize,
    idle: Duration,
    connect_timeout: Duration,
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    unsupported_until: Mutex<Option<Instant>>,
    /// Connections confirmed by a first event.
    connections: AtomicU64,
    /// StateChange events received.
    events: AtomicU64,
}

/// One account's stream, shared by its task and the account views.
pub(crate) struct Stream {
    status: Mutex<Status>,
    last_used: Mutex<Instant>,
}

#[derive(Default)]
struct Status {
    alive: bool,
    epoch: u64,
    /// Events of this connection so far.
    seq: u64,
    /// Per type: the last state announced and the event that announced it.
    announced: HashMap<&'static str, (String, u64)>,
}

impl Stream {
    fn new() -> Stream {
        Stream { status: Mutex::new(Status::default()), last_used: Mutex::new(Instant::now()) }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        // A poisoned lock only means a panic elsewhere while holding it; the data stays usable.
        self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed()
    }

    /// The mark to keep with states read from now on; `None` unless the stream is alive.
    pub fn mark(&self) -> Option<Mark> {
        let status = self.status();
        status.alive.then_some(Mark { epoch: status.epoch, seq: status.seq })
    }

    /// Whether a view read after `mark` with these states is still the account as it is.
    pub fn unchanged_since(&self, mark: Mark, mailbox_state: &str, email_state: &str) -> bool {
        let status = self.status();
        status.alive
            && status.epoch == mark.epoch
            && TYPES.iter().zip([mailbox_state, email_state]).all(|(kind, current)| {
                status.announced.get(kind).is_none_or(|(state, seq)| *seq <= mark.seq || state == current)
            })
    }

    /// The first event of a connection makes it alive, under a new epoch.
    fn confirm(&self) -> bool {
        let mut status = self.status();
        if status.alive {
            return false;
        }
        *status = Status { alive: true, epoch: EPOCHS.fetch_add(1, Ordering::Relaxed) + 1, ..Status::default() };
        true
    }

    fn announce(&self, states: HashMap<String, String>) {
        let mut status = self.status();
        status.seq += 1;
        let seq = status.seq;
        for kind in TYPES {
            if let Some(state) = states.get(kind) {
                status.announced.insert(kind, (state.clone(), seq));
            }
        }
    }

    fn lost(&self) {
        self.status().alive = false;
    }
}

/// Why a connection ended.
enum Ended {
    /// No event stream offered here: leave the server alone for a while.
    Unsupported,
    /// Credentials refused (a changed password): a later request opens a new stream.
    Refused,
    /// No client request used the account for the idle time.
    Idle,
    /// Transport error, server closed, missed ping, garbage: reconnect after a pause.
    Lost { retry: Option<Duration> },
}

impl Push {
    pub fn new(options: &JmapOptions) -> Push {
        Push {
            inner: Arc::new(Inner {
                enabled: options.push && options.max_push_streams > 0,
                max_streams: options.max_push_streams,
                idle: options.push_idle,
                connect_timeout: options.connect_timeout,
                streams: Mutex::new(HashMap::new()),
                unsupported_until: Mutex::new(None),
                connections: AtomicU64::new(0),
                events: AtomicU64::new(0),
            }),
        }
    }

    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    pub fn events(&self) -> u64 {
        self.inner.events.load(Ordering::Relaxed)
    }

    /// The account's stream, opened now if there is none and room for one; `None` when the
    /// account is validated per request (push off, a delegated view, no event source, at the
    /// cap, or a server that offered none lately).
    pub fn stream(&self, account: &Account) -> Option<Arc<Stream>> {
        let inner = &self.inner;
        if !inner.enabled || account.username != account.owner {
            return None;
        }
        let mut streams = inner.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stream) = streams.get(&account.account_id) {
            stream.touch();
            return Some(stream.clone());
        }
        let unsupported = inner.unsupported_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if unsupported.is_some_and(|until| Instant::now() < until) || streams.len() >= inner.max_streams {
            return None;
        }
        drop(unsupported);
        let url = account.event_source_url(&TYPES.join(","), PING.as_secs())?;
        let stream = Arc::new(Stream::new());
        streams.insert(account.account_id.clone(), stream.clone());
        let task = Task { inner: Arc::downgrade(inner), stream: stream.clone(), account: account.clone(), url };
        tokio::spawn(task.run());
        Some(stream)
    }
}

impl Inner {
    fn forget(&self, account_id: &str, stream: &Arc<Stream>) {
        let mut streams = self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if streams.get(account_id).is_some_and(|s| Arc::ptr_eq(s, stream)) {
            streams.remove(account_id);
        }
    }
}

struct Task {
    inner: Weak<Inner>,
    stream: Arc<Stream>,
    account: Account,
    url: Url,
}

impl Task {
    async fn run(self) {
        let mut pause = RECONNECT_FIRST;
        loop {
            let Some(inner) = self.inner.upgrade() else { return };
            let ended = if self.stream.idle_for() >= inner.idle {
                Ended::Idle
            } else {
                let (idle, connect_timeout) = (inner.idle, inner.connect_timeout);
                drop(inner);
                self.connect_and_read(idle, connect_timeout).await
            };
            self.stream.lost();
            let Some(inner) = self.inner.upgrade() else { return };
            match ended {
                Ended::Lost { retry } => {
                    drop(inner);
                    tokio::time::sleep(retry.unwrap_or(pause).clamp(RECONNECT_FIRST, RECONNECT_MAX)).await;
                    pause = (pause * 2).min(RECONNECT_MAX);
                }
                Ended::Unsupported => {
                    *inner.unsupported_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(Instant::now() + UNSUPPORTED_RETRY);
                    inner.forget(&self.account.account_id, &self.stream);
                    return;
                }
                Ended::Refused | Ended::Idle => {
                    inner.forget(&self.account.account_id, &self.stream);
                    return;
                }
            }
        }
    }

    async fn connect_and_read(&self, idle: Duration, connect_timeout: Duration) -> Ended {
        let lost = Ended::Lost { retry: None };
        // Its own connection, without the API client's whole-request timeout.
        let Ok(http) = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .http1_only()
            .pool_max_idle_per_host(0)
            .user_agent(concat!("caldav-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
        else {
            return lost;
        };
        let request = http
            .get(self.url.clone())
            .header(header::AUTHORIZATION, &self.account.authorization)
            .header(header::ACCEPT, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .send();
        let mut response = match tokio::time::timeout(connect_timeout + PING, request).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) | Err(_) => return lost,
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Ended::Refused,
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => return lost,
            _ => return Ended::Unsupported,
        }
        let event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
        if !event_stream {
            return Ended::Unsupported;
        }
        let mut events = EventStream::new(MAX_EVENT_BYTES);
        let mut interval = PING;
        let mut retry = None;
        loop {
            let chunk = match tokio::time::timeout(interval * 2 + PING_GRACE, response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                // Closed, failed, or a missed ping.
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Ended::Lost { retry },
            };
            let Ok(received) = events.feed(&chunk) else { return Ended::Lost { retry } };
            for event in received {
                if let Some(millis) = event.retry {
                    retry = Some(Duration::from_millis(millis));
                }
                match event.kind.as_str() {
                    "state" => {
                        let Some(states) = event_source::state_change(&event.data, &self.account.account_id) else {
                            return Ended::Lost { retry };
                        };
                        self.confirm();
                        self.stream.announce(states);
                        if let Some(inner) = self.inner.upgrade() {
                            inner.events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    "ping" => {
                        if let Some(seconds) = event_source::ping_interval(&event.data) {
                            // The server may ping less often than asked (RFC 8620 §7.3).
                            interval = Duration::from_secs(seconds.clamp(1, 3600)).max(PING);
                        }
                        self.confirm();
                    }
                    _ => {}
                }
            }
            if self.stream.idle_for() >= idle {
                return Ended::Idle;
            }
        }
    }

    fn confirm(&self) {
        if self.stream.confirm() {
            if let Some(inner) = self.inner.upgrade() {
                inner.connections.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    /// An event source on 127.0.0.1: each connection is answered `head`, then whatever the test
    /// sends down the channel; dropping the sender closes the connection.
    async fn event_source(head: &'static str) -> (String, mpsc::UnboundedSender<mpsc::UnboundedReceiver<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (connections, mut next) = mpsc::unbounded_channel::<mpsc::UnboundedReceiver<String>>();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(head.as_bytes()).await;
                let Some(mut events) = next.recv().await else { return };
                while let Some(event) = events.recv().await {
                    if socket.write_all(event.as_bytes()).await.is_err() {
                        break;
                    }
                }
                let _ = socket.shutdown().await;
            }
        });
        (url, connections)
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not within 5 s: {what}");
    }

    fn push(max_push_streams: usize) -> Push {
        Push::new(&JmapOptions { max_push_streams, ..JmapOptions::default() })
    }

    const TEMPLATE: &str = "/es/?types={types}&closeafter={closeafter}&ping={ping}";

    #[tokio::test]
    async fn a_stream_is_alive_from_its_first_event_until_its_connection_ends() {
        let (url, connections) = event_source("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n").await;
        let (events, stream_events) = mpsc::unbounded_channel();
        connections.send(stream_events).unwrap();
        let push = push(1);
        let stream = push.stream(&Account::on_test_server(&url, "bob", Some(TEMPLATE))).unwrap();
        assert_eq!(stream.mark(), None, "not confirmed before an event");
        events.send(": hello\n\nevent: ping\ndata: {\"interval\":5}\n\n".into()).unwrap();
        until("confirmed", || stream.mark().is_some()).await;
        assert_eq!(push.connections(), 1);
        let mark = stream.mark().unwrap();
        let change = "event: state\ndata: {\"@type\":\"StateChange\",\"changed\":{\"bob\":{\"Email\":\"e2\"}}}\n\n";
        events.send(change.into()).unwrap();
        until("announced", || !stream.unchanged_since(mark, "m1", "e1")).await;
        assert!(stream.unchanged_since(mark, "m1", "e2"));
        assert!(push.stream(&Account::on_test_server(&url, "alice", Some(TEMPLATE))).is_none(), "over the cap");
        drop(events);
        until("lost with its connection", || stream.mark().is_none()).await;
    }

    #[tokio::test]
    async fn a_server_answering_no_event_stream_is_left_alone() {
        let (url, _connections) = event_source("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").await;
        let push = push(10);
        let account = Account::on_test_server(&url, "bob", Some(TEMPLATE));
        let first = push.stream(&account).unwrap();
        until("forgotten", || push.inner.streams.lock().unwrap().is_empty()).await;
        assert_eq!(first.mark(), None);
        assert!(push.stream(&account).is_none(), "not asked again for a while");
        assert!(push.stream(&Account::on_test_server(&url, "alice", None)).is_none());
    }

    #[test]
    fn no_stream_without_an_event_source_or_with_push_off() {
        let account = Account::on_test_server("http://127.0.0.1:9/", "bob", None);
        assert!(push(10).stream(&account).is_none());
        let with_source = Account::on_test_server("http://127.0.0.1:9/", "bob", Some(TEMPLATE));
        assert!(push(0).stream(&with_source).is_none());
    }

    fn alive() -> Stream {
        let stream = Stream::new();
        assert!(stream.confirm());
        stream
    }

    fn states(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_stream_not_yet_confirmed_gives_no_mark() {
        assert_eq!(Stream::new().mark(), None);
    }

    #[test]
    fn a_view_stays_good_until_another_state_is_announced() {
        let stream = alive();
        let mark = stream.mark().unwrap();
        assert!(stream.unchanged_since(mark, "m1", "e1"));
        stream.announce(states(&[("Email", "e2")]));
        assert!(!stream.unchanged_since(mark, "m1", "e1"));
    }

    #[test]
    fn the_announcement_of_a_change_already_in_the_view_changes_nothing() {
        let stream = alive();
        let mark = stream.mark().unwrap();
        // The gateway's own write: the view was read after it, the announcement comes later.
        stream.announce(states(&[("Mailbox", "m2"), ("Email", "e2")]));
        assert!(stream.unchanged_since(mark, "m2", "e2"));
        stream.announce(states(&[("Email", "e3")]));
        assert!(!stream.unchanged_since(mark, "m2", "e2"));
    }

    #[test]
    fn announcements_before_the_mark_are_in_the_view_already() {
        let stream = alive();
        stream.announce(states(&[("Email", "e2")]));
        let mark = stream.mark().unwrap();
        assert!(stream.unchanged_since(mark, "m1", "e3"));
    }

    #[test]
    fn other_types_change_nothing() {
        let stream = alive();
        let mark = stream.mark().unwrap();
        stream.announce(states(&[("EmailSubmission", "s9")]));
        assert!(stream.unchanged_since(mark, "m1", "e1"));
    }

    #[test]
    fn a_lost_or_reconnected_stream_voids_every_mark() {
        let stream = alive();
        let mark = stream.mark().unwrap();
        stream.lost();
        assert!(!stream.unchanged_since(mark, "m1", "e1"));
        assert_eq!(stream.mark(), None);
        assert!(stream.confirm());
        assert!(!stream.unchanged_since(mark, "m1", "e1"), "a new connection may have missed changes");
        assert!(stream.unchanged_since(stream.mark().unwrap(), "m1", "e1"));
    }
}
