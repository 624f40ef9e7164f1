//! What particular clients send or expect beyond the RFCs, one file per quirk. Each file names
//! the clients and versions it is for and why, so a quirk can be found, tested and one day
//! dropped on its own; the handlers call into here instead of special-casing a client inline.
//!
//! Client habits the general rules already serve, with no code of their own, are documented
//! where the rule lives (and in docs/clients/):
//! - a calendar-query or free-busy-query with Depth 0 on a calendar (Windows Calendar,
//!   evolution-data-server): `methods/report/scope.rs` searches a calendar's objects whatever
//!   the Depth;
//! - `/.well-known/caldav` with or without a trailing slash, and a 301 rather than 308 for
//!   older iOS and Android clients: `lib.rs` `well_known`.

pub mod calendar_color;
pub mod principal_free_busy;
pub mod unchunked_multiget;
