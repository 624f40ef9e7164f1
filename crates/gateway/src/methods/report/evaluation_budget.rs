//! How much CPU one query may spend evaluating objects, and fairness while it does.
//!
//! A calendar-query parses and tests every candidate, and one recurring candidate may be
//! expanded into up to `limits.max_instances` instances, so one request over a large calendar
//! can hold a runtime worker for seconds. The work is therefore done one candidate at a time,
//! with a yield to the runtime once a candidate or several have taken `YIELD_AFTER` (other
//! requests run, and the request timeout can fire between candidates; yielding after every
//! one of a month query's ~1,000 small candidates only added scheduling), and the time spent
//! evaluating is added up: past
//! `limits.max_query_cpu_ms` the query is refused with 507 DAV:number-of-matches-within-limits
//! (the server's limit on the work, as RFC 5323 §5.4.2 uses it) rather than run on.

use std::time::{Duration, Instant};

use dav::Precondition;
use http::StatusCode;

use crate::error::GatewayError;

/// Longest stretch of evaluation before the request gives its worker to others.
const YIELD_AFTER: Duration = Duration::from_millis(1);

pub struct EvaluationBudget {
    spent: Duration,
    since_yield: Duration,
    limit: Duration,
}

impl EvaluationBudget {
    pub fn new(limit: Duration) -> Self {
        EvaluationBudget { spent: Duration::ZERO, since_yield: Duration::ZERO, limit }
    }

    /// Runs one candidate's evaluation, charges its time, and yields to the runtime once the
    /// evaluations since the last yield took `YIELD_AFTER`.
    pub async fn evaluate<T>(&mut self, work: impl FnOnce() -> T) -> Result<T, GatewayError> {
        let started = Instant::now();
        let outcome = work();
        let took = started.elapsed();
        self.spent += took;
        self.since_yield += took;
        if self.since_yield >= YIELD_AFTER {
            self.since_yield = Duration::ZERO;
            tokio::task::yield_now().await;
        }
        if self.spent > self.limit {
            tracing::info!(spent_ms = self.spent.as_millis(), "query over its evaluation budget");
            return Err(GatewayError::condition(
                StatusCode::INSUFFICIENT_STORAGE,
                Precondition::NumberOfMatchesWithinLimits,
            ));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_within_the_budget_passes_and_work_over_it_is_refused() {
        let mut budget = EvaluationBudget::new(Duration::from_millis(50));
        assert_eq!(budget.evaluate(|| 7).await.ok(), Some(7));
        let over = budget.evaluate(|| std::thread::sleep(Duration::from_millis(60))).await;
        assert!(matches!(over, Err(GatewayError::Condition { status: StatusCode::INSUFFICIENT_STORAGE, .. })));
    }
}
