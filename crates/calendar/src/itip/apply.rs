//! What a delivered message does to the recipient's copy (RFC 6638 §3.2.2 for the attendee's
//! copy, §3.2.1.2 for REPLY onto the organizer's), and the SCHEDULE-STATUS of delivery.

use chrono::Duration;

use super::{
    address, attendee, attendee_mut, is_scheduling, key, keyed, new_calendar, partstat, remove_params,
    replying_attendee, set_param, set_property, timezones, zones, Key,
};
use crate::component::{Component, Property};
use crate::datetime::DateValue;
use crate::recurrence::{instances, length, Window};
use crate::zones::Zones;

/// Properties whose change makes an attendee's earlier answer void: the time of the event
/// (RFC 6638 §3.2.2.1 leaves the rule to the server). These are sabre/vobject's
/// "significant change" properties less STATUS (CANCEL handles it) and EXDATE: an instance
/// the organizer drops moves no other instance, so the answer to the series still holds.
const TIME_PROPERTIES: [&str; 6] = ["DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE"];

/// The attendee's copy after an organizer's REQUEST: the organizer's content, with the
/// attendee's own answer kept unless the time changed (then NEEDS-ACTION), and the
/// attendee's alarms kept.
///
/// A REQUEST with the master replaces every component; one with only overrides (an
/// instance rescheduled) replaces or adds just those. The result has no METHOD.
pub fn apply_request(existing: Option<&Component>, request: &Component, attendee_address: &str) -> Component {
    let mut result = existing.cloned().unwrap_or_else(|| new_calendar(None));
    result.properties.retain(|p| p.name != "METHOD");
    let incoming = keyed(request);
    let prior: Vec<(Key, Component)> =
        existing.map(|e| keyed(e).into_iter().map(|(k, c)| (k, c.clone())).collect()).unwrap_or_default();
    let whole = incoming.iter().any(|(k, _)| k.is_none());
    let existing_zones = existing.map(zones);
    result.components.retain(|c| {
        if !is_scheduling(c) {
            return true;
        }
        if whole {
            return false;
        }
        let own_key = existing_zones.as_ref().and_then(|z| key(c, z).ok());
        !own_key.is_some_and(|k| incoming.iter().any(|(i, _)| *i == k))
    });
    for timezone in timezones(request) {
        let tzid = timezone.property("TZID").map(|p| p.value.trim());
        let known = result.components_named("VTIMEZONE").any(|t| t.property("TZID").map(|p| p.value.trim()) == tzid);
        if !known {
            result.components.insert(0, timezone.clone());
        }
    }
    let request_zones = zones(request);
    let master = prior.iter().find(|(k, _)| k.is_none()).map(|(_, c)| c);
    for (key, component) in incoming {
        let mut component = component.clone();
        let exact = prior.iter().find(|(k, _)| *k == key).map(|(_, c)| c);
        if let Some(previous) = exact.or(master) {
            let same_time = match exact {
                Some(previous) => lines(previous, &TIME_PROPERTIES) == lines(&component, &TIME_PROPERTIES),
                // A new override of an instance the attendee already answered through the
                // master: the answer holds while the instance stays at its time.
                None => key.is_some() && starts_at(&component, key, &request_zones),
            };
            if same_time {
                keep_answer(previous, &mut component, attendee_address);
            } else if let Some(own) = attendee_mut(&mut component, attendee_address) {
                // Whatever the organizer's copy says of this attendee (their answer to the
                // old time, merged from a reply), the new time is unanswered.
                set_param(own, "PARTSTAT", "NEEDS-ACTION");
            }
            component.components.retain(|c| c.name != "VALARM");
            component.components.extend(previous.components_named("VALARM").cloned());
        }
        result.components.push(component);
    }
    result
}

fn keep_answer(previous: &Component, component: &mut Component, attendee_address: &str) {
    let Some(answer) = attendee(previous, attendee_address).map(|a| a.param("PARTSTAT").map(str::to_owned)) else {
        return;
    };
    if let Some(own) = attendee_mut(component, attendee_address) {
        match answer {
            Some(partstat) => {
                set_param(own, "PARTSTAT", &partstat);
                // Answered already: the organizer asks for no new answer.
                remove_params(own, &["RSVP"]);
            }
            None => remove_params(own, &["PARTSTAT"]),
        }
    }
}

