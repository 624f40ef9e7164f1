//! The instances of a recurring component set (RFC 5545 §3.8.5): RRULE, RDATE and EXDATE on
//! the master, each override (RECURRENCE-ID) replacing the instance it names.
//!
//! Expansion is always bounded: it stops at the end of the window asked about, and fails
//! with [`TooManyInstances`] once `cap` instances were generated, so an RRULE of
//! FREQ=SECONDLY without COUNT costs at most `cap` steps, never a hang.

use chrono::{DateTime, Duration, LocalResult, TimeZone, Utc};
use rrule::{Frequency, ParseError, RRule, RRuleError, RRuleSet, Tz as RTz, Unvalidated, Validated, ValidationError};

use crate::component::Component;
use crate::datetime::{parse_duration, plus, DateValue};
use crate::zones::{Zone, Zones};

/// One occurrence: which component describes it, and when it starts and ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance<'a> {
    pub component: &'a Component,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The RECURRENCE-ID of this instance (its original start), for recurring sets.
    pub recurrence_id: Option<DateTime<Utc>>,
}

/// The half-open span of interest; `None` is unbounded on that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expanding the recurrence needs more than {cap} instances")]
pub struct TooManyInstances {
    pub cap: usize,
}

/// The start of a component: DTSTART, or for a VTODO without it, DUE.
pub fn anchor(component: &Component) -> Option<DateValue> {
    component.property("DTSTART").and_then(DateValue::of).or_else(|| {
        if component.name == "VTODO" {
            component.property("DUE").and_then(DateValue::of)
        } else {
            None
        }
    })
}

/// How long each instance lasts (RFC 4791 §9.9: DTEND, else DURATION, else a day for a
/// DATE start, else nothing).
pub fn length(component: &Component, zones: &Zones) -> Duration {
    let Some(start) = anchor(component) else { return Duration::zero() };
    if component.name == "VEVENT" {
        if let Some(end) = component.property("DTEND").and_then(DateValue::of) {
            return end.to_utc(zones) - start.to_utc(zones);
        }
    }
    if let Some(duration) = component.property("DURATION").and_then(|p| parse_duration(&p.value)) {
        return duration;
    }
    if start.is_date() && component.name != "VTODO" {
        return Duration::days(1);
    }
    Duration::zero()
}

/// Every instance of the components of one UID that may touch `window`, master and overrides.
///
/// An override is an instance at its own DTSTART whether or not its RECURRENCE-ID names an
/// instance the master generates; it only hides the generated instance it does name. That
/// is what sabre/vobject's `EventIterator` does (each override is yielded in start order, its
/// RECURRENCE-ID merely joins the exceptions). Overrides naming no instance are common:
/// Thunderbird/Lightning, iOS and Google keep them after the rule is changed (a weekly
/// meeting moved from Monday to Tuesday keeps last week's Monday override), and since RFC 5545
/// §3.8.4.4 does not forbid them, refusing them on PUT would break sync for those users and
/// dropping them would hide an event the user still sees in their client.
pub fn instances<'a>(
    components: &[&'a Component],
    zones: &Zones,
    window: Window,
    cap: usize,
) -> Result<Vec<Instance<'a>>, TooManyInstances> {
    let overrides: Vec<(&Component, DateTime<Utc>)> = components
        .iter()
        .filter_map(|c| c.property("RECURRENCE-ID").and_then(DateValue::of).map(|rid| (*c, rid.to_utc(zones))))
        .collect();
    let mut found = Vec::new();
    for master in components.iter().filter(|c| c.property("RECURRENCE-ID").is_none()) {
        let starts = master_starts(master, zones, window, cap)?;
        for start in starts.instants {
            // A recurring instance is identified by its original start (RFC 5545 §3.8.4.4).
            let recurrence_id = starts.recurring.then_some(start);
            if recurrence_id.is_some_and(|rid| overrides.iter().any(|(_, o)| *o == rid)) {
                continue;
            }
            let end = plus(start, length(master, zones));
            found.push(Instance { component: master, start, end, recurrence_id });
        }
    }
    for (component, rid) in overrides {
        if let Some(start) = anchor(component).map(|a| a.to_utc(zones)) {
            found.push(Instance {
                component,
                start,
                end: plus(start, length(component, zones)),
                recurrence_id: Some(rid),
            });
        }
    }
    found.sort_by_key(|i| i.start);
    Ok(found)
}

