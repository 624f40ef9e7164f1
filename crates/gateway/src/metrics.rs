//! What operators scrape from the admin listener's `/metrics`: requests by method and status,
//! their latency, failed logins, open sessions, and the backend's own counters and call times. Aggregates
//! only: no label ever holds a user, a path or calendar data, so cardinality stays bounded.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use store::Backend;

/// The methods a CalDAV client sends; anything else is counted as `other`, so a client
/// inventing methods cannot grow the label set.
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "REPORT",
    "MKCOL",
    "MKCALENDAR",
    "COPY",
    "MOVE",
    "POST",
    "LOCK",
    "UNLOCK",
    "ACL",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// Live counters of the public listener, shared by every request.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    failed_logins: Counter,
    logins: Counter,
    sessions: Gauge,
}

impl Metrics {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        let mut registry = Registry::with_prefix("caldav_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by method and status", requests.clone());
        // 1 ms to ~33 s: a cached poll takes about a millisecond, a backend timeout 30 s.
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response head, by method",
            latency.clone(),
        );
        let failed_logins = Counter::default();
        registry.register(
            "failed_logins",
            "Requests whose credentials the mail system refused (not outages)",
            failed_logins.clone(),
        );
        let logins = Counter::default();
        registry.register("backend_logins", "Logins passed to the mail system (a session cache miss)", logins.clone());
        let sessions = Gauge::default();
        registry.register("sessions", "Authenticated sessions cached", sessions.clone());
        registry.register_collector(Box::new(BackendCounters(backend)));
        Metrics(Arc::new(Inner { registry, requests, latency, failed_logins, logins, sessions }))
    }

    pub fn failed_login(&self) {
        self.0.failed_logins.inc();
    }

    pub fn backend_login(&self) {
        self.0.logins.inc();
    }

    /// A session entered (`1`) or left (`-1`) the session cache.
    pub fn sessions_changed(&self, by: i64) {
        self.0.sessions.inc_by(by);
    }

    /// The OpenMetrics text exposition (Prometheus reads it).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)?;
        Ok(text)
    }

    fn observe(&self, method: &'static str, status: u16, seconds: f64) {
        self.0.requests.get_or_create(&RequestLabels { method, status }).inc();
        self.0.latency.get_or_create(&MethodLabels { method }).observe(seconds);
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Counts and times every request of the public listener (axum middleware).
pub async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let method = METHODS.iter().copied().find(|m| *m == request.method().as_str()).unwrap_or("other");
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// The backend's own counters (cache hits and misses, calls), read at scrape time.
struct BackendCounters(Arc<dyn Backend>);

impl fmt::Debug for BackendCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackendCounters")
    }
}

impl Collector for BackendCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for counter in self.0.metrics() {
            // The exposition adds `_total` to counters itself.
            let name = counter.name.strip_suffix("_total").unwrap_or(counter.name);
            let value = ConstCounter::new(counter.value);
            let metric = encoder.encode_descriptor(name, counter.help, None, value.metric_type())?;
            value.encode(metric)?;
        }
        for latency in self.0.latencies() {
            let mut metric = encoder.encode_descriptor(latency.name, latency.help, None, MetricType::Histogram)?;
            metric.encode_histogram::<NoLabelSet>(latency.sum_seconds, latency.count, &latency.buckets, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;

    #[async_trait::async_trait]
    impl Backend for Counting {
        async fn login(&self, _: &store::Credentials) -> Result<Arc<dyn store::Session>, store::StoreError> {
            Err(store::StoreError::Unauthenticated)
        }
        async fn ping(&self) -> Result<(), store::StoreError> {
            Ok(())
        }
        fn metrics(&self) -> Vec<store::Metric> {
            vec![store::Metric { name: "jmap_calls_total", help: "calls", value: 7 }]
        }
        fn latencies(&self) -> Vec<store::Latency> {
            let recorder = store::LatencyRecorder::default();
            recorder.record(std::time::Duration::from_millis(3));
            vec![recorder.snapshot("jmap_request_duration_seconds", "calls")]
        }
    }

    #[test]
    fn exposition_has_requests_latency_logins_sessions_and_backend_counters() {
        let metrics = Metrics::new(Arc::new(Counting));
        for by in [1, 1, 1, 1, -1] {
            metrics.sessions_changed(by);
        }
        metrics.observe("PROPFIND", 207, 0.002);
        metrics.observe("PROPFIND", 207, 0.004);
        metrics.failed_login();
        let text = metrics.encode().unwrap();
        assert!(text.contains(r#"caldav_gateway_http_requests_total{method="PROPFIND",status="207"} 2"#), "{text}");
        assert!(text.contains(r#"caldav_gateway_http_request_duration_seconds_count{method="PROPFIND"} 2"#), "{text}");
        assert!(text.contains("caldav_gateway_failed_logins_total 1"), "{text}");
        assert!(text.contains("caldav_gateway_sessions 3"), "{text}");
        assert!(text.contains("caldav_gateway_jmap_calls_total 7"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        assert!(text.contains(r#"caldav_gateway_jmap_request_duration_seconds_bucket{le="0.004"} 1"#), "{text}");
        assert!(text.contains("caldav_gateway_jmap_request_duration_seconds_count 1"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
