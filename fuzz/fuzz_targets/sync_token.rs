//! The RFC 6578 §3.2 sync-token parser: any string gives a state or `None`, and a token made
//! from a parsed state parses back to it.
//!
//! The module is compiled here from the gateway's own source file rather than through the
//! `gateway` crate: depending on `gateway` would build its whole server (tokio, axum, rustls,
//! SQLite, reqwest) with coverage instrumentation, minutes on a small machine, for a parser that
//! needs only `store::State` and `percent-encoding`.
#![no_main]

#[path = "../../crates/gateway/src/sync_token.rs"]
mod sync_token;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    if let Some(state) = sync_token::from_uri(token) {
        assert_eq!(sync_token::from_uri(&sync_token::to_uri(&state)), Some(state));
    }
});
