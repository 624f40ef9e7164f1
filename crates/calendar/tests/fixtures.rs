//! Every fixture under `tests/fixtures/{valid,invalid}` is checked against its `.expected`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::{Path, PathBuf};

use calendar::{validate_object, ComponentKind, Violation};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

fn expected(ics: &Path) -> String {
    std::fs::read_to_string(ics.with_extension("expected"))
        .unwrap_or_else(|_| panic!("{} has no .expected", ics.display()))
}

#[test]
fn valid_fixtures_validate_with_the_expected_uid_and_component() {
    for path in fixtures("valid") {
        let object =
            validate_object(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let component = match object.component {
            ComponentKind::Event => "Event",
            ComponentKind::Todo => "Todo",
            ComponentKind::Journal => "Journal",
            ComponentKind::FreeBusy => "FreeBusy",
        };
        assert_eq!(format!("uid={}\ncomponent={component}\n", object.uid), expected(&path), "{}", path.display());
    }
}

#[test]
fn invalid_fixtures_fail_with_the_expected_precondition() {
    for path in fixtures("invalid") {
        let error = validate_object(&std::fs::read(&path).unwrap())
            .err()
            .unwrap_or_else(|| panic!("{} validated", path.display()));
        let precondition = match error.precondition() {
            Violation::ValidCalendarData => "valid-calendar-data",
            Violation::ValidCalendarObjectResource => "valid-calendar-object-resource",
            Violation::SupportedCalendarComponent => "supported-calendar-component",
        };
        assert_eq!(format!("{precondition}\n"), expected(&path), "{}: {error}", path.display());
    }
}

#[test]
fn every_expected_file_has_its_fixture() {
    for kind in ["valid", "invalid"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(kind);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "expected") {
                assert!(path.with_extension("ics").exists(), "orphaned {}", path.display());
            }
        }
    }
}

/// Truncations and byte mutations of every fixture must give Ok or Err, never a panic.
#[test]
fn no_prefix_or_mutation_of_a_fixture_panics() {
    for path in fixtures("valid").into_iter().chain(fixtures("invalid")) {
        let bytes = std::fs::read(&path).unwrap();
        for end in 0..bytes.len() {
            let _ = validate_object(&bytes[..end]);
        }
        for (i, replacement) in [b':', b';', b'"', b'\n', b' ', b'=', 0xff].iter().cycle().take(bytes.len()).enumerate()
        {
            let mut mutated = bytes.clone();
            mutated[i] = *replacement;
            let _ = validate_object(&mutated);
        }
    }
}
