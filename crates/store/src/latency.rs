//! How long a backend's calls to its mail system take, for operators: a fixed-bucket
//! histogram a backend records into without locks and the gateway serves at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in seconds: 1 ms to ~16 s doubling, then everything slower.
const BOUNDS: [f64; 15] =
    [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

/// A snapshot of one distribution, as the exposition wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// Prometheus-style name without prefix, e.g. `jmap_request_duration_seconds`.
    pub name: &'static str,
    pub help: &'static str,
    /// (upper bound in seconds, calls in this bucket alone); the last bound is `f64::MAX` (+Inf).
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

/// Counts calls into buckets as they finish.
#[derive(Debug, Default)]
pub struct LatencyRecorder {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyRecorder {
    pub fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let index = BOUNDS.iter().position(|bound| seconds <= *bound).unwrap_or(BOUNDS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn snapshot(&self, name: &'static str, help: &'static str) -> Latency {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let bounds = BOUNDS.iter().copied().chain(std::iter::once(f64::MAX));
        Latency {
            name,
            help,
            count: counts.iter().sum(),
            buckets: bounds.zip(counts).collect(),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_land_in_their_bucket_and_the_slowest_in_the_last() {
        let recorder = LatencyRecorder::default();
        recorder.record(Duration::from_micros(500));
        recorder.record(Duration::from_millis(3));
        recorder.record(Duration::from_secs(60));
        let snapshot = recorder.snapshot("x", "y");
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.buckets[0], (0.001, 1));
        assert_eq!(snapshot.buckets[2], (0.004, 1));
        assert_eq!(snapshot.buckets.last(), Some(&(f64::MAX, 1)));
        assert!((snapshot.sum_seconds - 60.0035).abs() < 1e-6);
    }
}
