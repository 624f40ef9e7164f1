//! The PROPPATCH propertyupdate body (RFC 4918 §9.2) parser: any bytes give `Ok` or `Err`, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = dav::request::parse_propertyupdate(body);
});
