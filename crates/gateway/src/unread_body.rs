//! `Connection: close` on an HTTP/1 answer given without reading the request body.
//!
//! Some answers come before the body is read: the 401 challenge, the redirect of
//! `/.well-known/caldav`, a 403 or 404, a 413. hyper 1.x then drains what has already arrived
//! and closes the connection when the rest has not (h1 `Conn::poll_drain_or_close_read`),
//! without saying so, and a keep-alive client sends its next request into the closed
//! connection ("server disconnected without sending a response"; measured with httpx over TLS:
//! 3 to 12 of 20 follow-up requests lost, DAVx5's discovery and iOS's first unauthenticated
//! PROPFIND among them). RFC 9112 §9.6: a server that closes after the response says
//! `Connection: close`, so the client opens a new connection instead.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, Request, Version};
use hyper::body::{Frame, SizeHint};

/// Middleware: marks the answer `Connection: close` when the handler left the body unread.
pub async fn close_when_body_unread(request: Request<Body>, next: Next) -> Response {
    // HTTP/2 streams end on their own and forbid the Connection header (RFC 9113 §8.2.2).
    if request.version() >= Version::HTTP_2 || !has_body(request.headers()) {
        return next.run(request).await;
    }
    let finished = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let tracked = Body::new(Tracked { inner: body, finished: Arc::clone(&finished) });
    let mut response = next.run(Request::from_parts(parts, tracked)).await;
    if !finished.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .is_some_and(|length| length > 0)
}

/// The request body, noting when it has been read to its end.
struct Tracked {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::any;
    use axum::Router;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/unread", any(|| async { "answered first" }))
            .route("/read", any(|body: Bytes| async move { format!("{} bytes", body.len()) }))
            .layer(axum::middleware::from_fn(close_when_body_unread))
    }

    async fn connection_header(path: &str, body: &'static str, version: Version) -> Option<HeaderValue> {
        let request = Request::builder()
            .method("PROPFIND")
            .uri(path)
            .version(version)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("request");
        let response = app().oneshot(request).await.expect("response");
        response.headers().get(header::CONNECTION).cloned()
    }

    #[tokio::test]
    async fn an_answer_before_the_body_is_read_closes_the_connection() {
        let header = connection_header("/unread", "<propfind/>", Version::HTTP_11).await;
        assert_eq!(header, Some(HeaderValue::from_static("close")));
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_keeps_the_connection() {
        assert_eq!(connection_header("/read", "<propfind/>", Version::HTTP_11).await, None);
    }

    #[tokio::test]
    async fn no_body_or_http2_adds_nothing() {
        assert_eq!(connection_header("/unread", "", Version::HTTP_11).await, None);
        assert_eq!(connection_header("/unread", "<propfind/>", Version::HTTP_2).await, None);
    }
}
