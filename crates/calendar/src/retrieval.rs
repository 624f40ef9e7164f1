//! What `<C:calendar-data>` asks to be returned (RFC 4791 §9.6): a subset of components and
//! properties, recurrences expanded into instances, or the set limited to a range.

use chrono::{DateTime, Utc};

use crate::component::{Component, Property};
use crate::datetime::{plus, DateValue};
use crate::filter::TimeRange;
use crate::recurrence::{instances, Instance, TooManyInstances, Window};
use crate::zones::{Zone, Zones};

/// `<C:comp name>` with its `<C:prop>`/`<C:allprop>` and nested `<C:comp>`/`<C:allcomp>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompSelection {
    pub name: String,
    /// `None`: `<C:allprop/>` (or nothing said, which RFC 4791 §9.6.1 treats alike).
    pub props: Option<Vec<String>>,
    /// `None`: `<C:allcomp/>` or nothing said.
    pub comps: Option<Vec<CompSelection>>,
}

/// The whole `<C:calendar-data>` request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CalendarDataRequest {
    pub comp: Option<CompSelection>,
    pub expand: Option<TimeRange>,
    pub limit_recurrence_set: Option<TimeRange>,
    pub limit_freebusy_set: Option<TimeRange>,
}

impl CalendarDataRequest {
    /// Whether the stored bytes can be returned as they are.
    pub fn is_verbatim(&self) -> bool {
        self.comp.is_none()
            && self.expand.is_none()
            && self.limit_recurrence_set.is_none()
            && self.limit_freebusy_set.is_none()
    }
}

/// Applies `request` to a parsed object: limit or expand first, then select.
pub fn apply(
    calendar: &Component,
    request: &CalendarDataRequest,
    floating: Zone,
    max_instances: usize,
) -> Result<Component, TooManyInstances> {
    let mut result = match (&request.expand, &request.limit_recurrence_set) {
        (Some(range), _) => expand(calendar, range, floating, max_instances)?,
        (None, Some(range)) => limit_recurrence_set(calendar, range, floating, max_instances)?,
        (None, None) => calendar.clone(),
    };
    if let Some(range) = &request.limit_freebusy_set {
        result = limit_freebusy_set(&result, range, floating);
    }
    if let Some(selection) = &request.comp {
        result = select(&result, selection);
    }
    Ok(result)
}

/// RFC 4791 §9.6.7: in VFREEBUSY components, only the FREEBUSY periods overlapping `range`;
/// a FREEBUSY property left without a period is dropped.
pub fn limit_freebusy_set(calendar: &Component, range: &TimeRange, floating: Zone) -> Component {
    let zones = Zones::new(calendar, floating);
    let mut out = calendar.clone();
    for freebusy in out.components.iter_mut().filter(|c| c.name == "VFREEBUSY") {
        freebusy.properties.retain_mut(|property| {
            if property.name != "FREEBUSY" {
                return true;
            }
            let kept: Vec<&str> = property
                .value
                .split(',')
                .filter(|period| {
                    // A period that does not parse is kept: dropping data the client may need
                    // is worse than returning too much.
                    crate::freebusy::parse_period(period.trim(), &zones)
                        .is_none_or(|(start, end)| crate::query::overlaps(range, start, end))
                })
                .collect();
            let kept = kept.join(",");
            property.value = kept;
            !property.value.is_empty()
        });
    }
    out
}

/// RFC 4791 §9.6.5: every instance overlapping `range` as a component of its own, with a
/// RECURRENCE-ID, date-times in UTC, no RRULE/RDATE/EXDATE and no VTIMEZONE.
pub fn expand(
    calendar: &Component,
    range: &TimeRange,
    floating: Zone,
    cap: usize,
) -> Result<Component, TooManyInstances> {
    let zones = Zones::new(calendar, floating);
    let mut out =
        Component { name: calendar.name.clone(), properties: calendar.properties.clone(), components: Vec::new() };
    for group in recurrence_sets(calendar) {
        let window = Window { start: range.start, end: range.end };
        for instance in instances(&group, &zones, window, cap)? {
            if overlaps(range, &instance) {
                out.components.push(instance_component(&instance, &zones));
            }
        }
    }
    // Anything else (VTIMEZONE aside) is kept as it was.
    out.components
        .extend(calendar.components.iter().filter(|c| !is_recurring_kind(&c.name) && c.name != "VTIMEZONE").cloned());
    Ok(out)
}

