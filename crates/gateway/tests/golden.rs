//! Golden request/response fixtures for the DAV layer, run in process through `gateway::app()`
//! on a fresh embedded store per scenario.
//!
//! `tests/golden/<scenario>/NN-<step>.request` is a raw HTTP request (request line, headers,
//! blank line, body). Requests are sent as user `alice` unless they carry their own
//! `Authorization` header or `X-Golden-Anonymous: 1`. The response is compared with
//! `NN-<step>.response`: status line, the headers in `COMPARED_HEADERS`, and the body, with
//! values that differ between runs (ETags, ctags, sync tokens, dates, free-busy DTSTAMPs) masked. Only
//! `UPDATE_GOLDEN=1` rewrites the `.response` files; a scenario's `gateway.toml`, if any, is
//! added to its configuration; a `.request` without `.response`, or the
//! other way round, fails.
//!
//! Requests may use `{last-etag}` (the ETag header of the latest response that had one) and
//! `{last-sync-token}` (the latest `<D:sync-token>` seen), and `{last-schedule-tag}` (the latest
//! Schedule-Tag header or `<C:schedule-tag>` value, RFC 6638 §3.2.10), so incremental steps can
//! be written. Schedule-Tags are digests of the content, the same on every run: not masked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use base64::Engine;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use store_embedded::EmbeddedBackend;
use tower::ServiceExt;

const COMPARED_HEADERS: &[&str] =
    &["content-type", "dav", "allow", "etag", "location", "www-authenticate", "retry-after", "schedule-tag"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[tokio::test]
async fn golden_scenarios() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut scenarios: Vec<PathBuf> =
        std::fs::read_dir(golden_dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    scenarios.sort();
    assert!(!scenarios.is_empty(), "no golden scenarios found");
    let mut failures = Vec::new();
    for scenario in scenarios {
        failures.extend(run_scenario(&scenario, update).await);
    }
    assert!(failures.is_empty(), "golden mismatches:\n{}", failures.join("\n"));
}

async fn run_scenario(dir: &Path, update: bool) -> Vec<String> {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("alice", "secret", Some("Alice Example"), Some("alice@example.com")).await.unwrap();
    backend.add_user("bob", "secret", Some("Bob Example"), Some("bob@example.com")).await.unwrap();
    // A scenario may bring settings of its own (e.g. scheduling turned off).
    let extra = std::fs::read_to_string(dir.join("gateway.toml")).unwrap_or_default();
    let config_text = format!("[limits]\nmax_request_body = 65536\nmax_resource_size = 16384\n{extra}");
    let config = gateway::config::Config::load(&config_text, []).unwrap();
    let app = gateway::app(gateway::AppState::new(Arc::new(backend), &config));

    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let mut failures = Vec::new();
    let mut last_etag = String::new();
    let mut last_sync_token = String::new();
    let mut last_schedule_tag = String::new();
    for path in &entries {
        let ext = path.extension().and_then(|e| e.to_str());
        if ext == Some("response") && !path.with_extension("request").exists() {
            failures.push(format!("{}: orphaned response fixture", path.display()));
        }
    }
    for request_path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "request")) {
        let text = std::fs::read_to_string(request_path)
            .unwrap()
            .replace("{last-etag}", &last_etag)
            .replace("{last-sync-token}", &last_sync_token)
            .replace("{last-schedule-tag}", &last_schedule_tag);
        let response = app.clone().oneshot(parse_request(&text)).await.unwrap();
        if let Some(etag) = response.headers().get("etag") {
            last_etag = etag.to_str().unwrap().trim_matches('"').to_owned();
        }
        if let Some(tag) = response.headers().get("schedule-tag") {
            last_schedule_tag = tag.to_str().unwrap().trim_matches('"').to_owned();
        }
        let (actual, raw_body) = render_response(response).await;
        if let Some(token) = between(&raw_body, "<D:sync-token>", "</D:sync-token>") {
            last_sync_token = token.to_owned();
        }
        if let Some(tag) = between(&raw_body, "<C:schedule-tag>", "</C:schedule-tag>") {
            last_schedule_tag = tag.replace("&quot;", "").trim_matches('"').to_owned();
        }
        let expected_path = request_path.with_extension("response");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                failures.push(format!("{}:\n--- expected\n{expected}\n--- actual\n{actual}", request_path.display()))
            }
            Err(_) => failures.push(format!("{}: no .response fixture (run make golden)", request_path.display())),
        }
    }
    failures
}

fn parse_request(text: &str) -> Request<Body> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap();
    let uri = parts.next().unwrap();
    let mut builder = Request::builder().method(method).uri(uri);
    let mut anonymous = false;
    let mut has_auth = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        let value = value.trim();
        if name.eq_ignore_ascii_case("x-golden-anonymous") {
            anonymous = true;
            continue;
        }
        has_auth |= name.eq_ignore_ascii_case("authorization");
        builder = builder.header(name, value);
    }
    if !anonymous && !has_auth {
        let token = base64::engine::general_purpose::STANDARD.encode("alice:secret");
        builder = builder.header("authorization", format!("Basic {token}"));
    }
    // Fixtures are written with LF; iCalendar bodies need CRLF on the wire.
    let body = if body.contains("BEGIN:VCALENDAR") { body.replace('\n', "\r\n") } else { body.to_owned() };
    builder.body(Body::from(body)).unwrap()
}

/// The masked rendering, and the raw body.
async fn render_response(response: axum::response::Response) -> (String, String) {
    let status = response.status();
    let mut out = format!("HTTP/1.1 {} {}\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    for name in COMPARED_HEADERS {
        if let Some(value) = response.headers().get(*name) {
            let value = value.to_str().unwrap();
            let value = if *name == "etag" { "\"{etag}\"".to_string() } else { value.to_string() };
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    out.push('\n');
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(bytes.to_vec()).unwrap().replace("\r\n", "\n");
    out.push_str(&mask(&body));
    if status != StatusCode::NO_CONTENT && !out.ends_with('\n') {
        out.push('\n');
    }
    (out, body)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)?;
    Some(&text[start..start + end])
}

/// Masks what differs between runs, keeping the structure visible.
fn mask(body: &str) -> String {
    let mut text = body.to_owned();
    for (open, close, placeholder) in [
        ("<D:getetag>", "</D:getetag>", "{etag}"),
        ("<CS:getctag>", "</CS:getctag>", "{ctag}"),
        ("<D:sync-token>", "</D:sync-token>", "{sync-token}"),
        ("<D:getlastmodified>", "</D:getlastmodified>", "{date}"),
        // A free-busy answer is stamped with the time it was computed (RFC 4791 §7.10).
        ("BEGIN:VFREEBUSY\nDTSTAMP:", "\n", "{now}"),
        // The same inside a schedule-response's calendar-data, where CR is a character reference.
        ("BEGIN:VFREEBUSY&#13;\nDTSTAMP:", "&#13;", "{now}"),
    ] {
        text = mask_between(&text, open, close, placeholder);
    }
    text
}

fn mask_between(text: &str, open: &str, close: &str, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = start + open.len();
        match rest[after..].find(close) {
            Some(end) => {
                out.push_str(&rest[..after]);
                out.push_str(placeholder);
                rest = &rest[after + end..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}
