//! The values of the properties a calendar object's instances are computed from: each must
//! have its type (RFC 5545 §3.3), and together they must describe a span that exists.
//!
//! Only what the gateway computes with is checked (dates, durations, rules, alarms): a value
//! it cannot read would make the object vanish from time-range queries and free-busy answers
//! without the client ever learning why. Everything else is kept as sent.

use chrono::{DateTime, Utc};

use crate::component::{Component, Property};
use crate::datetime::{parse_duration, within_icalendar_years, DateValue};
use crate::error::InvalidCalendar;
use crate::recurrence::check_rule;
use crate::zones::Zones;

/// Checks one VEVENT, VTODO or VJOURNAL (master or override) and its VALARMs.
pub(crate) fn check_values(component: &Component, zones: &Zones) -> Result<(), InvalidCalendar> {
    let mut dates: Vec<(&Property, DateValue)> = Vec::new();
    for name in ["DTSTART", "DTEND", "DUE", "RECURRENCE-ID"] {
        if let Some(property) = component.property(name) {
            dates.push((property, date_value(property)?));
        }
    }
    for freebusy in component.properties_named("FREEBUSY") {
        check_busy_periods(freebusy)?;
    }
    for name in ["EXDATE", "RDATE"] {
        for property in component.properties_named(name) {
            check_date_list(property)?;
        }
    }
    let date = |name: &str| dates.iter().find(|(p, _)| p.name == name);
    let start = date("DTSTART");
    // RFC 5545 §3.8.2.2 (DTEND) and §3.8.2.3 (DUE): the same value type as DTSTART, and not
    // before it. An end equal to the start is a zero-length instance, which is allowed.
    for end_name in ["DTEND", "DUE"] {
        let (Some((_, start_value)), Some((end, end_value))) = (start, date(end_name)) else { continue };
        if start_value.is_date() != end_value.is_date() {
            return Err(bad(end, "must have the value type of DTSTART (DATE or DATE-TIME)"));
        }
        if ends_before(start_value, end_value, zones) {
            return Err(bad(end, "is before DTSTART"));
        }
    }
    let start_instant = start.map(|(_, value)| value.to_utc(zones));
    let mut end_instant = date("DTEND").or(date("DUE")).map(|(_, value)| value.to_utc(zones));
    if let Some(duration) = component.property("DURATION") {
        let Some(length) = parse_duration(&duration.value) else {
            return Err(bad(duration, "is not a duration (RFC 5545 §3.3.6) or is too long to compute"));
        };
        if let Some(start) = start_instant {
            // `DURATION:P999999999W`: an end no DATE-TIME can write, and past chrono's range.
            end_instant = Some(within_icalendar_years(start, length).ok_or_else(|| bad(duration, BEYOND))?);
        }
        // A negative length is an end before the start, spelled differently.
        if length < chrono::Duration::zero() && component.name != "VALARM" {
            return Err(bad(duration, "is negative"));
        }
        // RFC 5545 §3.6.2: a VTODO's DURATION counts from its DTSTART, which must be there.
        if component.name == "VTODO" && start.is_none() {
            return Err(InvalidCalendar::MissingProperty { component: component.name.clone(), property: "DTSTART" });
        }
    }
    for rule in component.properties_named("RRULE") {
        let Some((_, start_value)) = start else {
            return Err(bad(rule, "needs a DTSTART to count from (RFC 5545 §3.8.5.3)"));
        };
        check_rule(rule.value.trim(), start_value, zones).map_err(|reason| bad(rule, &reason))?;
    }
    let anchors: Vec<_> = start_instant.into_iter().chain(end_instant).collect();
    for alarm in component.components_named("VALARM") {
        check_alarm(alarm, &anchors)?;
    }
    Ok(())
}

/// Why a span reaching past 9999 (or before year 0) is refused.
const BEYOND: &str = "reaches beyond the years an iCalendar DATE-TIME can name (0000-9999)";

