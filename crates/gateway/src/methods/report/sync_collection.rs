//! sync-collection (RFC 6578): what changed in a calendar since a token, including removals.

use axum::response::Response;
use calendar::retrieval::CalendarDataRequest;
use dav::request::PropFind;
use dav::response::{MultiStatus, ResponseBody};
use dav::Precondition;
use http::StatusCode;
use store::{Changes, ItemMeta, ItemName};

use super::calendar_data::{floating_zone, Shaper};
use crate::error::GatewayError;
use crate::methods::{multistatus, property_context};
use crate::resources::{self, RequestContext, Resource};
use crate::{properties, sync_token};

pub async fn sync_collection(
    cx: &RequestContext,
    calendar: &str,
    token: Option<&str>,
    limit: Option<u64>,
    props: &PropFind,
    calendar_data: &CalendarDataRequest,
) -> Result<Response, GatewayError> {
    let session = cx.session.as_ref();
    let folder = session.folder(calendar).await?;
    let (state, changed, removed): (_, Vec<ItemMeta>, Vec<ItemName>) = match token {
        // Initial sync (RFC 6578 §3.4): every member.
        None => {
            let listing = session.list(&folder.id).await?;
            (listing.state, listing.items, Vec::new())
        }
        Some(token) => {
            let since =
                sync_token::from_uri(token).ok_or_else(|| GatewayError::forbidden(Precondition::ValidSyncToken))?;
            match session.changes(&folder.id, &since).await? {
                Changes::Delta { state, changed, removed } => (state, changed, removed),
                // RFC 6578 §3.2: the client must start over with an initial sync.
                Changes::Resync => return Err(GatewayError::forbidden(Precondition::ValidSyncToken)),
            }
        }
    };
    // Opaque states have no midpoint to hand out as a partial token, so a result larger than
    // the client's limit is refused as RFC 6578 §3.6 allows rather than truncated.
    if let Some(limit) = limit {
        if (changed.len() + removed.len()) as u64 > limit {
            return Err(GatewayError::condition(
                StatusCode::INSUFFICIENT_STORAGE,
                Precondition::NumberOfMatchesWithinLimits,
            ));
        }
    }
    let shaper = Shaper {
        request: calendar_data,
        floating: floating_zone(&folder, None)?,
        max_instances: cx.app.limits().max_instances,
    };
    let mut objects = resources::objects(session, &folder, changed, properties::needs_bodies(props)).await?;
    for object in &mut objects {
        if let Resource::Object { body: Some(body), .. } = object {
            *body = shaper.shape(body.clone())?;
        }
    }
    let pcx = property_context(cx);
    let mut responses: Vec<_> = objects.iter().map(|r| properties::response(&pcx, r, props)).collect();
    responses.extend(removed.iter().map(|name| dav::response::Response {
        href: dav::path::object_href(cx.user(), &folder.name, name.as_str()),
        body: ResponseBody::Status(StatusCode::NOT_FOUND),
        error: None,
    }));
    Ok(multistatus(&MultiStatus { responses, sync_token: Some(sync_token::to_uri(&state)) }))
}
