//! COPY and MOVE (RFC 4918 §9.8, §9.9) of objects, files and whole collections inside the
//! user's home: moving an event to another calendar, reorganising plain collections.
//!
//! Built from the store's own calls (get, put, delete), so every backend has them: a copy is
//! validated like a PUT into its destination (an event cannot land in a task list, a UID
//! cannot appear twice in a calendar), and a move writes the copy before it removes the
//! source, so a failure part-way leaves two copies, never none.
//!
//! A refused request changes nothing. RFC 4918 §9.8.4 describes an overwrite as a DELETE of
//! the destination followed by the copy; done in that order, a copy that the store then
//! refuses (a UID conflict, a component the calendar does not take) would have destroyed the
//! destination for nothing. So an object overwrites its destination in one replacing write
//! (the store checks the UID and the destination's ETag atomically with it), and a collection
//! is loaded and validated whole before the destination is removed.

use axum::response::{IntoResponse, Response};
use dav::headers::Depth;
use dav::path::ResourcePath;
use dav::Precondition;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use store::{
    DeadProperty, DeadPropertyChange, Expected, Folder, FolderKind, Item, ItemName, NewFolder, NewItem, StoreError,
};

use super::delete::delete_tree;
use super::put::{calendar_item, file_item, refuse_collection_name, store_item};
use crate::dispatch::nested_collection;
use crate::error::GatewayError;
use crate::resources::RequestContext;

pub async fn copy_or_move(
    cx: &RequestContext,
    moving: bool,
    source: &ResourcePath,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    let destination = destination(cx, headers).await?;
    let overwrite = overwrite(headers)?;
    let depth = super::depth(headers, Depth::Infinity)?;
    let href = destination.href();
    let existed = match source {
        ResourcePath::Object { calendar, item, .. } => {
            let folder = cx.session.folder(calendar).await?;
            let name = ItemName::new(item.clone());
            let item =
                cx.session.get(&folder.id, std::slice::from_ref(&name)).await?.pop().ok_or(StoreError::NotFound)?;
            copy_item(cx, moving, &folder, item, &destination, overwrite).await?
        }
        ResourcePath::Calendar { calendar, .. } => {
            // RFC 4918 §9.8.3, §9.9.2: a collection is copied at Depth 0 or infinity and moved
            // only whole.
            let shallow = match (moving, depth) {
                (_, Depth::Infinity) => false,
                (false, Depth::Zero) => true,
                _ => return Err(GatewayError::BadRequest("Depth must be infinity (or 0 for COPY)".into())),
            };
            let folder = cx.session.folder(calendar).await?;
            copy_collection(cx, moving, &folder, &destination, overwrite, shallow).await?
        }
        _ => return Err(GatewayError::MethodNotAllowed { allow: super::options::allow(Some(source)) }),
    };
    let status = if existed { StatusCode::NO_CONTENT } else { StatusCode::CREATED };
    // RFC 9110 §10.2.2: Location names the resource the request created or replaced, so a
    // client learns the destination as the server spells it (a nested collection's path).
    let location = HeaderValue::from_str(&href).map_err(|_| GatewayError::BadRequest("destination href".into()))?;
    Ok((status, [(header::LOCATION, location)]).into_response())
}

/// The Destination header as a path in the user's own home.
async fn destination(cx: &RequestContext, headers: &HeaderMap) -> Result<ResourcePath, GatewayError> {
    let value = headers
        .get("destination")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| GatewayError::BadRequest("COPY and MOVE need a Destination header".into()))?;
    let path = ResourcePath::parse_href(value)?;
    crate::scheduling::mailboxes::refuse_reserved_destination(&path)?;
    match &path {
        ResourcePath::Calendar { user, .. } | ResourcePath::Object { user, .. } if user == cx.user() => {
            Ok(nested_collection(cx, &path).await?.unwrap_or(path))
        }
        // Another user's home, or outside any home.
        _ => Err(GatewayError::Status(StatusCode::FORBIDDEN)),
    }
}

/// `Overwrite: T` is the default (RFC 4918 §10.6).
fn overwrite(headers: &HeaderMap) -> Result<bool, GatewayError> {
    match headers.get("overwrite").map(|v| v.to_str().unwrap_or("").trim().to_ascii_uppercase()) {
        None => Ok(true),
        Some(v) if v == "T" => Ok(true),
        Some(v) if v == "F" => Ok(false),
        Some(_) => Err(GatewayError::BadRequest("Overwrite must be T or F".into())),
    }
}

/// The folder a destination goes into; a missing one is 409 (RFC 4918 §9.8.5).
async fn parent(cx: &RequestContext, name: &str) -> Result<Folder, GatewayError> {
    match cx.session.folder(name).await {
        Err(StoreError::NotFound) => Err(GatewayError::Status(StatusCode::CONFLICT)),
        other => Ok(other?),
    }
}

