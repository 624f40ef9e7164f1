//! Replays what the fuzzers found (`fuzz/regressions/<target>/`, issue 8; see fuzz/README.md):
//! each input through the same call as its fuzz target, which must answer without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::{input, utf8_prefix, Call};

use dav::path::ResourcePath;

/// Inputs that still panic, each waiting on the fix its ignored test below names. Whoever fixes
/// one removes it here and un-ignores its test.
const OPEN: &[&str] = &[];

/// Each fuzz target of this crate and the call it makes.
const TARGETS: &[(&str, Call)] = &[
    ("dav_propfind", |body| drop(dav::request::parse_propfind(body))),
    ("dav_proppatch", |body| drop(dav::request::parse_propertyupdate(body))),
    ("dav_report", |body| drop(dav::request::parse_report(body))),
    ("dav_mkcalendar", |body| drop(dav::request::parse_mkcalendar(body))),
    ("dav_path", dav_path),
];

fn dav_path(data: &[u8]) {
    let href = utf8_prefix(data);
    if let Ok(path) = ResourcePath::parse_href(href) {
        assert_eq!(ResourcePath::parse(&path.href()).as_ref(), Ok(&path), "href {:?}", path.href());
    }
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
fn href_with_a_multibyte_character_at_the_scheme_length() {
    dav_path(&input("dav_path/non-ascii-at-scheme-length"));
    dav_path(&input("dav_path/non-ascii-at-scheme-length-minimal"));
}
