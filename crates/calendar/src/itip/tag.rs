//! The Schedule-Tag (RFC 6638 §3.2.10) and the content comparisons implicit scheduling
//! makes: both ask "did what the organizer controls change?".

use sha2::{Digest, Sha256};

use super::{canonical_line, keyed, remove_params, scheduling_components};
use crate::component::{Component, Property};

/// Which parts of a component count as content for a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    /// What the organizer controls: the Schedule-Tag and "does this attendee need a new
    /// REQUEST?".
    Organizer,
    /// What an attendee may not change in their copy (RFC 6638 §3.2.2.1): the organizer's
    /// content, less SEQUENCE (Android's calendar provider, through DAVx5, bumps it on any
    /// local edit), TRANSP (the attendee's own busy/free choice), and CREATED and COLOR, which
    /// a client's own store writes when it first saves the copy it received (RFC 7986 COLOR is
    /// how that user's calendar shows it).
    Attendee,
}

/// The Schedule-Tag of a stored scheduling object resource.
///
/// RFC 6638 §3.2.10 wants the tag to change when the organizer changes the event (and when
/// the server writes an organizer's update into an attendee's copy), but not when the server
/// merges a REPLY into the organizer's copy, so that a client holding the tag may still
/// write. A digest of the organizer-controlled content gives exactly that without a second
/// version stored beside the ETag. Left out of the digest are:
/// - ATTENDEE `PARTSTAT`, `RSVP`, `SCHEDULE-STATUS` and `SCHEDULE-FORCE-SEND`, ORGANIZER
///   `SCHEDULE-STATUS`/`SCHEDULE-FORCE-SEND`: what replies and delivery write;
/// - DTSTAMP and LAST-MODIFIED: every client rewrites them on every save;
/// - VALARMs and `X-` properties: each user's own client state (alarms, Apple/Mozilla
///   bookkeeping such as `X-MOZ-LASTACK`), which the organizer does not control either;
/// - SEQUENCE, TRANSP, CREATED and COLOR, which attendees' clients rewrite in their own copy
///   (Android through DAVx5 and python caldav's `change_attendee_status` bump SEQUENCE with an
///   answer): every organizer change that matters changes other content as well.
///
/// An attendee's own answer therefore keeps the tag too: the attendee's client, which
/// sends `If-Schedule-Tag-Match` (DAVx5), is not made to re-read its copy for its own change.
pub fn schedule_tag(calendar: &Component) -> String {
    let mut hasher = Sha256::new();
    let mut instances: Vec<(Option<i64>, Vec<String>)> = keyed(calendar)
        .into_iter()
        .map(|(key, component)| (key.map(|k| k.timestamp()), content(component, View::Organizer, TAG_IGNORES)))
        .collect();
    instances.sort();
    for (key, lines) in instances {
        hasher.update(format!("{key:?}\n"));
        for line in lines {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
    }
    // Components whose RECURRENCE-ID cannot be read still count, so no change is invisible.
    if scheduling_components(calendar).count() != keyed(calendar).len() {
        for component in scheduling_components(calendar) {
            hasher.update(crate::write_component(component).as_bytes());
        }
    }
    format!("s{}", hex::encode(&hasher.finalize()[..12]))
}

/// What the Schedule-Tag leaves out beyond what `View::Organizer` does (see [`schedule_tag`]).
const TAG_IGNORES: &[&str] = &["SEQUENCE", "TRANSP", "CREATED", "COLOR"];

/// The content lines of `component` as `view` sees it, sorted, without the properties named
/// in `except`. Sub-components other than VALARM count, each line prefixed with its name.
pub(crate) fn content(component: &Component, view: View, except: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    collect(component, view, except, "", &mut lines);
    lines.sort();
    lines
}

fn collect(component: &Component, view: View, except: &[&str], prefix: &str, lines: &mut Vec<String>) {
    for property in &component.properties {
        if except.contains(&property.name.as_str()) || ignored(&property.name, view) {
            continue;
        }
        lines.push(format!("{prefix}{}", canonical_line(&comparable(property, view))));
    }
    for child in component.components.iter().filter(|c| c.name != "VALARM") {
        collect(child, view, except, &format!("{prefix}{}/", child.name), lines);
    }
}

fn ignored(name: &str, view: View) -> bool {
    matches!(name, "DTSTAMP" | "LAST-MODIFIED")
        || name.starts_with("X-")
        || (view == View::Attendee && matches!(name, "SEQUENCE" | "TRANSP" | "CREATED" | "COLOR"))
}

fn comparable(property: &Property, view: View) -> Property {
    let mut property = property.clone();
    if view == View::Attendee && matches!(property.name.as_str(), "ATTENDEE" | "ORGANIZER") {
        // Who is invited and who organizes, nothing more: clients rewrite these parameters
        // when they store a copy (CUTYPE=INDIVIDUAL added, RSVP=FALSE dropped, CN re-quoted).
        property.params.clear();
        return property;
    }
    match property.name.as_str() {
        "ATTENDEE" => remove_params(&mut property, &["PARTSTAT", "RSVP", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND"]),
        "ORGANIZER" => remove_params(&mut property, &["SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND"]),
        _ => {}
    }
    property
}
