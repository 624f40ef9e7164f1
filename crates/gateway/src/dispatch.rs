//! The single match from (method, resource) to handler: read it to find any request.

use axum::response::Response;
use bytes::Bytes;
use dav::path::ResourcePath;
use http::{HeaderMap, Method};

use crate::error::GatewayError;
use crate::methods::{delete, get, mkcalendar, options, propfind, proppatch, put, report};
use crate::resources::RequestContext;

pub async fn dispatch(
    cx: &RequestContext,
    method: &Method,
    path: &ResourcePath,
    root_href: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    use ResourcePath::{Calendar, Object};
    match (method.as_str(), path) {
        ("PROPFIND", _) => propfind::propfind(cx, path, root_href, headers, &body).await,
        ("PROPPATCH", _) => proppatch::proppatch(cx, path, &body).await,
        ("REPORT", _) => report::report(cx, path, &body).await,
        ("MKCALENDAR", _) => mkcalendar::mkcalendar(cx, path, &body).await,
        ("MKCOL", _) => mkcalendar::mkcol(cx, path, &body).await,
        ("GET" | "HEAD", Object { .. }) => get::get(cx, path, headers).await,
        ("PUT", Object { .. }) => put::put(cx, path, headers, body).await,
        ("DELETE", Object { .. } | Calendar { .. }) => delete::delete(cx, path, headers).await,
        _ => Err(GatewayError::MethodNotAllowed { allow: options::allow(Some(path)) }),
    }
}
