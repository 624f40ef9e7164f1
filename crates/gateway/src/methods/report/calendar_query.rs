//! calendar-query (RFC 4791 §7.8): the objects in scope (`scope.rs`) that match a filter.
//!
//! The candidates the store's index leaves (`candidates.rs`) are tested here, each parsed
//! once per version (`parsed_objects`).

use super::calendar_data::{floating_zone, Shaper};
use super::candidates;
use super::evaluation_budget::EvaluationBudget;
use super::scope::Target;
use axum::response::Response;
use calendar::filter::CompFilter;
use calendar::query::{matches, QueryContext};
use calendar::retrieval::CalendarDataRequest;
use dav::request::PropFind;
use dav::Precondition;
use std::time::Duration;

use crate::error::GatewayError;
use crate::methods::{property_context, streamed_multistatus};
use crate::properties;
use crate::resources::{RequestContext, Resource};

pub async fn calendar_query(
    cx: &RequestContext,
    targets: &[Target],
    props: &PropFind,
    filter: &CompFilter,
    timezone: Option<&str>,
    calendar_data: &CalendarDataRequest,
) -> Result<Response, GatewayError> {
    let session = cx.session.as_ref();
    let max_instances = cx.app.limits().max_instances;
    let narrowing = candidates::narrowing(filter);
    let pcx = property_context(cx);
    let parsed_objects = cx.app.parsed_objects();
    let mut found = Vec::new();
    let mut budget = EvaluationBudget::new(Duration::from_millis(cx.app.limits().max_query_cpu_ms));
    for target in targets {
        let folder = &target.folder;
        let shared = std::sync::Arc::new(folder.clone());
        let floating = floating_zone(folder, timezone)?;
        let query = QueryContext { floating, max_instances };
        let shaper = Shaper { request: calendar_data, floating, max_instances };
        for item in target.load(session, &narrowing).await? {
            let evaluated = budget
                .evaluate(|| {
                    let parsed = parsed_objects.parsed(cx.user(), &folder.id, &item.meta, &item.body)?;
                    Some(matches(&parsed, filter, &query))
                })
                .await?;
            let Some(matched) = evaluated else {
                // Bodies are validated on PUT; one written by another mail client may not parse.
                tracing::warn!(item = %item.meta.name, "stored object does not parse; left out of the query");
                continue;
            };
            let matched = matched.map_err(|too_many| {
                tracing::info!(item = %item.meta.name, cap = too_many.cap, "recurrence expansion over the limit");
                GatewayError::forbidden(Precondition::MaxInstances)
            })?;
            if matched {
                let body = shaper.shape(item.body)?;
                found.push(Resource::Object {
                    folder: shared.clone(),
                    meta: item.meta,
                    body: Some(body),
                    properties: item.properties,
                });
            }
        }
    }
    let props = props.clone();
    Ok(streamed_multistatus(found.into_iter().map(move |r| properties::response(&pcx, &r, &props)), None))
}