fn lines(component: &Component, names: &[&str]) -> Vec<String> {
    let mut found: Vec<String> =
        component.properties.iter().filter(|p| names.contains(&p.name.as_str())).map(super::canonical_line).collect();
    found.sort();
    found
}

fn starts_at(component: &Component, key: Key, zones: &Zones) -> bool {
    component.property("DTSTART").and_then(DateValue::of).map(|v| v.to_utc(zones)) == key
}

/// The attendee's copy after an organizer's CANCEL: STATUS:CANCELLED on the whole event, or
/// on the cancelled instances (an instance not overridden yet becomes an override, so the
/// attendee's calendar shows it cancelled rather than silently gone).
pub fn apply_cancel(existing: &Component, cancel: &Component) -> Component {
    let mut result = existing.clone();
    let cancelled = keyed(cancel);
    let sequence = cancelled.iter().find_map(|(_, c)| c.property("SEQUENCE")).map(|p| p.value.trim().to_owned());
    let mark = |component: &mut Component| {
        set_property(component, "STATUS", "CANCELLED");
        if let Some(sequence) = &sequence {
            set_property(component, "SEQUENCE", sequence);
        }
    };
    let existing_zones = zones(existing);
    if cancelled.iter().any(|(k, _)| k.is_none()) {
        result.components.iter_mut().filter(|c| is_scheduling(c)).for_each(mark);
        return result;
    }
    for (instance, component) in cancelled {
        let Some(rid) = component.property("RECURRENCE-ID") else { continue };
        let position =
            result.components.iter().position(|c| is_scheduling(c) && key(c, &existing_zones) == Ok(instance));
        match position {
            Some(index) => mark(&mut result.components[index]),
            None => {
                let master =
                    result.components.iter().find(|c| is_scheduling(c) && c.property("RECURRENCE-ID").is_none());
                if let Some(master) = master.filter(|m| is_instance(m, instance, &existing_zones)) {
                    let mut derived = derive_instance(master, rid, &existing_zones);
                    mark(&mut derived);
                    result.components.push(derived);
                }
            }
        }
    }
    result
}

/// The organizer's copy after an attendee's REPLY: that attendee's PARTSTAT in the master or
/// the instance answered (an instance not overridden yet becomes an override), with
/// SCHEDULE-STATUS=2.0 (RFC 6638 §7.3: delivered and processed) and RSVP cleared.
///
/// `None` when the replying attendee is not invited to what they answer (RFC 5546 §3.2.3
/// "party crashers" are the organizer's decision, not the server's), or nothing matched.
pub fn apply_reply(organizer_copy: &Component, reply: &Component) -> Option<Component> {
    let mut result = organizer_copy.clone();
    let copy_zones = zones(organizer_copy);
    let reply_zones = zones(reply);
    let mut applied = false;
    for component in reply.components.iter().filter(|c| is_scheduling(c)) {
        let instance = key(component, &reply_zones).ok()?;
        let who = replying_attendee(component)?;
        let answer = attendee(component, &who).map(partstat)?;
        let position = result.components.iter().position(|c| is_scheduling(c) && key(c, &copy_zones) == Ok(instance));
        let target = match position {
            Some(index) => &mut result.components[index],
            None => {
                let master =
                    result.components.iter().find(|c| is_scheduling(c) && c.property("RECURRENCE-ID").is_none())?;
                attendee(master, &who)?;
                let rid = component.property("RECURRENCE-ID")?;
                if !is_instance(master, instance, &copy_zones) {
                    continue;
                }
                let derived = derive_instance(master, rid, &copy_zones);
                result.components.push(derived);
                result.components.last_mut()?
            }
        };
        let own = attendee_mut(target, &who)?;
        set_param(own, "PARTSTAT", &answer);
        remove_params(own, &["RSVP"]);
        set_param(own, "SCHEDULE-STATUS", "2.0");
        applied = true;
    }
    applied.then_some(result)
}

