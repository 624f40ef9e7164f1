//! What particular clients send or expect beyond the RFCs, one file per quirk. Each file names
//! the clients and versions it is for and why, so a quirk can be found, tested and one day
//! dropped on its own; the handlers call into here instead of special-casing a client inline.

pub mod calendar_color;
pub mod unchunked_multiget;
