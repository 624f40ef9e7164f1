//! The JMAP backend: the user's calendars live in the mail server they already have.
//!
//! # Mapping (JMAP Mail, RFC 8621)
//!
//! - A calendar folder is a Mailbox below one parent mailbox (`calendar_folder`, default
//!   `Calendars`, created on first use). Nested plain WebDAV collections are nested mailboxes;
//!   the folder name is the path of mailbox names below the parent, joined by `/`.
//! - A calendar object is an Email whose single body part holds the iCalendar bytes exactly as
//!   the client PUT them: given by value in the `Email/set` create when they are UTF-8 text
//!   with CRLF line ends, else uploaded first and created from that blob (`Email/import`
//!   would refuse bare LF); see `put.rs`. Headers name it: `X-CalDAV-Resource` (the URL segment),
//!   `X-CalDAV-UID`, and `X-CalDAV-Collection` (the mailbox id: identical bytes in two
//!   calendars must still be two distinct messages, or Cyrus answers `alreadyExists`), and
//!   carry the query index, `X-CalDAV-Index` (component type and instance span), so a
//!   time-range query parses only the objects that may match.
//! - Messages put there by other mail clients show up too: the first `text/calendar` part is
//!   the object, named `<email id>.ics`.
//! - A folder's own properties (display name, colour, time zone, component set, dead
//!   properties, kind) live in one more message of the mailbox, `X-CalDAV-Folder: properties`,
//!   holding JSON; a folder without one is a calendar for every component type, named after
//!   its mailbox.
//!
//! - The RFC 6638 schedule inbox is a folder like the others whose properties say so
//!   (`schedule_inbox`); several of its messages may carry one UID.
//! - iMIP (`imip.rs`): scheduling mail goes out through JMAP submission as the user, and
//!   comes in from the INBOX, where the keyword `$caldav-imip` marks what was applied.
//!
//! - Other users (`directory.rs`, RFC 6638 delivery and free-busy): with a service account
//!   configured, the accounts its session resource lists (shared with it by IMAP ACL) are the
//!   directory, and a session of such a user is the service account's credentials with that
//!   user's account id. Without one there is no directory.
//!
//! - A calendar is read-only (`Folder::read_only`, shown in `current-user-privilege-set`)
//!   when the mailbox's `myRights` (RFC 8621 §2) lack `mayAddItems` or `mayRemoveItems`: every
//!   write adds a message and most remove one. Writes to it are refused as `Forbidden` before
//!   anything is uploaded.
//!
//! # Versions
//!
//! Messages are immutable in JMAP (only keywords and mailboxes change), so a message id names
//! fixed content: an item's ETag is the blob id of its part (`G` + SHA-1 of the bytes, known
//! as soon as the upload returns).
//!
//! A folder's state (getctag and sync token) is `{digest}-{email state}`:
//! - the digest (of the mailbox id and the ids of the messages in it) names the content, so
//!   equal states mean nothing changed in the folder, and it changes exactly when an item or
//!   the folder's properties do;
//! - the JMAP Email state is where the mail server can compute changes from (`Email/changes`,
//!   see `changes.rs`), so a token stays good across restarts and on every replica: nothing
//!   of it lives only in this process. Email states are account-wide (new mail in the INBOX
//!   moves them), so the one paired with a digest is the state at which that content was
//!   first read, remembered per folder while the content stays (`Cache::origin`): other
//!   mail does not change this folder's state. Only while the server can compute changes
//!   from it: Cyrus forgets every older Email change when any mailbox of the account is
//!   deleted, and the next read of the account then pairs the content with its own state
//!   (`snapshot.rs`), so no token is handed out dead. Another replica (or this one after a restart)
//!   may pair the same content with a later Email state; its state then differs in spelling
//!   only, a delta from the other spelling is empty at once (equal digests), and the
//!   client's spelling is adopted then, so replicas converge on the clients' ctag.
//!
//! The Email state is read before the ids (in `snapshot.rs`), so it is at or before the
//! content it is paired with: a delta from it can only see more, and the rebuilt old content
//! is checked against the token's digest before it is used (exact or `Resync`).
//!
//! # Cache
//!
//! Per account: the mailbox tree and the message ids of each calendar, tagged with the
//! account's JMAP states, validated with one request (`Mailbox/get` + `Email/get` of no ids)
//! before use; not at all while the account's push stream (`push.rs`, RFC 8620 §7.3) is alive
//! and announced no other state since the states were read, nor within `freshness` (the
//! window for servers without push, and accounts beyond the stream cap). The gateway's own
//! writes drop the account's view, so the next request reads it again whichever way it would
//! have been served; a sync token naming other content than a view served without asking
//! has the view confirmed (`changes.rs`) unless the `Email/changes` its delta needs anyway
//! reports the view's own Email state as the account's. What is known of a message id and
//! the bytes of a blob never change, so they are cached without validation; the entries
//! also name the messages a sync delta reports as removed (a destroyed message can no longer
//! be read).
//! Every cache is weighed in bytes against a budget (`blob_cache_bytes`,
//! `metadata_cache_bytes`); the per-account writer locks are bounded in number. Every read
//! from the mail server is bounded too (`max_response_bytes`, `max_blob_bytes`): a larger
//! answer is a `BadGateway`, never a process that grows without end.
//!
//! # Writes
//!
//! JMAP has no If-Match on messages. A write checks the client's precondition against a
//! snapshot of the account at state S and sends one request whose `Email/set` with
//! `ifInState: S` creates the new message, and whose second `Email/set` destroys the old one
//! only once the create succeeded (a refused create leaves the old object, see `commit.rs`):
//! of two concurrent writers exactly one succeeds, the other gets `stateMismatch`, reads the
//! account again, and then fails its precondition (or retries, bounded). The snapshot is the
//! newest known (the last write's or this request's), so a write needs no read of its own;
//! the same request tells what the account is after the write (`commit.rs`), which becomes
//! the cached snapshot.