/// Copies (or moves) one object or file. Returns whether the destination existed.
async fn copy_item(
    cx: &RequestContext,
    moving: bool,
    from: &Folder,
    item: Item,
    destination: &ResourcePath,
    overwrite: bool,
) -> Result<bool, GatewayError> {
    let (to, to_name) = match destination {
        ResourcePath::Object { calendar, item, .. } => (parent(cx, calendar).await?, item.clone()),
        // Onto a collection: only by replacing it.
        ResourcePath::Calendar { calendar, .. } => {
            let target = cx.session.folder(calendar).await?;
            if !overwrite {
                return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
            }
            let parent_name = dav::path::parent_folder(calendar).ok_or(GatewayError::Status(StatusCode::CONFLICT))?;
            let to = parent(cx, parent_name).await?;
            let last = calendar.rsplit('/').next().unwrap_or(calendar).to_owned();
            let new_item = convert(cx, &to, &last, &item)?;
            // The copy first: should the store refuse it, the collection is still there.
            write_item(cx, &to, new_item, &item.properties, &[], Expected::Absent).await?;
            delete_tree(cx, &target).await?;
            if moving {
                cx.session.delete(&from.id, &item.meta.name, Expected::ETag(item.meta.etag.clone())).await?;
            }
            return Ok(true);
        }
        _ => return Err(GatewayError::Status(StatusCode::FORBIDDEN)),
    };
    let to_item = ItemName::new(to_name.clone());
    if to.id == from.id && to_item == item.meta.name {
        return Err(GatewayError::Status(StatusCode::FORBIDDEN));
    }
    if to.kind == FolderKind::Collection {
        refuse_collection_name(cx, &to, &to_name).await?;
    }
    let new_item = convert(cx, &to, &to_name, &item)?;
    let existing = cx.session.get(&to.id, std::slice::from_ref(&to_item)).await?.pop();
    if existing.is_some() && !overwrite {
        return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
    }
    let existed = existing.is_some();
    // Overwriting replaces the destination in the same write that stores the copy, guarded
    // by the destination's ETag; none of the destination's dead properties survive (§9.8.4).
    let (expected, replaced) = match existing {
        Some(old) => (Expected::ETag(old.meta.etag), old.properties),
        None => (Expected::Absent, Vec::new()),
    };
    if moving && to.id == from.id {
        // Within one calendar the copy would conflict with its own UID: remove the source
        // first and put it back should the write fail.
        cx.session.delete(&from.id, &item.meta.name, Expected::ETag(item.meta.etag.clone())).await?;
        if let Err(error) = write_item(cx, &to, new_item, &item.properties, &replaced, expected).await {
            let restore = convert(cx, from, item.meta.name.as_str(), &item)?;
            write_item(cx, from, restore, &item.properties, &[], Expected::Absent).await?;
            return Err(error);
        }
        return Ok(existed);
    }
    write_item(cx, &to, new_item, &item.properties, &replaced, expected).await?;
    if moving {
        cx.session.delete(&from.id, &item.meta.name, Expected::ETag(item.meta.etag.clone())).await?;
    }
    Ok(existed)
}

/// The source bytes as an item of `to`: validated like a PUT into a calendar, a file otherwise.
fn convert(cx: &RequestContext, to: &Folder, name: &str, item: &Item) -> Result<NewItem, GatewayError> {
    match to.kind {
        FolderKind::Calendar => calendar_item(cx, to, name, item.body.clone()),
        // Only the server delivers into a schedule inbox (RFC 6638 §2.2).
        FolderKind::ScheduleInbox => Err(GatewayError::Status(http::StatusCode::FORBIDDEN)),
        FolderKind::Collection => {
            let content_type = item.meta.content_type.as_deref().unwrap_or("text/calendar; charset=utf-8");
            Ok(file_item(name, Some(content_type), item.body.clone()))
        }
    }
}

/// Stores `item` with the source's dead properties; `replaced` are those of the item it
/// overwrites, removed unless the source has them too.
async fn write_item(
    cx: &RequestContext,
    to: &Folder,
    item: NewItem,
    properties: &[DeadProperty],
    replaced: &[DeadProperty],
    expected: Expected,
) -> Result<(), GatewayError> {
    let name = item.name.clone();
    store_item(cx, to, item, expected).await?;
    let changes = property_changes(properties, replaced);
    if !changes.is_empty() {
        cx.session.set_item_properties(&to.id, &name, &changes).await?;
    }
    Ok(())
}

/// Sets every property of `properties` and removes those of `replaced` it does not have.
fn property_changes(properties: &[DeadProperty], replaced: &[DeadProperty]) -> Vec<DeadPropertyChange> {
    let kept = |old: &DeadProperty| properties.iter().any(|p| p.namespace == old.namespace && p.name == old.name);
    let removals = replaced.iter().filter(|old| !kept(old)).map(|old| DeadPropertyChange {
        namespace: old.namespace.clone(),
        name: old.name.clone(),
        xml: None,
    });
    let sets = properties.iter().map(|p| DeadPropertyChange {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        xml: Some(p.xml.clone()),
    });
    removals.chain(sets).collect()
}

