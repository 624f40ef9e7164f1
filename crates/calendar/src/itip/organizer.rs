//! The organizer's side (RFC 6638 §3.2.1, §3.2.3): from the stored and the new copy of the
//! organizer, the REQUEST and CANCEL messages each attendee gets.

use super::tag::{content, View};
use super::{
    address, attendee, exdates, is_cancelled, keyed, new_calendar, organizer, organizer_property, remove_params,
    server_schedules, set_param, timezones, zones, Key, Message, Method, SERVER_PARAMS,
};
use crate::component::{Component, Property};
use crate::zones::Zones;

/// The messages a change of the organizer's copy sends: `old` is the stored copy (`None` on
/// create), `new` the copy being written (`None` on delete).
///
/// - A new attendee, or one marked `SCHEDULE-FORCE-SEND=REQUEST` (RFC 6638 §7.3), gets the
///   whole event; so does every attendee when the master's content changes (an attendee-list
///   change is such a change: RFC 5546 §2.1.5 lets attendees see who else is invited).
/// - When only overrides change, a REQUEST carries just those instances (RFC 5546 §3.2.2.4
///   "rescheduling an instance").
/// - An attendee taken off the event, or off one instance, gets a CANCEL for it; an
///   instance removed by a new EXDATE gets a CANCEL with its RECURRENCE-ID (RFC 5546 §3.2.5).
/// - STATUS:CANCELLED on the master, or deleting the copy, cancels the whole event; the
///   deletion raises SEQUENCE as sabre/vobject's Broker does, since the organizer's client
///   had no copy left to raise it in.
/// - Attendees with `SCHEDULE-AGENT=CLIENT` or `NONE` (RFC 6638 §7.1) get nothing: their
///   client or nobody schedules for them. Nor does the organizer get messages if listed as
///   an attendee.
///
/// Changes that are no change of organizer-controlled content (another attendee's PARTSTAT
/// merged from a reply, DTSTAMP, alarms) send nothing.
pub fn organizer_messages(old: Option<&Component>, new: Option<&Component>) -> Vec<Message> {
    let organizer_address = match new.and_then(organizer).or_else(|| old.and_then(organizer)) {
        Some(address) => address,
        None => return Vec::new(),
    };
    let Some(organizer_prop) = new.and_then(organizer_property).or_else(|| old.and_then(organizer_property)) else {
        return Vec::new();
    };
    let new = match new {
        // An event that stops being a meeting (ORGANIZER removed) is cancelled for everyone.
        Some(new) if organizer(new).is_some() => new,
        _ => {
            let Some(old) = old else { return Vec::new() };
            return cancel_everyone(old, organizer_prop, &organizer_address, new.is_none());
        }
    };
    let new_keyed = keyed(new);
    if master(&new_keyed).is_some_and(is_cancelled) {
        let was_cancelled = old.is_some_and(|old| master(&keyed(old)).is_some_and(is_cancelled));
        return if was_cancelled {
            Vec::new()
        } else {
            cancel_everyone(new, organizer_prop, &organizer_address, false)
        };
    }
    let old_keyed = old.map(keyed).unwrap_or_default();
    let mut messages = Vec::new();
    for (address, property) in participants(std::iter::once(new).chain(old), &organizer_address) {
        if !server_schedules(property) {
            continue;
        }
        let change = Change::of(old, &old_keyed, new, &new_keyed, &address);
        if change.in_new.is_empty() {
            if !change.in_old.is_empty() {
                let source = old.unwrap_or(new);
                messages.push(cancel(source, organizer_prop, property, &[], false, &address));
            }
            continue;
        }
        let forced = new_keyed
            .iter()
            .filter_map(|(_, c)| attendee(c, &address))
            .any(|a| a.param("SCHEDULE-FORCE-SEND").is_some_and(|v| v.trim().eq_ignore_ascii_case("REQUEST")));
        let plan = if forced || change.in_old.is_empty() { Plan::full() } else { change.plan() };
        if plan.full {
            messages.push(full_request(new, &new_keyed, &address));
            continue;
        }
        if !plan.requests.is_empty() {
            let mut calendar = new_calendar(Some(Method::Request));
            calendar.components.extend(timezones(new).cloned());
            calendar.components.extend(plan.requests.iter().map(|c| clean(c)));
            messages.push(Message { method: Method::Request, recipients: vec![address.clone()], calendar });
        }
        if !plan.cancels.is_empty() {
            messages.push(cancel(new, organizer_prop, property, &plan.cancels, false, &address));
        }
    }
    messages
}

fn master<'a>(keyed: &[(Key, &'a Component)]) -> Option<&'a Component> {
    keyed.iter().find(|(k, _)| k.is_none()).map(|(_, c)| *c)
}

