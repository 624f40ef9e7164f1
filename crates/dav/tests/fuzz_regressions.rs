//! Replays what the fuzzers found (`fuzz/regressions/<target>/`, issue 8; see fuzz/README.md):
//! each input through the same call as its fuzz target, which must answer without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use dav::path::ResourcePath;

/// Inputs that still panic, each waiting on the fix its ignored test below names. Whoever fixes
/// one removes it here and un-ignores its test.
const OPEN: &[&str] = &[];

/// The call a fuzz target makes with one input.
type Call = fn(&[u8]);

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

/// What libFuzzer's `&str` argument receives: the longest valid UTF-8 prefix of the input.
fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap(),
    }
}

fn regressions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

/// `(target/name, bytes)` of every regression input of `target`, sorted by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(regressions().join(target)) else { return Vec::new() };
    let mut found: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (format!("{target}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(&p).unwrap()))
        .collect();
    found.sort();
    found
}

fn input(name: &str) -> Vec<u8> {
    std::fs::read(regressions().join(name)).unwrap()
}

#[test]
fn every_fixed_fuzz_regression_is_answered_without_a_panic() {
    let mut replayed = 0;
    let mut panicked = Vec::new();
    for (target, call) in TARGETS {
        for (name, data) in inputs(target) {
            if OPEN.contains(&name.as_str()) {
                continue;
            }
            replayed += 1;
            if catch_unwind(AssertUnwindSafe(|| call(&data))).is_err() {
                panicked.push(name);
            }
        }
    }
    assert!(panicked.is_empty(), "panicked on {panicked:?}");
    eprintln!("{replayed} fuzz regression inputs replayed");
}

#[test]
fn open_fuzz_regressions_name_existing_inputs() {
    for name in OPEN {
        assert!(regressions().join(name).is_file(), "{name} is listed in OPEN but missing");
    }
}

#[test]
fn href_with_a_multibyte_character_at_the_scheme_length() {
    dav_path(&input("dav_path/non-ascii-at-scheme-length"));
    dav_path(&input("dav_path/non-ascii-at-scheme-length-minimal"));
}
