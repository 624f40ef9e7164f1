//! sync-collection (RFC 6578): what changed in a calendar since a token, including removals.
//!
//! An answer larger than the client's `DAV:limit` or `limits.max_sync_results` is truncated
//! (RFC 6578 §3.6): the members are reported in name order up to the limit, the collection's
//! own href is answered 507, and the sync-token is a page token from which the next request
//! continues (`sync_token` explains why nothing is skipped when the folder changes between
//! pages). DAVx5 asks again with the new token as long as its collection is answered 507.

use std::collections::BTreeMap;

use axum::response::Response;
use calendar::retrieval::CalendarDataRequest;
use dav::request::PropFind;
use dav::response::ResponseBody;
use dav::Precondition;
use http::StatusCode;
use store::{Changes, FolderId, ItemMeta, ItemName, Session, State};

use super::calendar_data::{floating_zone, Shaper};
use crate::error::GatewayError;
use crate::methods::{property_context, streamed_multistatus};
use crate::resources::{self, RequestContext, Resource};
use crate::sync_token::{Continuation, SyncPoint};
use crate::{properties, sync_token};

/// One member's entry in the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Changed(ItemMeta),
    Removed(ItemName),
}

impl Change {
    fn name(&self) -> &ItemName {
        match self {
            Change::Changed(meta) => &meta.name,
            Change::Removed(name) => name,
        }
    }
}

/// Everything to report, in name order, and the state it brings the client to.
struct Answer {
    state: State,
    changes: Vec<Change>,
    /// Where the unsent rest starts from, if this answer is truncated.
    base: Option<State>,
}

pub async fn sync_collection(
    cx: &RequestContext,
    calendar: &str,
    token: Option<&str>,
    limit: Option<u64>,
    props: &PropFind,
    calendar_data: &CalendarDataRequest,
) -> Result<Response, GatewayError> {
    let session = cx.session.as_ref();
    let folder = session.folder(calendar).await?;
    let point = match token {
        None => None,
        Some(token) => {
            Some(sync_token::from_uri(token).ok_or_else(|| GatewayError::forbidden(Precondition::ValidSyncToken))?)
        }
    };
    let answer = collect(session, &folder.id, point).await?;
    let page_size = page_size(limit, cx.app.limits().max_sync_results);
    if page_size == 0 && !answer.changes.is_empty() {
        // A limit of 0 cannot make progress; refusing is what RFC 6578 §3.6 allows.
        return Err(GatewayError::condition(
            StatusCode::INSUFFICIENT_STORAGE,
            Precondition::NumberOfMatchesWithinLimits,
        ));
    }
    let mut changes = answer.changes;
    let cut_after = truncate(&mut changes, page_size);
    let truncated = cut_after.is_some();
    let next_token = match cut_after {
        None => sync_token::to_uri(&answer.state),
        Some(after) => sync_token::page_to_uri(&Continuation { base: answer.base, after, page_state: answer.state }),
    };
    let (changed, removed): (Vec<_>, Vec<_>) = changes.into_iter().partition(|c| matches!(c, Change::Changed(_)));
    let changed: Vec<ItemMeta> =
        changed.into_iter().filter_map(|c| if let Change::Changed(meta) = c { Some(meta) } else { None }).collect();
    let shaper = Shaper {
        request: calendar_data,
        floating: floating_zone(&folder, None)?,
        max_instances: cx.app.limits().max_instances,
    };
    let mut objects = resources::objects(session, &folder, changed, properties::needs_bodies(props)).await?;
    for object in &mut objects {
        if let Resource::Object { body: Some(body), .. } = object {
            *body = shaper.shape(body.clone())?;
        }
    }
    let pcx = property_context(cx);
    let props = props.clone();
    let (user, folder_name) = (cx.user().to_owned(), folder.name);
    let removed = removed.into_iter().map({
        let (user, folder_name) = (user.clone(), folder_name.clone());
        move |change| dav::response::Response {
            href: dav::path::object_href(&user, &folder_name, change.name().as_str()),
            body: ResponseBody::Status(StatusCode::NOT_FOUND),
            error: None,
        }
    });
    // RFC 6578 §3.6: the request-URI itself answers 507 in a truncated result.
    let collection = truncated.then(|| dav::response::Response {
        href: dav::path::calendar_href(&user, &folder_name),
        body: ResponseBody::Status(StatusCode::INSUFFICIENT_STORAGE),
        error: None,
    });
    let responses =
        objects.into_iter().map(move |r| properties::response(&pcx, &r, &props)).chain(removed).chain(collection);
    Ok(streamed_multistatus(responses, Some(next_token)))
}

