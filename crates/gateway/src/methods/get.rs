//! GET and HEAD of a calendar object (RFC 4791 §4) or a file, with RFC 7232 conditionals.

use axum::response::{IntoResponse, Response};
use dav::headers::{quote_etag, Conditional};
use dav::path::ResourcePath;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use store::FolderKind;

use super::conditional;
use crate::error::GatewayError;
use crate::resources::{self, RequestContext, Resource};
use crate::scheduling::implicit;

pub async fn get(cx: &RequestContext, path: &ResourcePath, headers: &HeaderMap) -> Result<Response, GatewayError> {
    let ResourcePath::Object { calendar, item, .. } = path else {
        return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(path)) });
    };
    let condition = conditional(headers)?;
    let folder = cx.session.folder(calendar).await?;
    let calendar_folder = folder.kind == FolderKind::Calendar;
    let Resource::Object { meta, body, .. } = resources::object(cx.session.as_ref(), folder, item).await? else {
        return Err(GatewayError::Status(StatusCode::NOT_FOUND));
    };
    let etag = meta.etag.as_str();
    match &condition {
        Conditional::NoneMatch(tags) if tags.iter().any(|t| t == etag) => {
            return Ok(not_modified(etag));
        }
        Conditional::NotExists => return Ok(not_modified(etag)),
        Conditional::Matches(tags) if !tags.iter().any(|t| t == etag) => {
            return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
        }
        _ => {}
    }
    let body = body.unwrap_or_default();
    // RFC 6638 §3.2.10: scheduling object resources carry their Schedule-Tag.
    let schedule_tag =
        if calendar_folder && implicit::scheduling_enabled(cx) { implicit::schedule_tag_of(&body) } else { None };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    if let Some(tag) = schedule_tag {
        implicit::insert_schedule_tag(h, &tag);
    }
    let content_type = match &meta.content_type {
        Some(media_type) => HeaderValue::from_str(media_type).ok(),
        None => Some(HeaderValue::from_static("text/calendar; charset=utf-8")),
    };
    h.insert(header::CONTENT_TYPE, content_type.unwrap_or(HeaderValue::from_static("application/octet-stream")));
    insert_etag(h, etag);
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(meta.last_modified)) {
        h.insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    insert_etag(response.headers_mut(), etag);
    response
}

pub fn insert_etag(headers: &mut HeaderMap, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(&quote_etag(etag)) {
        headers.insert(header::ETAG, value);
    }
}
