//! REPORT (RFC 3253 §3.6): dispatched on the body's root element.

mod calendar_data;
mod calendar_multiget;
mod calendar_query;
mod candidates;
pub(crate) mod evaluation_budget;
pub(crate) mod free_busy_query;
mod principal_search;
pub(crate) mod scope;
mod sync_collection;

use axum::response::Response;
use dav::headers::Depth;
use dav::path::ResourcePath;
use dav::request::Report;
use dav::Precondition;
use http::HeaderMap;

use crate::error::GatewayError;
use crate::methods::depth;
use crate::quirks;
use crate::quirks::unchunked_multiget::HrefLimit;
use crate::resources::RequestContext;

/// The calendar the report runs on: the calendar reports (RFC 4791 §7) do not apply to a
/// plain collection (RFC 3253 §3.6 supported-report).
async fn calendar_folder(session: &dyn store::Session, name: &str) -> Result<store::Folder, GatewayError> {
    let folder = session.folder(name).await?;
    if folder.kind == store::FolderKind::Calendar {
        Ok(folder)
    } else {
        Err(GatewayError::forbidden(Precondition::SupportedReport))
    }
}

/// A folder whose members a client reads by href or by changes: a calendar, or the schedule
/// inbox (RFC 6638 §2.2: clients list it, multiget and sync it).
async fn readable_folder(session: &dyn store::Session, name: &str) -> Result<store::Folder, GatewayError> {
    let folder = session.folder(name).await?;
    if matches!(folder.kind, store::FolderKind::Calendar | store::FolderKind::ScheduleInbox) {
        Ok(folder)
    } else {
        Err(GatewayError::forbidden(Precondition::SupportedReport))
    }
}

/// `limits.max_multiget_hrefs` for a multiget of one calendar, lifted for vdirsyncer
/// (`quirks::unchunked_multiget`).
fn multiget_href_limit(cx: &RequestContext, headers: &HeaderMap) -> HrefLimit {
    crate::quirks::unchunked_multiget::multiget_href_limit(headers, cx.app.limits().max_multiget_hrefs)
}

pub async fn report(
    cx: &RequestContext,
    path: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    let report = dav::request::parse_report(body)?;
    match (report, path) {
        (Report::CalendarMultiget { props, hrefs, calendar_data }, ResourcePath::Calendar { calendar, .. }) => {
            let scope = calendar_multiget::MultigetScope::Calendar(calendar);
            let limit = multiget_href_limit(cx, headers);
            calendar_multiget::calendar_multiget(cx, scope, &props, &hrefs, limit, &calendar_data).await
        }
        (Report::CalendarMultiget { props, hrefs, calendar_data }, ResourcePath::CalendarHome { .. }) => {
            let scope = calendar_multiget::MultigetScope::Home;
            // vdirsyncer multigets one calendar at a time; a multiget of the home may name many
            // calendars, each a folder lookup, so it keeps the configured limit.
            let limit = HrefLimit::Fixed(cx.app.limits().max_multiget_hrefs);
            calendar_multiget::calendar_multiget(cx, scope, &props, &hrefs, limit, &calendar_data).await
        }
        // Depth is not read although RFC 6578 §3.2 asks for 0: Thunderbird (CalDavWebDavSyncHandler,
        // 128 and later) sends 1 on purpose for older servers, Apple's clients send 1 too (OS X
        // 10.7-10.11, apple/ccs-calendarserver loadtest ical.py `_updateCalendar_SYNC`), and a 400
        // would leave their calendars broken (docs/clients/thunderbird.md, docs/clients/apple.md).
        (
            Report::SyncCollection { sync_token, limit, props, calendar_data, .. },
            ResourcePath::Calendar { calendar, .. },
        ) => sync_collection::sync_collection(cx, calendar, sync_token.as_deref(), limit, &props, &calendar_data).await,
        (Report::CalendarQuery { props, filter, timezone, calendar_data }, _) => {
            // RFC 3253 §3.6: a REPORT without Depth is Depth 0.
            let targets = scope::targets(cx.session.as_ref(), path, depth(headers, Depth::Zero)?).await?;
            calendar_query::calendar_query(cx, &targets, &props, &filter, timezone.as_deref(), &calendar_data).await
        }
        (Report::FreeBusyQuery { range }, path)
            if quirks::principal_free_busy::applies(path, cx.session.principal()) =>
        {
            let targets = quirks::principal_free_busy::targets(cx.session.as_ref()).await?;
            free_busy_query::free_busy_query(cx, &targets, &range).await
        }
        (Report::FreeBusyQuery { range }, _) => {
            let targets = scope::targets(cx.session.as_ref(), path, depth(headers, Depth::Zero)?).await?;
            free_busy_query::free_busy_query(cx, &targets, &range).await
        }
        (Report::PrincipalPropertySearch { searches, any_of, props }, _) => {
            principal_search::principal_property_search(cx, &searches, any_of, &props)
        }
        (Report::PrincipalSearchPropertySet, _) => Ok(principal_search::principal_search_property_set()),
        (Report::Unsupported(name), _) => {
            tracing::info!(report = %name, "unsupported report");
            Err(GatewayError::forbidden(Precondition::SupportedReport))
        }
        // A known report on a resource that does not offer it (RFC 3253 §3.6).
        _ => Err(GatewayError::forbidden(Precondition::SupportedReport)),
    }
}
