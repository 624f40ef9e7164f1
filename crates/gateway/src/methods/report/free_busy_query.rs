//! free-busy-query (RFC 4791 §7.10): the busy time of the calendars in scope (`scope.rs`)
//! as one VFREEBUSY.

use axum::response::{IntoResponse, Response};
use calendar::filter::TimeRange;
use std::time::Duration;

use calendar::freebusy::{busy_periods, merge, vfreebusy, BusyPeriod};
use calendar::zones::Zones;
use dav::Precondition;
use http::{header, HeaderValue, StatusCode};
use store::{CandidateQuery, Component, Session};

use super::calendar_data::floating_zone;
use super::candidates::{self, Candidate};
use super::evaluation_budget::EvaluationBudget;
use super::scope::Target;

use crate::error::GatewayError;
use crate::resources::RequestContext;

/// The busy periods of `targets` within `range` (both bounds set), unmerged; evaluating the
/// objects is charged to `budget`. Shared with the schedule outbox (RFC 6638 §5).
pub(crate) async fn busy_periods_of(
    session: &dyn Session,
    targets: &[Target],
    range: &TimeRange,
    max_instances: usize,
    budget: &mut EvaluationBudget,
) -> Result<Vec<BusyPeriod>, GatewayError> {
    let mut periods = Vec::new();
    for target in targets {
        let floating = floating_zone(&target.folder, None)?;
        // RFC 4791 §7.10: busy time from VEVENTs, and from the VFREEBUSY objects of a calendar
        // that accepts them (RFC 4791 §5.2.3).
        let mut items = Vec::new();
        for component in [Component::Event, Component::FreeBusy] {
            if component == Component::Event || target.folder.components.contains(component) {
                let query = CandidateQuery { component: Some(component), range: Some(candidates::span(range)) };
                // Without `kept` every candidate is read, body and all: free-busy parses itself.
                items.extend(target.load(session, &query, None).await?.into_iter().filter_map(|c| match c {
                    Candidate::Loaded(item) => Some(item),
                    Candidate::Parsed { .. } => None,
                }));
            }
        }
        for item in items {
            let found = budget
                .evaluate(|| {
                    let parsed = std::str::from_utf8(&item.body).ok().and_then(|t| calendar::parse_calendar(t).ok())?;
                    let zones = Zones::new(&parsed, floating);
                    Some(busy_periods(&parsed, &zones, range, max_instances))
                })
                .await?;
            let Some(found) = found else {
                tracing::warn!(item = %item.meta.name, "stored object does not parse; left out of free-busy");
                continue;
            };
            periods.extend(found.map_err(|_| GatewayError::forbidden(Precondition::MaxInstances))?);
        }
    }
    Ok(periods)
}

pub async fn free_busy_query(
    cx: &RequestContext,
    targets: &[Target],
    range: &TimeRange,
) -> Result<Response, GatewayError> {
    // RFC 4791 §7.10: the range must be bounded on both sides.
    if range.start.is_none() || range.end.is_none() {
        return Err(GatewayError::forbidden(Precondition::ValidFilter));
    }
    let mut budget = EvaluationBudget::new(Duration::from_millis(cx.app.limits().max_query_cpu_ms));
    let periods =
        busy_periods_of(cx.session.as_ref(), targets, range, cx.app.limits().max_instances, &mut budget).await?;
    let body = vfreebusy(&merge(periods), range, chrono::Utc::now());
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"))], body)
        .into_response())
}