/// RFC 5545 §3.6.6: ACTION and TRIGGER are required; TRIGGER is a duration, or with
/// `VALUE=DATE-TIME` a UTC date-time. A relative TRIGGER must fire at a nameable time from
/// the component's start and end (`anchors`).
fn check_alarm(alarm: &Component, anchors: &[DateTime<Utc>]) -> Result<(), InvalidCalendar> {
    for required in ["ACTION", "TRIGGER"] {
        if alarm.property(required).is_none() {
            return Err(InvalidCalendar::MissingProperty { component: alarm.name.clone(), property: required });
        }
    }
    if let Some(trigger) = alarm.property("TRIGGER") {
        let valid = match value_type(trigger).as_deref() {
            Some("DATE-TIME") => matches!(DateValue::of(trigger), Some(DateValue::Utc(_))),
            None | Some("DURATION") => parse_duration(&trigger.value).is_some(),
            Some(_) => false,
        };
        if !valid {
            return Err(bad(trigger, "is neither a DURATION nor, with VALUE=DATE-TIME, a UTC date-time"));
        }
        if let Some(offset) = parse_duration(&trigger.value) {
            if anchors.iter().any(|anchor| within_icalendar_years(*anchor, offset).is_none()) {
                return Err(bad(trigger, BEYOND));
            }
        }
    }
    if let Some(duration) = alarm.property("DURATION") {
        if parse_duration(&duration.value).is_none() {
            return Err(bad(duration, "is not a duration (RFC 5545 §3.3.6) or is too long to compute"));
        }
    }
    Ok(())
}

/// A DATE or DATE-TIME agreeing with its `VALUE` parameter. Without the parameter both forms
/// are taken: RFC 5545 wants `VALUE=DATE` on dates, but generators (older Outlook, some
/// scripts) write `DTSTART:20261201` bare, and the meaning is not in doubt.
fn date_value(property: &Property) -> Result<DateValue, InvalidCalendar> {
    let value = DateValue::of(property).filter(|_| has_basic_date_form(property.value.trim()));
    let Some(value) = value else {
        return Err(bad(property, "is not a DATE or DATE-TIME (RFC 5545 §3.3.4, §3.3.5)"));
    };
    match (value_type(property).as_deref(), value.is_date()) {
        (None, _) | (Some("DATE"), true) | (Some("DATE-TIME"), false) => Ok(value),
        (Some("DATE"), false) => Err(bad(property, "has VALUE=DATE but a DATE-TIME value")),
        (Some("DATE-TIME"), true) => Err(bad(property, "has VALUE=DATE-TIME but a DATE value")),
        (Some(other), _) => Err(bad(property, &format!("cannot have VALUE={other}"))),
    }
}

/// EXDATE and RDATE: comma-separated dates or date-times, for RDATE also periods.
fn check_date_list(property: &Property) -> Result<(), InvalidCalendar> {
    let kind = value_type(property);
    let zones = Zones::floating_only(crate::zones::Zone::utc());
    for item in property.value.split(',').map(str::trim) {
        let valid = match kind.as_deref() {
            Some("PERIOD") if property.name == "RDATE" => crate::freebusy::parse_period(item, &zones)
                .is_some_and(|(start, end)| within_icalendar_years(start, end - start).is_some()),
            Some("DATE") => crate::datetime::parse(item, None).is_some_and(|v| v.is_date()),
            None | Some("DATE-TIME") => crate::datetime::parse(item, None).is_some(),
            Some(_) => false,
        };
        if !valid || (kind.as_deref() != Some("PERIOD") && !has_basic_date_form(item)) {
            return Err(bad(property, &format!("has {item:?}, which is not a value of its type")));
        }
    }
    Ok(())
}

/// RFC 5545 §3.8.2.6: FREEBUSY holds comma-separated UTC periods, each ending after it starts.
fn check_busy_periods(property: &Property) -> Result<(), InvalidCalendar> {
    let zones = Zones::floating_only(crate::zones::Zone::utc());
    for item in property.value.split(',').map(str::trim) {
        let utc = item.split_once('/').is_some_and(|(start, end)| {
            start.ends_with('Z') && (end.ends_with('Z') || !end.contains('T') || end.starts_with(['P', '+', '-']))
        });
        let period = crate::freebusy::parse_period(item, &zones)
            .filter(|(start, end)| start <= end && within_icalendar_years(*start, *end - *start).is_some());
        if !utc || period.is_none() {
            return Err(bad(property, &format!("has {item:?}, which is not a UTC period (RFC 5545 §3.3.9)")));
        }
    }
    Ok(())
}

