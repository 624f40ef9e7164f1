//! PROPPATCH (RFC 4918 §9.2): all instructions succeed together or none is applied.

use axum::response::Response;
use dav::path::ResourcePath;
use dav::request::PropOp;
use dav::response::{MultiStatus, PropStat, Property, ResponseBody};
use dav::PropName;
use http::StatusCode;
use store::FolderPatch;

use super::folder_props::{self, Refusal};
use super::multistatus;
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn proppatch(cx: &RequestContext, path: &ResourcePath, body: &[u8]) -> Result<Response, GatewayError> {
    let update = dav::request::parse_propertyupdate(body)?;
    let folder = match path {
        ResourcePath::Calendar { calendar, .. } => Some(cx.session.folder(calendar).await?),
        _ => None,
    };
    let mut patch = FolderPatch::default();
    let mut outcomes: Vec<(PropName, Result<(), Refusal>)> = Vec::new();
    for operation in &update.operations {
        let (name, value) = match operation {
            PropOp::Set(name, value) => (name, Some(value)),
            PropOp::Remove(name) => (name, None),
        };
        let outcome = match &folder {
            Some(_) => folder_props::apply(&mut patch, name, value),
            // Principals, the home and objects have no writable properties yet.
            None => Err(Refusal::Unsupported),
        };
        if let Err(refusal) = &outcome {
            tracing::info!(property = ?name, ?refusal, "PROPPATCH refused");
        }
        outcomes.push((name.clone(), outcome));
    }
    let failed = outcomes.iter().any(|(_, o)| o.is_err());
    if let (Some(folder), false) = (&folder, failed) {
        if !patch.is_empty() {
            cx.session.update_folder(&folder.id, &patch).await?;
        }
    }
    let href = path.href();
    Ok(multistatus(&MultiStatus {
        responses: vec![dav::response::Response {
            href,
            body: ResponseBody::PropStats(propstats(outcomes, failed)),
            error: None,
        }],
        sync_token: None,
    }))
}

/// One propstat per status: 200 for all when everything applied; otherwise each refusal's
/// status, and 424 Failed Dependency for the rest (RFC 4918 §9.2.1).
fn propstats(outcomes: Vec<(PropName, Result<(), Refusal>)>, failed: bool) -> Vec<PropStat> {
    let mut groups: Vec<PropStat> = Vec::new();
    for (name, outcome) in outcomes {
        let status = match (&outcome, failed) {
            (Ok(()), false) => StatusCode::OK,
            (Ok(()), true) => StatusCode::FAILED_DEPENDENCY,
            (Err(refusal), _) => refusal.status(),
        };
        match groups.iter_mut().find(|g| g.status == status) {
            Some(group) => group.props.push(Property::empty(name)),
            None => groups.push(PropStat { status, props: vec![Property::empty(name)] }),
        }
    }
    groups
}
