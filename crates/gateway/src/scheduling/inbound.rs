//! iMIP in (RFC 6047): scheduling messages that reached the user's mail INBOX as mail, from
//! outside or from a colleague whose gateway could not reach this account directly, are
//! turned into scheduling messages in the CalDAV inbox and applied to the user's calendar,
//! each once, at one of the user's requests.
//!
//! The mail stays in the INBOX for the user's mail client; the store marks it taken.

use std::time::Duration;

use calendar::itip::{parse_message, role, Message, Method, Role};
use store::IncomingItip;

use super::deliver::deliver_local;
use super::implicit::{own_addresses, scheduling_enabled};
use crate::resources::RequestContext;

/// Most messages applied in one request: a flood of invitations is worked off over several
/// requests instead of holding one up.
const PER_REQUEST: usize = 20;

/// Applies the iMIP messages waiting in the user's INBOX, at most once per
/// `scheduling.inbound_check_secs` per user (a phone's sync burst checks once). Failures are
/// logged, never the request's failure: calendar access must not depend on the mail INBOX.
pub async fn catch_up(cx: &RequestContext) {
    if !scheduling_enabled(cx) || !cx.app.inbound_check_due(cx.user()).await {
        return;
    }
    let incoming = match cx.session.incoming_itip(PER_REQUEST).await {
        Ok(incoming) => incoming,
        Err(error) => {
            tracing::warn!(%error, "reading iMIP mail from the INBOX failed");
            return;
        }
    };
    for mail in incoming {
        if let Err(error) = apply_one(cx, &mail).await {
            // Left untaken: the next check tries again (the store may have been down).
            tracing::warn!(%error, id = %mail.id, "applying an iMIP message failed");
            continue;
        }
        if let Err(error) = cx.session.take_itip(&mail.id).await {
            tracing::warn!(%error, id = %mail.id, "marking an iMIP message taken failed");
        }
    }
}

/// Applies one mail, or decides it is not to be applied (then it is taken all the same, so it
/// is not read again): `Err` only for a failure worth trying again.
async fn apply_one(cx: &RequestContext, mail: &IncomingItip) -> Result<(), crate::error::GatewayError> {
    let message = match parse_message(&mail.calendar) {
        Ok(message) => message,
        Err(error) => {
            tracing::info!(%error, id = %mail.id, "iMIP mail is no usable iTIP message; left as mail");
            return Ok(());
        }
    };
    let own = own_addresses(cx);
    let Some(recipient) = recipient_address(&message, &own) else {
        tracing::info!(id = %mail.id, method = message.method.as_str(), "iMIP message not addressed to this user as organizer or attendee");
        return Ok(());
    };
    if !sent_by_its_author(&message, mail.from.as_deref()) {
        tracing::info!(id = %mail.id, from = ?mail.from, method = message.method.as_str(), "iMIP message from someone else than its author; not applied");
        return Ok(());
    }
    deliver_local(cx, cx.session.as_ref(), &recipient, &message).await
}

/// The user's address the message is for: an ATTENDEE for REQUEST and CANCEL, the ORGANIZER
/// for REPLY (RFC 5546 §3.2).
fn recipient_address(message: &Message, own: &[String]) -> Option<String> {
    match (message.method, role(&message.calendar, own)) {
        (Method::Request | Method::Cancel, Role::Attendee(address)) => Some(address),
        (Method::Reply, Role::Organizer) => {
            own.iter().find(|a| calendar::itip::organizer_of(&message.calendar).as_deref() == Some(a.as_str())).cloned()
        }
        _ => None,
    }
}

/// RFC 6047 §3: the mail must come from the one the message speaks for, the organizer of a
/// REQUEST or CANCEL, the attendee of a REPLY (or whom they named in SENT-BY): otherwise
/// anyone could cancel a meeting or answer for someone else by mail.
fn sent_by_its_author(message: &Message, from: Option<&str>) -> bool {
    let Some(from) = from.map(str::trim).filter(|f| !f.is_empty()) else { return false };
    calendar::itip::authors(&message.calendar, message.method).iter().any(|a| a.eq_ignore_ascii_case(from))
}

/// How often the INBOX is looked at for one user, at most.
pub fn check_interval(secs: u64) -> Duration {
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn message(method: &str, organizer: &str, attendee: &str) -> Message {
        let text = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\nUID:u1\r\n\
             DTSTAMP:20261129T080000Z\r\nDTSTART:20261201T100000Z\r\nORGANIZER{organizer}\r\n\
             ATTENDEE;PARTSTAT=ACCEPTED{attendee}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        parse_message(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_request_is_taken_only_from_its_organizer_or_whom_they_named() {
        let request =
            message("REQUEST", ";SENT-BY=\"mailto:assistant@x.test\":mailto:boss@x.test", ":mailto:me@y.test");
        assert!(sent_by_its_author(&request, Some("boss@x.test")));
        assert!(sent_by_its_author(&request, Some("Assistant@X.test")));
        assert!(!sent_by_its_author(&request, Some("me@y.test")));
        assert!(!sent_by_its_author(&request, None));
        assert_eq!(recipient_address(&request, &["me@y.test".into()]), Some("me@y.test".into()));
        assert_eq!(recipient_address(&request, &["other@y.test".into()]), None);
    }

    #[test]
    fn a_reply_is_taken_only_from_the_attendee_it_answers_for_and_only_by_the_organizer() {
        let reply = message("REPLY", ":mailto:me@y.test", ":mailto:guest@x.test");
        assert!(sent_by_its_author(&reply, Some("guest@x.test")));
        assert!(!sent_by_its_author(&reply, Some("me@y.test")), "the organizer cannot answer for a guest");
        assert_eq!(recipient_address(&reply, &["me@y.test".into()]), Some("me@y.test".into()));
        assert_eq!(recipient_address(&reply, &["guest@x.test".into()]), None, "a reply goes to the organizer");
    }
}
