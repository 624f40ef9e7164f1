//! PUT of a calendar object resource (RFC 4791 §5.3.2): validated, then written with its
//! precondition checked inside the store.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use calendar::{ComponentKind, Violation};
use dav::path::ResourcePath;
use dav::Precondition;
use http::{header, HeaderMap, StatusCode};
use store::{Component, ItemName, NewItem, StoreError, TimeSpan};

use super::conditional;
use super::delete::expected;
use super::get::insert_etag;
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn put(
    cx: &RequestContext,
    path: &ResourcePath,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GatewayError> {
    let ResourcePath::Object { calendar, item, .. } = path else {
        return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(path)) });
    };
    check_content_type(headers)?;
    let expected = expected(&conditional(headers)?)?;
    if body.len() as u64 > cx.app.limits().max_resource_size {
        return Err(GatewayError::forbidden(Precondition::MaxResourceSize));
    }
    let object = calendar::validate_object(&body).map_err(|invalid| {
        tracing::info!(reason = %invalid, "invalid calendar object");
        GatewayError::forbidden(match invalid.precondition() {
            Violation::ValidCalendarData => Precondition::ValidCalendarData,
            Violation::ValidCalendarObjectResource => Precondition::ValidCalendarObjectResource,
            Violation::SupportedCalendarComponent => Precondition::SupportedCalendarComponent,
        })
    })?;
    let component = match object.component {
        ComponentKind::Event => Component::Event,
        ComponentKind::Todo => Component::Todo,
        ComponentKind::Journal => Component::Journal,
    };
    // RFC 4918 §9.7.1: a PUT into a collection that does not exist is 409.
    let folder = match cx.session.folder(calendar).await {
        Err(StoreError::NotFound) => return Err(GatewayError::Status(StatusCode::CONFLICT)),
        other => other?,
    };
    if !folder.components.contains(component) {
        return Err(GatewayError::forbidden(Precondition::SupportedCalendarComponent));
    }
    // RFC 4791 §5.3.2.1 CALDAV:max-instances, checked while computing the index span.
    let span =
        object.span(cx.app.limits().max_instances).map_err(|_| GatewayError::forbidden(Precondition::MaxInstances))?;
    let span = TimeSpan { start: span.start.map(|t| t.timestamp()), end: span.end.map(|t| t.timestamp()) };
    let new_item = NewItem { name: ItemName::new(item.clone()), uid: object.uid, component, body, span: Some(span) };
    let stored = match cx.session.put(&folder.id, new_item, expected).await {
        Err(StoreError::UidConflict { existing, .. }) => {
            let href = dav::path::object_href(cx.user(), calendar, existing.as_str());
            return Err(GatewayError::forbidden(Precondition::NoUidConflict(href)));
        }
        other => other?,
    };
    let status = if stored.created { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
    let mut response = status.into_response();
    // RFC 4791 §5.3.4: an ETag only when a GET would return exactly these bytes.
    if stored.verbatim {
        insert_etag(response.headers_mut(), stored.meta.etag.as_str());
    }
    Ok(response)
}

/// RFC 4791 §5.3.2.1 supported-calendar-data. A missing Content-Type is accepted: some
/// clients (older Evolution) omit it, and the body is validated anyway.
fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let media_type = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("text/calendar") {
        Ok(())
    } else {
        Err(GatewayError::condition(StatusCode::UNSUPPORTED_MEDIA_TYPE, Precondition::SupportedCalendarData))
    }
}
