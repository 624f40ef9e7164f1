//! Evaluating a calendar-query filter against one calendar object (RFC 4791 §9.7, §9.9).

use chrono::{DateTime, Duration, Utc};

use crate::component::{Component, Property};
use crate::datetime::{minus, parse_duration, plus, sum, times, DateValue};
use crate::filter::{
    Collation, CompFilter, CompTest, ParamFilter, ParamTest, PropFilter, PropTest, TextMatch, TimeRange,
};
use crate::recurrence::{anchor, instances, Instance, TooManyInstances, Window};
use crate::zones::{Zone, Zones};

/// What evaluation depends on besides the object and the filter.
#[derive(Clone, Copy, Debug)]
pub struct QueryContext {
    /// Zone of floating times and dates: the query's or the calendar's timezone (RFC 4791 §7.3).
    pub floating: Zone,
    /// Most instances one recurring component may be expanded into.
    pub max_instances: usize,
}

/// Whether `calendar` (a parsed VCALENDAR) matches `filter` (whose top is VCALENDAR).
pub fn matches(calendar: &Component, filter: &CompFilter, cx: &QueryContext) -> Result<bool, TooManyInstances> {
    let zones = Zones::new(calendar, cx.floating);
    let evaluator = Evaluator { zones: &zones, max_instances: cx.max_instances };
    if filter.name != calendar.name {
        return Ok(matches!(filter.test, CompTest::IsNotDefined));
    }
    match &filter.test {
        CompTest::IsNotDefined => Ok(false),
        CompTest::Matches { time_range, props, comps } => {
            // A time-range on VCALENDAR itself has no meaning (RFC 4791 §9.9 lists components).
            if time_range.is_some() {
                return Ok(false);
            }
            evaluator.component_matches(calendar, None, props, comps)
        }
    }
}

struct Evaluator<'z> {
    zones: &'z Zones,
    max_instances: usize,
}

