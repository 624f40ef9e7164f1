//! The time span all instances of an object fall in, stored with the object so a time-range
//! query can skip objects without parsing them.
//!
//! The span is deliberately generous: it is widened by a day on each side, so floating times
//! (whose instant depends on the calendar's timezone, at most ±14 h) and the inclusive ends of
//! RFC 4791 §9.9 (`end >= DUE`) can never make the index drop an object the exact test would
//! keep. An unbounded side (a rule without COUNT/UNTIL, a VTODO with neither DTSTART nor DUE)
//! is `None`.

use chrono::{DateTime, Duration, Utc};

use crate::component::Component;
use crate::datetime::{minus, plus, DateValue};
use crate::recurrence::{anchor, instances, TooManyInstances, Window};
use crate::zones::{Zone, Zones};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InstanceSpan {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// The span of the VEVENT/VTODO/VJOURNAL components of `calendar`. A bounded recurrence
/// (COUNT/UNTIL) generating more than `max_instances` instances is an error (RFC 4791
/// §5.3.2.1 CALDAV:max-instances); an endless one is not, since every client creates them.
pub fn instance_span(calendar: &Component, max_instances: usize) -> Result<InstanceSpan, TooManyInstances> {
    let zones = Zones::new(calendar, Zone::utc());
    let components: Vec<&Component> =
        calendar.components.iter().filter(|c| matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL")).collect();
    let margin = Duration::days(1);
    if components.is_empty() {
        return Ok(freebusy_span(calendar, &zones, margin));
    }
    if components.iter().any(|c| anchor(c).is_none()) {
        // A task without DTSTART and DUE matches ranges by CREATED/COMPLETED or always.
        return Ok(InstanceSpan::default());
    }
    let unbounded = components.iter().any(|c| {
        c.properties_named("RRULE").any(|rule| {
            let rule = rule.value.to_ascii_uppercase();
            !rule.contains("COUNT=") && !rule.contains("UNTIL=")
        })
    });
    if unbounded {
        // Only the start is known; the earliest instance is a master's or an override's start.
        let start = components.iter().filter_map(|c| anchor(c).map(|a| a.to_utc(&zones))).min();
        return Ok(InstanceSpan { start: start.map(|s| minus(s, margin)), end: None });
    }
    let all = instances(&components, &zones, Window::default(), max_instances)?;
    let start = all.iter().map(|i| i.start).min();
    let end = all.iter().map(|i| i.end.max(i.start)).max();
    Ok(InstanceSpan { start: start.map(|s| minus(s, margin)), end: end.map(|e| plus(e, margin)) })
}

/// The span of VFREEBUSY components: their FREEBUSY periods and DTSTART/DTEND, the extent
/// RFC 4791 §9.9 tests a time range against; unbounded when they have none.
fn freebusy_span(calendar: &Component, zones: &Zones, margin: Duration) -> InstanceSpan {
    let mut instants = Vec::new();
    for freebusy in calendar.components_named("VFREEBUSY") {
        for property in freebusy.properties_named("FREEBUSY") {
            for period in property.value.split(',') {
                match crate::freebusy::parse_period(period.trim(), zones) {
                    Some((start, end)) => instants.extend([start, end]),
                    // A period the index cannot read must not let it drop the object.
                    None => return InstanceSpan::default(),
                }
            }
        }
        for name in ["DTSTART", "DTEND"] {
            instants.extend(freebusy.property(name).and_then(DateValue::of).map(|v| v.to_utc(zones)));
        }
    }
    match (instants.iter().min(), instants.iter().max()) {
        (Some(start), Some(end)) => InstanceSpan { start: Some(minus(*start, margin)), end: Some(plus(*end, margin)) },
        _ => InstanceSpan::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(ics: &str) -> InstanceSpan {
        instance_span(&crate::parse_calendar(ics).unwrap(), 1000).unwrap()
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        crate::parse_utc(s)
    }

    #[test]
    fn single_event_is_widened_by_a_day() {
        let s = span("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nEND:VEVENT\nEND:VCALENDAR\n");
        assert_eq!(s, InstanceSpan { start: at("20261130T090000Z"), end: at("20261202T100000Z") });
    }

    #[test]
    fn counted_rule_ends_at_its_last_instance_and_endless_rule_is_unbounded() {
        let counted = span("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nRRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\nEND:VCALENDAR\n");
        assert_eq!(counted.end, at("20261204T100000Z"));
        let endless = span("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T090000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR\n");
        assert_eq!(endless, InstanceSpan { start: at("20261130T090000Z"), end: None });
    }

    #[test]
    fn freebusy_spans_its_periods_and_dates() {
        let s = span(
            "BEGIN:VCALENDAR\nBEGIN:VFREEBUSY\nUID:f\nDTSTART:20261201T000000Z\nDTEND:20261203T000000Z\n\
                      FREEBUSY:20261202T090000Z/PT1H,20261204T090000Z/20261204T100000Z\nEND:VFREEBUSY\nEND:VCALENDAR\n",
        );
        assert_eq!(s, InstanceSpan { start: at("20261130T000000Z"), end: at("20261205T100000Z") });
        let bare = span("BEGIN:VCALENDAR\nBEGIN:VFREEBUSY\nUID:f\nEND:VFREEBUSY\nEND:VCALENDAR\n");
        assert_eq!(bare, InstanceSpan::default());
    }

    #[test]
    fn task_without_dates_is_unbounded() {
        let s = span("BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:t\nCOMPLETED:20261201T090000Z\nEND:VTODO\nEND:VCALENDAR\n");
        assert_eq!(s, InstanceSpan::default());
    }

    #[test]
    fn bounded_rule_over_the_limit_is_refused_endless_rule_is_not() {
        let many = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T090000Z\nRRULE:FREQ=MINUTELY;COUNT=5000\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(instance_span(&crate::parse_calendar(many).unwrap(), 1000), Err(TooManyInstances { cap: 1000 }));
        let endless = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T090000Z\nRRULE:FREQ=MINUTELY\nEND:VEVENT\nEND:VCALENDAR\n";
        assert!(instance_span(&crate::parse_calendar(endless).unwrap(), 1000).is_ok());
    }
}
