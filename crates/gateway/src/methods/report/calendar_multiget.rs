//! calendar-multiget (RFC 4791 §7.9): the named objects of a calendar, or of any calendar of
//! the home, in one backend call per calendar.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::response::Response;
use calendar::retrieval::CalendarDataRequest;
use dav::path::ResourcePath;
use dav::request::PropFind;
use dav::response::ResponseBody;
use dav::Precondition;
use http::StatusCode;
use store::ItemName;

use super::calendar_data::{floating_zone, Shaper};
use crate::error::GatewayError;
use crate::methods::{property_context, streamed_multistatus};
use crate::properties;
use crate::quirks::unchunked_multiget::HrefLimit;
use crate::resources::{RequestContext, Resource};

/// Where the hrefs may point: one calendar (the Request-URI), or any calendar of the home
/// (RFC 4791 §7.9: "from within a collection", and the home is one).
pub enum MultigetScope<'a> {
    Calendar(&'a str),
    Home,
}

pub async fn calendar_multiget(
    cx: &RequestContext,
    scope: MultigetScope<'_>,
    props: &PropFind,
    hrefs: &[String],
    href_limit: HrefLimit,
    calendar_data: &CalendarDataRequest,
) -> Result<Response, GatewayError> {
    let too_many = || GatewayError::forbidden(Precondition::NumberOfMatchesWithinLimits);
    if let HrefLimit::Fixed(limit) = href_limit {
        if hrefs.len() > limit {
            return Err(too_many());
        }
    }
    let session = cx.session.as_ref();
    // The Request-URI itself must be a calendar (403 supported-report otherwise); kept, so
    // the usual multiget costs no second folder lookup.
    let scope_folder = match scope {
        MultigetScope::Calendar(calendar) => Some(super::readable_folder(session, calendar).await?),
        MultigetScope::Home => None,
    };
    // Each href either names an object in scope or is answered 404 on its own line: a
    // multiget never reaches outside its Request-URI or into another user (RFC 4791 §7.9).
    // Sets and maps, not scans: a multiget of one calendar may name as many hrefs as the
    // request body holds (quirks::unchunked_multiget), so each step stays linear in them.
    // An object named twice, in whatever spelling, is answered once.
    let mut wanted: Vec<(String, Option<(String, ItemName)>)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut targets: HashSet<(String, String)> = HashSet::new();
    for href in hrefs {
        if !seen.insert(href.as_str()) {
            continue;
        }
        let target = match ResourcePath::parse_href(href) {
            Ok(ResourcePath::Object { user, calendar, item }) if user == cx.user() => match scope {
                MultigetScope::Calendar(only) if calendar != only => None,
                _ => Some((calendar, ItemName::new(item))),
            },
            _ => None,
        };
        if let Some((calendar, item)) = &target {
            if !targets.insert((calendar.clone(), item.as_str().to_owned())) {
                continue;
            }
        }
        wanted.push((href.clone(), target));
    }
    if let HrefLimit::CalendarSize(configured) = href_limit {
        if wanted.len() > configured {
            // Only a multiget of one calendar gets its size as the limit.
            let Some(folder) = scope_folder.as_ref() else { return Err(too_many()) };
            let members = session.list(&folder.id).await?.items.len();
            if wanted.len() > members.saturating_add(configured) {
                return Err(too_many());
            }
        }
    }
    // One `get` per calendar named, in the order first named.
    let mut calendars: Vec<&str> = Vec::new();
    for (_, target) in &wanted {
        if let Some((calendar, _)) = target {
            if !calendars.contains(&calendar.as_str()) {
                calendars.push(calendar);
            }
        }
    }
    let mut found: Vec<(Arc<store::Folder>, Vec<store::Item>)> = Vec::new();
    for calendar in calendars {
        let folder = match scope_folder.as_ref().filter(|f| f.name == calendar) {
            Some(folder) => folder.clone(),
            None => match session.folder(calendar).await {
                Ok(folder) if folder.kind == store::FolderKind::Calendar => folder,
                Ok(_) | Err(store::StoreError::NotFound) => continue,
                Err(other) => return Err(other.into()),
            },
        };
        let names: Vec<ItemName> = wanted
            .iter()
            .filter_map(|(_, t)| t.as_ref())
            .filter(|(c, _)| c == calendar)
            .map(|(_, n)| n.clone())
            .collect();
        let items = session.get(&folder.id, &names).await?;
        found.push((Arc::new(folder), items));
    }
    let max_instances = cx.app.limits().max_instances;
    let by_name: HashMap<(&str, &ItemName), (&Arc<store::Folder>, &store::Item)> = found
        .iter()
        .flat_map(|(folder, items)| {
            items.iter().map(move |item| ((folder.name.as_str(), &item.meta.name), (folder, item)))
        })
        .collect();
    // Calendar data is shaped here, where a refusal can still be the answer's status; what is
    // left to write cannot fail (`streamed_multistatus`).
    let mut answers: Vec<(String, Option<Resource>)> = Vec::with_capacity(wanted.len());
    for (href, target) in wanted {
        let item = target.as_ref().and_then(|(calendar, name)| by_name.get(&(calendar.as_str(), name)).copied());
        let resource = match item {
            Some((folder, item)) => {
                let shaper = Shaper { request: calendar_data, floating: floating_zone(folder, None)?, max_instances };
                Some(Resource::Object {
                    folder: folder.clone(),
                    meta: item.meta.clone(),
                    body: Some(shaper.shape(item.body.clone())?),
                    properties: item.properties.clone(),
                })
            }
            None => None,
        };
        answers.push((href, resource));
    }
    let pcx = property_context(cx);
    let props = props.clone();
    let responses = answers.into_iter().map(move |(href, resource)| match resource {
        Some(resource) => {
            let mut response = properties::response(&pcx, &resource, &props);
            // Echo the client's href: clients match responses to requests by it.
            response.href = href;
            response
        }
        None => dav::response::Response { href, body: ResponseBody::Status(StatusCode::NOT_FOUND), error: None },
    });
    Ok(streamed_multistatus(responses, None))
}
