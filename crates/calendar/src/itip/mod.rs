//! iTIP (RFC 5546) for implicit scheduling (RFC 6638 §3): which messages a change of a
//! scheduling object resource sends, and what a delivered message does to a recipient's copy.
//!
//! Pure: the gateway hands in the stored and the new copy and gets messages and new copies
//! back. Addresses are bare, lower-cased mail addresses (`alice@example.com`) in every Rust
//! API here; `mailto:` exists only in the iCalendar text.
//!
//! An instance of a recurring event is named by its RECURRENCE-ID as an instant ([`Key`]),
//! so a reply that writes `RECURRENCE-ID:20261201T080000Z` finds the override the organizer
//! wrote as `RECURRENCE-ID;TZID=Europe/Berlin:20261201T090000` (sabre/vobject's Broker
//! compares timestamps for the same reason).

mod apply;
mod attendee;
mod organizer;
mod tag;

use chrono::{DateTime, Utc};

use crate::component::{parse_calendar, Component, Parameter, Property};
use crate::datetime::DateValue;
use crate::error::InvalidCalendar;
use crate::writer::property_line;
use crate::zones::{Zone, Zones};

pub use apply::{apply_cancel, apply_reply, apply_request, keep_replies, set_schedule_status};
pub use attendee::{attendee_reply, check_attendee_change, ForbiddenChange};
pub use organizer::organizer_messages;
pub use tag::schedule_tag;

/// The iTIP methods implicit scheduling sends (RFC 5546 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Request,
    Reply,
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Reply => "REPLY",
            Method::Cancel => "CANCEL",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = InvalidMessage;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_uppercase().as_str() {
            "REQUEST" => Ok(Method::Request),
            "REPLY" => Ok(Method::Reply),
            "CANCEL" => Ok(Method::Cancel),
            other => Err(InvalidMessage::UnsupportedMethod(other.to_owned())),
        }
    }
}

/// One iTIP message: a VCALENDAR with METHOD, and who it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub method: Method,
    /// Bare lower-cased addresses.
    pub recipients: Vec<String>,
    pub calendar: Component,
}

impl Message {
    /// The message with DTSTAMP set to `now` in every component: RFC 5546 §3.2 makes DTSTAMP
    /// the time the message was created, which only the caller's clock knows.
    pub fn stamped(mut self, now: DateTime<Utc>) -> Message {
        let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
        for component in self.calendar.components.iter_mut().filter(|c| is_scheduling(c)) {
            set_property(component, "DTSTAMP", &stamp);
        }
        self
    }

    /// The UID of the event the message is about.
    pub fn uid(&self) -> Option<&str> {
        uid(&self.calendar)
    }
}

/// What the owner of some addresses is in a scheduling object resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Organizer,
    /// The address under which the owner is invited.
    Attendee(String),
    /// Not a scheduling object resource (no ORGANIZER), or one the owner is not part of.
    Neither,
}

/// The role of the owner of `own` (bare addresses) in `calendar` (RFC 6638 §3.1: a
/// scheduling object resource is one with ORGANIZER and at least one ATTENDEE... or only an
/// ORGANIZER, whose changes then reach nobody).
pub fn role(calendar: &Component, own: &[String]) -> Role {
    let is_own = |address: &str| own.iter().any(|o| o.eq_ignore_ascii_case(address));
    let Some(organizer) = organizer(calendar) else { return Role::Neither };
    if is_own(&organizer) {
        return Role::Organizer;
    }
    for component in scheduling_components(calendar) {
        for attendee in component.properties_named("ATTENDEE") {
            if let Some(address) = address(&attendee.value).filter(|a| is_own(a)) {
                return Role::Attendee(address);
            }
        }
    }
    Role::Neither
}

/// Why a body is not an iTIP message the gateway can process.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    #[error("not iCalendar: {0}")]
    Calendar(#[from] InvalidCalendar),
    #[error("no METHOD")]
    NoMethod,
    #[error("METHOD {0} is not REQUEST, REPLY or CANCEL")]
    UnsupportedMethod(String),
    #[error("no VEVENT, VTODO or VJOURNAL with a UID")]
    NoComponent,
    #[error("no ORGANIZER with a mailto: address")]
    NoOrganizer,
    #[error("a REPLY must name exactly the replying ATTENDEE")]
    NoReplyingAttendee,
}