/// Whether `end` lies strictly before `start`. A floating value against a zoned or UTC one has
/// no fixed order (it depends on the calendar's timezone), so it is never refused.
fn ends_before(start: &DateValue, end: &DateValue, zones: &Zones) -> bool {
    let floating = |v: &DateValue| matches!(v, DateValue::Floating(_));
    if floating(start) != floating(end) {
        return false;
    }
    end.to_utc(zones) < start.to_utc(zones)
}

fn value_type(property: &Property) -> Option<String> {
    property.param("VALUE").map(|v| v.trim().to_ascii_uppercase())
}

/// RFC 5545 §3.3.4 / §3.3.5 basic forms: `YYYYMMDD` or `YYYYMMDDTHHMMSS[Z]`, digits only
/// (chrono's parser alone would also take signs and shorter fields).
fn has_basic_date_form(value: &str) -> bool {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match value.split_once('T') {
        None => value.len() == 8 && digits(value),
        Some((date, time)) => {
            let time = time.strip_suffix('Z').unwrap_or(time);
            date.len() == 8 && digits(date) && time.len() == 6 && digits(time)
        }
    }
}

fn bad(property: &Property, reason: &str) -> InvalidCalendar {
    InvalidCalendar::BadValue { line: property.line, property: property.name.clone(), reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::Zone;

    fn check(event_lines: &str) -> Result<(), InvalidCalendar> {
        let text = format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\n{event_lines}END:VEVENT\nEND:VCALENDAR\n");
        let calendar = crate::parse_calendar(&text).unwrap();
        check_values(&calendar.components[0], &Zones::new(&calendar, Zone::utc()))
    }

    fn refused_on_line(event_lines: &str, line: usize) {
        match check(event_lines) {
            Err(InvalidCalendar::BadValue { line: found, .. }) if found == line => {}
            other => panic!("{event_lines:?}: {other:?}"),
        }
    }

    #[test]
    fn date_forms_and_value_parameters_agree() {
        assert_eq!(check("DTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261202\n"), Ok(()));
        assert_eq!(check("DTSTART:20261201\n"), Ok(()), "bare DATE without VALUE=DATE is tolerated");
        assert_eq!(check("DTSTART:20161231T235960Z\n"), Ok(()), "leap second");
        refused_on_line("DTSTART;VALUE=DATE:20261201T090000\n", 4);
        refused_on_line("DTSTART;VALUE=DATE-TIME:20261201\n", 4);
        refused_on_line("DTSTART;VALUE=TEXT:tomorrow\n", 4);
        refused_on_line("DTSTART:tomorrow\n", 4);
        refused_on_line("DTSTART:20260231T090000Z\n", 4);
        refused_on_line("DTSTART:+2026120T090000Z\n", 4);
        refused_on_line("DTSTART:20261201T090000Z\nEXDATE:20261202T090000Z,next week\n", 5);
        refused_on_line("DTSTART:20261201T090000Z\nRDATE;VALUE=PERIOD:20261202T090000Z/PT1H,x\n", 5);
        assert_eq!(check("DTSTART:20261201T090000Z\nRDATE;VALUE=PERIOD:20261202T090000Z/PT1H\n"), Ok(()));
    }

    #[test]
    fn dtend_before_dtstart_or_of_another_type_is_refused_equal_is_not() {
        assert_eq!(check("DTSTART:20261201T090000Z\nDTEND:20261201T090000Z\n"), Ok(()));
        refused_on_line("DTSTART:20261201T090000Z\nDTEND:20261201T085959Z\n", 5);
        refused_on_line("DTSTART;VALUE=DATE:20261201\nDTEND:20261202T000000Z\n", 5);
        refused_on_line("DTSTART;TZID=Europe/Berlin:20261201T090000\nDTEND:20261201T075900Z\n", 5);
        assert_eq!(check("DTSTART;TZID=Europe/Berlin:20261201T090000\nDTEND:20261201T080000Z\n"), Ok(()));
        assert_eq!(check("DTSTART:20261201T090000\nDTEND:20261201T080000Z\n"), Ok(()), "floating vs UTC");
    }

    #[test]
    fn due_before_dtstart_in_a_todo_is_refused() {
        let todo = |lines: &str| {
            let text = format!("BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:t\n{lines}END:VTODO\nEND:VCALENDAR\n");
            let calendar = crate::parse_calendar(&text).unwrap();
            check_values(&calendar.components[0], &Zones::new(&calendar, Zone::utc()))
        };
        assert_eq!(todo("DTSTART:20261201T090000Z\nDUE:20261202T090000Z\n"), Ok(()));
        assert!(matches!(
            todo("DTSTART:20261201T090000Z\nDUE:20261130T090000Z\n"),
            Err(InvalidCalendar::BadValue { .. })
        ));
        assert!(matches!(todo("DURATION:PT1H\n"), Err(InvalidCalendar::MissingProperty { property: "DTSTART", .. })));
    }

    #[test]
    fn durations_must_parse_and_not_be_negative() {
        assert_eq!(check("DTSTART:20261201T090000Z\nDURATION:PT1H\n"), Ok(()));
        refused_on_line("DTSTART:20261201T090000Z\nDURATION:1 hour\n", 5);
        refused_on_line("DTSTART:20261201T090000Z\nDURATION:-PT1H\n", 5);
    }

    #[test]
    fn rules_that_do_not_parse_are_refused_with_their_reason() {
        assert_eq!(check("DTSTART:20261201T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270101T000000Z\n"), Ok(()));
        for bad in [
            "FREQ=FORTNIGHTLY",
            "FREQ=WEEKLY;BYDAY=XX",
            "FREQ=DAILY;BYHOUR=25",
            "FREQ=WEEKLY;BYMONTHDAY=1",
            "BYDAY=MO",
            "FREQ=DAILY;INTERVAL=x",
        ] {
            refused_on_line(&format!("DTSTART:20261201T090000Z\nRRULE:{bad}\n"), 5);
        }
        refused_on_line("RRULE:FREQ=DAILY\n", 4);
        // What real clients send and the rrule library dislikes is kept: UNTIL in local time
        // with a TZID start (Outlook), UNTIL before DTSTART (a series cut back to nothing).
        assert_eq!(
            check("DTSTART;TZID=Europe/Berlin:20261201T090000\nRRULE:FREQ=DAILY;UNTIL=20261210T090000\n"),
            Ok(())
        );
        assert_eq!(check("DTSTART:20261201T090000Z\nRRULE:FREQ=DAILY;UNTIL=20261101T090000Z\n"), Ok(()));
    }

    #[test]
    fn busy_periods_must_be_utc_periods() {
        let freebusy = |lines: &str| {
            let text = format!("BEGIN:VCALENDAR\nBEGIN:VFREEBUSY\nUID:f\n{lines}END:VFREEBUSY\nEND:VCALENDAR\n");
            let calendar = crate::parse_calendar(&text).unwrap();
            check_values(&calendar.components[0], &Zones::new(&calendar, Zone::utc()))
        };
        assert_eq!(freebusy("FREEBUSY:20261201T090000Z/PT1H,20261201T120000Z/20261201T130000Z\n"), Ok(()));
        for bad in [
            "20261201T090000/PT1H",
            "20261201T090000Z",
            "20261201T090000Z/20261201T080000Z",
            "x/y",
            "20261201T090000Z/P999999999W",
        ] {
            assert!(
                matches!(freebusy(&format!("FREEBUSY:{bad}\n")), Err(InvalidCalendar::BadValue { line: 4, .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn alarms_need_action_and_a_readable_trigger() {
        let with_alarm = |alarm: &str| check(&format!("DTSTART:20261201T090000Z\nBEGIN:VALARM\n{alarm}END:VALARM\n"));
        assert_eq!(with_alarm("ACTION:DISPLAY\nTRIGGER:-PT15M\n"), Ok(()));
        assert_eq!(with_alarm("ACTION:DISPLAY\nTRIGGER;VALUE=DATE-TIME:20261201T080000Z\n"), Ok(()));
        assert!(matches!(
            with_alarm("ACTION:DISPLAY\n"),
            Err(InvalidCalendar::MissingProperty { property: "TRIGGER", .. })
        ));
        assert!(matches!(
            with_alarm("TRIGGER:-PT15M\n"),
            Err(InvalidCalendar::MissingProperty { property: "ACTION", .. })
        ));
        assert!(matches!(with_alarm("ACTION:DISPLAY\nTRIGGER:soon\n"), Err(InvalidCalendar::BadValue { line: 7, .. })));
        assert!(matches!(
            with_alarm("ACTION:DISPLAY\nTRIGGER;VALUE=DATE-TIME:20261201T080000\n"),
            Err(InvalidCalendar::BadValue { .. })
        ));
    }
}
