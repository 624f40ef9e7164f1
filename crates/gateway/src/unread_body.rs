//! Answers given before the request body was read: the 401 challenge and the other refusals
//! of `lib.rs` `admit`, the `.well-known` redirect, and the 404 outside the DAV tree.
//!
//! Apple's clients send their first request on each path without credentials (iOS dataaccessd,
//! macOS CalendarAgent: `request-data/iOS_5/Profile` in apple/ccs-calendarserver), PROPFIND and
//! REPORT bodies included, and `PROPFIND /.well-known/caldav/` with its body; then the next
//! request on the same connection; iOS account set-up also probes paths such as `/principals/`
//! (nextcloud/server issue #6192). The gateway answers those without reading the body; hyper
//! then refuses to reuse a connection with unread request bytes on it and closes it, but only
//! after the answer went out without `Connection: close`, so the client's next request meets a
//! closed connection ("Server disconnected without sending a response" in the iOS replay,
//! `integration-tests/python/test_client_apple.py`). A body up to `MAX_DRAINED_BODY` is read and
//! dropped, which keeps the connection usable; a larger or slower one gets `Connection: close`
//! (RFC 9112 §9.6), so nobody can make the gateway read more than that without credentials.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Version};
use http_body_util::{BodyExt, Limited};

/// Every body a DAV client sends before it is challenged or redirected fits (the largest
/// recorded, Apple's calendar-home PROPFIND, is under 3 KiB).
pub const MAX_DRAINED_BODY: usize = 64 * 1024;

/// `response`, after reading (at most `MAX_DRAINED_BODY` of) the body within `timeout`.
pub async fn answer_after_draining(
    mut response: Response,
    version: Version,
    body: Body,
    timeout: Duration,
) -> Response {
    let drained = tokio::time::timeout(timeout, Limited::new(body, MAX_DRAINED_BODY).collect()).await;
    let body_read = matches!(drained, Ok(Ok(_)));
    if !body_read && version <= Version::HTTP_11 {
        response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http::StatusCode;

    fn unauthorized() -> Response {
        StatusCode::UNAUTHORIZED.into_response()
    }

    #[tokio::test]
    async fn a_small_body_is_read_so_the_connection_stays_open() {
        let body = Body::from(vec![b'x'; 3000]);
        let response = answer_after_draining(unauthorized(), Version::HTTP_11, body, Duration::from_secs(5)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(http::header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_closes_the_http1_connection() {
        let body = Body::from(vec![b'x'; MAX_DRAINED_BODY + 1]);
        let response = answer_after_draining(unauthorized(), Version::HTTP_11, body, Duration::from_secs(5)).await;
        assert_eq!(response.headers().get(http::header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
    }

    #[tokio::test]
    async fn http2_never_gets_a_connection_header() {
        let body = Body::from(vec![b'x'; MAX_DRAINED_BODY + 1]);
        let response = answer_after_draining(unauthorized(), Version::HTTP_2, body, Duration::from_secs(5)).await;
        assert!(response.headers().get(http::header::CONNECTION).is_none());
    }
}