/// Reads an iTIP message (RFC 5546 §3.2): a VCALENDAR with METHOD. Recipients are the
/// attendees for REQUEST and CANCEL, the organizer for REPLY.
pub fn parse_message(body: &[u8]) -> Result<Message, InvalidMessage> {
    let text = std::str::from_utf8(body).map_err(|_| InvalidCalendar::NotUtf8)?;
    let calendar = parse_calendar(text)?;
    let method: Method = calendar.property("METHOD").ok_or(InvalidMessage::NoMethod)?.value.parse()?;
    if uid(&calendar).is_none() {
        return Err(InvalidMessage::NoComponent);
    }
    let organizer = organizer(&calendar).ok_or(InvalidMessage::NoOrganizer)?;
    let recipients = match method {
        Method::Reply => {
            if scheduling_components(&calendar).any(|c| replying_attendee(c).is_none()) {
                return Err(InvalidMessage::NoReplyingAttendee);
            }
            vec![organizer]
        }
        Method::Request | Method::Cancel => {
            let mut recipients = Vec::new();
            for component in scheduling_components(&calendar) {
                for address in component.properties_named("ATTENDEE").filter_map(|p| address(&p.value)) {
                    if address != organizer && !recipients.contains(&address) {
                        recipients.push(address);
                    }
                }
            }
            recipients
        }
    };
    Ok(Message { method, recipients, calendar })
}

/// The organizer's address of a message or copy, bare and lower-cased.
pub fn organizer_of(calendar: &Component) -> Option<String> {
    organizer(calendar)
}

/// Whom a message of `method` speaks for, each with the SENT-BY they named (RFC 5545
/// §3.2.18): the organizer of a REQUEST or CANCEL, the replying attendees of a REPLY. iMIP
/// (RFC 6047 §3) takes a message only from one of these.
pub fn authors(calendar: &Component, method: Method) -> Vec<String> {
    let with_sent_by = |property: &Property| {
        let sent_by = property.param("SENT-BY").and_then(address);
        address(&property.value).into_iter().chain(sent_by)
    };
    let mut found: Vec<String> = match method {
        Method::Request | Method::Cancel => organizer_property(calendar).into_iter().flat_map(with_sent_by).collect(),
        Method::Reply => scheduling_components(calendar)
            .flat_map(|c| c.properties_named("ATTENDEE"))
            .flat_map(with_sent_by)
            .collect(),
    };
    found.sort();
    found.dedup();
    found
}

/// A calendar user address as the Rust side uses it: the mail address of a `mailto:` URI,
/// lower-cased, percent-decoding left aside (no client encodes a plain address). Other URIs
/// (`urn:uuid:`, principal URLs) name no one mail can reach: `None`.
pub(crate) fn address(value: &str) -> Option<String> {
    let value = value.trim();
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case("mailto:") {
        return None;
    }
    let rest = value[7..].trim();
    (!rest.is_empty()).then(|| rest.to_ascii_lowercase())
}

/// The components iTIP is about: not VTIMEZONE, not VFREEBUSY.
pub(crate) fn is_scheduling(component: &Component) -> bool {
    matches!(component.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL")
}

pub(crate) fn scheduling_components(calendar: &Component) -> impl Iterator<Item = &Component> {
    calendar.components.iter().filter(|c| is_scheduling(c))
}

pub(crate) fn uid(calendar: &Component) -> Option<&str> {
    scheduling_components(calendar).find_map(|c| c.property("UID")).map(|p| p.value.trim())
}

/// The organizer's address (RFC 5546: the same in every component of a UID).
pub(crate) fn organizer(calendar: &Component) -> Option<String> {
    scheduling_components(calendar).find_map(|c| c.property("ORGANIZER")).and_then(|p| address(&p.value))
}

pub(crate) fn organizer_property(calendar: &Component) -> Option<&Property> {
    scheduling_components(calendar).find_map(|c| c.property("ORGANIZER"))
}

/// The ATTENDEE of `address` in one component.
pub(crate) fn attendee<'a>(component: &'a Component, address: &str) -> Option<&'a Property> {
    component.properties_named("ATTENDEE").find(|p| self::address(&p.value).as_deref() == Some(address))
}

pub(crate) fn attendee_mut<'a>(component: &'a mut Component, address: &str) -> Option<&'a mut Property> {
    component
        .properties
        .iter_mut()
        .find(|p| p.name == "ATTENDEE" && self::address(&p.value).as_deref() == Some(address))
}

/// The one ATTENDEE of a REPLY component (RFC 5546 §3.2.3).
pub(crate) fn replying_attendee(component: &Component) -> Option<String> {
    component.properties_named("ATTENDEE").find_map(|p| address(&p.value))
}

/// PARTSTAT of an ATTENDEE; RFC 5545 §3.2.12 makes NEEDS-ACTION the default.
pub(crate) fn partstat(property: &Property) -> String {
    property.param("PARTSTAT").map(|p| p.trim().to_ascii_uppercase()).unwrap_or_else(|| "NEEDS-ACTION".into())
}

/// RFC 6638 §7.1: who schedules for this participant; SERVER unless a parameter says else.
pub(crate) fn server_schedules(property: &Property) -> bool {
    property.param("SCHEDULE-AGENT").is_none_or(|agent| agent.trim().eq_ignore_ascii_case("SERVER"))
}

