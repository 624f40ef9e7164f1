//! TLS: certificates from files or a generated self-signed one, and a listener that
//! completes handshakes off the accept path.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::cert_reload::{self, ReloadingResolver};
use crate::config::TlsConfig;
use crate::connections::{Capped, CappedListener};

/// Where the certificate in use came from, for the start-up message.
pub struct Certificate {
    pub server_config: Arc<rustls::ServerConfig>,
    pub cert_path: PathBuf,
    /// The generated local CA clients must trust; `None` for a configured certificate.
    pub local_ca: Option<PathBuf>,
}

/// The configured certificate (reloaded when its files change, `tls.reload_check_secs`), or
/// one for `localhost`/`127.0.0.1`/`::1` from a local CA kept in
/// `<data_dir>/tls/`, so clients told to trust it keep trusting it across restarts.
pub fn load_certificate(config: &TlsConfig, data_dir: &Path) -> anyhow::Result<Certificate> {
    let (cert_path, key_path, local_ca) = match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), None),
        _ => {
            let dir = data_dir.join("tls");
            let (ca, cert, key) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
            if !ca.exists() || !cert.exists() || !key.exists() {
                generate_local_ca(&dir, &ca, &cert, &key)?;
            }
            (cert, key, Some(ca))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pair = cert_reload::certified_key(&provider, &cert_path, &key_path)?;
    let resolver = Arc::new(ReloadingResolver::new(pair));
    // rustls's safe defaults are TLS 1.3 and 1.2 only, with forward-secret AEAD suites.
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    // HTTP/2 first: one connection carries a client's whole sync burst.
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // A generated certificate never changes on disk; a configured one is renewed from outside.
    if local_ca.is_none() && config.reload_check_secs > 0 {
        let every = Duration::from_secs(config.reload_check_secs);
        cert_reload::watch(resolver, provider, cert_path.clone(), key_path.clone(), every);
    }
    Ok(Certificate { server_config: Arc::new(server_config), cert_path, local_ca })
}

/// A throw-away local CA and a localhost certificate it signs. Clients are told to trust the
/// CA (`ca.pem`): strict verifiers (urllib3 2, iOS) refuse a bare self-signed leaf, and iOS
/// only trusts user-installed roots for server certificates valid at most 825 days. The CA
/// key is never written to disk, so nothing else can ever be signed with it.
fn generate_local_ca(dir: &Path, ca_path: &Path, cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ((y0, m0, d0), (y1, m1, d1)) = validity(800);
    let (not_before, not_after) = (rcgen::date_time_ymd(y0, m0, d0), rcgen::date_time_ymd(y1, m1, d1));

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "caldav-gateway local CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca = ca_params.self_signed(&ca_key).context("signing the CA certificate")?;

    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let mut leaf_params = CertificateParams::new(names).context("certificate parameters")?;
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_after;
    let leaf_key = KeyPair::generate().context("generating the server key")?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).context("signing the server certificate")?;

    write_private(key_path, leaf_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, format!("{}{}", leaf.pem(), ca.pem()))
        .with_context(|| format!("writing {}", cert_path.display()))?;
    std::fs::write(ca_path, ca.pem()).with_context(|| format!("writing {}", ca_path.display()))?;
    tracing::info!(ca = %ca_path.display(), "generated a local CA and a certificate for localhost");
    Ok(())
}

/// (year, month, day) of yesterday (clock skew) and of `days` days later.
fn validity(days: i64) -> ((i32, u8, u8), (i32, u8, u8)) {
    use chrono::Datelike;
    let ymd = |date: chrono::NaiveDate| {
        (date.year(), u8::try_from(date.month()).unwrap_or(1), u8::try_from(date.day()).unwrap_or(1))
    };
    let start = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    (ymd(start), ymd(start + chrono::Duration::days(days)))
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub(crate) fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading tls.cert {}", path.display()))?;
    let chain = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing tls.cert {}", path.display()))?;
    if chain.is_empty() {
        bail!("tls.cert {}: no certificate in the file", path.display());
    }
    Ok(chain)
}

pub(crate) fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading tls.key {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("parsing tls.key {}", path.display()))?
        .with_context(|| format!("tls.key {}: no private key in the file", path.display()))
}

/// A listener that hands axum only finished TLS streams.
///
/// Handshakes run in their own tasks with a timeout: done inside `accept`, one slow or
/// silent client would hold up every connection behind it (axum `serve::Listener` contract).
pub struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<Capped<TcpStream>>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(tcp: CappedListener, acceptor: TlsAcceptor, handshake_timeout: Duration) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (sender, ready) = mpsc::channel(128);
        tokio::spawn(accept_loop(tcp, acceptor, handshake_timeout, sender));
        Ok(TlsListener { local_addr, ready })
    }
}

/// A connection takes its slot (`server.max_connections`) before its handshake, so clients
/// that never finish one cannot get past the cap either.
async fn accept_loop(
    tcp: CappedListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    ready: mpsc::Sender<(TlsStream<Capped<TcpStream>>, SocketAddr)>,
) {
    loop {
        // Shutting down drops the receiving side: the listening socket closes with this loop
        // at once, so new connections are refused instead of waiting in the backlog.
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept_capped() => accepted,
            () = ready.closed() => return,
        };
        let acceptor = acceptor.clone();
        let handed_over = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = handed_over.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<Capped<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends when this receiver is gone, so this is unreachable
            // in practice; park forever rather than panic.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
