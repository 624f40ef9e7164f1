//! Every failure of a request becomes an HTTP response here, and only here.
//!
//! | source | becomes |
//! |---|---|
//! | body or header that does not parse | 400 |
//! | calendar validation | 403 + `<C:valid-calendar-data/>` etc. (RFC 4791 §1.3: preconditions are 403/409) |
//! | `StoreError::Unauthenticated` | 401 + `WWW-Authenticate` (added by the auth step) |
//! | `NotFound` / `Forbidden` / `QuotaExceeded` | 404 / 403 + `<D:need-privileges/>` / 507 |
//! | `PreconditionFailed` | 412 |
//! | `UidConflict` | 403 + `<C:no-uid-conflict><D:href>` |
//! | `Unavailable` / `BadGateway` / `Timeout` | 503 / 502 / 504, each with `Retry-After` |
//! | `Internal` | 500, details only in the log |
//! | a per-user limit (invitations per hour) | 429 + `Retry-After` |

use axum::response::{IntoResponse, Response};
use dav::Precondition;
use http::{header, HeaderValue, StatusCode};
use store::StoreError;

/// Retry-After sent with 503 when the backend gives no better hint.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Understood but refused, with a message for the user (e.g. a property MKCALENDAR cannot set).
    #[error("{status}: {message}")]
    Refused { status: StatusCode, message: String },
    /// A DAV pre/postcondition failed: status and the element for `<D:error>`.
    #[error("{status}: {condition:?}")]
    Condition { status: StatusCode, condition: Precondition },
    /// A plain status without a body, e.g. 404 for an unknown path, 405 with its `Allow`.
    #[error("{0}")]
    Status(StatusCode),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("request timed out")]
    Timeout,
    /// The user sent more than a limit allows (outgoing invitations per hour): 429 with
    /// `Retry-After` (RFC 6585 §4) and a message saying which limit.
    #[error("too many requests: {message}")]
    TooMany { retry_after: std::time::Duration, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GatewayError {
    pub fn condition(status: StatusCode, condition: Precondition) -> Self {
        GatewayError::Condition { status, condition }
    }

    pub fn forbidden(condition: Precondition) -> Self {
        GatewayError::condition(StatusCode::FORBIDDEN, condition)
    }
}

impl From<dav::ParseError> for GatewayError {
    fn from(error: dav::ParseError) -> Self {
        match error {
            dav::ParseError::Condition(condition) => GatewayError::forbidden(condition),
            other => GatewayError::BadRequest(other.to_string()),
        }
    }
}

impl From<dav::path::PathError> for GatewayError {
    fn from(error: dav::path::PathError) -> Self {
        match error {
            dav::path::PathError::NotFound => GatewayError::Status(StatusCode::NOT_FOUND),
            dav::path::PathError::InvalidSegment => GatewayError::BadRequest("invalid path".into()),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            GatewayError::BadRequest(message) => {
                tracing::info!(%message, "bad request");
                plain(StatusCode::BAD_REQUEST, &message)
            }
            GatewayError::Refused { status, message } => {
                tracing::info!(%status, %message, "refused");
                plain(status, &message)
            }
            GatewayError::Condition { status, condition } => {
                tracing::info!(%status, ?condition, "precondition failed");
                condition_response(status, &condition)
            }
            GatewayError::Status(status) => status.into_response(),
            GatewayError::MethodNotAllowed { allow } => {
                let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
            GatewayError::Timeout => {
                tracing::warn!("request timed out");
                unavailable(StatusCode::SERVICE_UNAVAILABLE, None)
            }
            GatewayError::TooMany { retry_after, message } => {
                tracing::info!(%message, "limit reached");
                let mut response = plain(StatusCode::TOO_MANY_REQUESTS, &message);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
                response
            }
            GatewayError::Store(error) => store_error_response(error),
        }
    }
}

fn store_error_response(error: StoreError) -> Response {
    match error {
        StoreError::Unauthenticated => StatusCode::UNAUTHORIZED.into_response(),
        StoreError::NotFound => StatusCode::NOT_FOUND.into_response(),
        StoreError::AlreadyExists => {
            condition_response(StatusCode::METHOD_NOT_ALLOWED, &Precondition::ResourceMustBeNull)
        }
        StoreError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED.into_response(),
        StoreError::UidConflict { uid, existing } => {
            tracing::info!(%uid, %existing, "UID conflict");
            // The store knows only the item name; the caller rewrites this into a full href
            // (see `methods::put`), so this arm is the fallback.
            condition_response(StatusCode::FORBIDDEN, &Precondition::NoUidConflict(existing.to_string()))
        }
        StoreError::Forbidden(reason) => {
            tracing::info!(%reason, "forbidden by the mail store");
            condition_response(StatusCode::FORBIDDEN, &Precondition::NeedPrivileges)
        }
        StoreError::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE.into_response(),
        StoreError::Rejected(reason) => {
            tracing::info!(%reason, "rejected by the mail store");
            plain(StatusCode::CONFLICT, &reason)
        }
        StoreError::Unavailable { retry_after, source } => {
            tracing::warn!(error = %source, "mail store unavailable");
            unavailable(StatusCode::SERVICE_UNAVAILABLE, retry_after.map(|d| d.as_secs().max(1)))
        }
        StoreError::BadGateway(reason) => {
            tracing::warn!(%reason, "mail store answered unusably");
            unavailable(StatusCode::BAD_GATEWAY, None)
        }
        StoreError::Timeout(source) => {
            tracing::warn!(error = %source, "mail store timed out");
            unavailable(StatusCode::GATEWAY_TIMEOUT, None)
        }
        StoreError::Internal(source) => {
            tracing::error!(error = %source, "mail store failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn unavailable(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let mut response = status.into_response();
    let secs = retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// `<D:error>` with the condition element, as RFC 4918 §16 and RFC 4791 §1.3 describe.
pub fn condition_response(status: StatusCode, condition: &Precondition) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))],
        dav::response::error_body(condition),
    )
        .into_response()
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], format!("{message}\n"))
        .into_response()
}
