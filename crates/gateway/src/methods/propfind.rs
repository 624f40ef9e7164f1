//! PROPFIND (RFC 4918 §9.1).

use axum::response::Response;
use dav::headers::Depth;
use dav::path::ResourcePath;
use dav::Precondition;
use http::HeaderMap;

use super::{depth, property_context, streamed_multistatus};
use crate::error::GatewayError;
use crate::properties;
use crate::resources::{self, RequestContext};
use crate::scheduling::default_calendar::default_calendar;

/// Only a request naming `schedule-default-calendar-URL` pays for the folder listing it needs
/// (it is not part of allprop, RFC 4918 §9.1).
fn names_default_calendar(selection: &dav::request::PropFind) -> bool {
    matches!(selection, dav::request::PropFind::Prop(names) if names.contains(&dav::PropName::ScheduleDefaultCalendarUrl))
}

pub async fn propfind(
    cx: &RequestContext,
    path: &ResourcePath,
    root_href: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    // A missing Depth means infinity (RFC 4918 §9.1), which no client of a calendar server
    // means; like sabre/dav we read it as 1. An explicit infinity is refused.
    let depth = depth(headers, Depth::One)?;
    if depth == Depth::Infinity {
        return Err(GatewayError::forbidden(Precondition::PropfindFiniteDepth));
    }
    let selection = dav::request::parse_propfind(body)?;
    let loaded = resources::load(cx, path, root_href, depth, properties::needs_bodies(&selection)).await?;
    let mut pcx = property_context(cx);
    if pcx.scheduling && names_default_calendar(&selection) {
        let folders = cx.session.folders().await?;
        pcx.default_calendar = default_calendar(&folders, &cx.app.caldav().default_calendar)
            .map(|folder| dav::path::calendar_href(cx.user(), &folder.name));
    }
    let responses = loaded.into_iter().map(move |r| properties::response(&pcx, &r, &selection));
    Ok(streamed_multistatus(responses, None))
}
