//! The REPORT body: calendar-query, calendar-multiget, sync-collection, free-busy-query (RFC 4791 §7, RFC 6578 §3) parser: any bytes give `Ok` or `Err`, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = dav::request::parse_report(body);
});
