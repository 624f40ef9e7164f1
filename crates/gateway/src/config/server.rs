//! `[server]` and `[tls]`: the public listener phones reach, and its certificate.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the CalDAV listener. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Seconds in-flight requests get to finish after SIGTERM/ctrl-c.
    pub shutdown_grace_secs: u64,
    /// Most connections open at once, TLS handshakes included; further ones wait unaccepted
    /// until one closes.
    pub max_connections: usize,
    /// Seconds a client gets to send a request head, and an idle HTTP/1.1 keep-alive
    /// connection is kept; also the HTTP/2 keep-alive ping interval and timeout.
    pub header_read_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            shutdown_grace_secs: 10,
            max_connections: 1024,
            header_read_timeout_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// `false` serves plain HTTP: only for running behind a TLS-terminating proxy.
    pub enabled: bool,
    /// PEM certificate chain. Unset (with `key` unset) means a self-signed certificate for
    /// localhost, generated once into `<data_dir>/tls/`.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Seconds a client gets to finish the TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds between two looks at `cert` and `key` for a renewed pair (0: never reloaded).
    pub reload_check_secs: u64,
    /// `Strict-Transport-Security: max-age` sent with every answer over TLS (0: none).
    pub hsts_max_age_secs: u64,
    /// A plain-HTTP listener (usually `0.0.0.0:80`) that only redirects to HTTPS; unset: none.
    pub redirect_listen: Option<SocketAddr>,
    /// The HTTPS port clients reach, named in those redirects: 443 unless the public port is
    /// another (the listener's own port may be mapped, e.g. 8443 in a container published as 443).
    pub redirect_https_port: u16,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert: None,
            key: None,
            handshake_timeout_secs: 10,
            reload_check_secs: 30,
            hsts_max_age_secs: 31_536_000,
            redirect_listen: None,
            redirect_https_port: 443,
        }
    }
}
