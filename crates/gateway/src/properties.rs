//! Live property values: one match over (resource, property), pure over loaded resources.

use dav::names::{QName, NS_CALDAV, NS_DAV};
use dav::request::PropFind;
use dav::response::{Element, PropStat, Property, Response, ResponseBody, Value};
use dav::PropName;
use http::StatusCode;
use store::{DeadProperty, Folder, FolderKind, ItemMeta, Principal};

use crate::resources::Resource;
use crate::sync_token;

/// What property values depend on besides the resource itself. Owned, so a multistatus can
/// be written after the handler returned (`methods::streamed_multistatus`).
pub struct PropertyContext {
    pub principal: Principal,
    pub max_resource_size: u64,
    pub max_instances: usize,
    pub max_attendees_per_instance: usize,
    pub max_attachments_per_resource: usize,
    pub max_attachment_size: u64,
    /// The user may schedule: the RFC 6638 properties exist (else they are unknown, 404).
    pub scheduling: bool,
    /// Href of the calendar invitations go to (`scheduling::default_calendar`), looked up only
    /// when a request asks for `schedule-default-calendar-URL`.
    pub default_calendar: Option<String>,
}

/// RFC 4791 §5.2.6/§5.2.7: the span of date-times the gateway handles, which is the whole
/// range of the chrono types the query engine uses, so no client value is ever out of range.
const MIN_DATE_TIME: &str = "00010101T000000Z";
const MAX_DATE_TIME: &str = "99991231T235959Z";

/// The `<D:response>` for one resource and one PROPFIND-style selection.
pub fn response(cx: &PropertyContext, resource: &Resource, selection: &PropFind) -> Response {
    let href = resource.href(&cx.principal.user);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    match selection {
        PropFind::PropName => {
            found = names(cx, resource).into_iter().map(Property::empty).collect();
        }
        PropFind::AllProp { include } => {
            // RFC 4918 §9.1: allprop is the RFC 4918 live properties; RFC 4791 §5.2 and the
            // CalendarServer/Apple extensions are only returned when named.
            let mut wanted = allprop_names(resource);
            wanted.extend(include.iter().filter(|n| !wanted.contains(n)).cloned().collect::<Vec<_>>());
            found = wanted
                .iter()
                .filter_map(|name| value(cx, resource, name).map(|v| Property::new(name.clone(), v)))
                .collect();
        }
        PropFind::Prop(wanted) => {
            for name in wanted {
                match value(cx, resource, name) {
                    Some(v) => found.push(Property::new(name.clone(), v)),
                    None => missing.push(Property::empty(name.clone())),
                }
            }
        }
    }
    let mut propstats = Vec::new();
    if !found.is_empty() || missing.is_empty() {
        propstats.push(PropStat { status: StatusCode::OK, props: found });
    }
    if !missing.is_empty() {
        propstats.push(PropStat { status: StatusCode::NOT_FOUND, props: missing });
    }
    Response { href, body: ResponseBody::PropStats(propstats), error: None }
}

/// Whether answering `selection` needs object bodies or dead properties, which a listing
/// does not carry. The polls of calendar clients name live properties only.
pub fn needs_bodies(selection: &PropFind) -> bool {
    match selection {
        // The Schedule-Tag is a digest of the body (see `calendar::itip::schedule_tag`).
        PropFind::Prop(names) => {
            names.iter().any(|n| matches!(n, PropName::CalendarData | PropName::ScheduleTag | PropName::Unknown(_)))
        }
        PropFind::AllProp { .. } | PropFind::PropName => true,
    }
}

fn allprop_names(resource: &Resource) -> Vec<PropName> {
    use PropName::*;
    match resource {
        // RFC 4918 §9.1: allprop includes the dead properties.
        Resource::Object { properties, .. } => {
            [ResourceType, GetETag, GetContentType, GetContentLength, GetLastModified]
                .into_iter()
                .chain(dead_names(properties))
                .collect()
        }
        Resource::Calendar(folder) | Resource::Collection(folder) | Resource::ScheduleInbox(folder) => {
            [ResourceType, DisplayName, GetETag].into_iter().chain(dead_names(&folder.properties)).collect()
        }
        Resource::ScheduleOutbox => vec![ResourceType],
        _ => vec![ResourceType, DisplayName],
    }
}

