//! RFC 6638 scheduling and RFC 6047 iMIP: everything the gateway does beyond calendar access
//! when users invite each other, one file per concern.
//!
//! - `implicit`: what a PUT or DELETE of a scheduling object resource sends (§3.2), the
//!   attendee's limits (§3.2.2.1), Schedule-Tag and If-Schedule-Tag-Match (§3.2.10, §8.3).
//! - `deliver`: putting a message into a local user's schedule inbox and calendar, or
//!   handing it on for mail (iMIP) when the recipient is not on this store.

pub mod deliver;
pub mod imip;
pub mod implicit;
pub mod mailer;
pub mod outbound;
