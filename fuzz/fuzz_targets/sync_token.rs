//! The RFC 6578 §3.2 sync-token parser: any string gives a sync point (a complete state or a
//! page continuation, RFC 6578 §3.6) or `None`, and a token made from a parsed point parses
//! back to it.
//!
//! The module is compiled here from the gateway's own source file rather than through the
//! `gateway` crate: depending on `gateway` would build its whole server (tokio, axum, rustls,
//! SQLite, reqwest) with coverage instrumentation, minutes on a small machine, for a parser that
//! needs only `store::State` and `percent-encoding`.
#![no_main]

#[path = "../../crates/gateway/src/sync_token.rs"]
mod sync_token;

use libfuzzer_sys::fuzz_target;

use sync_token::SyncPoint;

fuzz_target!(|token: &str| {
    if let Some(point) = sync_token::from_uri(token) {
        let again = match &point {
            SyncPoint::Complete(state) => sync_token::to_uri(state),
            SyncPoint::Page(page) => sync_token::page_to_uri(page),
        };
        assert_eq!(sync_token::from_uri(&again), Some(point));
    }
});