/// A dead property may have a name the gateway also interprets (`schedule-calendar-transp`
/// is kept as set, RFC 6638 §9.1), so names go through `from_qname`.
fn dead_names(properties: &[DeadProperty]) -> impl Iterator<Item = PropName> + '_ {
    properties.iter().map(|p| PropName::from_qname(&p.namespace, &p.name))
}

fn dead_value(properties: &[DeadProperty], name: &QName) -> Option<Value> {
    properties.iter().find(|p| p.namespace == name.ns && p.name == name.local).map(|p| Value::Xml(p.xml.clone()))
}

/// Every property the resource has (PROPFIND propname).
fn names(cx: &PropertyContext, resource: &Resource) -> Vec<PropName> {
    use PropName::*;
    let common = [ResourceType, CurrentUserPrincipal, CurrentUserPrivilegeSet, SupportedReportSet];
    let scheduling: &[PropName] = match (resource, cx.scheduling) {
        (Resource::Principal, true) => &[ScheduleInboxUrl, ScheduleOutboxUrl, CalendarUserType],
        (Resource::Home | Resource::ScheduleInbox(_), true) => &[ScheduleDefaultCalendarUrl],
        (Resource::Calendar(_), true) => &[ScheduleCalendarTransp],
        _ => &[],
    };
    let specific: &[PropName] = match resource {
        Resource::Root { .. } | Resource::Principals | Resource::Calendars => &[DisplayName, PrincipalCollectionSet],
        Resource::Principal => {
            &[DisplayName, PrincipalUrl, PrincipalCollectionSet, CalendarHomeSet, CalendarUserAddressSet, Owner]
        }
        Resource::Home => &[DisplayName, Owner, CalendarHomeSet],
        Resource::Calendar(_) => &[
            DisplayName,
            Owner,
            GetETag,
            GetCtag,
            SyncToken,
            CalendarDescription,
            CalendarColor,
            CalendarOrder,
            CalendarTimezone,
            SupportedCalendarComponentSet,
            SupportedCalendarData,
            MaxResourceSize,
            MinDateTime,
            MaxDateTime,
            MaxInstances,
            MaxAttendeesPerInstance,
            MaxAttachmentsPerResource,
            MaxAttachmentSize,
        ],
        Resource::Collection(_) | Resource::ScheduleInbox(_) => &[DisplayName, Owner, GetETag, GetCtag, SyncToken],
        Resource::ScheduleOutbox => &[Owner],
        Resource::Object { .. } => &[GetETag, GetContentType, GetContentLength, GetLastModified, Owner],
    };
    let dead: Vec<PropName> = match resource {
        Resource::Calendar(folder) | Resource::Collection(folder) | Resource::ScheduleInbox(folder) => {
            dead_names(&folder.properties).collect()
        }
        Resource::Object { properties, .. } => dead_names(properties).collect(),
        _ => Vec::new(),
    };
    let mut all: Vec<PropName> =
        common.into_iter().chain(specific.iter().cloned()).chain(scheduling.iter().cloned()).collect();
    for name in dead {
        // A dead property the gateway interprets is named once, and only when it exists.
        if !all.contains(&name) && value(cx, resource, &name).is_some() {
            all.push(name);
        }
    }
    all
}