/// Every attendee address of the given copies (but the organizer's), each with the ATTENDEE
/// property that speaks for it: the first copy's (pass the newest first), first component first.
fn participants<'a>(calendars: impl Iterator<Item = &'a Component>, organizer: &str) -> Vec<(String, &'a Property)> {
    let mut found: Vec<(String, &Property)> = Vec::new();
    for calendar in calendars {
        for component in super::scheduling_components(calendar) {
            for property in component.properties_named("ATTENDEE") {
                let Some(address) = address(&property.value).filter(|a| a != organizer) else { continue };
                if !found.iter().any(|(a, _)| *a == address) {
                    found.push((address, property));
                }
            }
        }
    }
    found
}

/// How one attendee's view of the event changed.
struct Change<'a> {
    old: &'a [(Key, &'a Component)],
    new: &'a [(Key, &'a Component)],
    old_zones: Zones,
    new_zones: Zones,
    /// Instances the attendee is in, before and after.
    in_old: Vec<Key>,
    in_new: Vec<Key>,
}

/// What to send one attendee.
struct Plan<'a> {
    full: bool,
    requests: Vec<&'a Component>,
    /// RECURRENCE-IDs of the instances to cancel.
    cancels: Vec<Property>,
}

impl Plan<'_> {
    fn full() -> Self {
        Plan { full: true, requests: Vec::new(), cancels: Vec::new() }
    }
}

impl<'a> Change<'a> {
    fn of(
        old_calendar: Option<&Component>,
        old: &'a [(Key, &'a Component)],
        new_calendar: &Component,
        new: &'a [(Key, &'a Component)],
        address: &str,
    ) -> Self {
        let with = |keyed: &[(Key, &Component)]| {
            keyed.iter().filter(|(_, c)| attendee(c, address).is_some()).map(|(k, _)| *k).collect::<Vec<Key>>()
        };
        Change {
            old,
            new,
            old_zones: old_calendar.map(zones).unwrap_or_else(|| zones(new_calendar)),
            new_zones: zones(new_calendar),
            in_old: with(old),
            in_new: with(new),
        }
    }

    fn find(keyed: &'a [(Key, &'a Component)], key: Key) -> Option<&'a Component> {
        keyed.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
    }

    fn plan(&self) -> Plan<'a> {
        let old_master = Self::find(self.old, None).filter(|_| self.in_old.contains(&None));
        let new_master = Self::find(self.new, None).filter(|_| self.in_new.contains(&None));
        match (old_master, new_master) {
            (Some(old), Some(new)) => {
                // EXDATE is compared per instance below: a new EXDATE is one cancelled instance.
                if content(old, View::Organizer, &["EXDATE"]) != content(new, View::Organizer, &["EXDATE"]) {
                    return Plan::full();
                }
            }
            (None, None) => {}
            // Joined or left the series as a whole: the whole event is new to them.
            _ => return Plan::full(),
        }
        let mut plan = Plan { full: false, requests: Vec::new(), cancels: Vec::new() };
        let mut cancelled: Vec<Key> = Vec::new();
        let mut add_cancel = |plan: &mut Plan<'a>, key: Key, rid: Option<&Property>| {
            if let Some(rid) = rid.filter(|_| !cancelled.contains(&key)) {
                cancelled.push(key);
                plan.cancels.push(rid.clone());
            }
        };
        for (key, component) in self.new.iter().filter(|(k, _)| k.is_some()) {
            let rid = component.property("RECURRENCE-ID");
            let before = Self::find(self.old, *key).filter(|_| self.in_old.contains(key));
            if self.in_new.contains(key) {
                let changed =
                    before.is_none_or(|b| content(b, View::Organizer, &[]) != content(component, View::Organizer, &[]));
                if !changed {
                    continue;
                }
                if is_cancelled(component) {
                    if !before.is_some_and(is_cancelled) {
                        add_cancel(&mut plan, *key, rid);
                    }
                } else {
                    plan.requests.push(component);
                }
            } else {
                // Taken off this one instance: it was theirs through the override or the master.
                let had_it = before.is_some() || (Self::find(self.old, *key).is_none() && old_master.is_some());
                if had_it {
                    add_cancel(&mut plan, *key, rid);
                }
            }
        }
        for (key, component) in self.old.iter().filter(|(k, _)| k.is_some() && self.in_old.contains(k)) {
            if Self::find(self.new, *key).is_some() {
                continue;
            }
            let excluded =
                new_master.is_some_and(|m| exdates(m, &self.new_zones).iter().any(|(t, _)| Some(*t) == *key));
            if excluded || new_master.is_none() {
                add_cancel(&mut plan, *key, component.property("RECURRENCE-ID"));
            } else {
                // The override is gone: the instance is the master's again, which the
                // attendee's copy only learns from the whole event.
                return Plan::full();
            }
        }
        if let (Some(old), Some(new)) = (old_master, new_master) {
            let before: Vec<_> = exdates(old, &self.old_zones).into_iter().map(|(t, _)| t).collect();
            for (instant, rid) in exdates(new, &self.new_zones) {
                if !before.contains(&instant) {
                    add_cancel(&mut plan, Some(instant), Some(&rid));
                }
            }
        }
        plan
    }
}

