//! The tower stack, outermost first, in one place.

use axum::body::Body;
use axum::Router;
use http::{header, HeaderName, Request};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::config::LimitsConfig;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// 1. Authorization is marked sensitive before anything could log it.
/// 2. Every request gets an id (or keeps the proxy's), recorded in its span and echoed back.
/// 3. An HTTP/1 answer given before the body was read says `Connection: close`
///    (`unread_body.rs`), since hyper closes such a connection.
/// 4. A panic in a handler becomes a 500 instead of a dropped connection.
/// 5. Bodies over `limits.max_request_body` are refused with 413 before they are read.
pub fn apply(router: Router, limits: &LimitsConfig) -> Router {
    let body_limit = usize::try_from(limits.max_request_body).unwrap_or(usize::MAX);
    router.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span).on_response(log_response))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(axum::middleware::from_fn(crate::unread_body::close_when_body_unread))
            .layer(CatchPanicLayer::new())
            .layer(RequestBodyLimitLayer::new(body_limit)),
    )
}

/// One line per answer, in the request's span (id, method, path, user): status and the time
/// taken as numbers, so JSON logs can be filtered and summed without parsing text.
fn log_response<B>(response: &http::Response<B>, latency: std::time::Duration, _span: &tracing::Span) {
    tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "answered");
}

/// The span every log line of a request is in; `user` is filled in after authentication.
/// Headers are deliberately not recorded.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        user = tracing::field::Empty,
    )
}
