//! Delivery of iTIP messages (RFC 6638 §3.2.1-§3.2.3 "scheduling messages" and §4 the inbox).
//!
//! A recipient on this mail store (found through [`store::Directory`]) gets the message in
//! their schedule inbox and applied to their calendar at once: DAVx5 and Windows Calendar
//! never read an inbox, so the event must already be in the default calendar (see
//! docs/scheduling.md §1). Any other recipient gets mail ([`deliver_remote`]).

use std::sync::Arc;

use bytes::Bytes;
use calendar::itip::{apply_cancel, apply_reply, apply_request, organizer_of, Message, Method};
use calendar::zones::{Zone, Zones};
use calendar::{parse_calendar, write_component, Component, DateValue};
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use store::{
    CandidateQuery, ComponentSet, Expected, Folder, FolderKind, Item, ItemName, NewFolder, NewItem, Session,
    StoreError, TimeSpan,
};

use super::outbound::{self, NOT_DELIVERED};
use crate::error::GatewayError;
use crate::methods::put::calendar_item;
use crate::resources::RequestContext;

/// RFC 6638 §7.3 / RFC 5546 §3.6 request status written into SCHEDULE-STATUS: delivered.
pub const DELIVERED: &str = "1.2";
/// RFC 5546 §3.6 "No authority": the message would change an event its sender does not
/// organize (or, for a REPLY, one the recipient does not organize).
pub const NO_AUTHORITY: &str = "3.8";

/// Writes of a recipient's copy retried when it changes under the delivery (the recipient's
/// own client writing at the same moment); then the delivery counts as failed.
const DELIVERY_ROUNDS: usize = 4;

/// Delivers `message` to each recipient; returns each recipient's SCHEDULE-STATUS. The
/// sender's own account is never a recipient (an organizer listing another address of
/// theirs as attendee would otherwise overwrite their own copy).
pub async fn deliver(cx: &RequestContext, message: &Message) -> Vec<(String, String)> {
    let message = message.clone().stamped(Utc::now());
    let mut statuses = Vec::new();
    for recipient in &message.recipients {
        let status = match local_user(cx, recipient).await {
            Ok(Some(session)) if session.principal().user == cx.user() => continue,
            Ok(Some(session)) => match deliver_local(cx, session.as_ref(), recipient, &message).await {
                Ok(()) => DELIVERED,
                // The mail store lets the gateway see this user but not write for them (a
                // JMAP service account the operator granted reading only, for free-busy):
                // the user's mail reaches them still.
                Err(GatewayError::Store(StoreError::Forbidden(reason))) => {
                    tracing::info!(%reason, "local scheduling delivery refused by the mail store, sending iMIP");
                    deliver_remote(cx, recipient, &message).await
                }
                Err(GatewayError::Refused { message: why, .. }) => {
                    tracing::info!(reason = %why, method = message.method.as_str(), "scheduling message refused");
                    NO_AUTHORITY
                }
                Err(error) => {
                    tracing::warn!(%error, method = message.method.as_str(), "local scheduling delivery failed");
                    NOT_DELIVERED
                }
            },
            Ok(None) => deliver_remote(cx, recipient, &message).await,
            // The directory cannot answer (a JMAP service account the mail server refuses, an
            // outage of it): the mail system still knows where the address goes, colleague or not.
            Err(error) => {
                tracing::warn!(%error, "looking up a scheduling recipient failed, sending iMIP");
                deliver_remote(cx, recipient, &message).await
            }
        };
        statuses.push((recipient.clone(), status.to_owned()));
    }
    statuses
}

/// A recipient who is not a user of this store, or whom the store cannot reach (a JMAP
/// backend without a service account): iMIP (RFC 6047) through the user's mail system or the
/// configured submission server; `1.1` when handed on, `5.1` when that failed.
pub async fn deliver_remote(cx: &RequestContext, recipient: &str, message: &Message) -> &'static str {
    let recipients = [recipient.to_owned()];
    let statuses =
        outbound::send_by_mail(&cx.app, cx.session.as_ref(), message.method.as_str(), &message.calendar, &recipients)
            .await;
    statuses.first().map_or(NOT_DELIVERED, |(_, status)| status)
}

