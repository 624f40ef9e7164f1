//! principal-property-search and principal-search-property-set (RFC 3744 §9.4, §9.5).
//!
//! The backend contract has no user directory yet, so a user finds exactly one principal:
//! their own, when it matches. Scheduling (RFC 6638) will widen this to the mail system's
//! address book.

use axum::response::{IntoResponse, Response};
use dav::names::QName;
use dav::request::{PropFind, PropertySearch};
use dav::response::{Element, MultiStatus, Value};
use dav::PropName;
use http::{header, HeaderValue, StatusCode};
use store::Principal;

use crate::error::GatewayError;
use crate::methods::{multistatus, property_context};
use crate::properties;
use crate::resources::{RequestContext, Resource};

pub fn principal_property_search(
    cx: &RequestContext,
    searches: &[PropertySearch],
    any_of: bool,
    props: &PropFind,
) -> Result<Response, GatewayError> {
    let principal = cx.session.principal();
    let matches = |search: &PropertySearch| {
        let needle = search.text.to_lowercase();
        search.props.iter().any(|p| searchable(principal, p).iter().any(|v| v.to_lowercase().contains(&needle)))
    };
    // No search terms lists the principals the user may see: themselves.
    let hit = searches.is_empty() || if any_of { searches.iter().any(matches) } else { searches.iter().all(matches) };
    let responses =
        if hit { vec![properties::response(&property_context(cx), &Resource::Principal, props)] } else { Vec::new() };
    Ok(multistatus(&MultiStatus { responses, sync_token: None }))
}

/// The values a search term is matched against, per property.
fn searchable(principal: &Principal, property: &PropName) -> Vec<String> {
    match property {
        PropName::DisplayName => vec![principal.display_name.clone(), principal.user.clone()],
        PropName::CalendarUserAddressSet => {
            let mut addresses = vec![dav::path::principal_href(&principal.user)];
            addresses.extend(principal.email.iter().map(|e| format!("mailto:{e}")));
            addresses
        }
        _ => Vec::new(),
    }
}

pub fn principal_search_property_set() -> Response {
    let entry = |name: QName, description: &str| {
        Element::with(
            QName::dav("principal-search-property"),
            Value::Elements(vec![
                Element::with(QName::dav("prop"), Value::Elements(vec![Element::empty(name)])),
                Element::with(QName::dav("description"), Value::Text(description.into())).attribute("xml:lang", "en"),
            ]),
        )
    };
    let root = Element::with(
        QName::dav("principal-search-property-set"),
        Value::Elements(vec![
            entry(QName::dav("displayname"), "Display name"),
            entry(QName::caldav("calendar-user-address-set"), "Calendar user address"),
        ]),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"))],
        dav::response::document(&root),
    )
        .into_response()
}
