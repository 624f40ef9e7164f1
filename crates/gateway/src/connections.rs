//! The cap on open connections (`server.max_connections`).
//!
//! A slot is taken *before* a connection is accepted and travels with the stream, so it is
//! given back exactly when the connection is gone, whatever ended it (TLS handshake failure or
//! timeout, the client closing, a header or body timeout, shutdown). While every slot is taken
//! new connections are not accepted: they wait in the kernel's listen backlog (the client sees
//! a connected socket that does not answer yet) and are served in turn as slots free up, so a
//! burst is delayed rather than refused; the backlog overflowing is the only refusal.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener that accepts at most `max_connections` connections at a time.
pub struct CappedListener {
    tcp: TcpListener,
    slots: Arc<Semaphore>,
}

impl CappedListener {
    pub fn new(tcp: TcpListener, max_connections: usize) -> Self {
        CappedListener { tcp, slots: Arc::new(Semaphore::new(max_connections)) }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Waits for a free slot, then for a connection.
    pub async fn accept_capped(&self) -> (Capped<TcpStream>, SocketAddr) {
        // The semaphore is never closed, so acquiring only fails if that changes; parking then
        // is safer than accepting without a cap.
        let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return std::future::pending().await;
        };
        loop {
            match self.tcp.accept().await {
                Ok((stream, peer)) => {
                    // Small CalDAV responses should not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return (Capped { inner: stream, _slot: slot }, peer);
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = Capped<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.accept_capped().await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A stream holding one connection slot until it is dropped.
pub struct Capped<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_over_the_cap_waits_until_a_slot_is_free() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let listener = CappedListener::new(tcp, 2);
        let _clients: Vec<_> = [
            TcpStream::connect(address).await.unwrap(),
            TcpStream::connect(address).await.unwrap(),
            TcpStream::connect(address).await.unwrap(),
        ]
        .into();
        let (first, _) = listener.accept_capped().await;
        let (_second, _) = listener.accept_capped().await;
        let third = tokio::time::timeout(Duration::from_millis(200), listener.accept_capped()).await;
        assert!(third.is_err(), "a third connection was accepted over a cap of 2");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), listener.accept_capped()).await;
        assert!(third.is_ok(), "the freed slot was not given to the waiting connection");
    }
}