/// RFC 4791 §9.6.6: the master and only the overrides overlapping `range`.
pub fn limit_recurrence_set(
    calendar: &Component,
    range: &TimeRange,
    floating: Zone,
    cap: usize,
) -> Result<Component, TooManyInstances> {
    let zones = Zones::new(calendar, floating);
    let mut keep: Vec<*const Component> = Vec::new();
    for group in recurrence_sets(calendar) {
        let window = Window { start: range.start, end: range.end };
        let instances = instances(&group, &zones, window, cap)?;
        for component in group {
            let is_override = component.property("RECURRENCE-ID").is_some();
            let in_range = instances.iter().any(|i| std::ptr::eq(i.component, component) && overlaps(range, i));
            if !is_override || in_range {
                keep.push(component);
            }
        }
    }
    let components = calendar
        .components
        .iter()
        .filter(|c| !is_recurring_kind(&c.name) || keep.contains(&(*c as *const Component)))
        .cloned()
        .collect();
    Ok(Component { name: calendar.name.clone(), properties: calendar.properties.clone(), components })
}

/// RFC 4791 §9.6.1-§9.6.4: keeps the named components and properties.
pub fn select(component: &Component, selection: &CompSelection) -> Component {
    let properties = match &selection.props {
        None => component.properties.clone(),
        Some(names) => component
            .properties
            .iter()
            .filter(|p| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)))
            .cloned()
            .collect(),
    };
    let components = match &selection.comps {
        None => component.components.clone(),
        Some(selections) => component
            .components
            .iter()
            .filter_map(|child| {
                selections.iter().find(|s| s.name.eq_ignore_ascii_case(&child.name)).map(|s| select(child, s))
            })
            .collect(),
    };
    Component { name: component.name.clone(), properties, components }
}

fn is_recurring_kind(name: &str) -> bool {
    matches!(name, "VEVENT" | "VTODO" | "VJOURNAL")
}

/// Components grouped by UID, per component type.
fn recurrence_sets(calendar: &Component) -> Vec<Vec<&Component>> {
    let mut groups: Vec<Vec<&Component>> = Vec::new();
    for component in calendar.components.iter().filter(|c| is_recurring_kind(&c.name)) {
        let uid = component.property("UID").map(|p| p.value.as_str());
        match groups
            .iter_mut()
            .find(|g| g[0].name == component.name && g[0].property("UID").map(|p| p.value.as_str()) == uid)
        {
            Some(group) => group.push(component),
            None => groups.push(vec![component]),
        }
    }
    groups
}

fn overlaps(range: &TimeRange, instance: &Instance<'_>) -> bool {
    crate::query::overlaps(range, instance.start, instance.end)
}

/// One instance as a stand-alone component.
fn instance_component(instance: &Instance<'_>, zones: &Zones) -> Component {
    let source = instance.component;
    let all_day = source.property("DTSTART").and_then(DateValue::of).is_some_and(|v| v.is_date());
    let shift = crate::recurrence::anchor(source).map(|a| instance.start - a.to_utc(zones));
    let mut properties: Vec<Property> = Vec::new();
    for property in &source.properties {
        match property.name.as_str() {
            "RRULE" | "RDATE" | "EXDATE" | "RECURRENCE-ID" => {}
            "DTSTART" => properties.push(date_property("DTSTART", instance.start, all_day, zones)),
            "DTEND" => properties.push(date_property("DTEND", instance.end, all_day, zones)),
            "DUE" => {
                let due = DateValue::of(property)
                    .map(|v| plus(v.to_utc(zones), shift.unwrap_or_else(chrono::Duration::zero)));
                match due {
                    Some(due) => properties.push(date_property("DUE", due, all_day, zones)),
                    None => properties.push(property.clone()),
                }
            }
            _ => properties.push(in_utc(property, zones)),
        }
    }
    if let Some(rid) = instance.recurrence_id {
        properties.push(date_property("RECURRENCE-ID", rid, all_day, zones));
    }
    Component { name: source.name.clone(), properties, components: source.components.clone() }
}

/// A date-time property in UTC, or a DATE for all-day components (a date has no zone).
fn date_property(name: &str, at: DateTime<Utc>, all_day: bool, zones: &Zones) -> Property {
    if all_day {
        let date = zones.floating().to_local(at).date();
        return Property {
            name: name.into(),
            params: vec![crate::component::Parameter { name: "VALUE".into(), values: vec!["DATE".into()] }],
            value: date.format("%Y%m%d").to_string(),
            line: 0,
        };
    }
    Property { name: name.into(), params: Vec::new(), value: at.format("%Y%m%dT%H%M%SZ").to_string(), line: 0 }
}

