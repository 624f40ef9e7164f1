//! `[auth]`: how credentials become sessions, and how refused logins are limited.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Realm of `WWW-Authenticate: Basic`.
    pub realm: String,
    /// Seconds an authenticated session is reused without asking the backend again. Short,
    /// so a changed password takes effect soon; long enough that a sync burst is one login.
    pub session_ttl_secs: u64,
    /// Most sessions kept at once.
    pub max_sessions: u64,
    /// Refused logins of one user name within `failure_window_secs` after which further logins
    /// of that user are answered 429 until the window ends (0: no limit). A signed-in client
    /// whose session is cached is not affected.
    pub max_failures_per_user: u32,
    /// The same per client address; higher, since many users may share one NAT address.
    pub max_failures_per_address: u32,
    /// Seconds from a first refused login until its count is forgotten.
    pub failure_window_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client address to count against.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            realm: "CalDAV gateway".into(),
            session_ttl_secs: 60,
            max_sessions: 10_000,
            max_failures_per_user: 10,
            max_failures_per_address: 50,
            failure_window_secs: 900,
            trusted_proxies: Vec::new(),
        }
    }
}
