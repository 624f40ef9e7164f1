//! `[backend]`: which mail store holds the calendars, and how to reach it.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Embedded,
    /// A JMAP mail server (RFC 8620/8621), e.g. Cyrus IMAP or Stalwart.
    Jmap,
    /// An IMAP mail server with CONDSTORE and QRESYNC (RFC 7162), e.g. Dovecot or Cyrus.
    Imap,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub kind: BackendKind,
    pub embedded: EmbeddedConfig,
    pub jmap: JmapConfig,
    pub imap: ImapConfig,
}

/// `[backend.imap]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// `imaps://host[:993]`, or `imap://host[:143]` (STARTTLS; plain text only to loopback).
    pub url: String,
    /// PEM file of certificates to trust besides the public roots; empty: none.
    pub ca_file: String,
    /// Top-level mailbox holding the calendar folders (the JMAP backend's too).
    pub calendar_folder: String,
    pub connect_timeout_ms: u64,
    /// One IMAP command slower than this is answered 504.
    pub command_timeout_ms: u64,
    /// Connections one user's session holds at once (Dovecot allows 10 per user and
    /// address by default, `mail_max_userip_connections`).
    pub max_connections: usize,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout_secs: u64,
    /// Largest IMAP response read, in MiB (a listing of a large calendar is one); a larger
    /// one is answered 502.
    pub max_response_mib: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            url: String::new(),
            ca_file: String::new(),
            calendar_folder: "Calendars".into(),
            connect_timeout_ms: 3000,
            command_timeout_ms: 15000,
            max_connections: 4,
            idle_timeout_secs: 60,
            max_response_mib: 64,
        }
    }
}

impl ImapConfig {
    /// The checks of `Config::check` for `kind = "imap"`.
    pub fn check(&self) -> Result<(), super::ConfigError> {
        let invalid = |setting, reason: &str| Err(super::ConfigError::Invalid { setting, reason: reason.into() });
        if !(self.url.starts_with("imap://") || self.url.starts_with("imaps://")) {
            return invalid("backend.imap.url", "an imap:// or imaps:// URL of the mail server is required");
        }
        if self.connect_timeout_ms == 0 || self.command_timeout_ms == 0 {
            return invalid("backend.imap.command_timeout_ms", "timeouts must be > 0");
        }
        if self.max_connections == 0 || self.max_connections > 64 {
            return invalid("backend.imap.max_connections", "between 1 and 64");
        }
        if self.max_response_mib == 0 {
            return invalid("backend.imap.max_response_mib", "at least 1: every answer of the mail server is read");
        }
        if self.calendar_folder.is_empty() || self.calendar_folder.contains('/') {
            return invalid("backend.imap.calendar_folder", "a top-level mailbox name");
        }
        Ok(())
    }
}

#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct JmapConfig {
    /// The JMAP session resource, e.g. `https://mail.example/.well-known/jmap`.
    pub url: String,
    /// Top-level mailbox holding the calendar folders.
    pub calendar_folder: String,
    /// Milliseconds a validated view of an account is served without asking the server
    /// (0 to 5000): a change made in the mail store shows up no later than this.
    pub freshness_ms: u64,
    /// Keep a JMAP push stream (RFC 8620 §7.3) per active account where the mail server
    /// offers one: while it announces no change, requests need no state request at all.
    pub push: bool,
    /// Most push streams open at once (Cyrus runs one httpd process per stream); accounts
    /// beyond are validated per request.
    pub max_push_streams: usize,
    /// Seconds without a client request after which an account's push stream is closed.
    pub push_idle_secs: u64,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Idle connections kept open to the mail server.
    pub pool_max_idle: usize,
    /// HTTP/2 to the mail server (h2c by prior knowledge for http:// URLs).
    pub http2: bool,
    /// MiB of calendar data kept in memory (bodies are immutable, so never stale).
    pub blob_cache_mib: u64,
    /// MiB of everything else the backend keeps in memory (account views, message
    /// descriptions, folders), weighed by size.
    pub metadata_cache_mib: u64,
    /// Largest JSON answer read from the mail server, in MiB; a larger one is answered 502.
    /// (Downloads of calendar data are bounded by `limits.max_request_body`.)
    pub max_response_mib: u64,
    /// Login of the gateway's service account, with which the mail operator shared the
    /// users' mailboxes (docs/scheduling.md, "What the mail operator grants"): invitations
    /// between those users are delivered directly and their free-busy answered. Empty: no
    /// service account; colleagues are invited by iMIP mail and their free-busy is
    /// `3.7;Invalid calendar user`.
    pub service_user: String,
    pub service_password: String,
}

/// The freshness window without push: see docs/operations.md, "Freshness", for the
/// measurement it is chosen from.
pub const DEFAULT_FRESHNESS_MS: u64 = 1000;

/// Without the service account's password: configurations end up in logs and panic messages.
impl std::fmt::Debug for JmapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JmapConfig")
            .field("url", &self.url)
            .field("calendar_folder", &self.calendar_folder)
            .field("freshness_ms", &self.freshness_ms)
            .field("push", &self.push)
            .field("max_push_streams", &self.max_push_streams)
            .field("push_idle_secs", &self.push_idle_secs)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("pool_max_idle", &self.pool_max_idle)
            .field("http2", &self.http2)
            .field("blob_cache_mib", &self.blob_cache_mib)
            .field("metadata_cache_mib", &self.metadata_cache_mib)
            .field("max_response_mib", &self.max_response_mib)
            .field("service_user", &self.service_user)
            .finish_non_exhaustive()
    }
}

impl Default for JmapConfig {
    fn default() -> Self {
        JmapConfig {
            url: String::new(),
            calendar_folder: "Calendars".into(),
            freshness_ms: DEFAULT_FRESHNESS_MS,
            push: true,
            max_push_streams: 100,
            push_idle_secs: 300,
            connect_timeout_ms: 3000,
            request_timeout_ms: 15000,
            pool_max_idle: 32,
            http2: true,
            blob_cache_mib: 64,
            metadata_cache_mib: 64,
            max_response_mib: 16,
            service_user: String::new(),
            service_password: String::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Directory of the SQLite database and the generated TLS certificate.
    pub data_dir: PathBuf,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig { data_dir: PathBuf::from("data") }
    }
}
