//! MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689): a new calendar collection in
//! the user's home.

use axum::response::{IntoResponse, Response};
use dav::names::{NS_CALDAV, NS_DAV};
use dav::path::ResourcePath;
use dav::request::{MkCollection, PropValue};
use dav::{Precondition, PropName};
use http::{header, HeaderValue, StatusCode};

use super::folder_props;
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn mkcalendar(cx: &RequestContext, path: &ResourcePath, body: &[u8]) -> Result<Response, GatewayError> {
    let request = dav::request::parse_mkcalendar(body)?;
    create(cx, path, &request).await
}

/// Only calendar collections can live in a calendar home, so an extended MKCOL must ask for
/// one, and a plain MKCOL is refused (RFC 5689 §3.3 valid-resourcetype).
pub async fn mkcol(cx: &RequestContext, path: &ResourcePath, body: &[u8]) -> Result<Response, GatewayError> {
    let request = dav::request::parse_mkcol(body)?;
    let is_calendar = request.properties.iter().any(|(name, value)| {
        *name == PropName::ResourceType
            && matches!(value, PropValue::ResourceType(types)
                if types.iter().any(|t| t.is(NS_DAV, "collection")) && types.iter().any(|t| t.is(NS_CALDAV, "calendar")))
    });
    if !is_calendar {
        return Err(GatewayError::forbidden(Precondition::ValidResourceType));
    }
    create(cx, path, &request).await
}

async fn create(cx: &RequestContext, path: &ResourcePath, request: &MkCollection) -> Result<Response, GatewayError> {
    let ResourcePath::Calendar { calendar, .. } = path else {
        return Err(GatewayError::forbidden(Precondition::CalendarCollectionLocationOk));
    };
    let spec = folder_props::new_folder(calendar, &request.properties).map_err(|refusals| {
        let detail: Vec<String> = refusals.iter().map(|(name, r)| format!("{}: {r}", name.to_qname())).collect();
        GatewayError::Refused {
            status: StatusCode::FORBIDDEN,
            message: format!("cannot create the calendar: {}", detail.join("; ")),
        }
    })?;
    cx.session.create_folder(&spec).await?;
    let mut response = StatusCode::CREATED.into_response();
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(response)
}
