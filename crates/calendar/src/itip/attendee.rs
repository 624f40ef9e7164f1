//! The attendee's side (RFC 6638 §3.2.2): the REPLY an attendee's change sends, and which
//! changes an attendee may make to their copy at all.

use super::organizer::plain;
use super::tag::{content, View};
use super::{
    address, attendee, exdates, is_cancelled, keyed, new_calendar, organizer_property, partstat, remove_params,
    server_schedules, set_param, timezones, zones, Key, Message, Method, SERVER_PARAMS,
};
use crate::component::{Component, Property};
use crate::datetime::DateValue;

/// The REPLY (RFC 5546 §3.2.3) an attendee's change of their copy sends, if any: `old` is
/// the stored copy (`None` on create), `new` the copy written (`None` on delete), `attendee`
/// the bare address the user is invited under.
///
/// - Each instance whose PARTSTAT of this attendee changed is one component of the REPLY,
///   with RECURRENCE-ID for an instance (an override the attendee's client made to answer
///   one instance compares with the master's answer, so only a different answer counts).
/// - A new EXDATE is the attendee removing one instance from their calendar: DECLINED for it
///   (sabre/vobject's Broker reads it the same way), unless the whole event is declined.
/// - Deleting the copy declines every instance not declined yet (RFC 6638 §3.2.2.3).
/// - Nothing when the organizer's scheduling is not the server's (`SCHEDULE-AGENT` on
///   ORGANIZER, RFC 6638 §7.1), or the event is cancelled (an answer to a cancelled meeting
///   tells the organizer nothing). `SCHEDULE-FORCE-SEND=REPLY` on ORGANIZER answers every
///   instance again (RFC 6638 §7.3).
///
/// The REPLY carries only this attendee, as RFC 5546 §3.2.3 requires.
pub fn attendee_reply(old: Option<&Component>, new: Option<&Component>, attendee_address: &str) -> Option<Message> {
    let base = new.or(old)?;
    let organizer_prop = organizer_property(base)?;
    let organizer_address = address(&organizer_prop.value)?;
    if !server_schedules(organizer_prop) {
        return None;
    }
    let mut components = Vec::new();
    match new {
        None => {
            let old = old?;
            let old_keyed = keyed(old);
            if old_keyed.iter().any(|(k, c)| k.is_none() && is_cancelled(c)) {
                return None;
            }
            for (_, component) in &old_keyed {
                if let Some(own) = attendee(component, attendee_address).filter(|a| partstat(a) != "DECLINED") {
                    components.push(reply_component(component, organizer_prop, own, "DECLINED", None));
                }
            }
        }
        Some(new) => {
            let new_keyed = keyed(new);
            if new_keyed.iter().any(|(k, c)| k.is_none() && is_cancelled(c)) {
                return None;
            }
            let forced = organizer_prop.param("SCHEDULE-FORCE-SEND").is_some_and(|v| v.eq_ignore_ascii_case("REPLY"));
            let old_keyed = old.map(keyed).unwrap_or_default();
            let before = |key: Key| -> Option<String> {
                if old.is_none() {
                    // A copy created with an answer in it (a client accepting an iMIP
                    // invitation by PUT) answers; one that merely holds the invitation does not.
                    return Some("NEEDS-ACTION".into());
                }
                let exact = old_keyed.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
                let master = old_keyed.iter().find(|(k, _)| k.is_none()).map(|(_, c)| *c);
                exact.or(master).and_then(|c| attendee(c, attendee_address)).map(partstat)
            };
            for (key, component) in &new_keyed {
                let Some(own) = attendee(component, attendee_address) else { continue };
                let now = partstat(own);
                if forced || before(*key).as_deref() != Some(now.as_str()) {
                    components.push(reply_component(component, organizer_prop, own, &now, None));
                }
            }
            let new_master = new_keyed.iter().find(|(k, _)| k.is_none()).map(|(_, c)| *c);
            let old_master = old_keyed.iter().find(|(k, _)| k.is_none()).map(|(_, c)| *c);
            if let (Some(new_master), Some(old_master)) = (new_master, old_master) {
                if let Some(own) = attendee(new_master, attendee_address).filter(|a| partstat(a) != "DECLINED") {
                    let known: Vec<_> =
                        exdates(old_master, &zones(old.unwrap_or(new))).into_iter().map(|(t, _)| t).collect();
                    for (instant, rid) in exdates(new_master, &zones(new)) {
                        if !known.contains(&instant) {
                            components.push(reply_component(new_master, organizer_prop, own, "DECLINED", Some(&rid)));
                        }
                    }
                }
            }
        }
    }
    if components.is_empty() {
        return None;
    }
    let mut calendar = new_calendar(Some(Method::Reply));
    calendar.components.extend(timezones(base).cloned());
    calendar.components.extend(components);
    Some(Message { method: Method::Reply, recipients: vec![organizer_address], calendar })
}

