//! Implicit scheduling (RFC 6638 §3.2): a PUT or DELETE of a scheduling object resource in
//! one of the user's calendars sends the iTIP messages the change means, and delivers them.
//!
//! The order is the RFC's: the write is checked (If-Schedule-Tag-Match §3.2.10, an
//! attendee's limits §3.2.2.1) and made first, conditional on the ETag of the copy the
//! check read, so no concurrent write slips between the two; only then are messages sent,
//! and the organizer's copy gets each attendee's SCHEDULE-STATUS in a second write guarded
//! by the ETag the first one returned.
//!
//! A MOVE only moves the event between the user's own calendars (destinations outside the
//! home are refused), which changes nothing any attendee sees: it sends nothing. Nor does
//! a move done as PUT into one calendar and DELETE from the other (see [`other_copy`]).

use bytes::Bytes;
use calendar::itip::{
    attendee_reply, check_attendee_change, keep_replies, organizer_messages, role, schedule_tag, set_schedule_status,
    Role,
};
use calendar::{parse_calendar, write_component, Component};
use dav::headers::{parse_conditional, quote_etag, Conditional};
use dav::Precondition;
use http::{HeaderMap, HeaderValue, StatusCode};
use store::{Expected, Folder, Item, ItemName, NewItem, StoreError, Stored};

use super::deliver::{deliver, find_by_uid, time_span};
use crate::error::GatewayError;
use crate::methods::put::store_item;
use crate::resources::RequestContext;

/// Whether the user's writes schedule: the `[scheduling]` policy (`scheduling::policy`),
/// which also asks for a calendar user address to schedule as.
pub fn scheduling_enabled(cx: &RequestContext) -> bool {
    cx.scheduling()
}

/// The user's calendar user addresses, bare and lower-cased (RFC 6638 §2.4.1).
pub fn own_addresses(cx: &RequestContext) -> Vec<String> {
    cx.session.principal().email.iter().map(|e| e.trim().to_ascii_lowercase()).collect()
}

/// `If-Schedule-Tag-Match` (RFC 6638 §8.3): the tags the client expects, bare; `None` when
/// the header is absent. It has the syntax of If-Match.
pub fn if_schedule_tag_match(headers: &HeaderMap) -> Result<Option<Conditional>, GatewayError> {
    let Some(value) = headers.get("if-schedule-tag-match") else { return Ok(None) };
    let text = value.to_str().map_err(|_| dav::ParseError::Header("If-Schedule-Tag-Match"))?;
    let condition = parse_conditional(Some(text), None)
        .map_err(|_| GatewayError::BadRequest("If-Schedule-Tag-Match must be a list of entity tags".into()))?;
    Ok(Some(condition))
}

/// The Schedule-Tag of a stored body, when it is a scheduling object resource (one with an
/// ORGANIZER, RFC 6638 §3.1); other objects have none.
pub fn schedule_tag_of(body: &[u8]) -> Option<String> {
    // Most objects are no meetings: skip parsing them (GET of every object asks).
    if !body.windows(9).any(|w| w.eq_ignore_ascii_case(b"ORGANIZER")) {
        return None;
    }
    parse(body).filter(is_scheduling_object).map(|c| schedule_tag(&c))
}

pub fn insert_schedule_tag(headers: &mut HeaderMap, tag: &str) {
    if let Ok(value) = HeaderValue::from_str(&quote_etag(tag)) {
        headers.insert("schedule-tag", value);
    }
}

/// A stored or sent calendar object, parsed; `None` for bytes that are no calendar.
pub(crate) fn parse(body: &[u8]) -> Option<Component> {
    std::str::from_utf8(body).ok().and_then(|text| parse_calendar(text).ok())
}

fn is_scheduling_object(calendar: &Component) -> bool {
    calendar.components.iter().any(|c| c.property("ORGANIZER").is_some())
}

/// RFC 6638 §3.2.10: the write goes ahead only on the copy whose Schedule-Tag the client
/// names; 412 otherwise (also when there is no copy, or it is no scheduling object).
fn check_schedule_tag(condition: Option<&Conditional>, current: Option<&Component>) -> Result<(), GatewayError> {
    let Some(condition) = condition else { return Ok(()) };
    let tag = current.filter(|c| is_scheduling_object(c)).map(schedule_tag);
    let holds = match (condition, &tag) {
        (Conditional::Exists, Some(_)) => true,
        (Conditional::Matches(tags), Some(tag)) => tags.iter().any(|t| t == tag),
        _ => false,
    };
    if holds {
        Ok(())
    } else {
        Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED))
    }
}