/// The smaller of the client's `DAV:limit` and the configured cap.
fn page_size(limit: Option<u64>, max_sync_results: usize) -> usize {
    match limit {
        Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX).min(max_sync_results),
        None => max_sync_results,
    }
}

/// What changed since `point`, in name order. The backend is asked for the older delta first
/// and the newer one second, and the answer takes the second call's state: anything changed
/// between the two calls is in the second delta, so nothing falls between them.
async fn collect(session: &dyn Session, folder: &FolderId, point: Option<SyncPoint>) -> Result<Answer, GatewayError> {
    match point {
        // Initial sync (RFC 6578 §3.4): every member.
        None => {
            let listing = session.list(folder).await?;
            Ok(Answer { state: listing.state, changes: merge(listed(listing.items), Vec::new()), base: None })
        }
        Some(SyncPoint::Complete(since)) => {
            let (state, changes) = delta(session, folder, &since).await?;
            Ok(Answer { state, changes: merge(changes, Vec::new()), base: Some(since) })
        }
        Some(SyncPoint::Page(Continuation { base, after, page_state })) => {
            let unsent = match &base {
                None => listed(session.list(folder).await?.items),
                Some(base) => delta(session, folder, base).await?.1,
            };
            let unsent = unsent.into_iter().filter(|c| c.name() > &after).collect();
            let (state, since_page) = delta(session, folder, &page_state).await?;
            Ok(Answer { state, changes: merge(unsent, since_page), base })
        }
    }
}

fn listed(items: Vec<ItemMeta>) -> Vec<Change> {
    items.into_iter().map(Change::Changed).collect()
}

async fn delta(session: &dyn Session, folder: &FolderId, since: &State) -> Result<(State, Vec<Change>), GatewayError> {
    match session.changes(folder, since).await? {
        Changes::Delta { state, changed, removed } => {
            let mut changes = listed(changed);
            changes.extend(removed.into_iter().map(Change::Removed));
            Ok((state, changes))
        }
        // RFC 6578 §3.2: the client must start over with an initial sync.
        Changes::Resync => Err(GatewayError::forbidden(Precondition::ValidSyncToken)),
    }
}

/// Both sets in name order, one entry per name; `newer` wins where both name an item, since it
/// says what the item is now.
fn merge(older: Vec<Change>, newer: Vec<Change>) -> Vec<Change> {
    let mut by_name = BTreeMap::new();
    for change in older.into_iter().chain(newer) {
        by_name.insert(change.name().clone(), change);
    }
    by_name.into_values().collect()
}

/// Cuts `changes` to `page_size` entries; the last name kept when something was cut.
fn truncate(changes: &mut Vec<Change>, page_size: usize) -> Option<ItemName> {
    if changes.len() <= page_size {
        return None;
    }
    changes.truncate(page_size);
    changes.last().map(|change| change.name().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;
    use store::ETag;

    fn changed(name: &str, etag: &str) -> Change {
        Change::Changed(ItemMeta {
            name: ItemName::new(name),
            etag: ETag::new(etag),
            size: 1,
            last_modified: SystemTime::UNIX_EPOCH,
            content_type: None,
        })
    }

    fn removed(name: &str) -> Change {
        Change::Removed(ItemName::new(name))
    }

    #[test]
    fn merged_changes_are_in_name_order_and_the_newer_entry_wins() {
        let older = vec![changed("c", "1"), changed("a", "1"), changed("b", "1")];
        let newer = vec![removed("b"), changed("a", "2"), changed("0", "1")];
        assert_eq!(merge(older, newer), vec![changed("0", "1"), changed("a", "2"), removed("b"), changed("c", "1")]);
    }

    #[test]
    fn an_answer_over_the_page_size_is_cut_after_the_page() {
        let mut changes = vec![changed("a", "1"), changed("b", "1"), changed("c", "1")];
        assert_eq!(truncate(&mut changes, 3), None);
        assert_eq!(changes.len(), 3);
        assert_eq!(truncate(&mut changes, 2), Some(ItemName::new("b")));
        assert_eq!(changes, [changed("a", "1"), changed("b", "1")]);
    }

    #[test]
    fn the_page_size_is_the_smaller_of_client_limit_and_configured_cap() {
        assert_eq!(page_size(None, 1000), 1000);
        assert_eq!(page_size(Some(10), 1000), 10);
        assert_eq!(page_size(Some(u64::MAX), 1000), 1000);
    }
}
