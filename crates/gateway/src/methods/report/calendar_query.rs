//! calendar-query (RFC 4791 §7.8): the objects in scope (`scope.rs`) that match a filter.
//!
//! The candidates the store's index leaves (`candidates.rs`) are tested here, each parsed
//! once per version (`parsed_objects`).

use super::calendar_data::{floating_zone, Shaper};
use super::candidates::{self, Candidate, Kept};
use super::evaluation_budget::EvaluationBudget;
use super::scope::Target;
use axum::response::Response;
use calendar::filter::CompFilter;
use calendar::query::{matches, QueryContext};
use calendar::retrieval::CalendarDataRequest;
use dav::request::PropFind;
use dav::Precondition;
use std::time::Duration;
use store::ItemMeta;

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
    // A query that reports no body (the usual getetag query) reads none of the candidates
    // whose parsed tree is kept.
    let needs_bodies = properties::needs_bodies(props);
    for target in targets {
        let folder = &target.folder;
        let shared = std::sync::Arc::new(folder.clone());
        let floating = floating_zone(folder, timezone)?;
        let query = QueryContext { floating, max_instances };
        let shaper = Shaper { request: calendar_data, floating, max_instances };
        let kept = |meta: &ItemMeta| parsed_objects.cached(cx.user(), &folder.id, meta);
        let kept: Option<Kept<'_>> = if needs_bodies { None } else { Some(&kept) };
        for candidate in target.load(session, &narrowing, kept).await? {
            let (meta, body, properties, parsed) = match candidate {
                Candidate::Loaded(item) => (item.meta, Some(item.body), item.properties, None),
                Candidate::Parsed { meta, parsed } => (meta, None, Vec::new(), Some(parsed)),
            };
            let evaluated = budget
                .evaluate(|| {
                    let parsed = match parsed {
                        Some(parsed) => parsed,
                        None => parsed_objects.parsed(cx.user(), &folder.id, &meta, body.as_deref()?)?,
                    };
                    Some(matches(&parsed, filter, &query))
                })
                .await?;
            let Some(matched) = evaluated else {
                // Bodies are validated on PUT; one written by another mail client may not parse.
                tracing::warn!(item = %meta.name, "stored object does not parse; left out of the query");
                continue;
            };
            let matched = matched.map_err(|too_many| {
                tracing::info!(item = %meta.name, cap = too_many.cap, "recurrence expansion over the limit");
                GatewayError::forbidden(Precondition::MaxInstances)
            })?;
            if matched {
                let body = body.map(|body| shaper.shape(body)).transpose()?;
                found.push(Resource::Object { folder: shared.clone(), meta, body, properties });
            }
        }
    }
    let props = props.clone();
    Ok(streamed_multistatus(found.into_iter().map(move |r| properties::response(&pcx, &r, &props)), None))
}