/// The value of one property, or `None` when the resource does not have it (404 propstat).
pub fn value(cx: &PropertyContext, resource: &Resource, name: &PropName) -> Option<Value> {
    use PropName as P;
    let user = &cx.principal.user;
    let principal_href = || Value::Href(dav::path::principal_href(user));
    match (resource, name) {
        (_, P::ResourceType) => Some(resource_type(resource)),
        (_, P::CurrentUserPrincipal) => Some(principal_href()),
        (_, P::CurrentUserPrivilegeSet) => Some(privileges(resource)),
        (_, P::SupportedReportSet) => Some(supported_reports(resource)),
        (_, P::PrincipalCollectionSet) => Some(Value::Href(dav::path::ResourcePath::Principals.href())),

        (Resource::Principal, P::DisplayName) => Some(Value::Text(cx.principal.display_name.clone())),
        (Resource::Principal, P::PrincipalUrl) => Some(principal_href()),
        (Resource::Principal | Resource::Home, P::CalendarHomeSet) => {
            Some(Value::Href(dav::path::calendar_home_href(user)))
        }
        (Resource::Principal, P::CalendarUserAddressSet) => Some(calendar_user_addresses(&cx.principal)),
        // RFC 6638 §2.4.2, §2.2, §2.1, §9.2: only for a user who may schedule.
        (Resource::Principal, P::CalendarUserType) if cx.scheduling => Some(Value::Text("INDIVIDUAL".into())),
        (Resource::Principal, P::ScheduleInboxUrl) if cx.scheduling => {
            Some(Value::Href(dav::path::schedule_inbox_href(user)))
        }
        (Resource::Principal, P::ScheduleOutboxUrl) if cx.scheduling => {
            Some(Value::Href(dav::path::schedule_outbox_href(user)))
        }
        (Resource::Home | Resource::ScheduleInbox(_), P::ScheduleDefaultCalendarUrl) if cx.scheduling => {
            cx.default_calendar.clone().map(Value::Href)
        }
        (
            Resource::Principal
            | Resource::Home
            | Resource::Calendar(_)
            | Resource::Collection(_)
            | Resource::ScheduleInbox(_)
            | Resource::ScheduleOutbox
            | Resource::Object { .. },
            P::Owner,
        ) => Some(principal_href()),
        (Resource::Home, P::DisplayName) => Some(Value::Text(cx.principal.display_name.clone())),
        (Resource::Root { .. } | Resource::Principals | Resource::Calendars, P::DisplayName) => None,

        (Resource::Calendar(folder), _) => calendar_value(cx, folder, name),
        (Resource::Collection(folder), _) => collection_value(folder, name),
        (Resource::ScheduleInbox(folder), P::DisplayName) => {
            Some(Value::Text(folder.display_name.clone().unwrap_or_else(|| folder.name.clone())))
        }
        (Resource::ScheduleInbox(folder), _) => collection_value(folder, name),
        (Resource::Object { properties, .. }, P::Unknown(name)) => dead_value(properties, name),
        // RFC 6638 §9.3: only scheduling object resources in calendars have one.
        (Resource::Object { folder, meta, body, .. }, P::ScheduleTag) => {
            let in_calendar = cx.scheduling && folder.kind == FolderKind::Calendar && meta.content_type.is_none();
            let tag = body.as_deref().filter(|_| in_calendar).and_then(crate::scheduling::implicit::schedule_tag_of)?;
            Some(Value::Text(dav::headers::quote_etag(&tag)))
        }
        (Resource::Object { meta, body, .. }, _) => object_value(meta, body.as_deref(), name),
        _ => None,
    }
}

fn calendar_value(cx: &PropertyContext, folder: &Folder, name: &PropName) -> Option<Value> {
    use PropName as P;
    let text = |s: &Option<String>| s.clone().map(Value::Text);
    match name {
        P::DisplayName => Some(Value::Text(folder.display_name.clone().unwrap_or_else(|| folder.name.clone()))),
        P::CalendarDescription => text(&folder.description),
        P::CalendarColor => text(&folder.color),
        P::CalendarOrder => folder.order.map(|o| Value::Text(o.to_string())),
        P::CalendarTimezone => text(&folder.timezone),
        // The collection's ETag is its state: it changes exactly when a member or a property does.
        P::GetETag => Some(Value::Text(dav::headers::quote_etag(folder.state.as_str()))),
        P::GetCtag => Some(Value::Text(folder.state.to_string())),
        P::SyncToken => Some(Value::Text(sync_token::to_uri(&folder.state))),
        P::SupportedCalendarComponentSet => Some(Value::Elements(
            folder
                .components
                .iter()
                .map(|c| Element::empty(QName::caldav("comp")).attribute("name", c.ical_name()))
                .collect(),
        )),
        P::SupportedCalendarData => Some(Value::Elements(vec![Element::empty(QName::caldav("calendar-data"))
            .attribute("content-type", "text/calendar")
            .attribute("version", "2.0")])),
        P::MaxResourceSize => Some(Value::Text(cx.max_resource_size.to_string())),
        P::MinDateTime => Some(Value::Text(MIN_DATE_TIME.into())),
        P::MaxDateTime => Some(Value::Text(MAX_DATE_TIME.into())),
        P::MaxInstances => Some(Value::Text(cx.max_instances.to_string())),
        P::MaxAttendeesPerInstance => Some(Value::Text(cx.max_attendees_per_instance.to_string())),
        P::MaxAttachmentsPerResource => Some(Value::Text(cx.max_attachments_per_resource.to_string())),
        P::MaxAttachmentSize => Some(Value::Text(cx.max_attachment_size.to_string())),
        P::ScheduleCalendarTransp if cx.scheduling => {
            let transparency = crate::scheduling::busy_time::transparency(folder);
            Some(Value::Elements(vec![Element::empty(QName::caldav(transparency.local_name()))]))
        }
        P::Unknown(name) => dead_value(&folder.properties, name),
        _ => None,
    }
}