/// The whole event as one attendee sees it: the master (if they are in it) with an EXDATE
/// for each override they are not in, and the overrides they are in (sabre/vobject's
/// Broker does the same).
fn full_request(new: &Component, keyed: &[(Key, &Component)], address: &str) -> Message {
    let mut calendar = new_calendar(Some(Method::Request));
    calendar.components.extend(timezones(new).cloned());
    let not_in: Vec<&Property> = keyed
        .iter()
        .filter(|(k, c)| k.is_some() && attendee(c, address).is_none())
        .filter_map(|(_, c)| c.property("RECURRENCE-ID"))
        .collect();
    for (key, component) in keyed.iter().filter(|(_, c)| attendee(c, address).is_some()) {
        let mut component = clean(component);
        if key.is_none() {
            for rid in &not_in {
                component.properties.push(Property { name: "EXDATE".into(), ..(*rid).clone() });
            }
        }
        calendar.components.push(component);
    }
    Message { method: Method::Request, recipients: vec![address.to_owned()], calendar }
}

/// A component as it travels: without the server's own parameters and without the
/// organizer's alarms (the attendee keeps their own, see `apply_request`); an attendee
/// without PARTSTAT gets NEEDS-ACTION written out, which iOS needs to show an inbox item.
pub(crate) fn clean(component: &Component) -> Component {
    let mut component = component.clone();
    component.components.retain(|c| c.name != "VALARM");
    for property in component.properties.iter_mut() {
        match property.name.as_str() {
            "ORGANIZER" => remove_params(property, &SERVER_PARAMS),
            "ATTENDEE" => {
                remove_params(property, &SERVER_PARAMS);
                if property.param("PARTSTAT").is_none() {
                    set_param(property, "PARTSTAT", "NEEDS-ACTION");
                }
            }
            _ => {}
        }
    }
    component
}

/// CANCEL of the whole event for every attendee the server schedules for.
fn cancel_everyone(calendar: &Component, organizer_prop: &Property, organizer: &str, raise: bool) -> Vec<Message> {
    participants(std::iter::once(calendar), organizer)
        .into_iter()
        .filter(|(_, property)| server_schedules(property))
        .map(|(address, property)| cancel(calendar, organizer_prop, property, &[], raise, &address))
        .collect()
}

/// A CANCEL (RFC 5546 §3.2.5) to one attendee: of the whole event when `instances` is
/// empty, else of each instance named by a RECURRENCE-ID.
fn cancel(
    source: &Component,
    organizer_prop: &Property,
    attendee_prop: &Property,
    instances: &[Property],
    raise_sequence: bool,
    address: &str,
) -> Message {
    let keyed = keyed(source);
    let template = master(&keyed).or_else(|| keyed.first().map(|(_, c)| *c));
    let mut calendar = new_calendar(Some(Method::Cancel));
    calendar.components.extend(timezones(source).cloned());
    if let Some(template) = template {
        let sequence = template.property("SEQUENCE").and_then(|s| s.value.trim().parse::<u32>().ok()).unwrap_or(0);
        let sequence = if raise_sequence { sequence.saturating_add(1) } else { sequence };
        let rids: Vec<Option<&Property>> =
            if instances.is_empty() { vec![None] } else { instances.iter().map(Some).collect() };
        for rid in rids {
            let mut properties = Vec::new();
            let copy = |name: &str| template.property(name).cloned();
            properties.extend(copy("UID"));
            properties.extend(copy("DTSTAMP"));
            properties.push(plain("SEQUENCE", &sequence.to_string()));
            let mut organizer = organizer_prop.clone();
            remove_params(&mut organizer, &SERVER_PARAMS);
            properties.push(organizer);
            let mut attendee = attendee_prop.clone();
            remove_params(&mut attendee, &SERVER_PARAMS);
            properties.push(attendee);
            properties.extend(copy("SUMMARY"));
            match rid {
                Some(rid) => properties.push(rid.clone()),
                None => {
                    properties.extend(copy("DTSTART"));
                    properties.extend(copy("DTEND").or_else(|| copy("DURATION")));
                }
            }
            properties.push(plain("STATUS", "CANCELLED"));
            calendar.components.push(Component { name: template.name.clone(), properties, components: Vec::new() });
        }
    }
    Message { method: Method::Cancel, recipients: vec![address.to_owned()], calendar }
}

pub(crate) fn plain(name: &str, value: &str) -> Property {
    Property { name: name.into(), params: Vec::new(), value: value.into(), line: 0 }
}
