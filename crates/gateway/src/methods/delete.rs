//! DELETE of a calendar object, a file, or a whole collection (RFC 4918 §9.6).

use axum::response::{IntoResponse, Response};
use dav::headers::Conditional;
use dav::path::ResourcePath;
use http::{HeaderMap, StatusCode};
use store::{ETag, Expected, Folder, FolderKind, ItemName};

use super::conditional;
use crate::error::GatewayError;
use crate::resources::RequestContext;
use crate::scheduling::implicit;

pub async fn delete(cx: &RequestContext, path: &ResourcePath, headers: &HeaderMap) -> Result<Response, GatewayError> {
    let condition = conditional(headers)?;
    match path {
        ResourcePath::Object { calendar, item, .. } => {
            let folder = cx.session.folder(calendar).await?;
            let name = ItemName::new(item.clone());
            if folder.kind == FolderKind::Calendar {
                let tag_condition = implicit::if_schedule_tag_match(headers)?;
                implicit::delete_object(cx, &folder, &name, expected(&condition)?, tag_condition).await?;
            } else {
                cx.session.delete(&folder.id, &name, expected(&condition)?).await?;
            }
        }
        ResourcePath::Calendar { calendar, .. } => {
            let folder = cx.session.folder(calendar).await?;
            // A collection's ETag is its state (see properties.rs), so If-Match protects a
            // calendar that changed since the client looked at it.
            if let Conditional::Matches(tags) = &condition {
                if !tags.iter().any(|t| t == folder.state.as_str()) {
                    return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
                }
            }
            delete_tree(cx, &folder).await?;
        }
        _ => return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(path)) }),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a folder and, for a plain collection, every collection nested in it, deepest
/// first, so a failure part-way leaves a tree whose every folder still has its parent.
pub async fn delete_tree(cx: &RequestContext, folder: &Folder) -> Result<(), GatewayError> {
    if folder.kind == FolderKind::Collection {
        let prefix = format!("{}/", folder.name);
        let mut nested: Vec<Folder> =
            cx.session.folders().await?.into_iter().filter(|f| f.name.starts_with(&prefix)).collect();
        nested.sort_by_key(|f| std::cmp::Reverse(f.name.matches('/').count()));
        for child in nested {
            cx.session.delete_folder(&child.id).await?;
        }
    }
    cx.session.delete_folder(&folder.id).await?;
    Ok(())
}

/// The store-side condition of a write. A list of several ETags in If-Match has no single
/// expected value to compare atomically, and no client sends one for a calendar object.
pub fn expected(condition: &Conditional) -> Result<Expected, GatewayError> {
    Ok(match condition {
        Conditional::None => Expected::Anything,
        Conditional::Exists => Expected::Present,
        Conditional::NotExists => Expected::Absent,
        Conditional::Matches(tags) => match tags.as_slice() {
            [one] => Expected::ETag(ETag::new(one.clone())),
            _ => return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED)),
        },
        Conditional::NoneMatch(_) => {
            return Err(GatewayError::BadRequest("If-None-Match with entity tags is not supported on writes".into()))
        }
    })
}
