//! The calendar object resources a calendar-query or free-busy-query runs over: the
//! Request-URI and, by Depth, its members (RFC 4791 §7.8, §7.10).
//!
//! On a calendar: its objects, whatever the Depth (clients send 0, 1 and none alike, and a
//! calendar collection itself never matches a component filter). Windows Calendar (Windows 10/11
//! Mail and Calendar, User-Agent `MSFT-WIN-3/10.0.<build>`; Windows 10 Mobile `MSFT-WIN-4/`)
//! sends its calendar-query to the calendar with Depth 0 and shows no event unless the objects
//! come back (sabre-io/dav `lib/CalDAV/Plugin.php` answers Depth 0 with 400 except to `MSFT-`;
//! sabre-io/dav#727): reading every Depth alike serves it with no User-Agent test
//! (docs/clients/windows.md). On the calendar home: with
//! Depth 1 the calendars directly in it, with infinity every calendar however deeply nested;
//! plain collections are skipped, they hold no calendar objects. On one object: just it.

use dav::headers::Depth;
use dav::path::ResourcePath;
use dav::Precondition;
use store::{CandidateQuery, Folder, FolderKind, ItemName, Session};

use super::candidates::{self, Candidate, Kept};
use crate::error::GatewayError;

/// One calendar to search, or one object of it.
pub struct Target {
    pub folder: Folder,
    item: Option<ItemName>,
}

impl Target {
    /// All of one calendar.
    pub fn whole(folder: Folder) -> Target {
        Target { folder, item: None }
    }

    /// The objects to test: the one named, or the candidates of the calendar for `query`
    /// (see `candidates::load` for `kept`).
    pub async fn load(
        &self,
        session: &dyn Session,
        query: &CandidateQuery,
        kept: Option<Kept<'_>>,
    ) -> Result<Vec<Candidate>, GatewayError> {
        match &self.item {
            None => candidates::load(session, &self.folder, query, kept).await,
            Some(name) => {
                let found = session.get(&self.folder.id, std::slice::from_ref(name)).await?;
                let item = found.into_iter().find(|i| &i.meta.name == name).ok_or(store::StoreError::NotFound)?;
                Ok(vec![Candidate::Loaded(item)])
            }
        }
    }
}

pub async fn targets(session: &dyn Session, path: &ResourcePath, depth: Depth) -> Result<Vec<Target>, GatewayError> {
    match path {
        ResourcePath::Calendar { calendar, .. } => {
            Ok(vec![Target { folder: super::calendar_folder(session, calendar).await?, item: None }])
        }
        ResourcePath::Object { calendar, item, .. } => Ok(vec![Target {
            folder: super::calendar_folder(session, calendar).await?,
            item: Some(ItemName::new(item)),
        }]),
        ResourcePath::CalendarHome { .. } => {
            if depth == Depth::Zero {
                // The home alone: it is no calendar object, so nothing matches.
                return Ok(Vec::new());
            }
            let mut folders = session.folders().await?;
            folders.retain(|f| {
                f.kind == FolderKind::Calendar
                    && (depth == Depth::Infinity || dav::path::parent_folder(&f.name).is_none())
            });
            folders.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(folders.into_iter().map(|folder| Target { folder, item: None }).collect())
        }
        // Principals and the tree above the home hold no calendar data (RFC 3253 §3.6).
        _ => Err(GatewayError::forbidden(Precondition::SupportedReport)),
    }
}
