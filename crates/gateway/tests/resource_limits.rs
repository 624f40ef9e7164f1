//! Per-resource limits a PUT is checked against and a calendar advertises: attendees per
//! instance (RFC 4791 §5.2.9, §5.3.2.1) and attachments (RFC 8607's max-attachments-per-resource
//! and max-attachment-size). In process through `gateway::app()` on the embedded store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use base64::Engine;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use store_embedded::EmbeddedBackend;
use tower::ServiceExt;

const LIMITS: &str =
    "[limits]\nmax_attendees_per_instance = 3\nmax_attachments_per_resource = 2\nmax_attachment_size = 8\n";

async fn app() -> Router {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("alice", "secret", None, None).await.unwrap();
    let config = gateway::config::Config::load(LIMITS, []).unwrap();
    gateway::app(gateway::AppState::new(Arc::new(backend), &config))
}

fn request(method: &str, uri: &str, body: impl Into<Body>) -> Request<Body> {
    let token = base64::engine::general_purpose::STANDARD.encode("alice:secret");
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Basic {token}"))
        .header("content-type", "text/calendar")
        .body(body.into())
        .unwrap()
}

/// An event named `name` whose VEVENT carries `lines` besides its required properties.
fn put(name: &str, lines: &[&str]) -> Request<Body> {
    let extra: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    let body = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{name}\r\n\
         DTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    request("PUT", &format!("/dav/calendars/alice/calendar/{name}.ics"), body)
}

async fn status_and_text(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn attendees_over_the_limit_of_one_instance_are_refused_with_max_attendees_per_instance() {
    let app = app().await;
    let three = ["ATTENDEE:mailto:a@example.com", "ATTENDEE:mailto:b@example.com", "ATTENDEE:mailto:c@example.com"];
    let (status, _) = status_and_text(&app, put("three", &three)).await;
    assert_eq!(status, StatusCode::CREATED);

    let four = [&three[..], &["ATTENDEE:mailto:d@example.com"]].concat();
    let (status, text) = status_and_text(&app, put("four", &four)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("<C:max-attendees-per-instance/>"), "{text}");
    let (status, _) = status_and_text(&app, request("GET", "/dav/calendars/alice/calendar/four.ics", "")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn attachments_over_the_count_or_size_are_refused_alarm_sounds_do_not_count() {
    let app = app().await;
    let two = ["ATTACH:https://example.com/a.pdf", "ATTACH:https://example.com/b.pdf"];
    let alarm = ["BEGIN:VALARM", "ACTION:AUDIO", "TRIGGER:-PT5M", "ATTACH:https://example.com/bell.aud", "END:VALARM"];
    let (status, _) = status_and_text(&app, put("two", &[&two[..], &alarm[..]].concat())).await;
    assert_eq!(status, StatusCode::CREATED);

    let three = [&two[..], &["ATTACH:https://example.com/c.pdf"]].concat();
    let (status, text) = status_and_text(&app, put("three", &three)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("<C:max-attachments-per-resource/>"), "{text}");

    // 11 octets inline, over the 8 allowed.
    let big = ["ATTACH;ENCODING=BASE64;VALUE=BINARY:aGVsbG8gd29ybGQ="];
    let (status, text) = status_and_text(&app, put("big", &big)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("<C:max-attachment-size/>"), "{text}");
}

#[tokio::test]
async fn a_calendar_advertises_its_per_resource_limits() {
    let app = app().await;
    let body = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
                <D:prop><C:max-attendees-per-instance/><C:max-attachments-per-resource/><C:max-attachment-size/>\
                </D:prop></D:propfind>";
    let mut propfind = request("PROPFIND", "/dav/calendars/alice/calendar/", body);
    propfind.headers_mut().insert("depth", "0".parse().unwrap());
    let (status, text) = status_and_text(&app, propfind).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(text.contains("<C:max-attendees-per-instance>3</C:max-attendees-per-instance>"), "{text}");
    assert!(text.contains("<C:max-attachments-per-resource>2</C:max-attachments-per-resource>"), "{text}");
    assert!(text.contains("<C:max-attachment-size>8</C:max-attachment-size>"), "{text}");
}