/// The starts of a master's instances.
struct Starts {
    instants: Vec<DateTime<Utc>>,
    /// Whether the master has RRULE/RDATE, so its instances have recurrence ids.
    recurring: bool,
}

fn master_starts(master: &Component, zones: &Zones, window: Window, cap: usize) -> Result<Starts, TooManyInstances> {
    let Some(start) = anchor(master) else { return Ok(Starts { instants: Vec::new(), recurring: false }) };
    let first = start.to_utc(zones);
    let span = length(master, zones).max(Duration::zero());
    // Instances starting before this end before the window does. A span too long to
    // subtract (hostile input) leaves no lower bound: expansion then starts at DTSTART.
    let wanted_from = window.start.and_then(|s| s.checked_sub_signed(span));
    let Some(set) = rule_set(master, &start, zones, wanted_from) else {
        return Ok(Starts { instants: vec![first], recurring: false });
    };
    let mut starts = Vec::new();
    for (generated, occurrence) in (&set).into_iter().enumerate() {
        if generated >= cap {
            return Err(TooManyInstances { cap });
        }
        let at = occurrence.with_timezone(&Utc);
        if window.end.is_some_and(|end| at >= end) {
            break;
        }
        // Keep what could still overlap; the exact test is the caller's.
        if window.start.is_none_or(|s| plus(at, span) >= s) {
            starts.push(at);
        }
    }
    Ok(Starts { instants: starts, recurring: true })
}

/// The master's RRULE/RDATE/EXDATE as an rrule set, or `None` when it does not recur.
/// A rule the library cannot read leaves just the first instance: the event is kept, and
/// only its repetitions are missing (validation refuses such rules on PUT; this covers what
/// was stored before). With `wanted_from`, the set may start later (see [`later_start`]): it
/// then holds every instance from `wanted_from` on, but not necessarily the earlier ones.
fn rule_set(
    master: &Component,
    start: &DateValue,
    zones: &Zones,
    wanted_from: Option<DateTime<Utc>>,
) -> Option<RRuleSet> {
    let rules: Vec<&str> = master.properties_named("RRULE").map(|p| p.value.trim()).collect();
    let rdates: Vec<DateValue> = dates_of(master, "RDATE");
    if rules.is_empty() && rdates.is_empty() {
        return None;
    }
    let zone = rule_zone(start, zones);
    let dtstart = zone.from_utc_datetime(&start.to_utc(zones).naive_utc());
    let build = |dtstart: DateTime<RTz>| {
        let mut set = RRuleSet::new(dtstart);
        for rule in &rules {
            set = set.rrule(validated_rule(rule, start, zones, dtstart).ok()?);
        }
        for rdate in &rdates {
            set = set.rdate(zone.from_utc_datetime(&rdate.to_utc(zones).naive_utc()));
        }
        for exdate in dates_of(master, "EXDATE") {
            set = set.exdate(zone.from_utc_datetime(&exdate.to_utc(zones).naive_utc()));
        }
        Some(set)
    };
    if let ([rule], Some(from)) = (rules.as_slice(), wanted_from) {
        // A moved start the library refuses (a year out of its range) falls back to the first.
        if let Some(set) = later_start(rule, dtstart, from).and_then(build) {
            return Some(set);
        }
    }
    build(dtstart)
}

