//! Micro-benchmarks of the iCalendar hot paths (`make microbench`, numbers in BENCHMARKS.md):
//! validating a PUT body, parsing and writing it back, expanding a recurring series, and
//! testing a one-month calendar-query filter against a calendar's worth of events.
//!
//! The events have the shape of `make bench`'s (integration-tests/bench/run.py): timed events
//! in Europe/Berlin with an organizer, an attendee and an alarm, 15% weekly with COUNT, 5%
//! all-day, spread over two years from 2026-01-01. They are generated here, not read from
//! files, with a fixed seed so every run measures the same calendar.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use calendar::filter::{CompFilter, CompTest, TimeRange};
use calendar::query::{matches, QueryContext};
use calendar::recurrence::{instances, Window};
use calendar::zones::{Zone, Zones};
use calendar::{parse_calendar, parse_utc, validate_object, write_component, Component};
use chrono::{Duration as Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n\
END:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n\
DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

const WORDS: [&str; 14] = [
    "planning", "review", "sync", "budget", "design", "hiring", "offsite", "retro", "launch", "demo", "customer",
    "call", "lunch", "dentist",
];

/// A meeting as Thunderbird or iOS PUTs it: VTIMEZONE, organizer and four attendees with
/// parameters, a folded description, and an alarm.
const MEETING: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n\
CALSCALE:GREGORIAN\r\n{TZ}BEGIN:VEVENT\r\nCREATED:20261102T081512Z\r\nLAST-MODIFIED:20261102T083047Z\r\n\
DTSTAMP:20261102T083047Z\r\nUID:8d3c6c0e-2f4b-4a61-9b7e-5e0f3a1c2d4b\r\nSUMMARY:Quarterly planning review\r\n\
ORGANIZER;CN=Alice Example:mailto:alice@example.com\r\n\
ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.com\r\n\
ATTENDEE;CN=Bob Example;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:bob@example.com\r\n\
ATTENDEE;CN=Carol Example;PARTSTAT=TENTATIVE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:carol@example.com\r\n\
ATTENDEE;CN=Meeting Room 4.11;CUTYPE=ROOM;PARTSTAT=ACCEPTED;ROLE=NON-PARTICIPANT:mailto:room-4.11@exam\r\n\x20\
ple.com\r\nDTSTART;TZID=Europe/Berlin:20261116T140000\r\nDTEND;TZID=Europe/Berlin:20261116T153000\r\n\
LOCATION:Room 4.11\\, second floor\r\nDESCRIPTION:Agenda:\\n1. Numbers of the last quarter\\n2. Hiring plan\r\n\x20\
\\n3. Offsite dates\\n\\nPlease bring the budget sheet.\r\nSEQUENCE:2\r\nSTATUS:CONFIRMED\r\n\
TRANSP:OPAQUE\r\nCLASS:PUBLIC\r\nX-MOZ-GENERATION:3\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n\
TRIGGER;VALUE=DURATION:-PT15M\r\nDESCRIPTION:Default Mozilla Description\r\nEND:VALARM\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

/// A weekly Monday meeting since January 2026: one week cancelled (EXDATE), one moved to the
/// Tuesday (an override with RECURRENCE-ID), as clients write them.
const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{TZ}BEGIN:VEVENT\r\n\
UID:weekly-standup@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Team sync\r\n\
DTSTART;TZID=Europe/Berlin:20260105T093000\r\nDTEND;TZID=Europe/Berlin:20260105T100000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE;TZID=Europe/Berlin:20270208T093000\r\n\
ORGANIZER;CN=Alice:mailto:alice@example.com\r\nATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly-standup@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Team sync (moved)\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20270315T093000\r\nDTSTART;TZID=Europe/Berlin:20270316T110000\r\n\
DTEND;TZID=Europe/Berlin:20270316T113000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn with_timezone(template: &str) -> String {
    template.replace("{TZ}", BERLIN)
}

/// splitmix64: a fixed-seed generator, so the calendar is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
    fn words(&mut self, count: usize) -> String {
        (0..count).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

/// `count` events of `make bench`'s shape (see the module comment).
fn bench_events(count: usize) -> Vec<String> {
    let mut rng = Rng(4711);
    let base = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (0..count)
        .map(|n| {
            let day = base + Days::days(rng.below(730) as i64);
            let kind = rng.unit();
            let mut lines = vec![
                format!("UID:bench-{n:05}@example.com"),
                "DTSTAMP:20260101T000000Z".to_owned(),
                format!("SUMMARY:{}", rng.words(3)),
                format!("DESCRIPTION:{}", rng.words(30)),
                "LOCATION:Room 4.11".to_owned(),
            ];
            if kind < 0.05 {
                lines.push(format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")));
                lines.push(format!("DTEND;VALUE=DATE:{}", (day + Days::days(1)).format("%Y%m%d")));
                lines.push("TRANSP:TRANSPARENT".to_owned());
            } else {
                let minute = [0, 15, 30, 45][rng.below(4) as usize];
                let start = day.and_hms_opt(7 + rng.below(12) as u32, minute, 0).unwrap();
                let end = start + Days::minutes([15, 30, 60, 90][rng.below(4) as usize]);
                lines.push(format!("DTSTART;TZID=Europe/Berlin:{}", start.format("%Y%m%dT%H%M%S")));
                lines.push(format!("DTEND;TZID=Europe/Berlin:{}", end.format("%Y%m%dT%H%M%S")));
                if kind < 0.20 {
                    lines.push(format!("RRULE:FREQ=WEEKLY;COUNT={}", 4 + rng.below(26)));
                }
                lines.push("ORGANIZER;CN=Alice:mailto:alice@example.com".to_owned());
                lines.push("ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com".to_owned());
            }
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{BERLIN}BEGIN:VEVENT\r\n{}\r\n\
                 BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n\
                 END:VEVENT\r\nEND:VCALENDAR\r\n",
                lines.join("\r\n")
            )
        })
        .collect()
}

/// Short, so `make microbench` takes about a minute on a shared two-core machine.
fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

fn validate(c: &mut Criterion) {
    let meeting = with_timezone(MEETING);
    let object = validate_object(meeting.as_bytes()).unwrap();
    let event = object.calendar.components_named("VEVENT").next().unwrap();
    let attendees: Vec<&str> = event.properties_named("ATTENDEE").map(|a| a.value.as_str()).collect();
    assert_eq!(attendees.len(), 4);
    assert_eq!(attendees[3], "mailto:room-4.11@example.com", "the folded line unfolds");
    let generated = bench_events(1).remove(0);
    validate_object(generated.as_bytes()).unwrap();
    let mut group = c.benchmark_group("validate_object");
    for (name, body) in [("meeting_vtimezone_4_attendees_valarm", &meeting), ("bench_event", &generated)] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| validate_object(black_box(body.as_bytes()))));
    }
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let meeting = with_timezone(MEETING);
    let parsed = parse_calendar(&meeting).unwrap();
    // Writing refolds lines, so compare trees, not texts.
    assert_eq!(parse_calendar(&write_component(&parsed)).unwrap(), parsed);
    let mut group = c.benchmark_group("ical_round_trip");
    group.throughput(Throughput::Bytes(meeting.len() as u64));
    group.bench_function("parse", |b| b.iter(|| parse_calendar(black_box(&meeting))));
    group.bench_function("write", |b| b.iter(|| write_component(black_box(&parsed))));
    group.bench_function("parse_and_write", |b| {
        b.iter(|| write_component(&parse_calendar(black_box(&meeting)).unwrap()))
    });
    group.finish();
}