/// One component of a REPLY: what identifies the instance, the organizer, and the answer.
fn reply_component(
    component: &Component,
    organizer: &Property,
    own: &Property,
    partstat: &str,
    instance: Option<&Property>,
) -> Component {
    let copy = |name: &str| component.property(name).cloned();
    let mut properties = Vec::new();
    properties.extend(copy("UID"));
    properties.extend(copy("DTSTAMP"));
    properties.extend(copy("SEQUENCE"));
    let mut organizer = organizer.clone();
    remove_params(&mut organizer, &SERVER_PARAMS);
    properties.push(organizer);
    let mut attendee = own.clone();
    remove_params(&mut attendee, &SERVER_PARAMS);
    remove_params(&mut attendee, &["RSVP"]);
    set_param(&mut attendee, "PARTSTAT", partstat);
    properties.push(attendee);
    match instance {
        Some(rid) => {
            properties.push(rid.clone());
            properties.push(Property { name: "DTSTART".into(), ..rid.clone() });
        }
        None => {
            properties.extend(copy("RECURRENCE-ID"));
            properties.extend(copy("DTSTART"));
            properties.extend(copy("DTEND").or_else(|| copy("DURATION")));
        }
    }
    properties.extend(copy("SUMMARY"));
    properties.push(plain("REQUEST-STATUS", "2.0;Success"));
    Component { name: component.name.clone(), properties, components: Vec::new() }
}

/// A change an attendee may not make (RFC 6638 §3.2.2.1); the server answers 403
/// `CALDAV:allowed-attendee-scheduling-object-change`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{attendee} may not change {what}: only the organizer may")]
pub struct ForbiddenChange {
    pub attendee: String,
    /// What was changed, e.g. `DTSTART` or `an instance`.
    pub what: String,
}

/// Properties that only describe which instance an override is; an override the attendee's
/// client creates to answer one instance must otherwise equal the master.
const INSTANCE_PROPERTIES: [&str; 7] = ["DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"];

/// Whether `new` (an attendee's PUT over their stored copy `old`) changes only what RFC
/// 6638 §3.2.2.1 lets an attendee change: their answer (PARTSTAT and the other parameters
/// of ORGANIZER/ATTENDEE: only who is invited counts), their alarms, TRANSP, COLOR, `X-`
/// properties, DTSTAMP/LAST-MODIFIED/CREATED/SEQUENCE bookkeeping, overrides that answer
/// one instance, and EXDATEs that remove an instance from their calendar.
pub fn check_attendee_change(old: &Component, new: &Component, attendee_address: &str) -> Result<(), ForbiddenChange> {
    let forbidden = |what: String| ForbiddenChange { attendee: attendee_address.to_owned(), what };
    // RFC 6638 §7.1: with SCHEDULE-AGENT=CLIENT (or NONE) on the organizer the server does
    // not schedule this event, so the attendee's client may keep its copy as it likes.
    if organizer_property(old).is_some_and(|o| !server_schedules(o)) {
        return Ok(());
    }
    let old_keyed = keyed(old);
    let new_keyed = keyed(new);
    let (old_zones, new_zones) = (zones(old), zones(new));
    let old_master = find(&old_keyed, None);
    let new_master = find(&new_keyed, None);
    match (old_master, new_master) {
        (Some(before), Some(after)) => {
            differs(before, after, &["EXDATE"]).map_or(Ok(()), |what| Err(forbidden(what)))?;
            let now: Vec<_> = exdates(after, &new_zones).into_iter().map(|(t, _)| t).collect();
            if exdates(before, &old_zones).iter().any(|(t, _)| !now.contains(t)) {
                return Err(forbidden("EXDATE (an instance removed by the organizer came back)".into()));
            }
        }
        (None, None) => {}
        _ => return Err(forbidden("the recurring series".into())),
    }
    for (key, after) in new_keyed.iter().filter(|(k, _)| k.is_some()) {
        match find(&old_keyed, *key) {
            Some(before) => differs(before, after, &[]).map_or(Ok(()), |what| Err(forbidden(what)))?,
            None => {
                let Some(master) = old_master else { return Err(forbidden("the instances of the event".into())) };
                differs(master, after, &INSTANCE_PROPERTIES).map_or(Ok(()), |what| Err(forbidden(what)))?;
                let start = after.property("DTSTART").and_then(DateValue::of).map(|v| v.to_utc(&new_zones));
                if start != *key {
                    return Err(forbidden("DTSTART".into()));
                }
            }
        }
    }
    let removed_by_attendee = new_master.map(|m| exdates(m, &new_zones)).unwrap_or_default();
    for (key, _) in old_keyed.iter().filter(|(k, _)| k.is_some()) {
        let gone = find(&new_keyed, *key).is_none();
        if gone && !removed_by_attendee.iter().any(|(t, _)| Some(*t) == *key) {
            return Err(forbidden("the instances of the event".into()));
        }
    }
    Ok(())
}

fn find<'a>(keyed: &[(Key, &'a Component)], key: Key) -> Option<&'a Component> {
    keyed.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

/// The name of the first property whose organizer-controlled content differs, if any.
fn differs(before: &Component, after: &Component, except: &[&str]) -> Option<String> {
    let old = content(before, View::Attendee, except);
    let new = content(after, View::Attendee, except);
    if old == new {
        return None;
    }
    let first = old.iter().filter(|l| !new.contains(l)).chain(new.iter().filter(|l| !old.contains(l))).next()?;
    let name_end = first.find([';', ':']).unwrap_or(first.len());
    Some(first[..name_end].to_owned())
}
