#!/usr/bin/env python3
"""Fills corpus/<target>/ with seeds taken from the project's own fixtures.

Run by `make fuzz` / `make fuzz-short` before fuzzing; adds files, never removes the inputs
libFuzzer has already found. Sources: the gateway's golden HTTP exchanges
(crates/gateway/tests/golden/*/*.request: bodies by method, request paths), the XML bodies
in the dav parsers' unit tests, the calendar fixtures (crates/calendar/tests/fixtures/**/*.ics),
and the regression inputs in fuzz/regressions/<target>/.
"""

import hashlib
import pathlib
import re

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
GOLDEN = ROOT / "crates/gateway/tests/golden"
CALENDAR_FIXTURES = ROOT / "crates/calendar/tests/fixtures"

# Tokens as the gateway issues them (gateway/src/sync_token.rs), and foreign ones.
SYNC_TOKENS = [
    "urn:x-caldav-gateway:sync:a1b2-17",
    "urn:x-caldav-gateway:sync:J%2F42%3Ax%20y",
    "urn:x-caldav-gateway:sync:%C3%BCn%C3%AFcode",
    "  urn:x-caldav-gateway:sync:7\n",
    "urn:x-caldav-gateway:sync:%FF",
    "http://example.com/ns/sync/1234",
]

BODY_TARGETS = {
    "PROPFIND": "dav_propfind",
    "PROPPATCH": "dav_proppatch",
    "REPORT": "dav_report",
    "MKCALENDAR": "dav_mkcalendar",
    "MKCOL": "dav_mkcalendar",
    "PUT": "calendar_validate",
}


def add(target: str, data: bytes) -> None:
    directory = FUZZ / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = directory / name
    if not path.exists():
        path.write_bytes(data)


def golden_requests() -> None:
    for request in sorted(GOLDEN.glob("*/*.request")):
        raw = request.read_bytes()
        head, _, body = raw.partition(b"\n\n")
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if len(line) < 2:
            continue
        method, path = line[0], line[1]
        add("dav_path", path.encode())
        add("dav_path", b"https://gateway.example" + path.encode())
        target = BODY_TARGETS.get(method)
        if target and body.strip():
            add(target, body)
            if target == "calendar_validate":
                add("calendar_parse", body)
        for href in re.findall(rb"<[A-Za-z]*:?href>([^<]*)</", body):
            add("dav_path", href)


def dav_unit_test_bodies() -> None:
    """The XML bodies written as raw strings in the dav parsers' own unit tests."""
    sources = {
        "propfind.rs": "dav_propfind",
        "proppatch.rs": "dav_proppatch",
        "report.rs": "dav_report",
        "calendar_query.rs": "dav_report",
        "calendar_data.rs": "dav_report",
        "mkcalendar.rs": "dav_mkcalendar",
    }
    for name, target in sources.items():
        source = ROOT / "crates/dav/src/request" / name
        if source.exists():
            for body in re.findall(r'r#"(.*?)"#', source.read_text(), re.S):
                if "<" in body:
                    add(target, body.encode())


def calendar_fixtures() -> None:
    for ics in sorted(CALENDAR_FIXTURES.rglob("*.ics")):
        data = ics.read_bytes()
        add("calendar_validate", data)
        add("calendar_parse", data)


def regressions() -> None:
    for target_dir in sorted((FUZZ / "regressions").glob("*")):
        for case in sorted(target_dir.glob("*")):
            if case.is_file():
                add(target_dir.name, case.read_bytes())


def main() -> None:
    golden_requests()
    dav_unit_test_bodies()
    calendar_fixtures()
    for token in SYNC_TOKENS:
        add("sync_token", token.encode())
    regressions()
    for target in sorted((FUZZ / "corpus").iterdir()):
        print(f"seed: {target.name}: {sum(1 for _ in target.iterdir())} inputs")


if __name__ == "__main__":
    main()
