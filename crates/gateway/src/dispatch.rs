//! The single match from (method, resource) to handler: read it to find any request.

use axum::response::Response;
use bytes::Bytes;
use dav::path::ResourcePath;
use http::{HeaderMap, Method};
use store::{FolderKind, StoreError};

use crate::error::GatewayError;
use crate::methods::{copymove, delete, get, mkcalendar, options, propfind, proppatch, put, report};
use crate::resources::RequestContext;
use crate::scheduling::{mailboxes, outbox};

pub async fn dispatch(
    cx: &RequestContext,
    method: &Method,
    path: &ResourcePath,
    root_href: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    use ResourcePath::{Calendar, Object, ScheduleOutbox};
    let corrected;
    let path = match method.as_str() {
        "PROPFIND" | "PROPPATCH" | "DELETE" | "COPY" | "MOVE" => {
            corrected = nested_collection(cx, path).await?;
            corrected.as_ref().unwrap_or(path)
        }
        _ => path,
    };
    mailboxes::guard(cx, method.as_str(), path).await?;
    match (method.as_str(), path) {
        ("PROPFIND", _) => propfind::propfind(cx, path, root_href, headers, &body).await,
        ("PROPPATCH", _) => proppatch::proppatch(cx, path, &body).await,
        ("REPORT", _) => report::report(cx, path, headers, &body).await,
        ("MKCALENDAR", _) => mkcalendar::mkcalendar(cx, path, &body).await,
        ("MKCOL", _) => mkcalendar::mkcol(cx, path, headers, &body).await,
        ("GET" | "HEAD", Object { .. }) => get::get(cx, path, headers).await,
        ("PUT", Object { .. }) => put::put(cx, path, headers, body).await,
        ("POST", ScheduleOutbox { .. }) => outbox::post(cx, headers, &body).await,
        ("DELETE", Object { .. } | Calendar { .. }) => delete::delete(cx, path, headers).await,
        ("COPY" | "MOVE", Object { .. } | Calendar { .. }) => {
            copymove::copy_or_move(cx, method.as_str() == "MOVE", path, headers).await
        }
        _ => Err(GatewayError::MethodNotAllowed { allow: options::allow(Some(path)) }),
    }
}

/// A path without a trailing slash parses as an object, but inside a plain collection it may
/// name a nested collection (`/litmus/coll`). Calendar objects never are, so requests to
/// calendars cost no extra lookup beyond the folder the handler reads anyway (cached by JMAP).
pub async fn nested_collection(cx: &RequestContext, path: &ResourcePath) -> Result<Option<ResourcePath>, GatewayError> {
    let ResourcePath::Object { user, calendar, item } = path else { return Ok(None) };
    let parent = match cx.session.folder(calendar).await {
        Ok(parent) => parent,
        Err(StoreError::NotFound) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    if parent.kind != FolderKind::Collection {
        return Ok(None);
    }
    let name = format!("{calendar}/{item}");
    match cx.session.folder(&name).await {
        Ok(_) => Ok(Some(ResourcePath::Calendar { user: user.clone(), calendar: name })),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}