/// A later DTSTART from which to expand `rule` when only instances from `from` on are wanted
/// (issue 12: a weekly series begun years ago was expanded from its first instance on every
/// query, and past `limits.max_instances` it could not be queried at all).
///
/// Only for rules whose instances repeat with a fixed period of local time and that count
/// none: DAILY and WEEKLY without COUNT. The start moves by whole periods in its own zone, so
/// it keeps its phase (time of day, day of the week, week relative to WKST) and every instance
/// from the moved start on is one of the original rule's; UNTIL is an instant and stays. The
/// moved start stays more than a period before `from`, so whatever the expansion makes of a
/// start the rule does not match lies outside the window.
fn later_start(rule: &str, dtstart: DateTime<RTz>, from: DateTime<Utc>) -> Option<DateTime<RTz>> {
    let parsed = parse_rule(rule).ok()?;
    if parsed.get_count().is_some() {
        return None;
    }
    let days_per_period = match parsed.get_freq() {
        Frequency::Daily => 1,
        Frequency::Weekly => 7,
        _ => return None,
    } * i64::from(parsed.get_interval().max(1));
    // Two periods to spare: a local time and its instant differ by the zone's offset.
    let gap_days = (from - dtstart.with_timezone(&Utc)).num_days();
    let periods = gap_days / days_per_period - 2;
    if periods <= 0 {
        return None;
    }
    let local = dtstart.naive_local().checked_add_signed(Duration::try_days(periods * days_per_period)?)?;
    let day_after = local.checked_add_signed(Duration::days(1))?;
    if parsed.get_until().is_some_and(|until| until.naive_local() < day_after) {
        return None; // the series ends before the moved start: nothing to save
    }
    // A start in a DST gap or overlap would change the time of day of every instance.
    match dtstart.timezone().from_local_datetime(&local) {
        LocalResult::Single(moved) => Some(moved),
        _ => None,
    }
}

/// The zone a master's rule is expanded in: its DTSTART's, so instances keep their local time
/// across DST changes.
fn rule_zone(start: &DateValue, zones: &Zones) -> RTz {
    match start.zone(zones) {
        Zone::Iana(tz) => RTz::Tz(tz),
        // Fixed offsets have no DST to follow: expanding in UTC gives the same instants.
        Zone::Fixed(_) => RTz::UTC,
    }
}

/// One RRULE value read against its DTSTART.
///
/// An UNTIL without `Z` is a local time in DTSTART's zone (RFC 5545 §3.3.10 allows it for
/// floating and DATE starts; Outlook and Google also send it with a TZID start, and all-day
/// series carry `UNTIL=YYYYMMDD`). The rrule library reads such an UNTIL in the server's own
/// zone and then refuses the rule, which would leave only the first instance, so UNTIL is
/// moved to UTC here first.
fn validated_rule(
    rule: &str,
    start: &DateValue,
    zones: &Zones,
    dtstart: DateTime<RTz>,
) -> Result<RRule<Validated>, RRuleError> {
    let mut parsed = parse_rule(rule)?;
    if let Some(until) = parsed.get_until().copied().filter(|until| until.timezone() != RTz::UTC) {
        let instant = start.zone(zones).local_to_utc(until.naive_local());
        parsed = parsed.until(RTz::UTC.from_utc_datetime(&instant.naive_utc()));
    }
    parsed.validate(dtstart)
}

/// An RRULE value read by the rrule library. The recur grammar is ASCII (RFC 5545 §3.3.10),
/// and rrule 0.14 panics slicing a weekday that holds a multi-byte character (`BYDAY=TU` and a
/// BOM, found by the calendar_validate fuzz target), so anything else is refused before it.
fn parse_rule(rule: &str) -> Result<RRule<Unvalidated>, RRuleError> {
    if !rule.is_ascii() {
        return Err(RRuleError::ParserError(ParseError::InvalidParameterFormat(rule.to_owned())));
    }
    rule.parse::<RRule<Unvalidated>>()
}

/// Whether an RRULE value is one the object may carry (RFC 5545 §3.3.10): it must parse, and
/// its parts must respect the RFC's ranges and FREQ combinations. What the rrule library
/// merely guards against (UNTIL before DTSTART, which is a series of nothing; a large
/// INTERVAL) is not the client's error and is accepted.
pub(crate) fn check_rule(rule: &str, start: &DateValue, zones: &Zones) -> Result<(), String> {
    let dtstart = rule_zone(start, zones).from_utc_datetime(&start.to_utc(zones).naive_utc());
    match validated_rule(rule, start, zones, dtstart) {
        Ok(_) => Ok(()),
        Err(RRuleError::ValidationError(
            ValidationError::UntilBeforeStart { .. }
            | ValidationError::TooBigInterval(_)
            | ValidationError::StartYearOutOfRange(_)
            | ValidationError::UnableToGenerateTimeset
            | ValidationError::DtStartUntilMismatchTimezone { .. },
        )) => Ok(()),
        Err(RRuleError::ParserError(error)) => Err(format!("does not parse: {error}")),
        Err(error) => Err(format!("is not a valid rule: {error}")),
    }
}

