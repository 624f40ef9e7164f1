//! Behaviour of the whole app that golden files cannot show: concurrency, caching of logins,
//! a backend that is down. In process through `gateway::app()` on the real embedded store;
//! the wrappers below only count calls or inject an outage around it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::Router;
use base64::Engine;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use store::{Backend, Credentials, Session, StoreError};
use store_embedded::EmbeddedBackend;
use tower::ServiceExt;

/// Counts logins that reach the real backend.
struct CountingBackend {
    inner: EmbeddedBackend,
    logins: AtomicUsize,
}

#[async_trait]
impl Backend for CountingBackend {
    async fn login(&self, credentials: &Credentials) -> Result<Arc<dyn Session>, StoreError> {
        self.logins.fetch_add(1, Ordering::SeqCst);
        self.inner.login(credentials).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A mail system that cannot be reached.
struct DownBackend;

#[async_trait]
impl Backend for DownBackend {
    async fn login(&self, _: &Credentials) -> Result<Arc<dyn Session>, StoreError> {
        Err(StoreError::unavailable("connection refused"))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(StoreError::unavailable("connection refused"))
    }
}

async fn embedded_with_alice() -> EmbeddedBackend {
    let backend = EmbeddedBackend::temporary().await.unwrap();
    backend.add_user("alice", "secret", None, None).await.unwrap();
    backend
}

fn app_with(backend: Arc<dyn Backend>, config_toml: &str) -> Router {
    let config = gateway::config::Config::load(config_toml, []).unwrap();
    gateway::app(gateway::AppState::new(backend, &config))
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let token = base64::engine::general_purpose::STANDARD.encode("alice:secret");
    let mut builder = Request::builder().method(method).uri(uri).header("authorization", format!("Basic {token}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

fn event(summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:race@example.com\r\n\
         DTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn concurrent_puts_with_the_same_if_match_have_exactly_one_winner() {
    let app = app_with(Arc::new(embedded_with_alice().await), "");
    let uri = "/dav/calendars/alice/calendar/race.ics";
    let created = app
        .clone()
        .oneshot(request("PUT", uri, &[("content-type", "text/calendar")], event("original")))
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();

    let mut tasks = Vec::new();
    for n in 0..20 {
        let app = app.clone();
        let etag = etag.clone();
        tasks.push(tokio::spawn(async move {
            let headers = [("content-type", "text/calendar"), ("if-match", etag.as_str())];
            app.oneshot(request("PUT", uri, &headers, event(&format!("writer {n}")))).await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let winners = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
    let losers = statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count();
    assert_eq!((winners, losers), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn a_burst_of_requests_is_one_login() {
    let backend = Arc::new(CountingBackend { inner: embedded_with_alice().await, logins: AtomicUsize::new(0) });
    let app = app_with(backend.clone(), "");
    for _ in 0..10 {
        let response = app
            .clone()
            .oneshot(request("PROPFIND", "/dav/calendars/alice/", &[("depth", "1")], Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    }
    assert_eq!(backend.logins.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wrong_password_is_never_served_from_the_session_cache() {
    let app = app_with(Arc::new(embedded_with_alice().await), "");
    let ok = app.clone().oneshot(request("PROPFIND", "/dav/", &[("depth", "0")], Body::empty())).await.unwrap();
    assert_eq!(ok.status(), StatusCode::MULTI_STATUS);
    let wrong = base64::engine::general_purpose::STANDARD.encode("alice:guess");
    let response = app
        .oneshot(
            Request::builder()
                .method("PROPFIND")
                .uri("/dav/")
                .header("authorization", format!("Basic {wrong}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic realm="));
}

#[tokio::test]
async fn backend_outage_is_503_with_retry_after_not_401() {
    let app = app_with(Arc::new(DownBackend), "");
    let response = app.oneshot(request("PROPFIND", "/dav/", &[("depth", "0")], Body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_and_stores_nothing() {
    let app = app_with(
        Arc::new(embedded_with_alice().await),
        "[limits]\nmax_request_body = 4096\nmax_resource_size = 4096\n",
    );
    // A streamed body has no Content-Length, so the limit must hold while reading.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..10).map(|_| Ok(bytes::Bytes::from(vec![b'x'; 1024]))).collect();
    let body = Body::from_stream(tokio_stream::iter(chunks));
    let response = app
        .clone()
        .oneshot(request("PUT", "/dav/calendars/alice/calendar/big.ics", &[("content-type", "text/calendar")], body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let listing = app
        .oneshot(request("PROPFIND", "/dav/calendars/alice/calendar/", &[("depth", "1")], Body::empty()))
        .await
        .unwrap();
    let text = String::from_utf8(listing.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(!text.contains("big.ics"), "{text}");
}

#[tokio::test]
async fn a_bounded_recurrence_over_max_instances_is_refused_an_endless_one_is_not() {
    let app = app_with(Arc::new(embedded_with_alice().await), "[limits]\nmax_instances = 50\n");
    let put = |name: &str, rule: &str| {
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{name}\r\n\
             DTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        request("PUT", &format!("/dav/calendars/alice/calendar/{name}.ics"), &[("content-type", "text/calendar")], body)
    };
    let refused = app.clone().oneshot(put("many", "FREQ=DAILY;COUNT=51")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = String::from_utf8(refused.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("<C:max-instances/>"), "{text}");
    for (name, rule) in [("few", "FREQ=DAILY;COUNT=50"), ("endless", "FREQ=DAILY")] {
        let response = app.clone().oneshot(put(name, rule)).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    }
}

#[tokio::test]
async fn credentials_with_control_characters_never_reach_the_backend() {
    let backend = Arc::new(CountingBackend { inner: embedded_with_alice().await, logins: AtomicUsize::new(0) });
    let app = app_with(backend.clone(), "");
    // Cyrus's SASL PLAIN login takes `secret\0anything` for `secret`.
    for credentials in ["alice:secret\0anything", "alice\0x:secret", "a/b:secret"] {
        let token = base64::engine::general_purpose::STANDARD.encode(credentials);
        let request = Request::builder()
            .method("PROPFIND")
            .uri("/dav/calendars/alice/")
            .header("authorization", format!("Basic {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{credentials:?}");
    }
    assert_eq!(backend.logins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_that_never_finishes_is_answered_408_within_the_body_timeout() {
    let app = app_with(Arc::new(embedded_with_alice().await), "[limits]\nrequest_body_timeout_secs = 1\n");
    // One chunk, then nothing: a slowloris client that never sends the rest.
    let first: Result<bytes::Bytes, std::io::Error> = Ok(bytes::Bytes::from_static(b"BEGIN:VCALENDAR\r\n"));
    let body = Body::from_stream(tokio_stream::StreamExt::chain(tokio_stream::iter([first]), tokio_stream::pending()));
    let request = request("PUT", "/dav/calendars/alice/calendar/slow.ics", &[("content-type", "text/calendar")], body);
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), app.oneshot(request))
        .await
        .expect("the body read was not bounded")
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(response.headers()["connection"], "close");
}

#[tokio::test]
async fn a_query_over_its_evaluation_budget_is_refused_with_507() {
    let backend: Arc<dyn Backend> = Arc::new(embedded_with_alice().await);
    let put = |n: usize| {
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:endless-{n}\r\n\
             DTSTAMP:20261101T120000Z\r\nDTSTART:20261201T090000Z\r\nRRULE:FREQ=DAILY;COUNT=60000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        request(
            "PUT",
            &format!("/dav/calendars/alice/calendar/endless-{n}.ics"),
            &[("content-type", "text/calendar")],
            body,
        )
    };
    let generous = app_with(backend.clone(), "");
    for n in 0..5 {
        assert_eq!(generous.clone().oneshot(put(n)).await.unwrap().status(), StatusCode::CREATED);
    }
    // Far in the future, so each event is expanded through tens of thousands of days (a COUNT
    // rule: an endless one is expanded from near the window, see `calendar::recurrence`).
    let query = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
        <D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
        <C:time-range start="21900101T000000Z" end="21900102T000000Z"/></C:comp-filter></C:comp-filter></C:filter>
        </C:calendar-query>"#;
    let report = || request("REPORT", "/dav/calendars/alice/calendar/", &[("depth", "1")], query);
    assert_eq!(generous.oneshot(report()).await.unwrap().status(), StatusCode::MULTI_STATUS);

    let strict = app_with(backend, "[limits]\nmax_query_cpu_ms = 1\n");
    let refused = strict.oneshot(report()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::INSUFFICIENT_STORAGE);
    let text = String::from_utf8(refused.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("number-of-matches-within-limits"), "{text}");
}

/// Why `DELETE /coll/#frag` cannot be refused (integration-tests/README.md, litmus
/// `delete_fragment`): the `http` crate, which hyper builds every request's URI with, drops
/// the fragment. When this starts failing, the gateway can see the `#` and refuse it with 400.
#[test]
fn the_http_crate_drops_a_request_fragment_before_the_gateway_sees_it() {
    let uri: http::Uri = "/litmus/frag/#ment".parse().unwrap();
    assert_eq!(uri.path(), "/litmus/frag/");
    assert_eq!(uri.to_string(), "/litmus/frag/");
}
