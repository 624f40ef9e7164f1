//! A PUT body through what the gateway does with it: the RFC 4791 §4.1 checks, then the
//! instance span for the query index and an RFC 4791 §9.6.5 expand over one year, both with a
//! small instance cap so an endless RRULE is bounded work, as in the gateway.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

const MAX_INSTANCES: usize = 200;

fuzz_target!(|body: &[u8]| {
    let Ok(object) = calendar::validate_object(body) else { return };
    let _ = object.span(MAX_INSTANCES);
    let range = calendar::filter::TimeRange {
        start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single(),
        end: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single(),
    };
    let _ = calendar::retrieval::expand(&object.calendar, &range, calendar::zones::Zone::utc(), MAX_INSTANCES);
});
