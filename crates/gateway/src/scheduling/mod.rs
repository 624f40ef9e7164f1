//! RFC 6638 scheduling and RFC 6047 iMIP: everything the gateway does beyond calendar access
//! when users invite each other.

pub mod imip;
pub mod mailer;
pub mod outbound;
