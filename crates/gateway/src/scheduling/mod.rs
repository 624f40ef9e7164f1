//! RFC 6638 scheduling and RFC 6047 iMIP: the gateway's wiring of `calendar::itip` to the
//! stores and the mail system, one file per concern.
//!
//! - `implicit`: what a PUT or DELETE of a scheduling object resource sends (§3.2), the
//!   attendee's limits (§3.2.2.1), Schedule-Tag and If-Schedule-Tag-Match (§3.2.10, §8.3).
//! - `deliver`: putting a message into a local user's schedule inbox and calendar, or
//!   handing it on for mail (iMIP) when the recipient is not on this store.
//! - `imip`, `mailer`, `outbound`: the mail itself (RFC 6047), how it is sent, and the
//!   per-user limit on sending; `inbound`: iMIP mail from the INBOX applied once each.

pub mod deliver;
pub mod imip;
pub mod implicit;
pub mod inbound;
pub mod mailer;
pub mod outbound;
