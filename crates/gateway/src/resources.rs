//! Resolving a parsed path to the resources it names, with as few backend calls as the
//! request allows: the calendar-home Depth:1 poll of iOS and DAVx5 is one `folders()` call.

use std::sync::Arc;

use bytes::Bytes;
use dav::headers::Depth;
use dav::path::ResourcePath;
use store::{DeadProperty, Folder, FolderKind, ItemMeta, ItemName, Session};

use crate::error::GatewayError;
use crate::AppState;

/// What one request works on: the app and the authenticated user's session.
pub struct RequestContext {
    pub app: AppState,
    pub session: Arc<dyn Session>,
}

impl RequestContext {
    pub fn user(&self) -> &str {
        &self.session.principal().user
    }

    /// Whether the user may schedule (`scheduling::policy`).
    pub fn scheduling(&self) -> bool {
        self.app.scheduling().allows(self.session.principal())
    }
}

/// A DAV resource, loaded.
#[derive(Clone, Debug)]
pub enum Resource {
    /// `/dav/`, or `/` for clients that start discovery at the bare host (python caldav, Evolution).
    Root {
        href: String,
    },
    Principals,
    /// The authenticated user's principal.
    Principal,
    Calendars,
    /// The authenticated user's calendar home.
    Home,
    Calendar(Folder),
    /// A plain WebDAV collection (MKCOL) in the home or nested in another one.
    Collection(Folder),
    /// The user's schedule inbox (RFC 6638 §2.2): delivered iTIP messages.
    ScheduleInbox(Folder),
    /// The user's schedule outbox (RFC 6638 §2.1): takes free-busy POSTs, holds nothing.
    ScheduleOutbox,
    /// A calendar object, or a file in a plain collection. `body` and `properties` are
    /// loaded only when the request needs them (see [`load`]).
    Object {
        /// Shared by the members of one listing: a folder is a dozen strings to clone.
        folder: Arc<Folder>,
        meta: ItemMeta,
        body: Option<Bytes>,
        properties: Vec<DeadProperty>,
    },
}

impl Resource {
    /// A folder as the resource its kind makes it.
    pub fn folder(folder: Folder) -> Resource {
        match folder.kind {
            FolderKind::Calendar => Resource::Calendar(folder),
            FolderKind::Collection => Resource::Collection(folder),
            FolderKind::ScheduleInbox => Resource::ScheduleInbox(folder),
        }
    }

    pub fn href(&self, user: &str) -> String {
        match self {
            Resource::Root { href } => href.clone(),
            Resource::Principals => ResourcePath::Principals.href(),
            Resource::Principal => dav::path::principal_href(user),
            Resource::Calendars => ResourcePath::Calendars.href(),
            Resource::Home => dav::path::calendar_home_href(user),
            Resource::Calendar(folder) | Resource::Collection(folder) | Resource::ScheduleInbox(folder) => {
                dav::path::calendar_href(user, &folder.name)
            }
            Resource::ScheduleOutbox => dav::path::schedule_outbox_href(user),
            Resource::Object { folder, meta, .. } => dav::path::object_href(user, &folder.name, meta.name.as_str()),
        }
    }
}

/// The target resource and, with Depth 1, its members. `with_bodies` loads the bodies and
/// dead properties of objects (PROPFIND asking for `calendar-data` or dead properties).
pub async fn load(
    cx: &RequestContext,
    path: &ResourcePath,
    root_href: &str,
    depth: Depth,
    with_bodies: bool,
) -> Result<Vec<Resource>, GatewayError> {
    let members = depth != Depth::Zero;
    let session = cx.session.as_ref();
    let mut resources = Vec::new();
    match path {
        ResourcePath::Root => {
            resources.push(Resource::Root { href: root_href.to_owned() });
            if members {
                resources.extend([Resource::Principals, Resource::Calendars]);
            }
        }
        ResourcePath::Principals => {
            resources.push(Resource::Principals);
            if members {
                resources.push(Resource::Principal);
            }
        }
        ResourcePath::Principal { .. } => resources.push(Resource::Principal),
        ResourcePath::Calendars => {
            resources.push(Resource::Calendars);
            if members {
                resources.push(Resource::Home);
            }
        }
        ResourcePath::CalendarHome { .. } => {
            resources.push(Resource::Home);
            if members {
                let scheduling = cx.scheduling();
                let mut folders = session.folders().await?;
                folders.retain(|f| {
                    dav::path::parent_folder(&f.name).is_none() && (scheduling || f.kind != FolderKind::ScheduleInbox)
                });
                folders.sort_by(|a, b| a.name.cmp(&b.name));
                resources.extend(folders.into_iter().map(Resource::folder));
                if scheduling {
                    resources.push(Resource::ScheduleOutbox);
                }
            }
        }
        ResourcePath::Calendar { calendar, .. } => {
            let folder = session.folder(calendar).await?;
            if members {
                let mut children = Vec::new();
                if folder.kind == FolderKind::Collection {
                    let mut folders = session.folders().await?;
                    folders.retain(|f| dav::path::parent_folder(&f.name) == Some(calendar.as_str()));
                    folders.sort_by(|a, b| a.name.cmp(&b.name));
                    children.extend(folders.into_iter().map(Resource::folder));
                }
                let listing = session.list(&folder.id).await?;
                let objects = objects(session, &folder, listing.items, with_bodies).await?;
                resources.push(Resource::folder(folder));
                resources.extend(children);
                resources.extend(objects);
            } else {
                resources.push(Resource::folder(folder));
            }
        }
        ResourcePath::Object { calendar, item, .. } => {
            let folder = session.folder(calendar).await?;
            resources.push(object(session, folder, item).await?);
        }
        // `scheduling::mailboxes::guard` answered 404 already for a user without scheduling.
        ResourcePath::ScheduleOutbox { .. } => resources.push(Resource::ScheduleOutbox),
    }
    Ok(resources)
}

/// One calendar object with its body. `NotFound` when it does not exist.
pub async fn object(session: &dyn Session, folder: Folder, item: &str) -> Result<Resource, GatewayError> {
    let name = ItemName::new(item);
    let found = session.get(&folder.id, std::slice::from_ref(&name)).await?;
    let item = found.into_iter().find(|i| i.meta.name == name).ok_or(store::StoreError::NotFound)?;
    Ok(Resource::Object {
        folder: Arc::new(folder),
        meta: item.meta,
        body: Some(item.body),
        properties: item.properties,
    })
}

/// Object resources for `metas`, with bodies fetched in one `get` call when asked for.
pub async fn objects(
    session: &dyn Session,
    folder: &Folder,
    metas: Vec<ItemMeta>,
    with_bodies: bool,
) -> Result<Vec<Resource>, GatewayError> {
    let shared = Arc::new(folder.clone());
    if !with_bodies {
        return Ok(metas
            .into_iter()
            .map(|meta| Resource::Object { folder: shared.clone(), meta, body: None, properties: Vec::new() })
            .collect());
    }
    let names: Vec<ItemName> = metas.iter().map(|m| m.name.clone()).collect();
    let items = session.get(&folder.id, &names).await?;
    // An item removed between listing and fetching is simply left out: the next sync sees it gone.
    Ok(items
        .into_iter()
        .map(|item| Resource::Object {
            folder: shared.clone(),
            meta: item.meta,
            body: Some(item.body),
            properties: item.properties,
        })
        .collect())
}
