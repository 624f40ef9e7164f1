//! free-busy-query (RFC 4791 §7.10): the busy time of the calendars in scope (`scope.rs`)
//! as one VFREEBUSY.

use axum::response::{IntoResponse, Response};
use calendar::filter::TimeRange;
use calendar::freebusy::{busy_periods, merge, vfreebusy};
use calendar::zones::Zones;
use dav::Precondition;
use http::{header, HeaderValue, StatusCode};
use store::{CandidateQuery, Component};

use super::calendar_data::floating_zone;
use super::candidates;
use super::scope::Target;

use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn free_busy_query(
    cx: &RequestContext,
    targets: &[Target],
    range: &TimeRange,
) -> Result<Response, GatewayError> {
    // RFC 4791 §7.10: the range must be bounded on both sides.
    if range.start.is_none() || range.end.is_none() {
        return Err(GatewayError::forbidden(Precondition::ValidFilter));
    }
    let session = cx.session.as_ref();
    let mut periods = Vec::new();
    for target in targets {
        let floating = floating_zone(&target.folder, None)?;
        // RFC 4791 §7.10: busy time from VEVENTs, and from the VFREEBUSY objects of a calendar
        // that accepts them (RFC 4791 §5.2.3).
        let mut items = Vec::new();
        for component in [Component::Event, Component::FreeBusy] {
            if component == Component::Event || target.folder.components.contains(component) {
                let query = CandidateQuery { component: Some(component), range: Some(candidates::span(range)) };
                items.extend(target.load(session, &query).await?);
            }
        }
        for item in items {
            let Some(parsed) = std::str::from_utf8(&item.body).ok().and_then(|t| calendar::parse_calendar(t).ok())
            else {
                tracing::warn!(item = %item.meta.name, "stored object does not parse; left out of free-busy");
                continue;
            };
            let zones = Zones::new(&parsed, floating);
            periods.extend(
                busy_periods(&parsed, &zones, range, cx.app.limits().max_instances)
                    .map_err(|_| GatewayError::forbidden(Precondition::MaxInstances))?,
            );
        }
    }
    let body = vfreebusy(&merge(periods), range, chrono::Utc::now());
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"))], body)
        .into_response())
}
