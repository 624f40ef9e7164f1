//! What particular clients send or expect beyond the RFCs, one file per quirk. Each file names
//! the clients and versions it is for and why, so a quirk can be found, tested and one day
//! dropped on its own; the handlers call into here instead of special-casing a client inline.
//!
//! Client habits the general rules already serve, with no code of their own, are documented
//! where the rule lives (and in docs/clients/):
//! - a calendar-query or free-busy-query with Depth 0 on a calendar (Windows Calendar,
//!   evolution-data-server): `methods/report/scope.rs` searches a calendar's objects whatever
//!   the Depth;
//! - sync-collection with Depth 1 (Thunderbird 128+, Apple OS X 10.7-10.11):
//!   `methods/report/mod.rs` does not read Depth for it;
//! - a first request without credentials but with a body, then the next one on the same
//!   connection (Apple, Thunderbird, DAVx5's discovery): `unread_body.rs` reads small bodies of
//!   early answers and marks the rest `Connection: close`;
//! - `/.well-known/caldav` with or without a trailing slash, and a 301 rather than 308 for
//!   older iOS and Android clients: `lib.rs` `well_known`.

pub mod accepted_from_mail;
pub mod calendar_color;
pub mod principal_free_busy;
pub mod unchunked_multiget;