/// All date values of a possibly repeated, comma-separated property.
fn dates_of(component: &Component, name: &str) -> Vec<DateValue> {
    component
        .properties_named(name)
        .flat_map(|p| {
            let tzid = p.param("TZID");
            p.value.split(',').filter_map(move |v| crate::datetime::parse(v.trim(), tzid)).collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_calendar;

    fn utc(s: &str) -> DateTime<Utc> {
        crate::datetime::parse_utc(s).unwrap()
    }

    fn expand(ics: &str, window: Window) -> Result<Vec<(String, String)>, TooManyInstances> {
        let cal = parse_calendar(ics).unwrap();
        let zones = Zones::new(&cal, Zone::utc());
        let events: Vec<&Component> = cal.components_named("VEVENT").collect();
        Ok(instances(&events, &zones, window, 1000)?
            .into_iter()
            .map(|i| (i.start.format("%Y%m%dT%H%M%SZ").to_string(), i.end.format("%Y%m%dT%H%M%SZ").to_string()))
            .collect())
    }

    #[test]
    fn weekly_in_berlin_keeps_local_time_across_dst_with_exdate_and_override() {
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:w\nDTSTART;TZID=Europe/Berlin:20261019T090000\n\
                   DTEND;TZID=Europe/Berlin:20261019T093000\nRRULE:FREQ=WEEKLY;COUNT=4\n\
                   EXDATE;TZID=Europe/Berlin:20261102T090000\nEND:VEVENT\nBEGIN:VEVENT\nUID:w\n\
                   RECURRENCE-ID;TZID=Europe/Berlin:20261026T090000\nDTSTART;TZID=Europe/Berlin:20261027T120000\n\
                   DTEND;TZID=Europe/Berlin:20261027T130000\nEND:VEVENT\nEND:VCALENDAR\n";
        let got = expand(ics, Window::default()).unwrap();
        assert_eq!(
            got,
            vec![
                ("20261019T070000Z".into(), "20261019T073000Z".into()), // CEST
                ("20261027T110000Z".into(), "20261027T120000Z".into()), // moved instance, CET
                ("20261109T080000Z".into(), "20261109T083000Z".into()), // CET
            ]
        );
    }

    #[test]
    fn override_naming_no_instance_is_an_instance_at_its_own_start() {
        // The rule moved from Mondays to Tuesdays; the Monday 9 Nov override was kept.
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:o\nDTSTART:20261103T080000Z\nDTEND:20261103T083000Z\n\
                   RRULE:FREQ=WEEKLY;COUNT=3\nEND:VEVENT\nBEGIN:VEVENT\nUID:o\nRECURRENCE-ID:20261109T080000Z\n\
                   DTSTART:20261109T130000Z\nDTEND:20261109T133000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let got = expand(ics, Window::default()).unwrap();
        let starts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(starts, vec!["20261103T080000Z", "20261109T130000Z", "20261110T080000Z", "20261117T080000Z"]);
        let window = Window { start: utc("20261109T000000Z").into(), end: utc("20261110T000000Z").into() };
        assert_eq!(expand(ics, window).unwrap(), vec![("20261109T130000Z".into(), "20261109T133000Z".into())]);
    }

    #[test]
    fn local_until_ends_the_series_in_the_start_zone() {
        // Google and Outlook: all-day series with a DATE UNTIL; a TZID start with a local UNTIL.
        let all_day = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20261201\n\
                       RRULE:FREQ=WEEKLY;UNTIL=20261215\nEND:VEVENT\nEND:VCALENDAR\n";
        let got: Vec<String> = expand(all_day, Window::default()).unwrap().into_iter().map(|i| i.0).collect();
        assert_eq!(got, vec!["20261201T000000Z", "20261208T000000Z", "20261215T000000Z"]);
        let zoned = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:z\nDTSTART;TZID=Europe/Berlin:20261201T090000\n\
                     RRULE:FREQ=DAILY;UNTIL=20261203T090000\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(expand(zoned, Window::default()).unwrap().len(), 3);
    }

    #[test]
    fn secondly_without_count_is_cut_not_hung() {
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:s\nDTSTART:20200101T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR\n";
        let window = Window { start: Some(utc("20261201T000000Z")), end: Some(utc("20261202T000000Z")) };
        assert_eq!(expand(ics, window), Err(TooManyInstances { cap: 1000 }));
    }

    #[test]
    fn an_endless_weekly_series_from_years_ago_is_expanded_from_near_the_window() {
        // Mondays and Wednesdays 09:00 Berlin since 2019; cap 100 is far below the ~780
        // instances from the first one to the window.
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:m\nDTSTART;TZID=Europe/Berlin:20190107T090000\n\
                   DTEND;TZID=Europe/Berlin:20190107T100000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE\n\
                   EXDATE;TZID=Europe/Berlin:20261028T090000\nEND:VEVENT\nEND:VCALENDAR\n";
        let cal = parse_calendar(ics).unwrap();
        let zones = Zones::new(&cal, Zone::utc());
        let events: Vec<&Component> = cal.components_named("VEVENT").collect();
        let window = Window { start: Some(utc("20261021T000000Z")), end: Some(utc("20261103T000000Z")) };
        let got: Vec<String> = instances(&events, &zones, window, 100)
            .unwrap()
            .into_iter()
            .filter(|i| i.end > window.start.unwrap())
            .map(|i| i.start.format("%Y%m%dT%H%M%SZ").to_string())
            .collect();
        // CEST until 25 October, CET after; the 28th is excluded.
        assert_eq!(got, vec!["20261021T070000Z", "20261026T080000Z", "20261102T080000Z"]);
    }

    #[test]
    fn a_start_the_rule_does_not_match_is_not_repeated_near_the_window() {
        // DTSTART is a Sunday, the rule says Mondays (the rrule library, like before, does not
        // make the unmatched start an instance).
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:s\nDTSTART:20200105T120000Z\nDURATION:PT1H\n\
                   RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO\nEND:VEVENT\nEND:VCALENDAR\n";
        let window = Window { start: Some(utc("20261101T000000Z")), end: Some(utc("20261201T000000Z")) };
        let got: Vec<String> = expand(ics, window).unwrap().into_iter().map(|i| i.0).collect();
        // Every other Monday, counted from the week of DTSTART (that of Monday 30 December 2019).
        assert_eq!(got, vec!["20261109T120000Z", "20261123T120000Z"]);
        let all = expand(ics, Window { start: None, end: Some(utc("20200201T000000Z")) }).unwrap();
        assert_eq!(all.first().map(|i| i.0.as_str()), Some("20200113T120000Z"));
    }

    #[test]
    fn until_and_count_series_keep_their_ends() {
        let until = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nDTSTART:20200101T080000Z\n\
                     RRULE:FREQ=DAILY;UNTIL=20261105T080000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let window = Window { start: Some(utc("20261103T000000Z")), end: Some(utc("20261110T000000Z")) };
        let got: Vec<String> = expand(until, window).unwrap().into_iter().map(|i| i.0).collect();
        assert_eq!(got, vec!["20261103T080000Z", "20261104T080000Z", "20261105T080000Z"]);
        let count = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:c\nDTSTART:20261101T080000Z\n\
                     RRULE:FREQ=DAILY;COUNT=4\nEND:VEVENT\nEND:VCALENDAR\n";
        let got: Vec<String> = expand(count, window).unwrap().into_iter().map(|i| i.0).collect();
        assert_eq!(got, vec!["20261103T080000Z", "20261104T080000Z"]);
    }

    #[test]
    fn window_end_stops_an_endless_daily_rule() {
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20261201\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n";
        let window = Window { start: Some(utc("20261210T000000Z")), end: Some(utc("20261212T000000Z")) };
        let got = expand(ics, window).unwrap();
        assert_eq!(got.first().map(|g| g.0.as_str()), Some("20261209T000000Z"));
        assert_eq!(got.last().map(|g| g.0.as_str()), Some("20261211T000000Z"));
    }
}
