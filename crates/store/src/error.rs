use std::time::Duration;

use crate::{ETag, ItemName};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a backend can answer besides success. The gateway maps each variant to one HTTP
/// status in one place; the variants are chosen so that mapping needs no guessing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Credentials rejected by the mail system: 401.
    #[error("credentials rejected")]
    Unauthenticated,
    /// No such folder or item: 404.
    #[error("not found")]
    NotFound,
    /// The folder name is taken: 405 on MKCALENDAR/MKCOL (RFC 4918 §9.3.1).
    #[error("already exists")]
    AlreadyExists,
    /// The `Expected` condition of a write did not hold: 412. `current` is the ETag the item
    /// has now, when it exists.
    #[error("precondition failed")]
    PreconditionFailed { current: Option<ETag> },
    /// Another item of the folder already has this UID: 403 with `CALDAV:no-uid-conflict`.
    #[error("UID {uid} already used by {existing}")]
    UidConflict { uid: String, existing: ItemName },
    /// The mail system refuses the operation for this user: 403.
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// The user's quota would be exceeded: 507.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The mail system rejected the data (too large, bad name...): 409/400 as the gateway sees fit.
    #[error("rejected by the mail store: {0}")]
    Rejected(String),
    /// The mail system cannot be reached or is overloaded: 503 with `Retry-After`.
    #[error("mail store unavailable")]
    Unavailable {
        retry_after: Option<Duration>,
        #[source]
        source: BoxError,
    },
    /// The mail system answered something unusable (not JSON, a protocol error): 502.
    #[error("mail store answered unusably: {0}")]
    BadGateway(String),
    /// The mail system did not answer in time: 504.
    #[error("mail store timed out")]
    Timeout(#[source] BoxError),
    /// A fault inside the backend: 500, details only in the log.
    #[error("mail store failed")]
    Internal(#[source] BoxError),
}

impl StoreError {
    pub fn internal(error: impl Into<BoxError>) -> Self {
        StoreError::Internal(error.into())
    }

    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        StoreError::Unavailable { retry_after: None, source: error.into() }
    }
}