/// Other zoned date-times (EXDATE aside, which is dropped) become UTC too.
fn in_utc(property: &Property, zones: &Zones) -> Property {
    match (property.param("TZID"), DateValue::of(property)) {
        (Some(_), Some(value)) => Property {
            name: property.name.clone(),
            params: property.params.iter().filter(|p| p.name != "TZID").cloned().collect(),
            value: value.to_utc(zones).format("%Y%m%dT%H%M%SZ").to_string(),
            line: property.line,
        },
        _ => property.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str, e: &str) -> TimeRange {
        TimeRange { start: crate::parse_utc(s), end: crate::parse_utc(e) }
    }

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\n\
        BEGIN:VEVENT\r\nUID:w\r\nDTSTART;TZID=Europe/Berlin:20261102T090000\r\nDTEND;TZID=Europe/Berlin:20261102T100000\r\n\
        RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:w\r\n\
        RECURRENCE-ID;TZID=Europe/Berlin:20261109T090000\r\nDTSTART;TZID=Europe/Berlin:20261109T150000\r\n\
        DTEND;TZID=Europe/Berlin:20261109T160000\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn limit_freebusy_set_keeps_only_overlapping_periods() {
        let cal = crate::parse_calendar(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VFREEBUSY\r\nUID:f\r\nDTSTAMP:20261101T000000Z\r\n\
             FREEBUSY:20261101T090000Z/PT1H,20261110T090000Z/20261110T100000Z\r\n\
             FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261201T090000Z/PT1H\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n",
        )
        .unwrap();
        let out = limit_freebusy_set(&cal, &range("20261105T000000Z", "20261115T000000Z"), Zone::utc());
        let values: Vec<&str> =
            out.components[0].properties.iter().filter(|p| p.name == "FREEBUSY").map(|p| p.value.as_str()).collect();
        assert_eq!(values, ["20261110T090000Z/20261110T100000Z"]);
        assert!(out.components[0].property("UID").is_some());
    }

    #[test]
    fn expand_gives_utc_instances_with_recurrence_ids_and_no_rules() {
        let cal = crate::parse_calendar(WEEKLY).unwrap();
        let out = expand(&cal, &range("20261101T000000Z", "20261117T000000Z"), Zone::utc(), 100).unwrap();
        let text = crate::write_component(&out);
        assert!(!text.contains("RRULE") && !text.contains("VTIMEZONE") && !text.contains("TZID"), "{text}");
        let starts: Vec<&str> = out.components.iter().map(|c| c.property("DTSTART").unwrap().value.as_str()).collect();
        assert_eq!(starts, vec!["20261102T080000Z", "20261109T140000Z", "20261116T080000Z"]);
        let rids: Vec<&str> =
            out.components.iter().map(|c| c.property("RECURRENCE-ID").unwrap().value.as_str()).collect();
        assert_eq!(rids, vec!["20261102T080000Z", "20261109T080000Z", "20261116T080000Z"]);
        assert_eq!(out.components[1].property("SUMMARY").unwrap().value, "Moved");
    }

    #[test]
    fn expand_keeps_an_override_naming_no_instance_with_its_recurrence_id() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/valid/thunderbird-orphan-override.ics"),
        )
        .unwrap();
        let cal = crate::parse_calendar(&text).unwrap();
        let out = expand(&cal, &range("20261109T000000Z", "20261111T000000Z"), Zone::utc(), 100).unwrap();
        let got: Vec<(&str, &str)> = out
            .components
            .iter()
            .map(|c| {
                (c.property("DTSTART").unwrap().value.as_str(), c.property("RECURRENCE-ID").unwrap().value.as_str())
            })
            .collect();
        assert_eq!(got, vec![("20261109T130000Z", "20261109T080000Z"), ("20261110T080000Z", "20261110T080000Z")]);
        let limited =
            limit_recurrence_set(&cal, &range("20261109T000000Z", "20261110T000000Z"), Zone::utc(), 100).unwrap();
        assert_eq!(limited.components.len(), 2, "master and the orphan override");
    }

    #[test]
    fn limit_recurrence_set_keeps_master_and_overlapping_overrides_only() {
        let cal = crate::parse_calendar(WEEKLY).unwrap();
        let out = limit_recurrence_set(&cal, &range("20261115T000000Z", "20261130T000000Z"), Zone::utc(), 100).unwrap();
        let events: Vec<_> = out.components.iter().filter(|c| c.name == "VEVENT").collect();
        assert_eq!(events.len(), 1);
        assert!(events[0].property("RRULE").is_some());
    }

    #[test]
    fn select_keeps_named_components_and_properties() {
        let cal = crate::parse_calendar(WEEKLY).unwrap();
        let selection = CompSelection {
            name: "VCALENDAR".into(),
            props: Some(vec!["VERSION".into()]),
            comps: Some(vec![CompSelection {
                name: "VEVENT".into(),
                props: Some(vec!["SUMMARY".into(), "UID".into()]),
                comps: None,
            }]),
        };
        let out = select(&cal, &selection);
        assert_eq!(out.properties.len(), 1);
        assert_eq!(out.components.len(), 2);
        assert!(out.components.iter().all(|c| c.properties.len() == 2 && c.property("DTSTART").is_none()));
    }
}
