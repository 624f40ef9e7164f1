//! An invitation accepted from its e-mail before the calendar synced: Thunderbird (128 and
//! later, comm-central `calendar/base/modules/utils/calItipUtils.sys.mjs` and the CalDAV
//! provider's `adoptItem`) PUTs the answered copy as `<UID>.ics` with `If-None-Match: *` into
//! the chosen calendar. On the JMAP backend the gateway has usually filed the same invitation
//! from the mail INBOX already, at the start of that very request (`scheduling::inbound`),
//! under its delivery name, so RFC 4791's no-uid-conflict would refuse the answer and
//! Thunderbird shows error 80004005 (docs/clients/thunderbird.md; the same case in
//! nextcloud/server#17915, handled there in PR #61207 by writing onto the existing object).
//!
//! Here too the write goes onto the delivered copy, guarded by its ETag, when both are the
//! same meeting (same UID, same ORGANIZER) and the user is an attendee of both: it is the
//! user's answer to what the gateway delivered, not a second event. Thunderbird keys its items
//! by UID, so the next sync reports the copy under the delivery name and Thunderbird follows it.
//! Anything else keeps the RFC's 403.

use calendar::itip::{organizer_of, role, Role};
use calendar::Component;
use store::{Folder, ItemName, NewItem, StoreError};

use crate::error::GatewayError;
use crate::resources::RequestContext;
use crate::scheduling::deliver::derived_name;
use crate::scheduling::implicit::{own_addresses, parse};

/// The delivered copy's name and ETag when `item` (a create that met a UID conflict in
/// `folder`) is the user's answer to it; `None` when the conflict stands.
pub async fn delivered_copy(
    cx: &RequestContext,
    folder: &Folder,
    item: &NewItem,
) -> Result<Option<(ItemName, store::ETag)>, GatewayError> {
    let delivered = derived_name(&item.uid);
    if delivered == item.name {
        return Ok(None);
    }
    let existing = match cx.session.get(&folder.id, std::slice::from_ref(&delivered)).await {
        Ok(found) => found.into_iter().find(|i| i.meta.name == delivered),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(other.into()),
    };
    let Some(existing) = existing else { return Ok(None) };
    let (Some(old), Some(new)) = (parse(&existing.body), parse(&item.body)) else { return Ok(None) };
    Ok(same_meeting_answered(&old, &new, &own_addresses(cx)).then_some((delivered, existing.meta.etag)))
}

/// Whether `new` is the attendee's own copy of the meeting `old` was delivered as.
fn same_meeting_answered(old: &Component, new: &Component, own: &[String]) -> bool {
    let organizer = organizer_of(old);
    if organizer.is_none() || organizer_of(new) != organizer {
        return false;
    }
    matches!((role(old, own), role(new, own)), (Role::Attendee(a), Role::Attendee(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calendar::parse_calendar;

    fn meeting(organizer: &str, partstat: &str) -> Component {
        let text = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m1\r\n\
             DTSTAMP:20260101T000000Z\r\nDTSTART:20261201T090000Z\r\nSUMMARY:Review\r\n\
             ORGANIZER;SCHEDULE-AGENT=CLIENT:mailto:{organizer}\r\n\
             ATTENDEE;PARTSTAT={partstat}:mailto:alice@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        parse_calendar(&text).unwrap()
    }

    #[test]
    fn only_the_attendees_answer_to_the_same_organizers_meeting_is_retargeted() {
        let own = vec!["alice@example.com".to_string()];
        let delivered = meeting("boss@elsewhere.org", "NEEDS-ACTION");
        assert!(same_meeting_answered(&delivered, &meeting("boss@elsewhere.org", "ACCEPTED"), &own));
        assert!(!same_meeting_answered(&delivered, &meeting("someone@else.org", "ACCEPTED"), &own));
        assert!(!same_meeting_answered(
            &delivered,
            &meeting("boss@elsewhere.org", "ACCEPTED"),
            &["bob@example.com".into()]
        ));
        let own_meeting = meeting("alice@example.com", "ACCEPTED");
        assert!(!same_meeting_answered(&own_meeting, &own_meeting, &own), "the organizer's own copy is no answer");
    }
}