/// The session of the store user with this address, opened on the gateway's authority. A
/// user without scheduling (`[scheduling]` policy) has no inbox to deliver to: they are
/// reached by mail like someone on another server.
async fn local_user(cx: &RequestContext, address: &str) -> Result<Option<Arc<dyn Session>>, StoreError> {
    let Some(directory) = cx.app.directory() else { return Ok(None) };
    let Some(principal) = directory.resolve(address).await? else { return Ok(None) };
    if !cx.app.scheduling().allows(&principal) {
        return Ok(None);
    }
    Ok(Some(directory.open(&principal.user).await?))
}

/// Applied to the recipient's copy of the event, then into their inbox; a message refused
/// for its copy (see [`apply_to_calendar`]) goes to neither.
pub(super) async fn deliver_local(
    cx: &RequestContext,
    session: &dyn Session,
    recipient: &str,
    message: &Message,
) -> Result<(), GatewayError> {
    let uid = message.uid().ok_or(GatewayError::BadRequest("an iTIP message without UID".into()))?.to_owned();
    apply_to_calendar(cx, session, recipient, &uid, message).await?;
    let inbox = inbox(session).await?;
    let item = NewItem {
        name: ItemName::new(format!("{:032x}.ics", rand::random::<u128>())),
        uid: uid.clone(),
        component: component_of(&message.calendar),
        content_type: None,
        body: Bytes::from(write_component(&message.calendar)),
        span: None,
    };
    session.put(&inbox.id, item, Expected::Absent).await?;
    Ok(())
}

/// The user's schedule inbox, created the first time something is delivered.
async fn inbox(session: &dyn Session) -> Result<Folder, GatewayError> {
    if let Some(inbox) = session.folders().await?.into_iter().find(|f| f.kind == FolderKind::ScheduleInbox) {
        return Ok(inbox);
    }
    let spec =
        NewFolder { kind: FolderKind::ScheduleInbox, ..NewFolder::named(dav::path::SCHEDULE_INBOX, ComponentSet::ALL) };
    match session.create_folder(&spec).await {
        Ok(folder) => Ok(folder),
        // Two deliveries racing: the other one created it.
        Err(StoreError::AlreadyExists) => Ok(session.folder(dav::path::SCHEDULE_INBOX).await?),
        Err(error) => Err(error.into()),
    }
}

fn component_of(calendar: &Component) -> Option<store::Component> {
    calendar.components.iter().find_map(|c| store::Component::from_ical_name(&c.name))
}

