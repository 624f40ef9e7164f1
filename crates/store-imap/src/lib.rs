//! The IMAP backend: the user's calendars live in the IMAP mail server they already have
//! (Dovecot, Cyrus), logged into with the user's mail password.
//!
//! Tested against Dovecot 2.3.19 (Debian's packages, maildir) and Cyrus IMAP 3.6 (Debian's),
//! both started privately by the project's scripts (`make imap`). The server must offer,
//! after login, CONDSTORE and QRESYNC (RFC 7162), BINARY (RFC 3516) and UIDPLUS (RFC 4315):
//! a login to a server without them is refused (503) with a message that names what is
//! missing. The user needs the right to create the calendar folder (`Calendars`) and
//! mailboxes below it; LIST-STATUS, METADATA and NOTIFY are not used yet.
//!
//! # Mapping (the layout of the JMAP backend, `store::mail_layout`)
//!
//! - A calendar folder is a mailbox below one parent mailbox (`calendar_folder`, default
//!   `Calendars`, created on first use); nested plain WebDAV collections are nested
//!   mailboxes, the folder name is the path below the parent joined by `/`. Mailbox names go
//!   on the wire in modified UTF-7 (`mailbox_name.rs`).
//! - A calendar object is a message whose single part holds the client's exact bytes,
//!   appended base64-encoded and read back with `BINARY.PEEK[1]` (RFC 3516): measured on
//!   Dovecot and Cyrus, an 8-bit APPEND changes bare LF and NUL. Its headers are the JMAP
//!   backend's: `X-CalDAV-Resource`, `X-CalDAV-UID`, `X-CalDAV-Index`,
//!   `X-CalDAV-Properties`, plus `X-CalDAV-ETag` (below). Messages put there by other mail
//!   clients show up too: the first `text/calendar` part, named `imap-<uid>.ics`.
//! - A folder's properties are the JMAP backend's properties message (`X-CalDAV-Folder:
//!   properties`, JSON), so both backends read the same folders. It is a message rather than
//!   METADATA (RFC 5464) because a property change must move the folder's state, and
//!   METADATA does not move HIGHESTMODSEQ.
//!
//! # Versions, from the server's own change tracking (RFC 7162)
//!
//! - A folder's id is `{UIDVALIDITY}:{name}`: a folder deleted and made again under the same
//!   name has a new UIDVALIDITY, so ids (and states) of the old one never apply to it.
//! - A folder's state is `{UIDVALIDITY}.{HIGHESTMODSEQ}.{UIDNEXT}`: every change of a message
//!   (append, expunge, flags) moves HIGHESTMODSEQ, and nothing else does.
//! - An item's ETag is `G` and the SHA-1 of its bytes, written into `X-CalDAV-ETag` when it
//!   is appended: what the JMAP backend on Cyrus calls the same bytes (the part's blob id),
//!   so a client keeps its ETags when the operator switches backends, and a rewrite of the
//!   message that keeps the bytes (dead properties, RFC 4918 §4) keeps the ETag. A message
//!   without the header (another client's) has `i{UIDVALIDITY}-{UID}`.
//! - `changes` asks the server what was expunged since the token's HIGHESTMODSEQ (`SELECT ...
//!   (QRESYNC ...)`, `VANISHED (EARLIER)`), and reports as changed every item whose MODSEQ is
//!   newer. A mail server forgets the messages it expunged, so the names of removed items come
//!   from what this process saw of the folder (`view.rs`); an expunged UID it never saw makes
//!   the answer `Resync`, never a wrong delta.
//!
//! # Writes
//!
//! A write is a compare-and-swap on the server: the message being replaced or deleted is
//! changed with `UID STORE ... (UNCHANGEDSINCE modseq)` (RFC 7162 §3.1.3) first, which only
//! one of several concurrent writers can do; the others get `[MODIFIED]` and check their
//! precondition again against the folder as it is now. A replace then appends the new
//! message and expunges the old one: while both exist, readers take the higher UID of a
//! name. Between the claim and the append the old message is the only one of its name, and
//! its MODSEQ no longer moves: a writer that finds it claimed waits for the new version
//! (bounded; a claim left by a writer that died is then taken over), because a precondition
//! checked against it would pass for two writers (seen on Cyrus: two winners of twenty).
//! Two concurrent creates of one name both append; the higher UID removes itself.

mod connection;
mod mailbox_name;
mod message;
mod pool;
mod session;
mod view;
mod wire;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use store::{Backend, Credentials, Session, StoreError};

pub use connection::Security;