/// Rounds of read-then-write when the object changes between the two (a client that sent
/// no condition must not see the 412 of a race it did not ask to lose).
const ROUNDS: usize = 3;

/// The outcome of a PUT of a calendar object.
pub struct PutOutcome {
    pub stored: Stored,
    /// The Schedule-Tag of what is stored now, for a scheduling object resource.
    pub schedule_tag: Option<String>,
}

/// PUT of a calendar object into a calendar: the checked write, then scheduling.
pub async fn put_object(
    cx: &RequestContext,
    folder: &Folder,
    item: NewItem,
    expected: Expected,
    tag_condition: Option<Conditional>,
) -> Result<PutOutcome, GatewayError> {
    let scheduling = scheduling_enabled(cx);
    let own = own_addresses(cx);
    let Written { mut stored, old, new } =
        write_checked(cx, folder, &item, expected, tag_condition.as_ref(), scheduling, &own).await?;
    let Some(new) = new else { return Ok(PutOutcome { stored, schedule_tag: None }) };
    let mut kept = new.clone();
    if scheduling {
        // RFC 6638 §3.1: an object the user neither organizes nor attends is no scheduling
        // object resource of theirs, and writing it schedules nothing: no copy to look for
        // (a search through every calendar, after each such write).
        let old = match old {
            None if role(&new, &own) != Role::Neither => other_copy(cx, folder, &item.name, &new).await,
            old => old,
        };
        if let Some(updated) = schedule_after_write(cx, old.as_ref(), Some(&new), &own).await {
            let body = Bytes::from(write_component(&updated));
            let rewrite = NewItem { body, ..item };
            match store_item(cx, folder, rewrite, Expected::ETag(stored.meta.etag.clone())).await {
                Ok(rewritten) => {
                    // RFC 4791 §5.3.4: the stored body is no longer the one PUT, so no ETag.
                    stored = Stored { created: stored.created, verbatim: false, meta: rewritten.meta };
                    kept = updated;
                }
                // The client wrote again meanwhile: its newer copy stands; the statuses
                // are lost, not the client's change.
                Err(error) => tracing::info!(%error, "writing SCHEDULE-STATUS into the organizer's copy failed"),
            }
        }
    }
    let schedule_tag = is_scheduling_object(&kept).then(|| schedule_tag(&kept));
    Ok(PutOutcome { stored, schedule_tag })
}

/// What the checked write stored, and the copy it replaced.
struct Written {
    stored: Stored,
    old: Option<Component>,
    /// What is stored now, parsed (`None` for a body that does not parse as a whole).
    new: Option<Component>,
}

/// The write of a PUT, guarded by the ETag of the copy its checks read: the UID rule of
/// RFC 4791 §4.1 (a PUT may not give an existing resource another UID: `no-uid-conflict`
/// naming the resource, as Cyrus does), If-Schedule-Tag-Match, and the attendee's limits.
async fn write_checked(
    cx: &RequestContext,
    folder: &Folder,
    item: &NewItem,
    expected: Expected,
    tag_condition: Option<&Conditional>,
    scheduling: bool,
    own: &[String],
) -> Result<Written, GatewayError> {
    let new = parse(&item.body);
    let needs_read = !matches!(expected, Expected::Absent) || tag_condition.is_some();
    for round in 1..=ROUNDS {
        let current = if needs_read { read(cx, folder, &item.name).await? } else { None };
        let old = current.as_ref().and_then(|c| parse(&c.body));
        if let Some(current) = &current {
            // A stored body that no longer validates (rules tightened since) has no UID to
            // protect: the new body replaces it.
            let old_uid = calendar::validate_object(&current.body).ok().map(|o| o.uid);
            if old_uid.is_some_and(|uid| uid != item.uid) {
                let href = dav::path::object_href(cx.user(), &folder.name, item.name.as_str());
                return Err(GatewayError::forbidden(Precondition::NoUidConflict(href)));
            }
        }
        check_schedule_tag(tag_condition, old.as_ref())?;
        if let (true, Some(old), Some(new)) = (scheduling, &old, &new) {
            if let Role::Attendee(address) = role(old, own) {
                check_attendee_change(old, new, &address).map_err(|forbidden| {
                    tracing::info!(%forbidden, "attendee change refused");
                    GatewayError::forbidden(Precondition::AllowedAttendeeSchedulingObjectChange)
                })?;
            }
        }
        if scheduling && round == 1 {
            within_hourly_limit(cx, outgoing(old.as_ref(), new.as_ref(), own)).await?;
        }
        let merged = merge_replies(scheduling, tag_condition.is_some(), old.as_ref(), new.as_ref(), own);
        let to_write = match &merged {
            Some(merged) => NewItem { body: Bytes::from(write_component(merged)), ..item.clone() },
            None => item.clone(),
        };
        let guarded = match (&current, &expected) {
            (Some(current), Expected::Anything | Expected::Present) => Expected::ETag(current.meta.etag.clone()),
            _ => expected.clone(),
        };
        let raced = guarded != expected;
        let last = round == ROUNDS;
        // The last round of a client that asked for nothing writes unguarded, as before
        // scheduling; one that sent If-Schedule-Tag-Match keeps its guard.
        let guard = if last && raced && tag_condition.is_none() { expected.clone() } else { guarded };
        match store_item(cx, folder, to_write, guard).await {
            Err(GatewayError::Store(StoreError::PreconditionFailed { .. })) if raced && !last => continue,
            Err(error) => return Err(error),
            Ok(mut stored) => {
                if merged.is_some() {
                    stored.verbatim = false;
                }
                return Ok(Written { stored, old, new: merged.or(new) });
            }
        }
    }
    Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED))
}