mod cache;
mod changes;
mod client;
mod commit;
mod directory;
mod event_source;
mod folder_entries;
mod imip;
mod model;
mod push;
mod put;
mod session;
mod snapshot;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use store::{Backend, Credentials, Session, StoreError};

pub use cache::CacheStats;

/// How to reach the mail server and how long to trust what it said.
#[derive(Clone, Debug)]
pub struct JmapOptions {
    /// The session resource, e.g. `https://mail.example/.well-known/jmap`.
    pub url: String,
    /// Name of the top-level mailbox holding the calendar folders.
    pub calendar_folder: String,
    /// How long a validated account snapshot is served without asking again (at most a few
    /// seconds: a change made elsewhere shows up no later than this).
    pub freshness: Duration,
    /// Keep a push stream (RFC 8620 §7.3) per active account where the server offers one,
    /// and serve its view without asking while the stream announces no change (`push.rs`).
    pub push: bool,
    /// Most push streams open at once (Cyrus runs a process for each); accounts beyond are
    /// validated per request.
    pub max_push_streams: usize,
    /// A push stream closes when no client request used its account for this long.
    pub push_idle: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub pool_max_idle: usize,
    /// HTTP/2 to the backend (h2c by prior knowledge for `http://` URLs).
    pub http2: bool,
    /// Bytes of blob content kept in memory.
    pub blob_cache_bytes: u64,
    /// Bytes of everything else kept in memory (account snapshots, message descriptions,
    /// folders and their properties), weighed by their size: a quarter for snapshots, three
    /// eighths for message descriptions, an eighth for each calendar's items as last listed
    /// (`folder_entries.rs`), the rest for folders, folder properties and folder states.
    pub metadata_cache_bytes: u64,
    /// Largest JSON answer read from the mail server; a larger one is a 502.
    pub max_response_bytes: u64,
    /// Largest blob downloaded (a calendar object, a file, folder properties); a larger one is
    /// a 502. The gateway sets its largest request body: nothing larger was stored through it.
    pub max_blob_bytes: u64,
    /// Domain of the address of a user whose identity names none and whose login is no
    /// address (see [`store::mail_address`]).
    pub mail_domain: String,
    /// The login the mail operator shared users' mailboxes with, for scheduling between
    /// them (see `directory.rs`); `None`: no directory, colleagues are reached by mail.
    pub service: Option<ServiceAccount>,
}