/// REQUEST: the recipient's copy created or updated; CANCEL: marked cancelled; REPLY: the
/// answer merged into the organizer's copy. Written with the ETag read, so a concurrent
/// change by the recipient's client is read again rather than overwritten.
///
/// UIDs are chosen by clients, so a message may name an event of the recipient's that is
/// not the sender's meeting: a REQUEST or CANCEL changes only a copy organized by the
/// message's organizer, a REPLY only a copy the recipient organizes; anything else is
/// `Refused` (status 3.8), never an overwritten event.
async fn apply_to_calendar(
    cx: &RequestContext,
    session: &dyn Session,
    recipient: &str,
    uid: &str,
    message: &Message,
) -> Result<(), GatewayError> {
    let span = time_span(&message.calendar);
    let mut hint: Option<(Folder, ItemName)> = None;
    for _ in 0..DELIVERY_ROUNDS {
        let found = find_by_uid(session, uid, span, hint.as_ref(), None).await?;
        let (folder, name, existing, expected) = match found {
            Some((folder, item)) => {
                let existing = std::str::from_utf8(&item.body).ok().and_then(|t| parse_calendar(t).ok());
                (folder, item.meta.name, existing, Expected::ETag(item.meta.etag))
            }
            // Only an invitation makes a new copy; a cancel or reply of an event the user
            // does not have (deleted it already) stays in the inbox only.
            None if message.method == Method::Request => {
                (default_calendar(cx, session).await?, derived_name(uid), None, Expected::Absent)
            }
            None => return Ok(()),
        };
        if let Some(existing) = &existing {
            let organizer = match message.method {
                Method::Request | Method::Cancel => organizer_of(&message.calendar),
                Method::Reply => Some(recipient.to_owned()),
            };
            if organizer.is_none() || organizer_of(existing) != organizer {
                return Err(GatewayError::Refused {
                    status: http::StatusCode::FORBIDDEN,
                    message: format!("the recipient's event {uid} has another organizer"),
                });
            }
        }
        let updated = match (message.method, &existing) {
            (Method::Request, existing) => apply_request(existing.as_ref(), &message.calendar, recipient),
            (Method::Cancel, Some(existing)) => apply_cancel(existing, &message.calendar),
            (Method::Reply, Some(existing)) => match apply_reply(existing, &message.calendar) {
                Some(updated) => updated,
                None => return Ok(()),
            },
            // A stored copy that no longer parses is left alone.
            (_, None) => return Ok(()),
        };
        if existing.as_ref() == Some(&updated) {
            return Ok(());
        }
        let item = calendar_item(cx, &folder, name.as_str(), Bytes::from(write_component(&updated)))?;
        match session.put(&folder.id, item, expected).await {
            Ok(_) => return Ok(()),
            Err(StoreError::PreconditionFailed { .. }) => continue,
            // The default calendar holds the UID under another name (a copy the user's
            // client made): that one is the copy to update.
            Err(StoreError::UidConflict { existing: other, .. }) if existing.is_none() => {
                hint = Some((folder, other));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(GatewayError::Store(StoreError::PreconditionFailed { current: None }))
}

/// The name a delivered copy gets: derived from the UID, so the next message for the same
/// event finds it with one read per calendar even after the event moved in time.
pub(crate) fn derived_name(uid: &str) -> ItemName {
    let digest = Sha256::digest(uid.as_bytes());
    ItemName::new(format!("{}.ics", hex::encode(&digest[..16])))
}

/// The user's copy of the event with this UID in any of their calendars, but `except`:
/// first under the name deliveries give it, then among the objects whose time span meets
/// `span` (a copy the user's client created, e.g. by accepting an iMIP mail).
pub(crate) async fn find_by_uid(
    session: &dyn Session,
    uid: &str,
    span: TimeSpan,
    hint: Option<&(Folder, ItemName)>,
    except: Option<(&Folder, &ItemName)>,
) -> Result<Option<(Folder, Item)>, StoreError> {
    let calendars: Vec<Folder> =
        session.folders().await?.into_iter().filter(|f| f.kind == FolderKind::Calendar).collect();
    let allowed = |folder: &Folder, item: &Item| except.is_none_or(|(f, n)| f.id != folder.id || *n != item.meta.name);
    if let Some((folder, name)) = hint {
        if let Some(item) = matching(session, folder, std::slice::from_ref(name), uid).await? {
            return Ok(Some((folder.clone(), item)));
        }
    }
    let derived = derived_name(uid);
    for folder in &calendars {
        let found = matching(session, folder, std::slice::from_ref(&derived), uid).await?;
        if let Some(item) = found.filter(|item| allowed(folder, item)) {
            return Ok(Some((folder.clone(), item)));
        }
    }
    for folder in &calendars {
        let query = CandidateQuery { component: None, range: Some(span) };
        let mut names: Vec<ItemName> = match session.candidates(&folder.id, &query).await? {
            Some(metas) => metas.into_iter().map(|m| m.name).collect(),
            None => session.list(&folder.id).await?.items.into_iter().map(|m| m.name).collect(),
        };
        if let Some((_, name)) = except.filter(|(f, _)| f.id == folder.id) {
            names.retain(|n| n != name);
        }
        if let Some(item) = matching(session, folder, &names, uid).await? {
            return Ok(Some((folder.clone(), item)));
        }
    }
    Ok(None)
}

async fn matching(
    session: &dyn Session,
    folder: &Folder,
    names: &[ItemName],
    uid: &str,
) -> Result<Option<Item>, StoreError> {
    if names.is_empty() {
        return Ok(None);
    }
    let items = session.get(&folder.id, names).await?;
    Ok(items.into_iter().find(|item| uid_of(&item.body).as_deref() == Some(uid)))
}

fn uid_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let calendar = parse_calendar(text).ok()?;
    calendar
        .components
        .iter()
        .filter(|c| c.name != "VTIMEZONE")
        .find_map(|c| c.property("UID"))
        .map(|p| p.value.trim().to_owned())
}

/// The time a message (or a copy) is about, widened by a day on each side: every stored copy
/// of the same event has a span meeting it (an instance's RECURRENCE-ID is inside its series).
pub(crate) fn time_span(calendar: &Component) -> TimeSpan {
    let zones = Zones::new(calendar, Zone::utc());
    let instant = |c: &Component, name: &str| c.property(name).and_then(DateValue::of).map(|v| v.to_utc(&zones));
    let mut start = None;
    let mut end = None;
    for component in calendar.components.iter().filter(|c| c.name != "VTIMEZONE") {
        let Some(begin) = instant(component, "RECURRENCE-ID").or_else(|| instant(component, "DTSTART")) else {
            continue;
        };
        let finish = instant(component, "DTEND").unwrap_or(begin).max(begin);
        start = Some(start.map_or(begin, |s: chrono::DateTime<Utc>| s.min(begin)));
        end = Some(end.map_or(finish, |e: chrono::DateTime<Utc>| e.max(finish)));
    }
    let day = Duration::days(1);
    TimeSpan {
        start: start.and_then(|s| s.checked_sub_signed(day)).map(|s| s.timestamp()),
        end: end.and_then(|e| e.checked_add_signed(day)).map(|e| e.timestamp()),
    }
}

/// Where a new invitation goes (RFC 6638 §3.2.2 leaves it to the server): the configured
/// default calendar, else the first calendar that takes events. A user without one (who
/// never logged in: their inbox may already exist, so first-login provisioning would not
/// run) gets the default calendar made, when the configuration provisions it at all.
async fn default_calendar(cx: &RequestContext, session: &dyn Session) -> Result<Folder, GatewayError> {
    let config = cx.app.caldav();
    let folders = session.folders().await?;
    if let Some(found) = super::default_calendar::default_calendar(&folders, &config.default_calendar) {
        return Ok(found.clone());
    }
    if !config.provision_defaults {
        return Err(GatewayError::Store(StoreError::NotFound));
    }
    let mut spec = NewFolder::named(config.default_calendar.clone(), ComponentSet::EVENTS);
    spec.display_name = Some(config.default_calendar_name.clone());
    match session.create_folder(&spec).await {
        Ok(folder) => Ok(folder),
        Err(StoreError::AlreadyExists) => Ok(session.folder(&config.default_calendar).await?),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_span_of_an_instance_message_covers_its_recurrence_id() {
        let text = "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\nUID:x\r\nRECURRENCE-ID:20261209T080000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let span = time_span(&parse_calendar(text).unwrap());
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-09T08:00:00Z").unwrap().timestamp();
        assert_eq!(span.start, Some(at - 86_400));
        assert_eq!(span.end, Some(at + 86_400));
    }

    #[test]
    fn derived_names_are_stable_and_url_safe() {
        assert_eq!(derived_name("a b/c@x"), derived_name("a b/c@x"));
        assert_ne!(derived_name("a"), derived_name("b"));
        assert!(derived_name("a b/c@x").as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    }
}
