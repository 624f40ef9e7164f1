//! The request-path and href normaliser (RFC 4918 §8.3): any string gives `Ok` or `Err`, and
//! a parsed path's canonical href parses back to the same path.
#![no_main]

use dav::path::ResourcePath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|href: &str| {
    if let Ok(path) = ResourcePath::parse_href(href) {
        assert_eq!(ResourcePath::parse(&path.href()).as_ref(), Ok(&path), "href {:?}", path.href());
    }
});
