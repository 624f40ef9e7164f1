//! calendar-multiget (RFC 4791 §7.9): the named objects of one calendar in one backend call.

use axum::response::Response;
use calendar::retrieval::CalendarDataRequest;
use dav::path::ResourcePath;
use dav::request::PropFind;
use dav::response::{MultiStatus, ResponseBody};
use dav::Precondition;
use http::StatusCode;
use store::ItemName;

use super::calendar_data::{floating_zone, Shaper};
use crate::error::GatewayError;
use crate::methods::{multistatus, property_context};
use crate::properties;
use crate::resources::{RequestContext, Resource};

pub async fn calendar_multiget(
    cx: &RequestContext,
    calendar: &str,
    props: &PropFind,
    hrefs: &[String],
    calendar_data: &CalendarDataRequest,
) -> Result<Response, GatewayError> {
    if hrefs.len() > cx.app.limits().max_multiget_hrefs {
        return Err(GatewayError::forbidden(Precondition::NumberOfMatchesWithinLimits));
    }
    let folder = super::calendar_folder(cx.session.as_ref(), calendar).await?;
    let shaper = Shaper {
        request: calendar_data,
        floating: floating_zone(&folder, None)?,
        max_instances: cx.app.limits().max_instances,
    };
    // Each href either names an object of this calendar or is answered 404 on its own line:
    // a multiget never reaches into another collection or another user (RFC 4791 §7.9).
    let mut wanted: Vec<(String, Option<ItemName>)> = Vec::new();
    for href in hrefs {
        if wanted.iter().any(|(h, _)| h == href) {
            continue;
        }
        let name = match ResourcePath::parse_href(href) {
            Ok(ResourcePath::Object { user, calendar: c, item }) if user == cx.user() && c == calendar => {
                Some(ItemName::new(item))
            }
            _ => None,
        };
        wanted.push((href.clone(), name));
    }
    let names: Vec<ItemName> = wanted.iter().filter_map(|(_, n)| n.clone()).collect();
    let items = if names.is_empty() { Vec::new() } else { cx.session.get(&folder.id, &names).await? };
    let pcx = property_context(cx);
    let mut responses = Vec::with_capacity(wanted.len());
    for (href, name) in wanted {
        let item = name.and_then(|n| items.iter().find(|i| i.meta.name == n));
        responses.push(match item {
            Some(item) => {
                let body = shaper.shape(item.body.clone())?;
                let resource = Resource::Object {
                    folder: folder.clone(),
                    meta: item.meta.clone(),
                    body: Some(body),
                    properties: item.properties.clone(),
                };
                let mut response = properties::response(&pcx, &resource, props);
                // Echo the client's href: clients match responses to requests by it.
                response.href = href;
                response
            }
            None => dav::response::Response { href, body: ResponseBody::Status(StatusCode::NOT_FOUND), error: None },
        });
    }
    Ok(multistatus(&MultiStatus { responses, sync_token: None }))
}
