//! Objects whose dates or durations lie at or beyond the ends of what chrono can represent
//! (`tests/fixtures/hostile/*.ics`). Each must be refused as valid-calendar-data or accepted,
//! and an accepted one must go through every computation the gateway makes on a stored object
//! (index span, time-range queries, alarms, free-busy, expand) without a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::Path;

use calendar::filter::{CompFilter, CompTest, TimeRange};
use calendar::query::{matches, QueryContext};
use calendar::retrieval::{expand, limit_recurrence_set};
use calendar::zones::{Zone, Zones};
use calendar::{parse_calendar, parse_utc, validate_object, Violation};

fn range(start: &str, end: &str) -> TimeRange {
    TimeRange { start: parse_utc(start), end: parse_utc(end) }
}

fn query(component: &str, sub: Option<&str>, range: TimeRange) -> CompFilter {
    let leaf = |name: &str| CompFilter {
        name: name.into(),
        test: CompTest::Matches { time_range: Some(range), props: vec![], comps: vec![] },
    };
    let inner = match sub {
        None => leaf(component),
        Some(sub) => CompFilter {
            name: component.into(),
            test: CompTest::Matches { time_range: None, props: vec![], comps: vec![leaf(sub)] },
        },
    };
    CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Matches { time_range: None, props: vec![], comps: vec![inner] },
    }
}

/// Everything the gateway computes on a stored object, on the object's text as stored.
fn every_computation(text: &str) {
    let calendar = parse_calendar(text).unwrap();
    let _ = calendar::instance_span(&calendar, 1000);
    let cx = QueryContext { floating: Zone::utc(), max_instances: 1000 };
    let ranges = [
        range("20261201T000000Z", "20261202T000000Z"),
        range("00000101T000000Z", "99991231T235959Z"),
        TimeRange { start: parse_utc("99991231T000000Z"), end: None },
        TimeRange { start: None, end: parse_utc("00000102T000000Z") },
    ];
    for range in ranges {
        for (component, sub) in [
            ("VEVENT", None),
            ("VTODO", None),
            ("VJOURNAL", None),
            ("VEVENT", Some("VALARM")),
            ("VTODO", Some("VALARM")),
        ] {
            let _ = matches(&calendar, &query(component, sub, range), &cx);
        }
        let _ = expand(&calendar, &range, Zone::utc(), 1000);
        let _ = limit_recurrence_set(&calendar, &range, Zone::utc(), 1000);
        let zones = Zones::new(&calendar, Zone::utc());
        let _ = calendar::freebusy::busy_periods(&calendar, &zones, &range, 1000);
    }
}

#[test]
fn huge_dates_and_durations_are_refused_or_computed_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(paths.len() >= 10);
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| {
            if let Err(error) = validate_object(text.as_bytes()) {
                assert_eq!(error.precondition(), Violation::ValidCalendarData, "{name}: {error}");
            }
            // Objects stored before these checks existed are computed on all the same.
            every_computation(&text);
        });
        assert!(outcome.is_ok(), "{name} panicked");
    }
}

#[test]
fn durations_beyond_the_representable_range_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    for name in ["huge-duration-weeks", "huge-duration-sum", "huge-trigger", "huge-rdate-period", "huge-todo-duration"]
    {
        let text = std::fs::read(dir.join(format!("{name}.ics"))).unwrap();
        let error = validate_object(&text).err().unwrap_or_else(|| panic!("{name} validated"));
        assert_eq!(error.precondition(), Violation::ValidCalendarData, "{name}");
        assert!(error.to_string().contains("line "), "{name}: the reason names the line: {error}");
    }
}