/// Credentials of the gateway's service account.
#[derive(Clone)]
pub struct ServiceAccount {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

impl Default for JmapOptions {
    fn default() -> Self {
        JmapOptions {
            url: String::new(),
            calendar_folder: "Calendars".into(),
            freshness: Duration::ZERO,
            push: true,
            max_push_streams: 100,
            push_idle: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(15),
            pool_max_idle: 32,
            http2: true,
            blob_cache_bytes: 64 * 1024 * 1024,
            metadata_cache_bytes: 64 * 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            max_blob_bytes: 10 * 1024 * 1024,
            mail_domain: store::mail_address::FALLBACK_MAIL_DOMAIN.into(),
            service: None,
        }
    }
}

/// A JMAP mail server as the gateway's backend.
pub struct JmapBackend {
    shared: Arc<session::Shared>,
    directory: Option<directory::ServiceDirectory>,
}

impl JmapBackend {
    /// The user's mail address: the first identity that has one (RFC 8621 §6), else the
    /// login name when it is an address, else the login at the configured mail domain. It
    /// becomes the calendar user address. Cyrus 3.6 answers one identity whose `email` is the
    /// login when that contains `@` and `""` otherwise (imap/jmap_mail_submission.c,
    /// `jmap_identity_get`), so plain Cyrus logins take the last branch.
    ///
    /// Also the identity iMIP is submitted as: the one with that address, else the first.
    async fn mail_address(&self, account: &client::Account) -> Result<(Option<String>, Option<String>), StoreError> {
        let mut identity = None;
        if account.submission {
            let using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:submission"];
            let calls = vec![("Identity/get", serde_json::json!({"accountId": account.account_id}))];
            let r = self.shared.client.call_using(account, &using, calls).await?;
            if let Ok(args) = client::response(&r, 0, "Identity/get") {
                let identities = args.get("list").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
                let text = |i: &serde_json::Value, key: &str| {
                    i.get(key).and_then(serde_json::Value::as_str).map(str::to_owned)
                };
                identity = identities.first().and_then(|i| text(i, "id"));
                let found = identities
                    .iter()
                    .find(|i| text(i, "email").is_some_and(|e| store::mail_address::is_mail_address(&e)));
                if let Some(found) = found {
                    return Ok((text(found, "email"), text(found, "id").or(identity)));
                }
            }
        }
        Ok((store::mail_address::login_address(&account.owner, &self.shared.options.mail_domain), identity))
    }

    pub fn new(options: JmapOptions) -> Result<JmapBackend, StoreError> {
        let client = client::Client::new(&options)?;
        let cache = cache::Cache::new(&options);
        let writers = writes::writers();
        let inbox = imip::inbox_cache();
        let push = push::Push::new(&options);
        let service = options.service.clone();
        let shared = Arc::new(session::Shared { client, cache, options, writers, inbox, push });
        let directory = service.map(|service| directory::ServiceDirectory::new(shared.clone(), service));
        Ok(JmapBackend { shared, directory })
    }

    /// Hits and misses of the caches since start.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.cache.stats()
    }
}

#[async_trait]
impl Backend for JmapBackend {
    async fn login(&self, credentials: &Credentials) -> Result<Arc<dyn Session>, StoreError> {
        let account = self.shared.client.login(&credentials.username, &credentials.password).await?;
        let (email, identity) = self.mail_address(&account).await?;
        Ok(Arc::new(session::JmapSession::new(self.shared.clone(), account, email, identity)))
    }

    fn latencies(&self) -> Vec<store::Latency> {
        vec![self.shared.client.latency()]
    }

    fn metrics(&self) -> Vec<store::Metric> {
        let s = self.cache_stats();
        let metric = |name, help, value| store::Metric { name, help, value };
        vec![
            metric(
                "jmap_snapshot_fresh_total",
                "account views served without asking the mail server",
                s.snapshot_fresh,
            ),
            metric(
                "jmap_snapshot_validated_total",
                "account views confirmed by one state request",
                s.snapshot_validated,
            ),
            metric(
                "jmap_snapshot_pushed_total",
                "account views served without asking the mail server while its push stream announced no change",
                s.snapshot_pushed,
            ),
            metric(
                "jmap_push_connections_total",
                "push streams (RFC 8620 §7.3) confirmed by a first event",
                self.shared.push.connections(),
            ),
            metric("jmap_push_events_total", "state changes announced by push streams", self.shared.push.events()),
            metric("jmap_snapshot_reused_total", "account views reused within one client request", s.snapshot_reused),
            metric("jmap_snapshot_rebuilt_total", "account views read again (cold or changed)", s.snapshot_rebuilt),
            metric("jmap_entry_hits_total", "message descriptions found in the cache", s.entry_hits),
            metric("jmap_entry_misses_total", "message descriptions fetched with Email/get", s.entry_misses),
            metric("jmap_blob_hits_total", "calendar bodies found in the cache", s.blob_hits),
            metric("jmap_blob_misses_total", "calendar bodies downloaded", s.blob_misses),
            metric("jmap_requests_total", "HTTP requests sent to the mail server", self.shared.client.requests()),
            metric(
                "jmap_request_failures_total",
                "HTTP requests to the mail server that failed (transport, 5xx, timeout, unusable answer)",
                self.shared.client.failures(),
            ),
        ]
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.shared.client.probe().await
    }

    fn directory(&self) -> Option<&dyn store::Directory> {
        self.directory.as_ref().map(|d| d as &dyn store::Directory)
    }
}
