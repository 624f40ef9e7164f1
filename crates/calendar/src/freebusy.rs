//! Free-busy time of a calendar (RFC 4791 §7.10, RFC 5545 §3.6.4).
//!
//! Busy time comes from VEVENT instances that are not TRANSPARENT and not CANCELLED
//! (TENTATIVE ones are BUSY-TENTATIVE), and from the FREEBUSY periods of VFREEBUSY
//! components (their FBTYPE kept; FREE ignored). Periods are clipped to the asked range and
//! merged per type.

use chrono::{DateTime, Utc};

use crate::component::{Component, Parameter, Property};
use crate::datetime::parse_duration;
use crate::filter::TimeRange;
use crate::recurrence::{instances, TooManyInstances, Window};
use crate::zones::Zones;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BusyKind {
    Busy,
    BusyUnavailable,
    BusyTentative,
}

impl BusyKind {
    fn fbtype(self) -> &'static str {
        match self {
            BusyKind::Busy => "BUSY",
            BusyKind::BusyUnavailable => "BUSY-UNAVAILABLE",
            BusyKind::BusyTentative => "BUSY-TENTATIVE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusyPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: BusyKind,
}

/// The busy periods one calendar object contributes within `range` (both bounds required).
pub fn busy_periods(
    calendar: &Component,
    zones: &Zones,
    range: &TimeRange,
    max_instances: usize,
) -> Result<Vec<BusyPeriod>, TooManyInstances> {
    let (Some(start), Some(end)) = (range.start, range.end) else { return Ok(Vec::new()) };
    let clip = |s: DateTime<Utc>, e: DateTime<Utc>, kind| {
        let (s, e) = (s.max(start), e.min(end));
        (s < e).then_some(BusyPeriod { start: s, end: e, kind })
    };
    let mut periods = Vec::new();
    let events: Vec<&Component> = calendar.components_named("VEVENT").collect();
    let window = Window { start: Some(start), end: Some(end) };
    for instance in instances(&events, zones, window, max_instances)? {
        let component = instance.component;
        let value = |name: &str| component.property(name).map(|p| p.value.trim().to_ascii_uppercase());
        if value("TRANSP").as_deref() == Some("TRANSPARENT") || value("STATUS").as_deref() == Some("CANCELLED") {
            continue;
        }
        let kind =
            if value("STATUS").as_deref() == Some("TENTATIVE") { BusyKind::BusyTentative } else { BusyKind::Busy };
        // Zero-length events block no time.
        periods.extend(clip(instance.start, instance.end, kind));
    }
    for freebusy in calendar.components_named("VFREEBUSY") {
        for property in freebusy.properties_named("FREEBUSY") {
            let kind = match property.param("FBTYPE").map(str::to_ascii_uppercase).as_deref() {
                None | Some("BUSY") => BusyKind::Busy,
                Some("BUSY-TENTATIVE") => BusyKind::BusyTentative,
                Some("BUSY-UNAVAILABLE") => BusyKind::BusyUnavailable,
                // FREE blocks nothing; unknown types count as BUSY (RFC 5545 §3.2.9).
                Some("FREE") => continue,
                Some(_) => BusyKind::Busy,
            };
            for period in property.value.split(',') {
                if let Some((s, e)) = parse_period(period.trim(), zones) {
                    periods.extend(clip(s, e, kind));
                }
            }
        }
    }
    Ok(periods)
}

/// Sorts and merges overlapping or touching periods of the same kind.
pub fn merge(mut periods: Vec<BusyPeriod>) -> Vec<BusyPeriod> {
    periods.sort_by_key(|p| (p.kind, p.start, p.end));
    let mut merged: Vec<BusyPeriod> = Vec::new();
    for period in periods {
        match merged.last_mut() {
            Some(last) if last.kind == period.kind && period.start <= last.end => last.end = last.end.max(period.end),
            _ => merged.push(period),
        }
    }
    merged.sort_by_key(|p| (p.start, p.kind));
    merged
}

/// The VCALENDAR answering a free-busy-query: one VFREEBUSY spanning the range.
pub fn vfreebusy(periods: &[BusyPeriod], range: &TimeRange, now: DateTime<Utc>) -> String {
    crate::writer::write_component(&vcalendar(Vec::new(), freebusy_component(periods, range, now)))
}

/// A property without parameters.
pub(crate) fn simple_property(name: &str, value: String) -> Property {
    Property { name: name.into(), params: Vec::new(), value, line: 0 }
}

pub(crate) fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// One VFREEBUSY with DTSTAMP, the range and the periods, each with its FBTYPE.
pub(crate) fn freebusy_component(periods: &[BusyPeriod], range: &TimeRange, now: DateTime<Utc>) -> Component {
    let mut freebusy = Component { name: "VFREEBUSY".into(), properties: Vec::new(), components: Vec::new() };
    freebusy.properties.push(simple_property("DTSTAMP", utc_text(now)));
    if let Some(start) = range.start {
        freebusy.properties.push(simple_property("DTSTART", utc_text(start)));
    }
    if let Some(end) = range.end {
        freebusy.properties.push(simple_property("DTEND", utc_text(end)));
    }
    for period in periods {
        let fbtype = Parameter { name: "FBTYPE".into(), values: vec![period.kind.fbtype().into()] };
        let mut property = simple_property("FREEBUSY", format!("{}/{}", utc_text(period.start), utc_text(period.end)));
        property.params.push(fbtype);
        freebusy.properties.push(property);
    }
    freebusy
}

/// VERSION, PRODID, then `extra` (e.g. METHOD), around `component`.
pub(crate) fn vcalendar(extra: Vec<Property>, component: Component) -> Component {
    let mut properties = vec![
        simple_property("VERSION", "2.0".into()),
        simple_property("PRODID", "-//caldav-gateway//free-busy//EN".into()),
    ];
    properties.extend(extra);
    Component { name: "VCALENDAR".into(), properties, components: vec![component] }
}

/// `start/end` or `start/duration` (RFC 5545 §3.3.9).
pub(crate) fn parse_period(text: &str, zones: &Zones) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, rest) = text.split_once('/')?;
    let start = crate::datetime::parse(start, None)?.to_utc(zones);
    let end = match crate::datetime::parse(rest, None) {
        Some(end) => end.to_utc(zones),
        None => start.checked_add_signed(parse_duration(rest)?)?,
    };
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::Zone;

    fn utc(s: &str) -> DateTime<Utc> {
        crate::datetime::parse_utc(s).unwrap()
    }

    #[test]
    fn transparent_and_cancelled_are_free_tentative_is_marked_and_periods_are_clipped() {
        let cal = crate::parse_calendar(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20261201T080000Z\nDTEND:20261201T100000Z\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:b\nDTSTART:20261201T110000Z\nDTEND:20261201T120000Z\nTRANSP:TRANSPARENT\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:c\nDTSTART:20261201T130000Z\nDTEND:20261201T140000Z\nSTATUS:CANCELLED\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:d\nDTSTART:20261201T150000Z\nDURATION:PT1H\nSTATUS:TENTATIVE\nEND:VEVENT\n\
             BEGIN:VFREEBUSY\nUID:e\nFREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261201T170000Z/PT30M,20261201T200000Z/20261201T210000Z\n\
             FREEBUSY;FBTYPE=FREE:20261201T180000Z/PT1H\nEND:VFREEBUSY\nEND:VCALENDAR\n",
        )
        .unwrap();
        let range = TimeRange { start: Some(utc("20261201T090000Z")), end: Some(utc("20261201T203000Z")) };
        let periods = merge(busy_periods(&cal, &Zones::new(&cal, Zone::utc()), &range, 100).unwrap());
        let text = vfreebusy(&periods, &range, utc("20261101T000000Z"));
        assert!(text.contains("FREEBUSY;FBTYPE=BUSY:20261201T090000Z/20261201T100000Z\r\n"), "{text}");
        assert!(text.contains("FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261201T150000Z/20261201T160000Z\r\n"), "{text}");
        assert!(text.contains("FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261201T170000Z/20261201T173000Z\r\n"), "{text}");
        assert!(text.contains("FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261201T200000Z/20261201T203000Z\r\n"), "{text}");
        assert_eq!(text.matches("FREEBUSY;").count(), 4, "{text}");
    }

    #[test]
    fn overlapping_periods_of_one_kind_merge() {
        let p = |s: &str, e: &str| BusyPeriod { start: utc(s), end: utc(e), kind: BusyKind::Busy };
        let merged = merge(vec![p("20261201T100000Z", "20261201T120000Z"), p("20261201T090000Z", "20261201T100000Z")]);
        assert_eq!(merged, vec![p("20261201T090000Z", "20261201T120000Z")]);
    }
}
