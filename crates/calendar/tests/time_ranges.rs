//! Hand-computed time-range answers (`tests/fixtures/query/ranges.txt`) for a calendar of
//! tricky objects: DST ends in two zones, an all-day span over a month end, a weekly rule with
//! EXDATE and a moved instance, UNTIL in another zone than DTSTART, and VTODOs with only DUE,
//! only DTSTART, only COMPLETED.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::Path;

use calendar::filter::{CompFilter, CompTest, TimeRange};
use calendar::query::{matches, QueryContext};
use calendar::zones::Zone;
use calendar::{parse_calendar, parse_utc, Component};

fn fixtures() -> Vec<(String, Component)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/query");
    let mut objects: Vec<(String, Component)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, parse_calendar(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
}

fn query(component: &str, start: &str, end: &str) -> CompFilter {
    let range = TimeRange { start: Some(parse_utc(start).unwrap()), end: Some(parse_utc(end).unwrap()) };
    let inner = CompFilter {
        name: component.into(),
        test: CompTest::Matches { time_range: Some(range), props: vec![], comps: vec![] },
    };
    CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Matches { time_range: None, props: vec![], comps: vec![inner] },
    }
}

#[test]
fn hand_computed_time_ranges_select_exactly_the_expected_objects() {
    let objects = fixtures();
    assert_eq!(objects.len(), 8);
    let cx = QueryContext { floating: Zone::utc(), max_instances: 10_000 };
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/query/ranges.txt")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (question, answer) = line.split_once("->").unwrap();
        let parts: Vec<&str> = question.split_whitespace().collect();
        let filter = query(parts[0], parts[1], parts[2]);
        let expected: Vec<&str> = answer.split_whitespace().filter(|n| *n != "-").collect();
        let got: Vec<&str> =
            objects.iter().filter(|(_, cal)| matches(cal, &filter, &cx).unwrap()).map(|(n, _)| n.as_str()).collect();
        if got != expected {
            failures.push(format!("{line}\n   got: {got:?}"));
        }
        checked += 1;
    }
    assert!(checked >= 15);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