pub(crate) fn is_cancelled(component: &Component) -> bool {
    component.property("STATUS").is_some_and(|s| s.value.trim().eq_ignore_ascii_case("CANCELLED"))
}

/// Which instance a component describes: `None` for the master (or a non-recurring
/// component), the RECURRENCE-ID's instant for an override.
pub(crate) type Key = Option<DateTime<Utc>>;

/// Zones of a calendar's VTIMEZONEs; floating values read as UTC (both copies of a meeting
/// are compared with the same rule, so the choice only has to be the same everywhere).
pub(crate) fn zones(calendar: &Component) -> Zones {
    Zones::new(calendar, Zone::utc())
}

/// The instance key of a component; `Err(())` when its RECURRENCE-ID is no date.
pub(crate) fn key(component: &Component, zones: &Zones) -> Result<Key, ()> {
    match component.property("RECURRENCE-ID") {
        None => Ok(None),
        Some(property) => DateValue::of(property).map(|v| Some(v.to_utc(zones))).ok_or(()),
    }
}

/// Every scheduling component with its key; components with unreadable RECURRENCE-IDs are
/// left out (validation refuses them on PUT).
pub(crate) fn keyed(calendar: &Component) -> Vec<(Key, &Component)> {
    let zones = zones(calendar);
    scheduling_components(calendar).filter_map(|c| key(c, &zones).ok().map(|k| (k, c))).collect()
}

/// The EXDATE instants of a master, each with a RECURRENCE-ID property naming it the way
/// the EXDATE wrote it (value type and zone kept).
pub(crate) fn exdates(master: &Component, zones: &Zones) -> Vec<(DateTime<Utc>, Property)> {
    let mut found = Vec::new();
    for exdate in master.properties_named("EXDATE") {
        for value in exdate.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let Some(parsed) = crate::datetime::parse(value, exdate.param("TZID")) else { continue };
            let params = exdate.params.iter().filter(|p| p.name == "TZID" || p.name == "VALUE").cloned().collect();
            let property = Property { name: "RECURRENCE-ID".into(), params, value: value.to_owned(), line: 0 };
            found.push((parsed.to_utc(zones), property));
        }
    }
    found
}

/// Replaces the first property `name` (or adds it) with a plain value.
pub(crate) fn set_property(component: &mut Component, name: &str, value: &str) {
    let property = Property { name: name.into(), params: Vec::new(), value: value.into(), line: 0 };
    match component.properties.iter_mut().find(|p| p.name == name) {
        Some(existing) => *existing = property,
        None => component.properties.push(property),
    }
}

pub(crate) fn set_param(property: &mut Property, name: &str, value: &str) {
    let parameter = Parameter { name: name.into(), values: vec![value.into()] };
    match property.params.iter_mut().find(|p| p.name == name) {
        Some(existing) => *existing = parameter,
        None => property.params.push(parameter),
    }
}

pub(crate) fn remove_params(property: &mut Property, names: &[&str]) {
    property.params.retain(|p| !names.contains(&p.name.as_str()));
}

/// Parameters the server keeps for itself on ORGANIZER/ATTENDEE (RFC 6638 §7.2, §7.3):
/// they never travel in a message.
pub(crate) const SERVER_PARAMS: [&str; 2] = ["SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND"];

/// A property as one comparable line: parameters sorted, calendar user addresses
/// lower-cased, so two serialisations of the same content compare equal.
pub(crate) fn canonical_line(property: &Property) -> String {
    let mut property = property.clone();
    property.params.sort_by(|a, b| a.name.cmp(&b.name));
    if matches!(property.name.as_str(), "ATTENDEE" | "ORGANIZER") {
        if let Some(address) = address(&property.value) {
            property.value = format!("mailto:{address}");
        }
    }
    property_line(&property)
}

/// The empty VCALENDAR a message or a new copy starts from.
pub(crate) fn new_calendar(method: Option<Method>) -> Component {
    let mut properties = vec![
        Property { name: "VERSION".into(), params: Vec::new(), value: "2.0".into(), line: 0 },
        Property { name: "PRODID".into(), params: Vec::new(), value: "-//caldav-gateway//iTIP//EN".into(), line: 0 },
    ];
    if let Some(method) = method {
        properties.push(Property { name: "METHOD".into(), params: Vec::new(), value: method.as_str().into(), line: 0 });
    }
    Component { name: "VCALENDAR".into(), properties, components: Vec::new() }
}

/// The VTIMEZONEs of `calendar`, for a message that carries some of its components.
pub(crate) fn timezones(calendar: &Component) -> impl Iterator<Item = &Component> {
    calendar.components_named("VTIMEZONE")
}

#[cfg(test)]
mod tests;