/// How to reach the mail server.
#[derive(Clone, Debug)]
pub struct ImapOptions {
    /// `imaps://host[:993]`, or `imap://host[:143]`: STARTTLS, or plain text on loopback.
    pub url: String,
    /// PEM file of certificates to trust besides the public roots (a private CA, or the
    /// server's own self-signed certificate).
    pub ca_file: Option<String>,
    /// STARTTLS for `imap://` on loopback too (elsewhere it is always required).
    pub starttls_on_loopback: bool,
    /// Name of the top-level mailbox holding the calendar folders.
    pub calendar_folder: String,
    pub connect_timeout: Duration,
    /// How long one IMAP command may take.
    pub command_timeout: Duration,
    /// Most connections one user's session holds at once (a mail server limits connections
    /// per user: Dovecot's `mail_max_userip_connections` is 10 by default).
    pub max_connections: usize,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// Largest response read from the mail server; a larger one is a 502.
    pub max_response_bytes: usize,
    /// Domain of the address of a user whose login is no address.
    pub mail_domain: String,
}

impl Default for ImapOptions {
    fn default() -> Self {
        ImapOptions {
            url: String::new(),
            ca_file: None,
            starttls_on_loopback: false,
            calendar_folder: "Calendars".into(),
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(15),
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            max_response_bytes: 64 * 1024 * 1024,
            mail_domain: store::mail_address::FALLBACK_MAIL_DOMAIN.into(),
        }
    }
}

/// An IMAP mail server as the gateway's backend.
pub struct ImapBackend {
    shared: Arc<session::Shared>,
}

impl ImapBackend {
    pub fn new(options: ImapOptions) -> Result<ImapBackend, StoreError> {
        let endpoint = endpoint(&options)?;
        Ok(ImapBackend { shared: Arc::new(session::Shared::new(options, endpoint)) })
    }

    /// IMAP commands sent since start, logins included.
    pub fn commands(&self) -> u64 {
        self.shared.endpoint.commands.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn endpoint(options: &ImapOptions) -> Result<connection::Endpoint, StoreError> {
    let bad = |why: &str| StoreError::Rejected(format!("IMAP url {:?}: {why}", options.url));
    let (security, rest, default_port) = if let Some(rest) = options.url.strip_prefix("imaps://") {
        (Security::Tls, rest, 993)
    } else if let Some(rest) = options.url.strip_prefix("imap://") {
        (Security::StartTls, rest, 143)
    } else {
        return Err(bad("not imap:// or imaps://"));
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            (host, port.parse().map_err(|_| bad("the port is no number"))?)
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() || authority.contains('/') {
        return Err(bad("no host, or a path"));
    }
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    // RFC 8314 §3: clear text only to the mail server on this machine.
    let plain = security == Security::StartTls && loopback && !options.starttls_on_loopback;
    let security = if plain { Security::Plain } else { security };
    Ok(connection::Endpoint {
        host,
        port,
        security,
        tls: Arc::new(tls_config(options.ca_file.as_deref())?),
        connect_timeout: options.connect_timeout,
        command_timeout: options.command_timeout,
        max_response_bytes: options.max_response_bytes,
        commands: Arc::default(),
    })
}

/// rustls with the public roots (webpki-roots), and the certificates of `ca_file` when set.
fn tls_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| StoreError::Rejected(format!("IMAP ca_file {path}: {e}")))?;
        for certificate in rustls_pemfile::certs(&mut pem.as_slice()) {
            let certificate = certificate.map_err(|e| StoreError::Rejected(format!("IMAP ca_file {path}: {e}")))?;
            roots.add(certificate).map_err(|e| StoreError::Rejected(format!("IMAP ca_file {path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(StoreError::internal)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[async_trait]
impl Backend for ImapBackend {
    async fn login(&self, credentials: &Credentials) -> Result<Arc<dyn Session>, StoreError> {
        let session = session::ImapSession::login(self.shared.clone(), credentials).await?;
        Ok(Arc::new(session))
    }

    fn metrics(&self) -> Vec<store::Metric> {
        vec![store::Metric {
            name: "imap_commands_total",
            help: "IMAP commands sent to the mail server, logins included",
            value: self.commands(),
        }]
    }

    /// Connects (TLS included) and reads the greeting, without logging in: a failed login
    /// would cost the server's auth penalty (Dovecot waits 2 s) and a line in its log.
    async fn ping(&self) -> Result<(), StoreError> {
        connection::Connection::greet(&self.shared.endpoint).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn options(url: &str) -> ImapOptions {
        ImapOptions { url: url.into(), ..ImapOptions::default() }
    }

    #[test]
    fn urls_choose_the_transport() {
        let e = endpoint(&options("imaps://mail.example")).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.security), ("mail.example", 993, Security::Tls));
        let e = endpoint(&options("imap://mail.example:1143")).unwrap();
        assert_eq!((e.port, e.security), (1143, Security::StartTls));
        let e = endpoint(&options("imap://127.0.0.1:1143/")).unwrap();
        assert_eq!(e.security, Security::Plain);
        let forced = ImapOptions { starttls_on_loopback: true, ..options("imap://127.0.0.1:1143") };
        assert_eq!(endpoint(&forced).unwrap().security, Security::StartTls);
        assert!(endpoint(&options("http://mail.example")).is_err());
        assert!(endpoint(&options("imap://mail.example:x")).is_err());
        assert!(endpoint(&options("imap://mail.example/INBOX")).is_err());
    }
}
