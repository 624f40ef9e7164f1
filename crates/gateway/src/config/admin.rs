//! `[admin]`: the operators' listener (health, readiness, metrics), apart from the one phones
//! reach, so probes and scrapes need no credentials and never leave the private network.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin listener (plain HTTP: keep it on loopback or a private network).
    /// Unset: no admin listener. Port 0 picks a free port (tests).
    pub listen: Option<SocketAddr>,
    /// Seconds `/readyz` waits for the backend before it reports the gateway not ready.
    pub readiness_timeout_secs: u64,
    /// Bearer token of the admin API (`/access`: turning CalDAV off and on). Empty: the API
    /// refuses every change. Health, readiness and metrics need none.
    pub token: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { listen: None, readiness_timeout_secs: 2, token: String::new() }
    }
}

/// Never prints the token.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("readiness_timeout_secs", &self.readiness_timeout_secs)
            .field("token", &if self.token.is_empty() { "" } else { "<set>" })
            .finish()
    }
}