/// The copy with SCHEDULE-STATUS on each named attendee (RFC 6638 §7.3: `1.2` delivered,
/// `3.7` invalid user, `5.1` could not deliver, ...) and every SCHEDULE-FORCE-SEND removed:
/// that parameter asks for one sending and must not stay in the stored copy (§7.3).
pub fn set_schedule_status(copy: &Component, statuses: &[(String, String)]) -> Component {
    let mut result = copy.clone();
    for component in result.components.iter_mut().filter(|c| is_scheduling(c)) {
        for property in component.properties.iter_mut() {
            if !matches!(property.name.as_str(), "ATTENDEE" | "ORGANIZER") {
                continue;
            }
            remove_params(property, &["SCHEDULE-FORCE-SEND"]);
            if property.name != "ATTENDEE" {
                continue;
            }
            let Some(who) = address(&property.value) else { continue };
            if let Some((_, status)) = statuses.iter().find(|(a, _)| a.eq_ignore_ascii_case(&who)) {
                set_param(property, "SCHEDULE-STATUS", status);
            }
        }
    }
    result
}

/// The organizer's new copy with the answers the stored copy holds: each attendee's
/// PARTSTAT and SCHEDULE-STATUS per instance, where both copies list that attendee.
///
/// For a PUT with If-Schedule-Tag-Match (RFC 6638 §3.2.10, §8.3): the tag matched, so the
/// client's copy differs from the stored one at most by replies merged since it read it;
/// those answers are the newer ones and must not be overwritten by the client's stale view.
pub fn keep_replies(stored: &Component, new: &Component) -> Component {
    let mut result = new.clone();
    let new_zones = zones(new);
    let answers: Vec<(Key, &Component)> = keyed(stored);
    for component in result.components.iter_mut().filter(|c| is_scheduling(c)) {
        let Ok(instance) = key(component, &new_zones) else { continue };
        let Some((_, before)) = answers.iter().find(|(k, _)| *k == instance) else { continue };
        for property in component.properties.iter_mut().filter(|p| p.name == "ATTENDEE") {
            let Some(who) = address(&property.value) else { continue };
            let Some(previous) = attendee(before, &who) else { continue };
            for name in ["PARTSTAT", "SCHEDULE-STATUS"] {
                match previous.param(name) {
                    Some(value) => set_param(property, name, value),
                    None => remove_params(property, &[name]),
                }
            }
        }
    }
    result
}

/// Most instances looked through to confirm that a RECURRENCE-ID names one (a daily series
/// over 27 years); a later one is not confirmed and the message part is skipped.
const INSTANCE_SEARCH_CAP: usize = 10_000;

/// Whether the master generates an instance at `instance` (sabre/vobject's Broker skips a
/// reply to an instance that does not exist; so does this).
fn is_instance(master: &Component, instance: Key, zones: &Zones) -> bool {
    let Some(at) = instance else { return false };
    let window = Window { start: Some(at), end: at.checked_add_signed(Duration::seconds(1)) };
    instances(&[master], zones, window, INSTANCE_SEARCH_CAP)
        .is_ok_and(|found| found.iter().any(|i| i.recurrence_id == Some(at)))
}

/// The override of one instance of `master`: the master's content at the instance's start,
/// without the recurrence, lasting as long as the master's instances.
fn derive_instance(master: &Component, rid: &Property, zones: &Zones) -> Component {
    let span = length(master, zones);
    let had_end = ["DTEND", "DURATION", "DUE"].iter().any(|n| master.property(n).is_some());
    let mut instance = master.clone();
    instance.properties.retain(|p| {
        !matches!(p.name.as_str(), "RRULE" | "RDATE" | "EXDATE" | "DTSTART" | "DTEND" | "DURATION" | "DUE")
    });
    let mut recurrence_id = rid.clone();
    recurrence_id.name = "RECURRENCE-ID".into();
    remove_params(&mut recurrence_id, &["RANGE"]);
    instance.properties.insert(0, Property { name: "DTSTART".into(), ..recurrence_id.clone() });
    instance.properties.insert(1, recurrence_id);
    if had_end {
        instance
            .properties
            .insert(2, Property { name: "DURATION".into(), params: Vec::new(), value: duration(span), line: 0 });
    }
    instance
}

/// RFC 5545 §3.3.6 text of a non-negative duration.
fn duration(span: Duration) -> String {
    let seconds = span.num_seconds().max(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        text.push('T');
        if hours > 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            text.push_str(&format!("{minutes}M"));
        }
        if secs > 0 || rest == 0 {
            text.push_str(&format!("{secs}S"));
        }
    }
    text
}
