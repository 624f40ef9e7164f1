//! OPTIONS (RFC 4918 §10.1, RFC 4791 §5.1): which DAV classes and methods a resource offers.

use axum::response::{IntoResponse, Response};
use dav::path::ResourcePath;
use http::{header, HeaderValue, StatusCode};

/// RFC 4918 class 1 and 3 (no locking), CalDAV, RFC 5689 extended MKCOL.
pub const DAV_CLASSES: &str = "1, 3, calendar-access, extended-mkcol";

/// The methods a resource supports, also sent with 405.
pub fn allow(path: Option<&ResourcePath>) -> &'static str {
    match path {
        Some(ResourcePath::Calendar { .. }) => {
            "OPTIONS, GET, HEAD, DELETE, PROPFIND, PROPPATCH, REPORT, MKCALENDAR, MKCOL, COPY, MOVE"
        }
        Some(ResourcePath::Object { .. }) => {
            "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCOL, COPY, MOVE"
        }
        _ => "OPTIONS, PROPFIND, REPORT",
    }
}

/// Answered without authentication: it reveals nothing about any user, and clients (GNOME
/// Online Accounts, macOS) probe with OPTIONS before sending credentials.
pub fn options(path: Option<&ResourcePath>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert("dav", HeaderValue::from_static(DAV_CLASSES));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow(path)));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}
