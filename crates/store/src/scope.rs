//! One client request as a scope the backend can see.
//!
//! A CalDAV request makes several `Session` calls (the folder, then its items); a backend that
//! must ask its mail server whether anything changed may ask once per request instead of once
//! per call. The gateway runs each request inside [`scoped`]; a backend reads [`current`].
//! Outside a scope (tests, CLI) every call stands alone.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static REQUEST: u64;
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Runs `future` as one request with a fresh id.
pub async fn scoped<F: Future>(future: F) -> F::Output {
    REQUEST.scope(NEXT.fetch_add(1, Ordering::Relaxed), future).await
}

/// The id of the request this task is serving, if any.
pub fn current() -> Option<u64> {
    REQUEST.try_with(|id| *id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scopes_have_distinct_ids_and_none_outside() {
        assert_eq!(current(), None);
        let a = scoped(async { current() }).await;
        let b = scoped(async { current() }).await;
        assert!(a.is_some() && b.is_some() && a != b);
    }
}
