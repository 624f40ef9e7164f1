//! Listening and shutting down: TLS or plain HTTP on the configured address, graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::tls::{self, TlsListener};

/// Serves `app` until SIGTERM or ctrl-c, then gives in-flight requests the grace period.
/// Prints the URL for clients on stdout once listening (the integration harness reads it).
pub async fn run(config: &Config, app: Router) -> anyhow::Result<()> {
    let tcp = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding server.listen {}", config.server.listen))?;
    let local = tcp.local_addr().context("reading the bound address")?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (stop_sender, stop) = tokio::sync::watch::channel(());
    let server = if config.tls.enabled {
        let certificate = tls::load_certificate(&config.tls, &config.backend.embedded.data_dir)?;
        let acceptor = TlsAcceptor::from(Arc::clone(&certificate.server_config));
        let handshake = Duration::from_secs(config.tls.handshake_timeout_secs);
        let listener = TlsListener::new(tcp, acceptor, handshake).context("starting the TLS listener")?;
        announce("https", local, certificate.local_ca.as_ref().map(|ca| ca.display().to_string()));
        tokio::spawn(serve_until(listener, app, stop))
    } else {
        tracing::warn!("TLS is disabled: serving plain HTTP, which is only safe behind a TLS-terminating proxy");
        announce("http", local, None);
        tokio::spawn(serve_until(tcp, app, stop))
    };
    shutdown_signal().await;
    tracing::info!(grace_secs = grace.as_secs(), "shutting down");
    drop(stop_sender);
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined.context("server task")?.context("serving"),
        Err(_) => {
            tracing::warn!("grace period over; closing remaining connections");
            Ok(())
        }
    }
}

async fn serve_until<L>(listener: L, app: Router, mut stop: tokio::sync::watch::Receiver<()>) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
}

fn announce(scheme: &str, local: SocketAddr, local_ca: Option<String>) {
    let host = if local.ip().is_unspecified() { "localhost".to_string() } else { url_host(local) };
    tracing::info!(address = %local, scheme, "listening");
    println!("CalDAV gateway listening on {scheme}://{host}:{}/", local.port());
    if let Some(ca) = local_ca {
        println!("TLS: a local CA signed the certificate; trust it in your client: {ca}");
    }
}

fn url_host(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