/// A plain collection: what any WebDAV collection has, plus change tracking.
fn collection_value(folder: &Folder, name: &PropName) -> Option<Value> {
    use PropName as P;
    match name {
        P::DisplayName => folder.display_name.clone().map(Value::Text),
        P::GetETag => Some(Value::Text(dav::headers::quote_etag(folder.state.as_str()))),
        P::GetCtag => Some(Value::Text(folder.state.to_string())),
        P::SyncToken => Some(Value::Text(sync_token::to_uri(&folder.state))),
        P::Unknown(name) => dead_value(&folder.properties, name),
        _ => None,
    }
}

fn object_value(meta: &ItemMeta, body: Option<&[u8]>, name: &PropName) -> Option<Value> {
    use PropName as P;
    match name {
        P::GetETag => Some(Value::Text(dav::headers::quote_etag(meta.etag.as_str()))),
        P::GetContentType => {
            Some(Value::Text(meta.content_type.clone().unwrap_or_else(|| "text/calendar; charset=utf-8".into())))
        }
        P::GetContentLength => Some(Value::Text(meta.size.to_string())),
        P::GetLastModified => Some(Value::Text(httpdate::fmt_http_date(meta.last_modified))),
        // Stored bodies were validated as UTF-8 on PUT; lossy conversion only guards backends
        // whose data came from elsewhere.
        P::CalendarData if meta.content_type.is_none() => body.map(|b| match std::str::from_utf8(b) {
            Ok(text) => Value::Text(text.to_owned()),
            Err(_) => Value::Text(String::from_utf8_lossy(b).into_owned()),
        }),
        _ => None,
    }
}

fn resource_type(resource: &Resource) -> Value {
    let collection = Element::empty(QName::dav("collection"));
    match resource {
        Resource::Object { .. } => Value::Empty,
        Resource::Principal => Value::Elements(vec![collection, Element::empty(QName::dav("principal"))]),
        Resource::Calendar(_) => Value::Elements(vec![collection, Element::empty(QName::caldav("calendar"))]),
        Resource::ScheduleInbox(_) => {
            Value::Elements(vec![collection, Element::empty(QName::caldav("schedule-inbox"))])
        }
        Resource::ScheduleOutbox => Value::Elements(vec![collection, Element::empty(QName::caldav("schedule-outbox"))]),
        _ => Value::Elements(vec![collection]),
    }
}

/// RFC 3744 §5.4. The user owns everything reachable unless the store marks a folder read-only;
/// the principal tree is read-only.
fn privileges(resource: &Resource) -> Value {
    let owned: &[(&str, &str)] = &[
        (NS_DAV, "read"),
        (NS_DAV, "write"),
        (NS_DAV, "write-properties"),
        (NS_DAV, "write-content"),
        (NS_DAV, "bind"),
        (NS_DAV, "unbind"),
        (NS_DAV, "read-current-user-privilege-set"),
        (NS_CALDAV, "read-free-busy"),
    ];
    let read_only: &[(&str, &str)] = &[(NS_DAV, "read"), (NS_DAV, "read-current-user-privilege-set")];
    // RFC 6638 §6.1.1: the owner reads and removes messages and may be delivered to.
    let inbox: &[(&str, &str)] = &[
        (NS_DAV, "read"),
        (NS_DAV, "write-properties"),
        (NS_DAV, "unbind"),
        (NS_DAV, "read-current-user-privilege-set"),
        (NS_CALDAV, "schedule-deliver"),
        (NS_CALDAV, "schedule-deliver-invite"),
        (NS_CALDAV, "schedule-deliver-reply"),
        (NS_CALDAV, "schedule-query-freebusy"),
    ];
    // RFC 6638 §6.2.1: the owner sends through it.
    let outbox: &[(&str, &str)] = &[
        (NS_DAV, "read"),
        (NS_DAV, "read-current-user-privilege-set"),
        (NS_CALDAV, "schedule-send"),
        (NS_CALDAV, "schedule-send-invite"),
        (NS_CALDAV, "schedule-send-reply"),
        (NS_CALDAV, "schedule-send-freebusy"),
    ];
    // A folder the mail store lets the user only read (JMAP `myRights`), and what is in it.
    let list = match resource {
        Resource::Home => owned,
        Resource::ScheduleInbox(_) => inbox,
        Resource::ScheduleOutbox => outbox,
        Resource::Calendar(folder) | Resource::Collection(folder) if !folder.read_only => owned,
        Resource::Object { folder, .. } if !folder.read_only => owned,
        _ => read_only,
    };
    Value::Elements(
        list.iter()
            .map(|(ns, local)| {
                Element::with(QName::dav("privilege"), Value::Elements(vec![Element::empty(QName::new(*ns, *local))]))
            })
            .collect(),
    )
}

