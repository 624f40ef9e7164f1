//! Listening and shutting down: TLS or plain HTTP on the configured address, graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use http::Request;
use hyper::body::Incoming;
use tower::ServiceExt;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use crate::config::{Config, ServerConfig};
use crate::connections::CappedListener;
use crate::login_limit::PeerAddr;
use crate::tls::{self, TlsListener};

/// Serves `app` (and `admin` on `[admin] listen`) until SIGTERM or ctrl-c, then gives
/// in-flight requests the grace period. Prints the URLs on stdout once listening (the
/// integration harness reads them).
pub async fn run(config: &Config, app: Router, admin: Router) -> anyhow::Result<()> {
    let stopped = shutdown_signal();
    let tcp = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding server.listen {}", config.server.listen))?;
    let local = tcp.local_addr().context("reading the bound address")?;
    let tcp = CappedListener::new(tcp, config.server.max_connections);
    let http = http_builder(&config.server);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (stop_sender, stop) = tokio::sync::watch::channel(());
    // Bound before the public listener starts, so a taken admin port stops start-up, and a
    // probe never sees the public side up while its own is missing.
    let admin = match config.admin.listen {
        Some(address) => {
            let tcp = TcpListener::bind(address).await.with_context(|| format!("binding admin.listen {address}"))?;
            let local = tcp.local_addr().context("reading the bound admin address")?;
            tracing::info!(address = %local, "admin listener (health, readiness, metrics)");
            println!("admin listening on http://{}:{}/", url_host(local), local.port());
            Some(tokio::spawn(serve_until(tcp, http.clone(), admin, stop.clone())))
        }
        None => None,
    };
    let redirect = match (config.tls.enabled, config.tls.redirect_listen) {
        (true, Some(address)) => {
            let tcp =
                TcpListener::bind(address).await.with_context(|| format!("binding tls.redirect_listen {address}"))?;
            let bound = tcp.local_addr().context("reading the bound redirect address")?;
            tracing::info!(address = %bound, "plain-HTTP listener redirecting to HTTPS");
            println!("redirecting http://{}:{}/ to HTTPS", url_host(bound), bound.port());
            Some(tokio::spawn(serve_until(
                tcp,
                http.clone(),
                crate::redirect::app(config.tls.redirect_https_port),
                stop.clone(),
            )))
        }
        _ => None,
    };
    let server = if config.tls.enabled {
        let certificate = tls::load_certificate(&config.tls, &config.backend.embedded.data_dir)?;
        let acceptor = TlsAcceptor::from(Arc::clone(&certificate.server_config));
        let handshake = Duration::from_secs(config.tls.handshake_timeout_secs);
        let listener = TlsListener::new(tcp, acceptor, handshake).context("starting the TLS listener")?;
        announce("https", local, certificate.local_ca.as_ref().map(|ca| ca.display().to_string()));
        tokio::spawn(serve_until(listener, http, app, stop))
    } else {
        tracing::warn!("TLS is disabled: serving plain HTTP, which is only safe behind a TLS-terminating proxy");
        announce("http", local, None);
        tokio::spawn(serve_until(tcp, http, app, stop))
    };
    stopped.await;
    tracing::info!(grace_secs = grace.as_secs(), "shutting down");
    drop(stop_sender);
    // Neither answers anything slow, so they are gone long before the grace period.
    for side in [admin, redirect].into_iter().flatten() {
        side.abort();
    }
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined.context("server task")?.context("serving"),
        Err(_) => {
            tracing::warn!("grace period over; closing remaining connections");
            Ok(())
        }
    }
}

/// HTTP/1.1 and HTTP/2 (by ALPN or prior knowledge) with the server's timeouts. A timer must be
/// set for hyper to apply `header_read_timeout` at all; `axum::serve` sets none, so a client
/// trickling its request head (slowloris) would hold its connection for ever.
fn http_builder(server: &ServerConfig) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // Bounds reading a request head, and an idle keep-alive connection waiting for the next one.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(server.header_read_timeout_secs));
    // Pings find HTTP/2 peers that vanished without closing, so their slot is given back.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(server.header_read_timeout_secs))
        .keep_alive_timeout(Duration::from_secs(server.header_read_timeout_secs));
    builder
}

/// Serves every accepted connection until `stop` fires, then lets the open ones finish their
/// in-flight requests (hyper's graceful shutdown); the caller bounds that by the grace period.
async fn serve_until<L>(
    mut listener: L,
    http: Builder<TokioExecutor>,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<()>,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let http = Arc::new(http);
    let graceful = GracefulShutdown::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        // Every request carries its TCP peer, for counting refused logins per address.
        let address = PeerAddr(peer.ip());
        let service = TowerToHyperService::new(app.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(address);
            request
        }));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(?peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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

/// Listens for SIGINT and SIGTERM from the moment it is called. tokio drops a signal that
/// arrives before its listener exists (the handler is installed first, the listener made
/// after), and a supervisor may stop the process the instant it reads "listening": so `run`
/// calls this before it binds anything. A gateway of a CI run hung that way, SIGTERM caught
/// and lost, waiting for ever.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let interrupt = received(signal(SignalKind::interrupt()).ok());
        let terminate = received(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
