//! RFC 4791 §4.1 / §5.3.2.1 checks of a calendar object resource.
//!
//! Strictness follows what real servers enforce and real clients send:
//! - VERSION may be missing (some generators omit it), but if present must be 2.0; PRODID
//!   is not required (sabre/dav repairs rather than refuses it, Radicale ignores it).
//! - DTSTART is required in a VEVENT (RFC 5545 §3.6.1 without METHOD; sabre/dav requires it).
//! - A TZID naming no VTIMEZONE in the object is accepted: Outlook and older Thunderbird send
//!   IANA or Windows zone names bare, and refusing them would lose those clients' events.

use std::collections::HashSet;

use crate::component::{parse_calendar, Component};
use crate::error::InvalidCalendar;
use crate::property_values::check_values;
use crate::zones::{Zone, Zones};

/// The component type of a calendar object resource (RFC 4791 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentKind {
    Event,
    Todo,
    Journal,
    /// Busy time (RFC 5545 §3.6.4); RFC 4791 §4.1 lets a calendar collection hold it when its
    /// supported-calendar-component-set names VFREEBUSY, which the gateway checks.
    FreeBusy,
}

impl ComponentKind {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "VEVENT" => Some(ComponentKind::Event),
            "VTODO" => Some(ComponentKind::Todo),
            "VJOURNAL" => Some(ComponentKind::Journal),
            "VFREEBUSY" => Some(ComponentKind::FreeBusy),
            _ => None,
        }
    }
}

/// What the gateway needs to know of a valid calendar object resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarObject {
    pub uid: String,
    pub component: ComponentKind,
    /// The parsed object, so later steps (the query index) need not parse it again.
    pub calendar: Component,
}

impl CalendarObject {
    /// Where its instances lie in time, for the store's query index (see `instance_span`).
    pub fn span(&self, max_instances: usize) -> Result<crate::InstanceSpan, crate::recurrence::TooManyInstances> {
        crate::instance_span(&self.calendar, max_instances)
    }
}

/// Checks a PUT body. RFC 4791 §4.1 and §5.3.2.1.
pub fn validate_object(body: &[u8]) -> Result<CalendarObject, InvalidCalendar> {
    let text = std::str::from_utf8(body).map_err(|_| InvalidCalendar::NotUtf8)?;
    let calendar = parse_calendar(text)?;
    check_version(&calendar)?;
    if calendar.property("METHOD").is_some() {
        return Err(InvalidCalendar::MethodPresent);
    }
    let mut kind: Option<(ComponentKind, &str)> = None;
    let mut other: Option<&str> = None;
    for component in &calendar.components {
        match ComponentKind::from_name(&component.name) {
            Some(k) => match kind {
                None => kind = Some((k, &component.name)),
                Some((existing, name)) if existing != k => {
                    return Err(InvalidCalendar::MixedComponents(name.to_owned(), component.name.clone()))
                }
                Some(_) => {}
            },
            // VTIMEZONE goes along with the object; X- and IANA components are kept as sent.
            None if component.name == "VTIMEZONE" => {}
            None => other = other.or(Some(&component.name)),
        }
    }
    let Some((component, name)) = kind else {
        return Err(match other {
            Some(name) => InvalidCalendar::UnsupportedComponent(name.to_owned()),
            None => InvalidCalendar::NoComponent,
        });
    };
    let instances: Vec<&Component> = calendar.components_named(name).collect();
    let uid = check_instances(name, &instances)?;
    let zones = Zones::new(&calendar, Zone::utc());
    for instance in &instances {
        check_properties(component, instance)?;
        check_values(instance, &zones)?;
    }
    Ok(CalendarObject { uid, component, calendar })
}

/// Checks a calendar-timezone property value (RFC 4791 §5.2.2): a VCALENDAR with exactly one VTIMEZONE.
pub fn validate_timezone(text: &str) -> Result<(), InvalidCalendar> {
    let calendar = parse_calendar(text)?;
    check_version(&calendar)?;
    let timezones = calendar.components_named("VTIMEZONE").count();
    if timezones != 1 || calendar.components.len() != 1 {
        return Err(InvalidCalendar::NotOneTimezone);
    }
    Ok(())
}

fn check_version(calendar: &Component) -> Result<(), InvalidCalendar> {
    match calendar.property("VERSION") {
        Some(version) if version.value.trim() != "2.0" => Err(InvalidCalendar::Version(version.value.clone())),
        _ => Ok(()),
    }
}

/// One UID for all, at most one master, distinct RECURRENCE-IDs (RFC 4791 §4.1).
fn check_instances(name: &str, instances: &[&Component]) -> Result<String, InvalidCalendar> {
    let mut uid: Option<&str> = None;
    let mut masters = 0;
    let mut recurrence_ids = HashSet::new();
    for instance in instances {
        let this = instance
            .property("UID")
            .map(|p| p.value.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| InvalidCalendar::MissingUid(name.to_owned()))?;
        match uid {
            None => uid = Some(this),
            Some(first) if first != this => {
                return Err(InvalidCalendar::MultipleUids(first.to_owned(), this.to_owned()))
            }
            Some(_) => {}
        }
        match instance.property("RECURRENCE-ID") {
            None => {
                masters += 1;
                if masters > 1 {
                    return Err(InvalidCalendar::SeveralMasters(name.to_owned()));
                }
            }
            Some(rid) => {
                if !recurrence_ids.insert(rid.value.trim().to_owned()) {
                    return Err(InvalidCalendar::DuplicateRecurrenceId(rid.value.clone()));
                }
            }
        }
    }
    uid.map(str::to_owned).ok_or_else(|| InvalidCalendar::MissingUid(name.to_owned()))
}

fn check_properties(kind: ComponentKind, component: &Component) -> Result<(), InvalidCalendar> {
    let has = |name: &str| component.property(name).is_some();
    let exclusive = |first: &'static str, second: &'static str| {
        if has(first) && has(second) {
            Err(InvalidCalendar::ExclusiveProperties { component: component.name.clone(), first, second })
        } else {
            Ok(())
        }
    };
    match kind {
        ComponentKind::Event => {
            if !has("DTSTART") {
                return Err(InvalidCalendar::MissingProperty {
                    component: component.name.clone(),
                    property: "DTSTART",
                });
            }
            exclusive("DTEND", "DURATION")?;
        }
        ComponentKind::Todo => exclusive("DUE", "DURATION")?,
        ComponentKind::Journal => {}
        ComponentKind::FreeBusy => {
            if has("RECURRENCE-ID") || has("RRULE") {
                // RFC 5545 §3.6.4 gives VFREEBUSY no recurrence.
                return Err(InvalidCalendar::NotAllowedIn {
                    component: component.name.clone(),
                    property: "RRULE/RECURRENCE-ID",
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_property_needs_exactly_one_vtimezone() {
        let one = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n";
        assert_eq!(validate_timezone(one), Ok(()));
        let none = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        assert_eq!(validate_timezone(none), Err(InvalidCalendar::NotOneTimezone));
        assert!(validate_timezone("Europe/Berlin").is_err());
    }
}
