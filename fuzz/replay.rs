//! The replay harness shared by each crate's `tests/fuzz_regressions.rs` (included there with
//! `#[path]`): reads `fuzz/regressions/<target>/` and runs every input through the calls its
//! fuzz target makes, which must answer without panicking.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// The call a fuzz target makes with one input.
pub type Call = fn(&[u8]);

/// What libFuzzer's `&str` argument receives: the longest valid UTF-8 prefix of the input.
pub fn utf8_prefix(data: &[u8]) -> &str {
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

/// The bytes of one regression input, `target/name`.
pub fn input(name: &str) -> Vec<u8> {
    std::fs::read(regressions().join(name)).unwrap()
}

/// Replays every input of `targets` except those `open` names (inputs that still panic,
/// each waiting on the fix its ignored test names).
pub fn every_fixed_input_answers_without_a_panic(targets: &[(&str, Call)], open: &[&str]) {
    let mut replayed = 0;
    let mut panicked = Vec::new();
    for (target, call) in targets {
        for (name, data) in inputs(target) {
            if open.contains(&name.as_str()) {
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

/// Whoever fixes an open input removes it from the list; a listed input must exist.
pub fn open_inputs_exist(open: &[&str]) {
    for name in open {
        assert!(regressions().join(name).is_file(), "{name} is listed in OPEN but missing");
    }
}
