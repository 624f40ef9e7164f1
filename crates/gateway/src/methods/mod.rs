//! One file per DAV method; each handler is parse (pure) → load (store) → compute (pure) → write.

pub mod copymove;
pub mod delete;
pub mod folder_props;
pub mod get;
pub mod mkcalendar;
pub mod options;
pub mod propfind;
pub mod proppatch;
pub mod put;
pub mod report;
mod streamed_multistatus;

pub use streamed_multistatus::streamed_multistatus;

use axum::response::{IntoResponse, Response};
use dav::headers::Depth;
use dav::response::MultiStatus;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::error::GatewayError;
use crate::properties::PropertyContext;
use crate::resources::RequestContext;

/// 207 with the multistatus document.
pub fn multistatus(body: &MultiStatus) -> Response {
    (
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))],
        body.to_xml(),
    )
        .into_response()
}

/// The Depth header, or `default` when absent.
pub fn depth(headers: &HeaderMap, default: Depth) -> Result<Depth, GatewayError> {
    let value = headers.get("depth").map(|v| v.to_str().map_err(|_| dav::ParseError::Header("Depth"))).transpose()?;
    Ok(dav::headers::parse_depth(value)?.unwrap_or(default))
}

pub fn conditional(headers: &HeaderMap) -> Result<dav::headers::Conditional, GatewayError> {
    let text = |name: header::HeaderName, label: &'static str| {
        headers.get(name).map(|v| v.to_str().map_err(|_| dav::ParseError::Header(label))).transpose()
    };
    let if_match = text(header::IF_MATCH, "If-Match")?;
    let if_none_match = text(header::IF_NONE_MATCH, "If-None-Match")?;
    Ok(dav::headers::parse_conditional(if_match, if_none_match)?)
}

pub fn property_context(cx: &RequestContext) -> PropertyContext {
    PropertyContext {
        principal: cx.session.principal().clone(),
        max_resource_size: cx.app.limits().max_resource_size,
        max_instances: cx.app.limits().max_instances,
        max_attendees_per_instance: cx.app.limits().max_attendees_per_instance,
        max_attachments_per_resource: cx.app.limits().max_attachments_per_resource,
        max_attachment_size: cx.app.limits().max_attachment_size,
        scheduling: cx.scheduling(),
        default_calendar: None,
    }
}
