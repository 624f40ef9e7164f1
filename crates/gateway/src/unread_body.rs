//! Answers given before the request body was read.
//!
//! Some answers come before the body is read: the 401 challenge, the redirect of
//! `/.well-known/caldav`, a 403 or 404, a 413. hyper 1.x then drains what has already arrived
//! and closes the connection when the rest has not (h1 `Conn::poll_drain_or_close_read`),
//! without saying so, and a keep-alive client sends its next request into the closed
//! connection ("server disconnected without sending a response"; measured with httpx over TLS:
//! 3 to 12 of 20 follow-up requests lost, DAVx5's discovery and iOS's first unauthenticated
//! PROPFIND among them). RFC 9112 §9.6: a server that closes after the response says
//! `Connection: close`, so the client opens a new connection instead (`close_when_body_unread`).
//!
//! The early answers clients meet in normal use read a small body first, so the connection
//! stays usable (`answer_after_draining`): Apple's clients send every first request on a path
//! without credentials, PROPFIND and REPORT bodies included (iOS dataaccessd and macOS
//! CalendarAgent: `request-data/iOS_5/Profile` in apple/ccs-calendarserver; macOS 13 and iOS,
//! Kozea/Radicale issue #1288), so with `Connection: close` alone every challenge would cost a
//! new TLS connection; iOS account set-up probes paths such as `/principals/` (nextcloud/server
//! issue #6192). A body larger or slower than `MAX_DRAINED_BODY` and the request body timeout
//! stays unread, and the middleware closes the connection, so nobody can make the gateway read
//! more than that without credentials.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, Request, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, SizeHint};

/// Every body a DAV client sends before it is challenged or redirected fits (the largest
/// recorded, Apple's calendar-home PROPFIND, is under 3 KiB).
pub const MAX_DRAINED_BODY: usize = 64 * 1024;

/// `response`, after reading and dropping (at most `MAX_DRAINED_BODY` of) the body within
/// `timeout`; a body left unread then closes the HTTP/1 connection (`close_when_body_unread`).
/// A client that sent `Expect: 100-continue` has not sent its body and need not (RFC 9110
/// §10.1.1): reading it would make hyper send the 100 and invite the upload, so that one is
/// answered at once.
pub async fn answer_after_draining(response: Response, request: Request<Body>, timeout: Duration) -> Response {
    if expects_continue(request.headers()) {
        return response;
    }
    let _ = tokio::time::timeout(timeout, Limited::new(request.into_body(), MAX_DRAINED_BODY).collect()).await;
    response
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers.get(header::EXPECT).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

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
    use axum::response::IntoResponse;
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

    fn draining_app() -> Router {
        let answer = |request: Request<Body>| async move {
            let early = (http::StatusCode::UNAUTHORIZED, "challenge").into_response();
            answer_after_draining(early, request, Duration::from_secs(5)).await
        };
        Router::new().route("/early", any(answer)).layer(axum::middleware::from_fn(close_when_body_unread))
    }

    /// A body arriving in 16 KiB pieces, as from a connection.
    async fn early_answer(length: usize) -> Response {
        early_answer_with(length, None).await
    }

    async fn early_answer_with(length: usize, expect: Option<&'static str>) -> Response {
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            vec![b'x'; length].chunks(16 * 1024).map(|piece| Ok(Bytes::copy_from_slice(piece))).collect();
        let mut request = Request::builder()
            .method("PROPFIND")
            .uri("/early")
            .version(Version::HTTP_11)
            .header(header::CONTENT_LENGTH, length);
        if let Some(expect) = expect {
            request = request.header(header::EXPECT, expect);
        }
        let request = request.body(Body::from_stream(tokio_stream::iter(pieces))).expect("request");
        draining_app().oneshot(request).await.expect("response")
    }

    #[tokio::test]
    async fn a_client_waiting_for_100_continue_is_answered_without_reading_its_body() {
        let response = early_answer_with(3000, Some("100-Continue")).await;
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(header::CONNECTION), Some(&HeaderValue::from_static("close")));
    }

    #[tokio::test]
    async fn an_early_answer_reads_a_small_body_so_the_connection_stays_open() {
        let response = early_answer(3000).await;
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(header::CONNECTION), None);
    }

    #[tokio::test]
    async fn an_early_answer_leaves_a_large_body_and_closes_the_connection() {
        let response = early_answer(2 * MAX_DRAINED_BODY).await;
        assert_eq!(response.headers().get(header::CONNECTION), Some(&HeaderValue::from_static("close")));
    }

    #[tokio::test]
    async fn no_body_or_http2_adds_nothing() {
        assert_eq!(connection_header("/unread", "", Version::HTTP_11).await, None);
        assert_eq!(connection_header("/unread", "<propfind/>", Version::HTTP_2).await, None);
    }
}