/// Copies (or moves) a collection with its members. Returns whether the destination existed.
async fn copy_collection(
    cx: &RequestContext,
    moving: bool,
    source: &Folder,
    destination: &ResourcePath,
    overwrite: bool,
    shallow: bool,
) -> Result<bool, GatewayError> {
    let to_name = match destination {
        ResourcePath::Calendar { calendar, .. } => calendar.clone(),
        ResourcePath::Object { calendar, item, .. } => format!("{calendar}/{item}"),
        _ => return Err(GatewayError::Status(StatusCode::FORBIDDEN)),
    };
    if to_name == source.name || to_name.starts_with(&format!("{}/", source.name)) {
        // Onto itself or into itself (RFC 4918 §9.8.5: 403 when source and destination are the same).
        return Err(GatewayError::Status(StatusCode::FORBIDDEN));
    }
    let parent_folder = match dav::path::parent_folder(&to_name) {
        Some(parent_name) => {
            let parent = parent(cx, parent_name).await?;
            if parent.kind == FolderKind::Calendar {
                return Err(GatewayError::Status(StatusCode::CONFLICT));
            }
            if source.kind == FolderKind::Calendar {
                return Err(GatewayError::forbidden(Precondition::CalendarCollectionLocationOk));
            }
            Some(parent)
        }
        None => None,
    };
    // Everything the copy will write, read and validated before the destination goes.
    let plan = plan_tree(cx, source, &to_name, shallow).await?;
    let mut existed = false;
    match cx.session.folder(&to_name).await {
        Ok(existing) => {
            if !overwrite {
                return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
            }
            existed = true;
            delete_tree(cx, &existing).await?;
        }
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    if let (Some(parent), Some((_, last))) = (&parent_folder, to_name.rsplit_once('/')) {
        let file = ItemName::new(last);
        if let Some(old) = cx.session.get(&parent.id, std::slice::from_ref(&file)).await?.pop() {
            if !overwrite {
                return Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED));
            }
            cx.session.delete(&parent.id, &file, Expected::ETag(old.meta.etag)).await?;
            existed = true;
        }
    }
    for folder in plan {
        let created = cx.session.create_folder(&folder.spec).await?;
        for (item, properties) in folder.items {
            write_item(cx, &created, item, &properties, &[], Expected::Absent).await?;
        }
    }
    if moving {
        delete_tree(cx, source).await?;
    }
    Ok(existed)
}

/// One folder of a collection copy: how to create it and the items to write into it.
struct PlannedFolder {
    spec: NewFolder,
    items: Vec<(NewItem, Vec<DeadProperty>)>,
}

/// `source` as it will be created under `to_name`, with its members and (unless `shallow`)
/// nested collections, parents before children. Every item is converted here, so an item
/// that its new place would refuse fails the request before anything is written or removed.
async fn plan_tree(
    cx: &RequestContext,
    source: &Folder,
    to_name: &str,
    shallow: bool,
) -> Result<Vec<PlannedFolder>, GatewayError> {
    let mut folders = vec![(source.clone(), to_name.to_owned())];
    if !shallow && source.kind == FolderKind::Collection {
        let prefix = format!("{}/", source.name);
        let mut nested: Vec<Folder> =
            cx.session.folders().await?.into_iter().filter(|f| f.name.starts_with(&prefix)).collect();
        nested.sort_by(|a, b| a.name.cmp(&b.name));
        for folder in nested {
            let relative = folder.name[source.name.len()..].to_owned();
            folders.push((folder, format!("{to_name}{relative}")));
        }
    }
    let mut plan = Vec::with_capacity(folders.len());
    for (index, (folder, name)) in folders.into_iter().enumerate() {
        let items = if shallow && index == 0 { Vec::new() } else { planned_items(cx, &folder).await? };
        plan.push(PlannedFolder { spec: folder_spec(&folder, name), items });
    }
    Ok(plan)
}

/// The items of `folder`, each converted for a folder of the same kind and components
/// (which the copy will be).
async fn planned_items(
    cx: &RequestContext,
    folder: &Folder,
) -> Result<Vec<(NewItem, Vec<DeadProperty>)>, GatewayError> {
    let listing = cx.session.list(&folder.id).await?;
    let names: Vec<ItemName> = listing.items.into_iter().map(|m| m.name).collect();
    let mut items = Vec::with_capacity(names.len());
    for item in cx.session.get(&folder.id, &names).await? {
        let new_item = convert(cx, folder, item.meta.name.as_str(), &item)?;
        items.push((new_item, item.properties));
    }
    Ok(items)
}

fn folder_spec(source: &Folder, name: String) -> NewFolder {
    NewFolder {
        name,
        kind: source.kind,
        display_name: source.display_name.clone(),
        description: source.description.clone(),
        color: source.color.clone(),
        order: source.order,
        timezone: source.timezone.clone(),
        components: source.components,
        properties: source.properties.clone(),
    }
}
