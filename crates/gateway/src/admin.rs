//! The admin listener's service: health, readiness, metrics and the CalDAV switch. It runs
//! on a listener of its own (`[admin] listen`), never on the one phones reach.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use crate::access::Scope;
use crate::AppState;

/// The operators' service on the admin listener (`[admin] listen`): `/healthz` answers while
/// the process serves, `/readyz` only while the backend answers too (a load balancer then
/// sends phones elsewhere instead of into 503s), `/metrics` the OpenMetrics text, and the
/// CalDAV switch (`/access`, with the `[admin] token` as a bearer token).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics_text))
        .route("/access", axum::routing::get(access_current))
        .route("/access/service", axum::routing::put(access_service))
        .route("/access/{kind}/{name}", axum::routing::put(access_named))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(state.0.readiness_timeout, state.0.backend.ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "not ready: the backend did not answer the readiness probe");
            (StatusCode::SERVICE_UNAVAILABLE, format!("backend unavailable: {error}\n")).into_response()
        }
        Err(_) => {
            tracing::warn!(timeout_secs = state.0.readiness_timeout.as_secs(), "not ready: readiness probe timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "backend did not answer in time\n").into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match state.0.metrics.encode() {
        Ok(text) => {
            ([(http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /access`: the switch's settings in force, as JSON in the `[access]` shape.
async fn access_current(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    match serde_json::to_string_pretty(&state.access().current()) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn access_service(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    switch(&state, &headers, &body, Scope::Service)
}

/// `PUT /access/domains/<domain>` and `PUT /access/users/<login or address>`.
async fn access_named(
    State(state): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = match kind.as_str() {
        "domains" => Scope::Domain(&name),
        "users" => Scope::User(&name),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    switch(&state, &headers, &body, scope)
}

/// `PUT` with the body `on` or `off`.
fn switch(state: &AppState, headers: &HeaderMap, body: &[u8], scope: Scope<'_>) -> Response {
    if let Some(refused) = refusal(state, headers) {
        return refused;
    }
    let on = match std::str::from_utf8(body).map(|text| text.trim().to_ascii_lowercase()).as_deref() {
        Ok("on") => true,
        Ok("off") => false,
        _ => return (StatusCode::BAD_REQUEST, "the body must be `on` or `off`\n").into_response(),
    };
    if matches!(scope, Scope::Domain(name) | Scope::User(name) if name.trim().is_empty()) {
        return (StatusCode::BAD_REQUEST, "no name\n").into_response();
    }
    state.access().set(scope, on, "admin API");
    StatusCode::NO_CONTENT.into_response()
}

/// The answer refusing a call without the bearer token of `[admin] token`, compared through
/// digests so the time taken says nothing about how much of it matched. Without a configured
/// token every call is refused.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let expected = state.0.admin_token.as_bytes();
    if expected.is_empty() {
        return Some((StatusCode::FORBIDDEN, "no [admin] token is configured: the admin API is off\n").into_response());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    if Sha256::digest(given.as_bytes()) == Sha256::digest(expected) {
        return None;
    }
    tracing::warn!("admin API call with a missing or wrong token refused");
    let mut refused = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
    refused.headers_mut().insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    Some(refused)
}
