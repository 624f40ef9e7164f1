//! The iCalendar reader (RFC 5545 §3.1 unfolding, BEGIN/END nesting) and the writer on what it
//! read: any text gives `Ok` or `Err`, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(calendar) = calendar::parse_calendar(text) {
        let _ = calendar::write_component(&calendar);
    }
});