fn recurrence(c: &mut Criterion) {
    let weekly = parse_calendar(&with_timezone(WEEKLY)).unwrap();
    let zones = Zones::new(&weekly, Zone::utc());
    let events: Vec<&Component> = weekly.components_named("VEVENT").collect();
    let year = Window { start: parse_utc("20270101T000000Z"), end: parse_utc("20280101T000000Z") };
    let found = instances(&events, &zones, year, 100_000).unwrap();
    // 52 Mondays in 2027, one cancelled; the moved one still counts once.
    assert_eq!(found.len(), 51, "{found:?}");
    let mut group = c.benchmark_group("recurrence_expand");
    group.throughput(Throughput::Elements(found.len() as u64));
    group.bench_function("weekly_exdate_override_one_year", |b| {
        b.iter(|| instances(black_box(&events), &zones, year, 100_000))
    });
    group.finish();
}

fn calendar_query(c: &mut Criterion) {
    let bodies = bench_events(1_000);
    let parsed: Vec<Component> = bodies.iter().map(|b| parse_calendar(b).unwrap()).collect();
    // make bench's month query: VEVENTs overlapping March 2027.
    let filter = CompFilter {
        name: "VCALENDAR".into(),
        test: CompTest::Matches {
            time_range: None,
            props: Vec::new(),
            comps: vec![CompFilter {
                name: "VEVENT".into(),
                test: CompTest::Matches {
                    time_range: Some(TimeRange {
                        start: parse_utc("20270301T000000Z"),
                        end: parse_utc("20270401T000000Z"),
                    }),
                    props: Vec::new(),
                    comps: Vec::new(),
                },
            }],
        },
    };
    let cx = QueryContext { floating: Zone::utc(), max_instances: 100_000 };
    let count = |calendars: &[Component]| calendars.iter().filter(|c| matches(c, &filter, &cx).unwrap()).count();
    let matched = count(&parsed);
    assert!((20..200).contains(&matched), "{matched} of 1000 in March 2027");
    let mut group = c.benchmark_group("calendar_query_month");
    // Milliseconds per iteration: fewer, flat samples fit the three seconds.
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(parsed.len() as u64));
    group.bench_function("match_1000_parsed", |b| b.iter(|| count(black_box(&parsed))));
    // What the gateway does today for each candidate: parse the stored body, then match.
    group.bench_function("parse_and_match_1000", |b| {
        b.iter(|| {
            black_box(&bodies)
                .iter()
                .filter(|body| matches(&parse_calendar(body).unwrap(), &filter, &cx).unwrap())
                .count()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = validate, round_trip, recurrence, calendar_query
}
criterion_main!(benches);