impl Evaluator<'_> {
    /// Props and child comps of one component that exists.
    fn component_matches(
        &self,
        component: &Component,
        siblings: Option<&[&Component]>,
        props: &[PropFilter],
        comps: &[CompFilter],
    ) -> Result<bool, TooManyInstances> {
        if !props.iter().all(|p| self.prop_matches(component, p)) {
            return Ok(false);
        }
        for filter in comps {
            if !self.comp_matches(component, siblings, filter)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `filter` against the children of `parent` (RFC 4791 §9.7.1).
    fn comp_matches(
        &self,
        parent: &Component,
        parent_siblings: Option<&[&Component]>,
        filter: &CompFilter,
    ) -> Result<bool, TooManyInstances> {
        let candidates: Vec<&Component> = parent.components_named(&filter.name).collect();
        let (time_range, props, comps) = match &filter.test {
            CompTest::IsNotDefined => return Ok(candidates.is_empty()),
            CompTest::Matches { time_range, props, comps } => (time_range, props, comps),
        };
        for candidate in &candidates {
            if let Some(range) = time_range {
                let in_range = if filter.name == "VALARM" {
                    self.alarm_in_range(candidate, parent, parent_siblings, range)?
                } else {
                    self.component_in_range(candidate, &candidates, range)?
                };
                if !in_range {
                    continue;
                }
            }
            if self.component_matches(candidate, Some(&candidates), props, comps)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The instances of `component` within its recurrence set `siblings`.
    fn instances_of<'a>(
        &self,
        component: &'a Component,
        siblings: &[&'a Component],
        range: &TimeRange,
    ) -> Result<Vec<Instance<'a>>, TooManyInstances> {
        let uid = component.property("UID").map(|p| p.value.as_str());
        let set: Vec<&Component> =
            siblings.iter().copied().filter(|c| c.property("UID").map(|p| p.value.as_str()) == uid).collect();
        let window = Window { start: range.start, end: range.end };
        Ok(instances(&set, self.zones, window, self.max_instances)?
            .into_iter()
            .filter(|i| std::ptr::eq(i.component, component))
            .collect())
    }

    /// RFC 4791 §9.9, per component type.
    fn component_in_range(
        &self,
        component: &Component,
        siblings: &[&Component],
        range: &TimeRange,
    ) -> Result<bool, TooManyInstances> {
        match component.name.as_str() {
            "VEVENT" => {
                Ok(self.instances_of(component, siblings, range)?.iter().any(|i| overlaps(range, i.start, i.end)))
            }
            "VTODO" => self.todo_in_range(component, siblings, range),
            "VJOURNAL" => {
                let Some(start) = component.property("DTSTART").and_then(DateValue::of) else { return Ok(false) };
                let is_date = start.is_date();
                Ok(self.instances_of(component, siblings, range)?.iter().any(|i| {
                    if is_date {
                        overlaps(range, i.start, plus(i.start, Duration::days(1)))
                    } else {
                        at_or_after_start(range, i.start)
                    }
                }))
            }
            "VFREEBUSY" => Ok(self.freebusy_in_range(component, range)),
            _ => Ok(false),
        }
    }

    /// The VTODO table of RFC 4791 §9.9, for each instance (DUE moves with a recurring start).
    fn todo_in_range(
        &self,
        todo: &Component,
        siblings: &[&Component],
        range: &TimeRange,
    ) -> Result<bool, TooManyInstances> {
        let value = |name: &str| todo.property(name).and_then(DateValue::of).map(|v| v.to_utc(self.zones));
        let (dtstart, due) = (value("DTSTART"), value("DUE"));
        let duration = todo.property("DURATION").and_then(|p| parse_duration(&p.value));
        let (completed, created) = (value("COMPLETED"), value("CREATED"));
        let (s, e) = (range.start, range.end);
        let before = |t: DateTime<Utc>, inclusive: bool| s.is_none_or(|s| if inclusive { s <= t } else { s < t });
        let after = |t: DateTime<Utc>, inclusive: bool| e.is_none_or(|e| if inclusive { e >= t } else { e > t });
        if dtstart.is_none() && due.is_none() {
            return Ok(match (completed, created) {
                (Some(done), Some(made)) => {
                    (before(made, true) || before(done, true)) && (after(made, true) || after(done, true))
                }
                (Some(done), None) => before(done, true) && after(done, true),
                (None, Some(made)) => after(made, false),
                (None, None) => true,
            });
        }
        let base = anchor(todo).map(|a| a.to_utc(self.zones));
        for instance in self.instances_of(todo, siblings, &widen(range))? {
            let shift = base.map_or(Duration::zero(), |b| instance.start - b);
            let (start, due) = (dtstart.map(|d| plus(d, shift)), due.map(|d| plus(d, shift)));
            let hit = match (start, duration, due) {
                (Some(start), Some(duration), _) => {
                    let end = plus(start, duration);
                    before(end, true) && (after(start, false) || after(end, true))
                }
                (Some(start), None, Some(due)) => {
                    (before(due, false) || before(start, true)) && (after(start, false) || after(due, true))
                }
                (Some(start), None, None) => before(start, true) && after(start, false),
                (None, _, Some(due)) => before(due, false) && after(due, true),
                (None, _, None) => false,
            };
            if hit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn freebusy_in_range(&self, freebusy: &Component, range: &TimeRange) -> bool {
        let periods: Vec<(DateTime<Utc>, DateTime<Utc>)> = freebusy
            .properties_named("FREEBUSY")
            .flat_map(|p| {
                p.value
                    .split(',')
                    .filter_map(|period| crate::freebusy::parse_period(period.trim(), self.zones))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !periods.is_empty() {
            return periods.iter().any(|(start, end)| overlaps(range, *start, *end));
        }
        let value = |name: &str| freebusy.property(name).and_then(DateValue::of).map(|v| v.to_utc(self.zones));
        match (value("DTSTART"), value("DTEND")) {
            (Some(start), Some(end)) => range.start.is_none_or(|s| s <= end) && range.end.is_none_or(|e| e > start),
            _ => false,
        }
    }

    /// A VALARM is in range when one of its trigger times is (RFC 4791 §9.9), for any instance
    /// of the component it belongs to.
    fn alarm_in_range(
        &self,
        alarm: &Component,
        parent: &Component,
        parent_siblings: Option<&[&Component]>,
        range: &TimeRange,
    ) -> Result<bool, TooManyInstances> {
        let Some(trigger) = alarm.property("TRIGGER") else { return Ok(false) };
        let repeat: i32 =
            alarm.property("REPEAT").and_then(|p| p.value.trim().parse().ok()).unwrap_or(0).clamp(0, 1000);
        let interval = alarm.property("DURATION").and_then(|p| parse_duration(&p.value)).unwrap_or_else(Duration::zero);
        let fires =
            |first: DateTime<Utc>| (0..=repeat).any(|n| at_or_after_start(range, plus(first, times(interval, n))));
        if let Some(absolute) = DateValue::of(trigger).filter(|_| trigger.param("VALUE") == Some("DATE-TIME")) {
            return Ok(fires(absolute.to_utc(self.zones)));
        }
        let Some(offset) = parse_duration(&trigger.value) else { return Ok(false) };
        let related_end = trigger.param("RELATED").is_some_and(|r| r.eq_ignore_ascii_case("END"));
        let siblings: Vec<&Component> = parent_siblings.map(<[_]>::to_vec).unwrap_or_else(|| vec![parent]);
        // Triggers may lie before or after their instance: widen the window by the offset.
        let widened = TimeRange {
            start: range.start.map(|s| minus(s, sum(sum(offset.abs(), times(interval, repeat)), Duration::days(1)))),
            end: range.end.map(|e| plus(e, sum(offset.abs(), Duration::days(1)))),
        };
        for instance in self.instances_of(parent, &siblings, &widened)? {
            let base = if related_end { instance.end } else { instance.start };
            if fires(plus(base, offset)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn prop_matches(&self, component: &Component, filter: &PropFilter) -> bool {
        let mut candidates = component.properties_named(&filter.name);
        match &filter.test {
            PropTest::IsNotDefined => candidates.next().is_none(),
            PropTest::Matches { time_range, text, params } => candidates.any(|property| {
                time_range.is_none_or(|range| {
                    DateValue::of(property).is_some_and(|v| at_or_after_start(&range, v.to_utc(self.zones)))
                }) && text.as_ref().is_none_or(|t| text_matches(t, &unescape_text(&property.value)))
                    && params.iter().all(|p| param_matches(property, p))
            }),
        }
    }
}

fn param_matches(property: &Property, filter: &ParamFilter) -> bool {
    let parameter = property.params.iter().find(|p| p.name == filter.name);
    match (&filter.test, parameter) {
        (ParamTest::IsNotDefined, found) => found.is_none(),
        (ParamTest::Matches { .. }, None) => false,
        (ParamTest::Matches { text: None }, Some(_)) => true,
        (ParamTest::Matches { text: Some(text) }, Some(found)) => {
            // negate-condition applies to the parameter as a whole, not to each value.
            let any = found.values.iter().any(|v| text_matches(&TextMatch { negate: false, ..text.clone() }, v));
            any != text.negate
        }
    }
}

/// RFC 4791 §9.7.5: substring match under the collation, then negate-condition.
pub fn text_matches(filter: &TextMatch, value: &str) -> bool {
    let found = match filter.collation {
        Collation::Octet => value.contains(&filter.text),
        Collation::AsciiCasemap => value.to_ascii_lowercase().contains(&filter.text.to_ascii_lowercase()),
        Collation::UnicodeCasemap => {
            crate::collation::unicode_casemap(value).contains(&crate::collation::unicode_casemap(&filter.text))
        }
    };
    found != filter.negate
}

/// RFC 5545 §3.3.11 TEXT escapes undone: the value as a person reads it.
pub fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Overlap of [start, end) with the range; a zero-length span counts at its start
/// (RFC 4791 §9.9: `start <= DTSTART AND end > DTSTART`).
pub(crate) fn overlaps(range: &TimeRange, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    if end <= start {
        return at_or_after_start(range, start);
    }
    range.start.is_none_or(|s| s < end) && range.end.is_none_or(|e| e > start)
}

fn at_or_after_start(range: &TimeRange, at: DateTime<Utc>) -> bool {
    range.start.is_none_or(|s| s <= at) && range.end.is_none_or(|e| e > at)
}

/// Todo conditions look slightly beyond the window (`end >= DUE`), so expand a day wider.
fn widen(range: &TimeRange) -> TimeRange {
    TimeRange {
        start: range.start.map(|s| minus(s, Duration::days(1))),
        end: range.end.map(|e| plus(e, Duration::days(1))),
    }
}
