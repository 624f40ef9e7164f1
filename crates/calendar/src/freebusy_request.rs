//! A free-busy request as POSTed to a schedule outbox (RFC 6638 §5): an iTIP VFREEBUSY with
//! METHOD:REQUEST (RFC 5546 §3.3.2), and the VFREEBUSY METHOD:REPLY answering it for one
//! attendee (RFC 5546 §3.3.3).
//!
//! Addresses are bare, lower-cased mail addresses here (no `mailto:`); the properties are
//! kept as written so a reply names organizer and attendee exactly as the request did.

use chrono::{DateTime, Utc};

use crate::component::{Component, Property};
use crate::datetime::DateValue;
use crate::error::InvalidCalendar;
use crate::filter::TimeRange;
use crate::freebusy::{freebusy_component, simple_property, vcalendar, BusyPeriod};
use crate::zones::{Zone, Zones};

/// The request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeBusyRequest {
    /// The ORGANIZER property as written.
    pub organizer: Property,
    /// The organizer's mail address.
    pub organizer_address: String,
    /// The ATTENDEEs in the order written, duplicates (same address) dropped.
    pub attendees: Vec<Recipient>,
    /// Both bounds set, start before end.
    pub range: TimeRange,
    /// RFC 5546 requires one; kept absent rather than invented when a client sends none.
    pub uid: Option<String>,
}

/// One ATTENDEE of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub property: Property,
    /// The mail address of a `mailto:` attendee; `None` for any other kind of URI.
    pub address: Option<String>,
}

/// Which RFC 6638 precondition a refused request breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestViolation {
    /// Not iCalendar at all.
    ValidCalendarData,
    /// iCalendar, but no single VFREEBUSY METHOD:REQUEST with a range (RFC 6638 §5.1).
    ValidSchedulingMessage,
    /// No ORGANIZER, or one that is no `mailto:` address.
    ValidOrganizer,
    /// No ATTENDEE to ask.
    RecipientSpecified,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error(transparent)]
    Calendar(#[from] InvalidCalendar),
    #[error("{0}")]
    NotAFreeBusyRequest(String),
    #[error("the VFREEBUSY has no ORGANIZER with a mailto: address")]
    Organizer,
    #[error("the VFREEBUSY names no ATTENDEE")]
    NoAttendee,
}

impl InvalidRequest {
    pub fn violation(&self) -> RequestViolation {
        match self {
            InvalidRequest::Calendar(_) => RequestViolation::ValidCalendarData,
            InvalidRequest::NotAFreeBusyRequest(_) => RequestViolation::ValidSchedulingMessage,
            InvalidRequest::Organizer => RequestViolation::ValidOrganizer,
            InvalidRequest::NoAttendee => RequestViolation::RecipientSpecified,
        }
    }
}

/// Reads and checks the body of an outbox POST.
pub fn parse_freebusy_request(body: &[u8]) -> Result<FreeBusyRequest, InvalidRequest> {
    let text = std::str::from_utf8(body).map_err(|_| InvalidCalendar::NotUtf8)?;
    let calendar = crate::parse_calendar(text)?;
    let not_request = |reason: &str| InvalidRequest::NotAFreeBusyRequest(reason.to_owned());
    let method = calendar.property("METHOD").map(|p| p.value.trim().to_ascii_uppercase());
    if method.as_deref() != Some("REQUEST") {
        return Err(not_request("METHOD must be REQUEST"));
    }
    let mut freebusies = calendar.components.iter().filter(|c| c.name != "VTIMEZONE");
    let freebusy = match (freebusies.next(), freebusies.next()) {
        (Some(only), None) if only.name == "VFREEBUSY" => only,
        _ => return Err(not_request("the request must hold exactly one VFREEBUSY")),
    };
    // RFC 5546 §3.3.2 asks for UTC; a zoned or floating time is read in its zone (or UTC).
    let zones = Zones::new(&calendar, Zone::utc());
    let instant = |name: &str| {
        let property = freebusy.property(name)?;
        let value = DateValue::of(property)?;
        (!value.is_date()).then(|| value.to_utc(&zones))
    };
    let (Some(start), Some(end)) = (instant("DTSTART"), instant("DTEND")) else {
        return Err(not_request("the VFREEBUSY needs DTSTART and DTEND date-times"));
    };
    if start >= end {
        return Err(not_request("DTEND must be after DTSTART"));
    }
    let organizer = freebusy.property("ORGANIZER").ok_or(InvalidRequest::Organizer)?;
    let organizer_address = mail_address(&organizer.value).ok_or(InvalidRequest::Organizer)?;
    let mut attendees: Vec<Recipient> = Vec::new();
    for property in freebusy.properties_named("ATTENDEE") {
        let recipient = Recipient { property: property.clone(), address: mail_address(&property.value) };
        let seen = attendees.iter().any(|r| match (&r.address, &recipient.address) {
            (Some(a), Some(b)) => a == b,
            _ => r.property.value.trim() == recipient.property.value.trim(),
        });
        if !seen {
            attendees.push(recipient);
        }
    }
    if attendees.is_empty() {
        return Err(InvalidRequest::NoAttendee);
    }
    let uid = freebusy.property("UID").map(|p| p.value.trim().to_owned()).filter(|u| !u.is_empty());
    Ok(FreeBusyRequest {
        organizer: organizer.clone(),
        organizer_address,
        attendees,
        range: TimeRange { start: Some(start), end: Some(end) },
        uid,
    })
}

/// The bare, lower-cased address of a `mailto:` URI (scheme case-insensitive, RFC 6068
/// percent-encoding undone, any `?headers` dropped); `None` for other URIs or no address.
pub fn mail_address(uri: &str) -> Option<String> {
    let uri = uri.trim();
    let scheme = uri.get(..7)?;
    if !scheme.eq_ignore_ascii_case("mailto:") {
        return None;
    }
    let address = uri.get(7..)?.split('?').next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(address).decode_utf8().ok()?;
    let address = decoded.trim().to_lowercase();
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !address.chars().any(char::is_control)).then_some(address)
}

/// The VCALENDAR with METHOD:REPLY answering `request` for `attendee`: the busy periods
/// (and nothing else of the attendee's calendars) over the requested range.
pub fn freebusy_reply(
    request: &FreeBusyRequest,
    attendee: &Recipient,
    periods: &[BusyPeriod],
    now: DateTime<Utc>,
) -> String {
    let mut freebusy = freebusy_component(periods, &request.range, now);
    // RFC 5546 §3.3.3: ORGANIZER, ATTENDEE (the one replying) and UID beside the times.
    let mut parties = Vec::new();
    if let Some(uid) = &request.uid {
        parties.push(simple_property("UID", uid.clone()));
    }
    parties.push(request.organizer.clone());
    parties.push(attendee.property.clone());
    freebusy.properties.splice(1..1, parties);
    let calendar: Component = vcalendar(vec![simple_property("METHOD", "REPLY".into())], freebusy);
    crate::writer::write_component(&calendar)
}
