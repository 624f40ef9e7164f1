//! Answers given before the request body is needed: the 401 challenge and the `.well-known`
//! redirect. Thunderbird (and every client that waits for the challenge) sends its first
//! PROPFIND with its body and without credentials. When the answer leaves the body unread,
//! hyper closes the HTTP/1.1 connection once the body did not arrive with the headers, without
//! saying so, and the client's next request on that connection fails ("server disconnected";
//! measured with httpx: about one request in six after a 401 or 301 to a PROPFIND). So the
//! body is read and dropped first; one too large or too slow to drain gets `Connection: close`
//! (RFC 9112 §9.6) instead, so no client reuses a connection that is going away. A client
//! that asked `Expect: 100-continue` has not sent its body and need not (RFC 9110 §10.1.1):
//! reading it would make hyper send the 100 and invite the upload, so that one is answered
//! at once, with `Connection: close`.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, Version};
use http_body_util::{BodyExt, Limited};

/// The most an unanswered request body may hold and still be drained: every real client's
/// PROPFIND or REPORT is far smaller; anything bigger is not worth reading for a refusal.
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// `response`, after reading and dropping what is left of the request body.
pub async fn after_draining(
    body: Body,
    headers: &HeaderMap,
    version: Version,
    timeout: Duration,
    response: Response,
) -> Response {
    if expects_continue(headers) {
        return close_unless_drained(false, version, response);
    }
    let drained = tokio::time::timeout(timeout, Limited::new(body, DRAIN_LIMIT).collect()).await;
    close_unless_drained(matches!(drained, Ok(Ok(_))), version, response)
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn close_unless_drained(drained: bool, version: Version, mut response: Response) -> Response {
    // HTTP/2 ends the stream and keeps the connection; `Connection` is not allowed there.
    if !drained && version <= Version::HTTP_11 {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http::StatusCode;

    fn challenge() -> Response {
        StatusCode::UNAUTHORIZED.into_response()
    }

    #[tokio::test]
    async fn a_small_body_is_drained_and_the_connection_kept() {
        let body = Body::from(vec![b'x'; 2048]);
        let response =
            after_draining(body, &HeaderMap::new(), Version::HTTP_11, Duration::from_secs(1), challenge()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_closes_an_http1_connection() {
        let body = Body::from(vec![b'x'; DRAIN_LIMIT + 1]);
        let response =
            after_draining(body, &HeaderMap::new(), Version::HTTP_11, Duration::from_secs(1), challenge()).await;
        assert_eq!(response.headers().get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
    }

    #[tokio::test]
    async fn http2_never_gets_a_connection_header() {
        let body = Body::from(vec![b'x'; DRAIN_LIMIT + 1]);
        let response =
            after_draining(body, &HeaderMap::new(), Version::HTTP_2, Duration::from_secs(1), challenge()).await;
        assert!(response.headers().get(header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_client_waiting_for_100_continue_is_answered_without_reading_its_body() {
        let mut headers = HeaderMap::new();
        headers.insert(header::EXPECT, HeaderValue::from_static("100-Continue"));
        // A body that never ends: reading it would hang until the timeout.
        let body = Body::from_stream(tokio_stream::pending::<Result<bytes::Bytes, std::io::Error>>());
        let started = std::time::Instant::now();
        let response = after_draining(body, &headers, Version::HTTP_11, Duration::from_secs(30), challenge()).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(response.headers().get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
    }

    #[test]
    fn an_undrained_body_means_close_only_up_to_http11() {
        assert!(close_unless_drained(false, Version::HTTP_10, challenge()).headers().contains_key(header::CONNECTION));
        assert!(!close_unless_drained(true, Version::HTTP_11, challenge()).headers().contains_key(header::CONNECTION));
    }
}
