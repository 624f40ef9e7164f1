//! PROPPATCH (RFC 4918 §9.2): all instructions succeed together or none is applied.

use axum::response::Response;
use dav::path::ResourcePath;
use dav::request::PropOp;
use dav::response::{MultiStatus, PropStat, Property, ResponseBody};
use dav::PropName;
use http::StatusCode;
use store::{Folder, FolderKind, FolderPatch, ItemName, StoreError};

use super::folder_props::{self, Refusal};
use super::multistatus;
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn proppatch(cx: &RequestContext, path: &ResourcePath, body: &[u8]) -> Result<Response, GatewayError> {
    let update = dav::request::parse_propertyupdate(body)?;
    let target = match path {
        ResourcePath::Calendar { calendar, .. } => Target::Folder(cx.session.folder(calendar).await?),
        ResourcePath::Object { calendar, item, .. } => {
            let folder = cx.session.folder(calendar).await?;
            let name = ItemName::new(item.clone());
            // 404 for a missing resource before any property is looked at.
            if cx.session.get(&folder.id, std::slice::from_ref(&name)).await?.is_empty() {
                return Err(StoreError::NotFound.into());
            }
            Target::Item(folder, name)
        }
        _ => Target::None,
    };
    let mut patch = FolderPatch::default();
    let mut item_changes = Vec::new();
    let mut outcomes: Vec<(PropName, Result<(), Refusal>)> = Vec::new();
    for operation in &update.operations {
        let (name, value) = match operation {
            PropOp::Set(name, value) => (name, Some(value)),
            PropOp::Remove(name) => (name, None),
        };
        let outcome = match &target {
            Target::Folder(folder) if folder.kind == FolderKind::Calendar => {
                folder_props::apply(&mut patch, name, value)
            }
            Target::Folder(_) => folder_props::apply_collection(&mut patch, name, value),
            Target::Item(..) => folder_props::apply_item(&mut item_changes, name, value),
            // Principals and the home have no writable properties.
            Target::None => Err(Refusal::Unsupported),
        };
        if let Err(refusal) = &outcome {
            tracing::info!(property = ?name, ?refusal, "PROPPATCH refused");
        }
        outcomes.push((name.clone(), outcome));
    }
    let failed = outcomes.iter().any(|(_, o)| o.is_err());
    match (&target, failed) {
        (Target::Folder(folder), false) if !patch.is_empty() => {
            cx.session.update_folder(&folder.id, &patch).await?;
        }
        (Target::Item(folder, name), false) if !item_changes.is_empty() => {
            cx.session.set_item_properties(&folder.id, name, &item_changes).await?;
        }
        _ => {}
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

enum Target {
    Folder(Folder),
    Item(Folder, ItemName),
    None,
}

/// One propstat per status: 200 for all when everything applied; otherwise each refusal's
/// status, and 424 Failed Dependency for the rest (RFC 4918 §9.2.1).
pub(super) fn propstats(outcomes: Vec<(PropName, Result<(), Refusal>)>, failed: bool) -> Vec<PropStat> {
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
