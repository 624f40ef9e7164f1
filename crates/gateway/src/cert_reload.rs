//! The certificate in use, replaced while the gateway runs when its files change: renewals
//! (certbot, cert-manager writing a Kubernetes secret) take effect without a restart, for new
//! handshakes; open connections keep the certificate they started with.
//!
//! The files are looked at every `tls.reload_check_secs` (size and modification time, through
//! symlinks, which is how a mounted Kubernetes secret is swapped). A pair that does not load
//! (half written, key not matching) is logged once and the running certificate kept; it is
//! tried again at every look until it loads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Hands every handshake the current certificate.
pub struct ReloadingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReloadingResolver")
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone())
    }
}

impl ReloadingResolver {
    pub fn new(key: CertifiedKey) -> Self {
        ReloadingResolver { current: RwLock::new(Arc::new(key)) }
    }

    fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
    }
}

/// The chain and key of two PEM files, checked to belong together.
pub fn certified_key(provider: &CryptoProvider, cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = crate::tls::read_chain(cert)?;
    let private = crate::tls::read_key(key)?;
    CertifiedKey::from_der(chain, private, provider)
        .with_context(|| format!("certificate {} does not match key {}", cert.display(), key.display()))
}

/// Size and modification time of both files: a change in either means a new pair.
type Stamp = Option<[(u64, SystemTime); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |path: &Path| std::fs::metadata(path).and_then(|m| Ok((m.len(), m.modified()?))).ok();
    Some([one(cert)?, one(key)?])
}

/// Looks at the files every `every` and swaps in a new pair once it loads.
pub fn watch(
    resolver: Arc<ReloadingResolver>,
    provider: Arc<CryptoProvider>,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut seen = stamp(&cert, &key);
        // A pair that did not load is tried again at every tick (it may have been caught half
        // written, with an unchanged size and a coarse mtime), logged once until it loads.
        let mut failing = false;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let now = stamp(&cert, &key);
            if now.is_none() || (now == seen && !failing) {
                continue;
            }
            seen = now;
            match certified_key(&provider, &cert, &key) {
                Ok(pair) => {
                    resolver.replace(pair);
                    failing = false;
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::error!("TLS certificate files changed but do not load; keeping the running one: {error:#}")
                }
                Err(_) => {}
            }
        }
    });
}
