//! `caldav-gateway health`: asks the admin listener of a running gateway whether it is alive
//! (`/healthz`) or ready (`/readyz`), for a container HEALTHCHECK in an image that has no curl
//! and no shell (deploy/Dockerfile's distroless runtime).
//!
//! One HTTP/1.1 GET over a plain TCP connection with a deadline: the admin listener speaks
//! plain HTTP on loopback or a private network, so nothing more is needed.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Which question to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: the process serves requests.
    Alive,
    /// `/readyz`: the backend answers too.
    Ready,
}

impl Probe {
    pub fn path(self) -> &'static str {
        match self {
            Probe::Alive => "/healthz",
            Probe::Ready => "/readyz",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no admin listener is configured ([admin] listen): nothing to ask")]
    NoAdminListener,
    #[error("{address}: {source}")]
    Io { address: SocketAddr, source: std::io::Error },
    #[error("{address}: not an HTTP answer")]
    NotHttp { address: SocketAddr },
    #[error("{address}{path} answered {status}")]
    Status { address: SocketAddr, path: &'static str, status: u16 },
}

/// Where to connect for a listener bound to `listen`: a listener on every interface
/// (`0.0.0.0`, `::`) is asked on loopback, the one address sure to reach it from inside.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The request bytes: HTTP/1.1 with `Connection: close`, so the answer ends with the stream.
pub fn request(probe: Probe, address: SocketAddr) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nUser-Agent: caldav-gateway-health\r\n\r\n",
        probe.path()
    )
}

/// The status code of an HTTP/1.x status line at the start of `answer`.
pub fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Asks the admin listener bound to `listen`; `Ok` only for a 200 answer within `timeout`.
pub fn check(listen: Option<SocketAddr>, probe: Probe, timeout: Duration) -> Result<(), ProbeError> {
    let address = probe_address(listen.ok_or(ProbeError::NoAdminListener)?);
    let io = |source| ProbeError::Io { address, source };
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(request(probe, address).as_bytes()).map_err(io)?;
    // The status line is all that is needed; a short read still holds it.
    let mut head = [0u8; 256];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]).map_err(io)? {
            0 => break,
            n => filled += n,
        }
        if head[..filled].contains(&b'\n') {
            break;
        }
    }
    match status_code(&head[..filled]) {
        Some(200) => Ok(()),
        Some(status) => Err(ProbeError::Status { address, path: probe.path(), status }),
        None => Err(ProbeError::NotHttp { address }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_interface_is_asked_on_loopback() {
        assert_eq!(probe_address("0.0.0.0:9090".parse().unwrap()), "127.0.0.1:9090".parse().unwrap());
        assert_eq!(probe_address("[::]:9090".parse().unwrap()), "[::1]:9090".parse().unwrap());
        assert_eq!(probe_address("10.1.2.3:9090".parse().unwrap()), "10.1.2.3:9090".parse().unwrap());
    }

    #[test]
    fn the_request_asks_the_probe_path_and_closes() {
        let text = request(Probe::Ready, "127.0.0.1:9090".parse().unwrap());
        assert!(text.starts_with("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:9090\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n") && text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn status_codes_come_from_http_1_status_lines_only() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), Some(200));
        assert_eq!(status_code(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status_code(b"HTTP/1.0 200\r\n"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 2000 no\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn no_admin_listener_is_an_error_not_a_hang() {
        assert!(matches!(check(None, Probe::Alive, Duration::from_secs(1)), Err(ProbeError::NoAdminListener)));
    }

    #[test]
    fn a_closed_port_is_reported_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(check(Some(address), Probe::Alive, Duration::from_secs(1)), Err(ProbeError::Io { .. })));
    }

    #[test]
    fn a_200_answer_is_healthy_and_a_503_is_not() {
        for (answer, healthy) in
            [("HTTP/1.1 200 OK\r\n\r\nok", true), ("HTTP/1.1 503 Service Unavailable\r\n\r\n", false)]
        {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 512];
                let n = stream.read(&mut request).unwrap();
                stream.write_all(answer.as_bytes()).unwrap();
                String::from_utf8_lossy(&request[..n]).into_owned()
            });
            let outcome = check(Some(address), Probe::Ready, Duration::from_secs(5));
            assert_eq!(outcome.is_ok(), healthy, "{answer}: {outcome:?}");
            assert!(server.join().unwrap().starts_with("GET /readyz "));
        }
    }
}
