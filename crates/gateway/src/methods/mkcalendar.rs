//! MKCALENDAR (RFC 4791 §5.3.1), MKCOL (RFC 4918 §9.3) and extended MKCOL (RFC 5689).
//!
//! Calendars live at the top of the home, where clients look for them. A plain MKCOL makes a
//! plain WebDAV collection, which holds files and further plain collections (generic WebDAV
//! clients, litmus); calendar collections hold no collections (RFC 4791 §4.2).

use axum::response::{IntoResponse, Response};
use dav::names::{QName, NS_CALDAV, NS_DAV};
use dav::path::ResourcePath;
use dav::request::{MkCollection, PropValue};
use dav::{Precondition, PropName};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use store::{FolderKind, ItemName, NewFolder, StoreError};

use super::folder_props::{self, Refusal};
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn mkcalendar(cx: &RequestContext, path: &ResourcePath, body: &[u8]) -> Result<Response, GatewayError> {
    let request = dav::request::parse_mkcalendar(body)?;
    let name = target(path).map_err(|_| GatewayError::forbidden(Precondition::CalendarCollectionLocationOk))?;
    if dav::path::parent_folder(&name).is_some() {
        return Err(GatewayError::forbidden(Precondition::CalendarCollectionLocationOk));
    }
    match folder_props::new_folder(&name, &request.properties) {
        Ok(spec) => create(cx, spec).await,
        Err(refusals) => refused(QName::caldav("mkcalendar-response"), &request.properties, refusals),
    }
}

/// What the resourcetype of an extended MKCOL asks for.
enum Wanted {
    Calendar,
    Collection,
}

pub async fn mkcol(
    cx: &RequestContext,
    path: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    // RFC 4918 §9.3: a body the server does not understand is 415; RFC 5689 bodies are XML.
    if !body.is_empty() && !is_xml(headers) {
        return Err(GatewayError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let request = if body.is_empty() { MkCollection::default() } else { dav::request::parse_mkcol(body)? };
    let name = target(path)?;
    let spec = match wanted(&request)? {
        Wanted::Calendar if dav::path::parent_folder(&name).is_some() => {
            return Err(GatewayError::forbidden(Precondition::CalendarCollectionLocationOk))
        }
        Wanted::Calendar => folder_props::new_folder(&name, &request.properties),
        Wanted::Collection => folder_props::new_collection(&name, &request.properties),
    };
    match spec {
        Ok(spec) => create(cx, spec).await,
        Err(refusals) => refused(QName::dav("mkcol-response"), &request.properties, refusals),
    }
}

fn wanted(request: &MkCollection) -> Result<Wanted, GatewayError> {
    let Some((_, value)) = request.properties.iter().find(|(name, _)| *name == PropName::ResourceType) else {
        return Ok(Wanted::Collection);
    };
    let PropValue::ResourceType(types) = value else {
        return Err(GatewayError::forbidden(Precondition::ValidResourceType));
    };
    let collection = types.iter().any(|t| t.is(NS_DAV, "collection"));
    let calendar = types.iter().any(|t| t.is(NS_CALDAV, "calendar"));
    match (collection, calendar, types.len()) {
        (true, true, 2) => Ok(Wanted::Calendar),
        (true, false, 1) => Ok(Wanted::Collection),
        _ => Err(GatewayError::forbidden(Precondition::ValidResourceType)),
    }
}

fn is_xml(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return true };
    let media_type = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media_type == "application/xml" || media_type == "text/xml"
}

/// The folder name a new collection gets. A path without a trailing slash parses as an
/// object; for MKCOL it still names the collection.
fn target(path: &ResourcePath) -> Result<String, GatewayError> {
    match path {
        ResourcePath::Calendar { calendar, .. } => Ok(calendar.clone()),
        ResourcePath::Object { calendar, item, .. } => Ok(format!("{calendar}/{item}")),
        // The home, the principals and the root already exist (RFC 4918 §9.3.1).
        _ => Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(path)) }),
    }
}

/// The failed creation's body (RFC 4791 §5.3.1.2, RFC 5689 §3.3): each refused property with
/// its status, every other requested one 424 Failed Dependency, as for PROPPATCH.
fn refused(
    root: QName,
    requested: &[(PropName, PropValue)],
    refusals: Vec<(PropName, Refusal)>,
) -> Result<Response, GatewayError> {
    let outcomes: Vec<(PropName, Result<(), Refusal>)> = requested
        .iter()
        .map(|(name, _)| {
            let outcome = refusals.iter().find(|(n, _)| n == name).map_or(Ok(()), |(_, r)| Err(r.clone()));
            (name.clone(), outcome)
        })
        .collect();
    for (name, refusal) in &refusals {
        tracing::info!(property = ?name, %refusal, "collection not created");
    }
    let status = if refusals.iter().any(|(_, r)| r.status() == StatusCode::FORBIDDEN) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::CONFLICT
    };
    let body = dav::response::propstat_document(&root, &super::proppatch::propstats(outcomes, true));
    Ok((status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))], body)
        .into_response())
}

/// Creates `spec` once its place is right: the parent exists (else 409, RFC 4918 §9.3.1) and
/// is a plain collection, and no file there has the name (else 405).
async fn create(cx: &RequestContext, spec: NewFolder) -> Result<Response, GatewayError> {
    if let Some((parent, last)) = spec.name.rsplit_once('/') {
        let parent = match cx.session.folder(parent).await {
            Err(StoreError::NotFound) => return Err(GatewayError::Status(StatusCode::CONFLICT)),
            other => other?,
        };
        if parent.kind == FolderKind::Calendar {
            return Err(GatewayError::Refused {
                status: StatusCode::FORBIDDEN,
                message: "a calendar collection cannot contain collections (RFC 4791 §4.2)".into(),
            });
        }
        let taken = cx.session.get(&parent.id, &[ItemName::new(last)]).await?;
        if !taken.is_empty() {
            return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(None) });
        }
    }
    cx.session.create_folder(&spec).await?;
    let mut response = StatusCode::CREATED.into_response();
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(response)
}