/// RFC 3253 §3.1.5, listing only what is implemented so clients fall back correctly.
fn supported_reports(resource: &Resource) -> Value {
    let reports: Vec<QName> = match resource {
        Resource::Calendar(_) => {
            vec![
                QName::caldav("calendar-query"),
                QName::caldav("calendar-multiget"),
                QName::caldav("free-busy-query"),
                QName::dav("sync-collection"),
            ]
        }
        Resource::Collection(_) => vec![QName::dav("sync-collection")],
        Resource::ScheduleInbox(_) => vec![QName::caldav("calendar-multiget"), QName::dav("sync-collection")],
        Resource::Object { meta, .. } if meta.content_type.is_none() => vec![QName::caldav("calendar-multiget")],
        Resource::Principals | Resource::Principal => {
            vec![QName::dav("principal-property-search"), QName::dav("principal-search-property-set")]
        }
        _ => vec![],
    };
    Value::Elements(
        reports
            .into_iter()
            .map(|report| {
                let inner = Element::with(QName::dav("report"), Value::Elements(vec![Element::empty(report)]));
                Element::with(QName::dav("supported-report"), Value::Elements(vec![inner]))
            })
            .collect(),
    )
}

/// `mailto:` of the user first: iOS and Thunderbird take the first address as the user's.
/// The backends give every user an address (`store::mail_address`, RFC 6638 §2.4.1).
fn calendar_user_addresses(principal: &Principal) -> Value {
    let mut hrefs = Vec::new();
    if let Some(email) = &principal.email {
        hrefs.push(mailto_uri(email));
    }
    hrefs.push(dav::path::principal_href(&principal.user));
    Value::Hrefs(hrefs)
}

/// RFC 6068 §2: in a `mailto:` URI an address may hold only unreserved characters and
/// `some-delims`; everything else (a quoted local part's `"` and space, `%`, `?`, `#`, `&`,
/// `=`, `/`, non-ASCII) is percent-encoded, octet by octet of its UTF-8.
fn mailto_uri(address: &str) -> String {
    let mut uri = String::from("mailto:");
    for byte in address.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$'()*+,;:@".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(email: Option<&str>) -> Principal {
        Principal { user: "alice".into(), display_name: "Alice".into(), email: email.map(str::to_owned) }
    }

    #[test]
    fn calendar_user_address_set_lists_mailto_first_then_the_principal() {
        let Value::Hrefs(hrefs) = calendar_user_addresses(&principal(Some("alice@mail.example"))) else {
            panic!("hrefs expected")
        };
        assert_eq!(hrefs, vec!["mailto:alice@mail.example".to_owned(), dav::path::principal_href("alice")]);
    }

    #[test]
    fn mailto_uri_percent_encodes_what_rfc_6068_reserves() {
        assert_eq!(mailto_uri("a.b+c@example.org"), "mailto:a.b+c@example.org");
        assert_eq!(mailto_uri("\"ann lee\"@example.org"), "mailto:%22ann%20lee%22@example.org");
        assert_eq!(mailto_uri("a%b?c#d&e=f/g@example.org"), "mailto:a%25b%3Fc%23d%26e%3Df%2Fg@example.org");
    }
}
