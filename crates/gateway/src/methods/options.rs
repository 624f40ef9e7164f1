//! OPTIONS (RFC 4918 §10.1, RFC 4791 §5.1): which DAV classes and methods a resource offers.

use axum::response::{IntoResponse, Response};
use dav::path::ResourcePath;
use http::{header, HeaderValue, StatusCode};

/// RFC 4918 class 1 and 3 (no locking), CalDAV, RFC 5689 extended MKCOL.
pub const DAV_CLASSES: &str = "1, 3, calendar-access, extended-mkcol";
/// The same with RFC 6638 §2 `calendar-auto-schedule`, for users who may schedule: iOS,
/// macOS, Thunderbird and Evolution offer scheduling only when they see it.
pub const DAV_CLASSES_WITH_SCHEDULING: &str = "1, 3, calendar-access, extended-mkcol, calendar-auto-schedule";

/// The methods a resource supports, also sent with 405.
pub fn allow(path: Option<&ResourcePath>) -> &'static str {
    match path {
        Some(ResourcePath::Calendar { .. }) => {
            "OPTIONS, GET, HEAD, DELETE, PROPFIND, PROPPATCH, REPORT, MKCALENDAR, MKCOL, COPY, MOVE"
        }
        Some(ResourcePath::Object { .. }) => {
            "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCOL, COPY, MOVE"
        }
        Some(ResourcePath::ScheduleOutbox { .. }) => "OPTIONS, POST, PROPFIND",
        _ => "OPTIONS, PROPFIND, REPORT",
    }
}

/// Answered without authentication: it reveals nothing about any user, and clients (GNOME
/// Online Accounts, macOS) probe with OPTIONS before sending credentials. `scheduling` says
/// whether to advertise RFC 6638 (see `options_scheduling` in lib.rs).
pub fn options(path: Option<&ResourcePath>, scheduling: bool) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let classes = if scheduling { DAV_CLASSES_WITH_SCHEDULING } else { DAV_CLASSES };
    headers.insert("dav", HeaderValue::from_static(classes));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow(path)));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}