/// The organizer's copy to store when the client wrote with If-Schedule-Tag-Match: the
/// answers merged from replies since the client read its copy stay (RFC 6638 §3.2.10:
/// the tag matched, so only such merges can separate the two). `None`: store as sent.
fn merge_replies(
    scheduling: bool,
    tag_matched: bool,
    old: Option<&Component>,
    new: Option<&Component>,
    own: &[String],
) -> Option<Component> {
    let (old, new) = (old?, new?);
    if !(scheduling && tag_matched && role(old, own) == Role::Organizer) {
        return None;
    }
    let merged = keep_replies(old, new);
    (merged != *new).then_some(merged)
}

/// DELETE of a calendar object in a calendar, with If-Schedule-Tag-Match and scheduling:
/// an organizer's delete cancels the meeting, an attendee's declines it (RFC 6638 §3.2.1.3,
/// §3.2.2.3).
pub async fn delete_object(
    cx: &RequestContext,
    folder: &Folder,
    name: &ItemName,
    expected: Expected,
    tag_condition: Option<Conditional>,
) -> Result<(), GatewayError> {
    let scheduling = scheduling_enabled(cx);
    if !scheduling && tag_condition.is_none() {
        cx.session.delete(&folder.id, name, expected).await?;
        return Ok(());
    }
    for round in 1..=ROUNDS {
        let current = read(cx, folder, name).await?.ok_or(StoreError::NotFound)?;
        let old = parse(&current.body);
        check_schedule_tag(tag_condition.as_ref(), old.as_ref())?;
        if scheduling && round == 1 {
            within_hourly_limit(cx, outgoing(old.as_ref(), None, &own_addresses(cx))).await?;
        }
        let guarded = match &expected {
            Expected::Anything | Expected::Present => Expected::ETag(current.meta.etag.clone()),
            other => other.clone(),
        };
        let raced = guarded != expected;
        match cx.session.delete(&folder.id, name, guarded).await {
            Err(StoreError::PreconditionFailed { .. }) if raced && round < ROUNDS => continue,
            Err(error) => return Err(error.into()),
            Ok(()) => {
                let Some(old) = old.filter(|_| scheduling) else { return Ok(()) };
                let own = own_addresses(cx);
                // As for a PUT: only the user's own scheduling objects schedule (RFC 6638 §3.1).
                if role(&old, &own) != Role::Neither && other_copy(cx, folder, name, &old).await.is_none() {
                    schedule_after_write(cx, Some(&old), None, &own).await;
                }
                return Ok(());
            }
        }
    }
    Err(GatewayError::Status(StatusCode::PRECONDITION_FAILED))
}

/// Another copy of the same event in the user's calendars than `folder`/`name`.
///
/// Thunderbird and others move an event to another calendar by a PUT there and a DELETE
/// here, not by MOVE: compared with that copy, the PUT is no new invitation and the DELETE
/// no cancellation (without it, every attendee would get the event cancelled). RFC 6638's
/// `CALDAV:unique-scheduling-object-resource` would refuse the second copy outright; the
/// gateway lets clients that move this way keep working instead.
async fn other_copy(cx: &RequestContext, folder: &Folder, name: &ItemName, calendar: &Component) -> Option<Component> {
    let uid = calendar.components.iter().find_map(|c| c.property("UID"))?.value.trim().to_owned();
    let span = time_span(calendar);
    match find_by_uid(cx.session.as_ref(), &uid, span, None, Some((folder, name))).await {
        Ok(found) => found.and_then(|(_, item)| parse(&item.body)),
        Err(error) => {
            tracing::warn!(%error, "looking for another copy of a scheduling object failed");
            None
        }
    }
}

