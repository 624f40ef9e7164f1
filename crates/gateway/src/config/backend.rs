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
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub kind: BackendKind,
    pub embedded: EmbeddedConfig,
    pub jmap: JmapConfig,
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
