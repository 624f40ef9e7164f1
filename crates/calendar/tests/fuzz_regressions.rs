//! Replays what the fuzzers found (`fuzz/regressions/<target>/`, issue 8; see fuzz/README.md):
//! each input through the same calls as its fuzz target, which must answer without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::{input, utf8_prefix, Call};

use calendar::filter::TimeRange;
use calendar::zones::Zone;
use chrono::{TimeZone, Utc};

/// Inputs that still panic, each waiting on the fix its ignored test below names. Whoever fixes
/// one removes it here and un-ignores its test.
const OPEN: &[&str] = &[];

/// Each fuzz target of this crate and the calls it makes.
const TARGETS: &[(&str, Call)] = &[("calendar_parse", calendar_parse), ("calendar_validate", calendar_validate)];

/// fuzz/fuzz_targets/calendar_parse.rs
fn calendar_parse(data: &[u8]) {
    if let Ok(calendar) = calendar::parse_calendar(utf8_prefix(data)) {
        let _ = calendar::write_component(&calendar);
    }
}

/// fuzz/fuzz_targets/calendar_validate.rs: the same cap and range.
fn calendar_validate(data: &[u8]) {
    const MAX_INSTANCES: usize = 200;
    let Ok(object) = calendar::validate_object(data) else { return };
    let _ = object.span(MAX_INSTANCES);
    let range = TimeRange {
        start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single(),
        end: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single(),
    };
    let _ = calendar::retrieval::expand(&object.calendar, &range, Zone::utc(), MAX_INSTANCES);
}

#[test]
fn every_fixed_fuzz_regression_is_answered_without_a_panic() {
    replay::every_fixed_input_answers_without_a_panic(TARGETS, OPEN);
}

#[test]
fn open_fuzz_regressions_name_existing_inputs() {
    replay::open_inputs_exist(OPEN);
}

#[test]
fn duration_of_fifteen_million_weeks() {
    calendar_validate(&input("calendar_validate/huge-duration.ics"));
}

#[test]
fn duration_whose_parts_sum_past_the_maximum() {
    calendar_validate(&input("calendar_validate/duration-sum-overflow.ics"));
}