async fn read(cx: &RequestContext, folder: &Folder, name: &ItemName) -> Result<Option<Item>, GatewayError> {
    Ok(cx.session.get(&folder.id, std::slice::from_ref(name)).await?.into_iter().find(|i| i.meta.name == *name))
}

/// Sends what the change from `old` to `new` means for the user's role in the event and
/// delivers it. For an organizer, returns the copy with each attendee's SCHEDULE-STATUS
/// (and SCHEDULE-FORCE-SEND gone) when that differs from `new`.
/// How many scheduling messages (one per recipient) the change from `old` to `new` sends,
/// counted before the write so that a user over the limit gets 429 and nothing changes.
fn outgoing(old: Option<&Component>, new: Option<&Component>, own: &[String]) -> u32 {
    let current_role = new.map(|n| role(n, own)).filter(|r| *r != Role::Neither);
    let count = match current_role.or_else(|| old.map(|o| role(o, own))) {
        Some(Role::Organizer) => organizer_messages(old, new).iter().map(|m| m.recipients.len()).sum(),
        Some(Role::Attendee(address)) => usize::from(attendee_reply(old, new, &address).is_some()),
        Some(Role::Neither) | None => 0,
    };
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// `scheduling.max_invitations_per_hour`: a compromised account must not turn the gateway
/// into a relay for invitation spam (mail goes out as the user).
async fn within_hourly_limit(cx: &RequestContext, messages: u32) -> Result<(), GatewayError> {
    cx.app.invitations().take(cx.user(), messages).await.map_err(|retry_after| GatewayError::TooMany {
        retry_after,
        message: format!(
            "more scheduling messages than scheduling.max_invitations_per_hour ({}) allows; try again in {} minutes",
            cx.app.max_invitations_per_hour(),
            retry_after.as_secs().div_ceil(60)
        ),
    })
}

async fn schedule_after_write(
    cx: &RequestContext,
    old: Option<&Component>,
    new: Option<&Component>,
    own: &[String],
) -> Option<Component> {
    let current_role = new.map(|n| role(n, own)).filter(|r| *r != Role::Neither);
    match current_role.or_else(|| old.map(|o| role(o, own)))? {
        Role::Organizer => {
            let mut statuses = Vec::new();
            for message in organizer_messages(old, new) {
                statuses.extend(deliver(cx, &message).await);
            }
            let new = new?;
            let updated = set_schedule_status(new, &statuses);
            (updated != *new).then_some(updated)
        }
        Role::Attendee(address) => {
            if let Some(reply) = attendee_reply(old, new, &address) {
                deliver(cx, &reply).await;
            }
            None
        }
        Role::Neither => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MEETING: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTAMP:20261120T100000Z\r\nDTSTART:20261201T100000Z\r\nORGANIZER:mailto:alice@example.com\r\nATTENDEE:mailto:bob@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn schedule_tag_condition_needs_the_current_tag_of_a_scheduling_object() {
        let meeting = parse(MEETING.as_bytes()).unwrap();
        let tag = schedule_tag(&meeting);
        assert!(check_schedule_tag(Some(&Conditional::Matches(vec![tag.clone()])), Some(&meeting)).is_ok());
        assert!(check_schedule_tag(Some(&Conditional::Matches(vec!["other".into()])), Some(&meeting)).is_err());
        assert!(check_schedule_tag(Some(&Conditional::Matches(vec![tag])), None).is_err());
        assert!(check_schedule_tag(None, None).is_ok());
        let plain = parse(MEETING.replace("ORGANIZER:mailto:alice@example.com\r\n", "").as_bytes()).unwrap();
        assert!(check_schedule_tag(Some(&Conditional::Exists), Some(&plain)).is_err());
    }

    #[test]
    fn only_scheduling_objects_have_a_schedule_tag() {
        assert!(schedule_tag_of(MEETING.as_bytes()).is_some());
        assert_eq!(schedule_tag_of(MEETING.replace("ORGANIZER:mailto:alice@example.com\r\n", "").as_bytes()), None);
    }

    #[test]
    fn if_schedule_tag_match_reads_like_if_match() {
        let mut headers = HeaderMap::new();
        assert!(if_schedule_tag_match(&headers).unwrap().is_none());
        headers.insert("if-schedule-tag-match", HeaderValue::from_static("\"s1\""));
        assert_eq!(if_schedule_tag_match(&headers).unwrap(), Some(Conditional::Matches(vec!["s1".into()])));
        headers.insert("if-schedule-tag-match", HeaderValue::from_static("s1"));
        assert!(if_schedule_tag_match(&headers).is_err());
    }
}
