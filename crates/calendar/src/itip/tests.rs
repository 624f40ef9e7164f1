#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail on the spot

use chrono::TimeZone;

use super::*;
use crate::write_component;

fn fixture(name: &str) -> Component {
    let path = format!("{}/tests/fixtures/itip/{name}.ics", env!("CARGO_MANIFEST_DIR"));
    parse_calendar(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn to(messages: &[Message], address: &str) -> Vec<Message> {
    messages.iter().filter(|m| m.recipients == [address]).cloned().collect()
}

fn events(calendar: &Component) -> Vec<&Component> {
    scheduling_components(calendar).collect()
}

fn value<'a>(component: &'a Component, name: &str) -> Option<&'a str> {
    component.property(name).map(|p| p.value.as_str())
}

fn answer(component: &Component, address: &str) -> String {
    partstat(attendee(component, address).unwrap())
}

fn edited(calendar: &Component, change: impl Fn(&mut Component)) -> Component {
    let mut calendar = calendar.clone();
    calendar.components.iter_mut().filter(|c| is_scheduling(c)).for_each(change);
    calendar
}

/// Bob's copy as delivered from the invitation, then answered.
fn bobs_copy(organizer_copy: &str, partstat: &str) -> Component {
    let messages = organizer_messages(None, Some(&fixture(organizer_copy)));
    let request = &to(&messages, "bob@example.com")[0];
    edited(&apply_request(None, &request.calendar, "bob@example.com"), |c| {
        set_param(attendee_mut(c, "bob@example.com").unwrap(), "PARTSTAT", partstat)
    })
}

#[test]
fn role_is_found_by_address_case_insensitively() {
    let invite = fixture("invite");
    assert_eq!(role(&invite, &["alice@example.com".into()]), Role::Organizer);
    assert_eq!(role(&invite, &["BOB@example.com".into()]), Role::Attendee("bob@example.com".into()));
    assert_eq!(role(&invite, &["zed@example.com".into()]), Role::Neither);
}

#[test]
fn invite_sends_one_request_per_attendee_the_server_schedules_for() {
    let messages = organizer_messages(None, Some(&fixture("invite")));
    let mut recipients: Vec<&str> = messages.iter().map(|m| m.recipients[0].as_str()).collect();
    recipients.sort();
    // Not the organizer listed as attendee, not erin (SCHEDULE-AGENT=CLIENT).
    assert_eq!(recipients, ["bob@example.com", "carol@example.com"]);
    let request = &to(&messages, "carol@example.com")[0];
    assert_eq!(request.method, Method::Request);
    assert_eq!(value(&request.calendar, "METHOD"), Some("REQUEST"));
    assert_eq!(request.calendar.components_named("VTIMEZONE").count(), 1);
    let event = events(&request.calendar)[0];
    assert!(event.components.is_empty(), "the organizer's alarm does not travel");
    assert_eq!(attendee(event, "carol@example.com").unwrap().param("PARTSTAT"), Some("NEEDS-ACTION"));
}

#[test]
fn the_invited_attendee_gets_the_event_with_needs_action() {
    let messages = organizer_messages(None, Some(&fixture("invite")));
    let copy = apply_request(None, &to(&messages, "bob@example.com")[0].calendar, "bob@example.com");
    assert!(copy.property("METHOD").is_none());
    let event = events(&copy)[0];
    assert_eq!(answer(event, "bob@example.com"), "NEEDS-ACTION");
    assert_eq!(value(event, "SUMMARY"), Some("Planning"));
    crate::validate_object(write_component(&copy).as_bytes()).unwrap();
}

#[test]
fn changes_outside_the_organizers_content_send_nothing() {
    let invite = fixture("invite");
    let touched = edited(&invite, |c| {
        set_property(c, "DTSTAMP", "20261125T000000Z");
        set_property(c, "X-MOZ-GENERATION", "7");
        c.components.clear();
        set_param(attendee_mut(c, "bob@example.com").unwrap(), "PARTSTAT", "ACCEPTED");
        set_param(attendee_mut(c, "carol@example.com").unwrap(), "SCHEDULE-STATUS", "1.2");
    });
    assert_eq!(organizer_messages(Some(&invite), Some(&touched)), vec![]);
    assert_eq!(schedule_tag(&invite), schedule_tag(&touched));
}

#[test]
fn a_minor_change_keeps_the_attendees_answer_and_alarms() {
    let invite = fixture("invite");
    let mut accepted = bobs_copy("invite", "ACCEPTED");
    let alarm = fixture("invite").components[1].components[0].clone();
    accepted.components.iter_mut().filter(|c| is_scheduling(c)).for_each(|c| c.components.push(alarm.clone()));
    let renamed = edited(&invite, |c| set_property(c, "SUMMARY", "Planning (room 2)"));
    let messages = organizer_messages(Some(&invite), Some(&renamed));
    assert_eq!(messages.len(), 2, "bob and carol learn the new summary");
    let updated = apply_request(Some(&accepted), &to(&messages, "bob@example.com")[0].calendar, "bob@example.com");
    let event = events(&updated)[0];
    assert_eq!(value(event, "SUMMARY"), Some("Planning (room 2)"));
    assert_eq!(answer(event, "bob@example.com"), "ACCEPTED");
    assert_eq!(event.components_named("VALARM").count(), 1, "bob's alarm stays");
    assert_ne!(schedule_tag(&accepted), schedule_tag(&updated));
}

#[test]
fn reschedule_asks_again() {
    let accepted = bobs_copy("invite", "ACCEPTED");
    let messages = organizer_messages(Some(&fixture("invite")), Some(&fixture("reschedule")));
    let request = &to(&messages, "bob@example.com")[0];
    assert_eq!(request.method, Method::Request);
    let updated = apply_request(Some(&accepted), &request.calendar, "bob@example.com");
    let event = events(&updated)[0];
    assert_eq!(value(event, "DTSTART"), Some("20261202T140000"));
    assert_eq!(answer(event, "bob@example.com"), "NEEDS-ACTION");
    assert_ne!(schedule_tag(&fixture("invite")), schedule_tag(&fixture("reschedule")));
}

#[test]
fn cancel_reaches_every_server_scheduled_attendee_and_marks_their_copy() {
    let messages = organizer_messages(Some(&fixture("invite")), Some(&fixture("cancel")));
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.method == Method::Cancel));
    let cancel = &to(&messages, "bob@example.com")[0];
    let event = events(&cancel.calendar)[0];
    assert_eq!(event.properties_named("ATTENDEE").count(), 1, "only the recipient");
    let copy = apply_cancel(&bobs_copy("invite", "ACCEPTED"), &cancel.calendar);
    assert_eq!(value(events(&copy)[0], "STATUS"), Some("CANCELLED"));
    // Saving the cancelled event again sends nothing more.
    assert_eq!(organizer_messages(Some(&fixture("cancel")), Some(&fixture("cancel"))), vec![]);
}

#[test]
fn deleting_the_organizers_copy_cancels_with_a_higher_sequence() {
    let messages = organizer_messages(Some(&fixture("invite")), None);
    assert_eq!(messages.len(), 2);
    let event = events(&messages[0].calendar)[0];
    assert_eq!(messages[0].method, Method::Cancel);
    assert_eq!(value(event, "SEQUENCE"), Some("1"));
    assert_eq!(value(event, "UID"), Some("meeting-1@example.com"));
}

#[test]
fn added_attendee_is_invited_and_removed_one_cancelled() {
    let messages = organizer_messages(Some(&fixture("invite")), Some(&fixture("add-remove-attendee")));
    assert_eq!(to(&messages, "dave@example.com")[0].method, Method::Request);
    assert_eq!(to(&messages, "carol@example.com")[0].method, Method::Cancel);
    // The attendee list is organizer content: bob sees who is coming now.
    assert_eq!(to(&messages, "bob@example.com")[0].method, Method::Request);
    assert_eq!(messages.len(), 3);
}

#[test]
fn one_instance_moved_and_one_removed_send_only_those_instances() {
    let before = fixture("recurring");
    let after = fixture("recurring-instance-changed");
    let messages = to(&organizer_messages(Some(&before), Some(&after)), "bob@example.com");
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let request = messages.iter().find(|m| m.method == Method::Request).unwrap();
    let moved = events(&request.calendar);
    assert_eq!(moved.len(), 1);
    assert_eq!(value(moved[0], "RECURRENCE-ID"), Some("20261209T090000"));
    let cancel = messages.iter().find(|m| m.method == Method::Cancel).unwrap();
    let removed = events(&cancel.calendar);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].property("RECURRENCE-ID").unwrap().param("TZID"), Some("Europe/Berlin"));
    assert_eq!(value(removed[0], "RECURRENCE-ID"), Some("20261216T090000"));

    let copy = bobs_copy("recurring", "ACCEPTED");
    let copy = apply_request(Some(&copy), &request.calendar, "bob@example.com");
    let copy = apply_cancel(&copy, &cancel.calendar);
    let instances = events(&copy);
    assert_eq!(instances.len(), 3, "master, moved instance, cancelled instance");
    assert_eq!(answer(instances[0], "bob@example.com"), "ACCEPTED", "the series answer stands");
    let moved = instances.iter().find(|c| value(c, "RECURRENCE-ID") == Some("20261209T090000")).unwrap();
    assert_eq!(answer(moved, "bob@example.com"), "NEEDS-ACTION", "a moved instance is asked again");
    let cancelled = instances.iter().find(|c| value(c, "RECURRENCE-ID") == Some("20261216T090000")).unwrap();
    assert_eq!(value(cancelled, "STATUS"), Some("CANCELLED"));
    assert_eq!(value(cancelled, "DURATION"), Some("PT30M"));
    crate::validate_object(write_component(&copy).as_bytes()).unwrap();
}

#[test]
fn accepting_the_series_replies_for_the_master_only_with_the_one_attendee() {
    let delivered = bobs_copy("recurring", "NEEDS-ACTION");
    let accepted = bobs_copy("recurring", "ACCEPTED");
    assert_eq!(check_attendee_change(&delivered, &accepted, "bob@example.com"), Ok(()));
    let reply = attendee_reply(Some(&delivered), Some(&accepted), "bob@example.com").unwrap();
    assert_eq!(reply.method, Method::Reply);
    assert_eq!(reply.recipients, ["alice@example.com"]);
    let parts = events(&reply.calendar);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].property("RECURRENCE-ID").is_none());
    assert_eq!(parts[0].properties_named("ATTENDEE").count(), 1);
    assert_eq!(answer(parts[0], "bob@example.com"), "ACCEPTED");

    let organizer_copy = fixture("recurring");
    let merged = apply_reply(&organizer_copy, &reply.calendar).unwrap();
    let master = events(&merged)[0];
    let bob = attendee(master, "bob@example.com").unwrap();
    assert_eq!(bob.param("PARTSTAT"), Some("ACCEPTED"));
    assert_eq!(bob.param("SCHEDULE-STATUS"), Some("2.0"));
    assert_eq!(bob.param("RSVP"), None);
    assert_eq!(answer(master, "carol@example.com"), "NEEDS-ACTION");
    assert_eq!(schedule_tag(&organizer_copy), schedule_tag(&merged), "a reply keeps the Schedule-Tag");
}

#[test]
fn declining_one_instance_replies_for_that_instance_and_overrides_it_at_the_organizer() {
    let accepted = fixture("recurring-accepted-by-bob");
    let declined = fixture("recurring-one-instance-declined");
    assert_eq!(check_attendee_change(&accepted, &declined, "bob@example.com"), Ok(()));
    let reply = attendee_reply(Some(&accepted), Some(&declined), "bob@example.com").unwrap();
    let parts = events(&reply.calendar);
    assert_eq!(parts.len(), 1, "{:#?}", reply.calendar);
    assert_eq!(value(parts[0], "RECURRENCE-ID"), Some("20261223T090000"));
    assert_eq!(answer(parts[0], "bob@example.com"), "DECLINED");

    let organizer_copy = apply_reply(&fixture("recurring"), &reply.calendar).unwrap();
    let instances = events(&organizer_copy);
    assert_eq!(instances.len(), 2);
    assert_eq!(answer(instances[0], "bob@example.com"), "NEEDS-ACTION", "the series is untouched");
    assert_eq!(value(instances[1], "RECURRENCE-ID"), Some("20261223T090000"));
    assert_eq!(value(instances[1], "DTSTART"), Some("20261223T090000"));
    assert!(instances[1].property("RRULE").is_none());
    assert_eq!(answer(instances[1], "bob@example.com"), "DECLINED");
    assert_eq!(attendee(instances[1], "bob@example.com").unwrap().param("SCHEDULE-STATUS"), Some("2.0"));
    crate::validate_object(write_component(&organizer_copy).as_bytes()).unwrap();
    // A second reply for the same instance updates the override just made.
    let again = apply_reply(&organizer_copy, &reply.calendar).unwrap();
    assert_eq!(events(&again).len(), 2);
}

#[test]
fn a_reply_to_an_instance_that_does_not_exist_or_from_a_stranger_changes_nothing() {
    let organizer_copy = fixture("recurring");
    let mut reply = attendee_reply(
        Some(&fixture("recurring-accepted-by-bob")),
        Some(&fixture("recurring-one-instance-declined")),
        "bob@example.com",
    )
    .unwrap();
    let wrong_day = edited(&reply.calendar, |c| {
        c.properties.iter_mut().filter(|p| p.name == "RECURRENCE-ID").for_each(|p| p.value = "20261224T090000".into())
    });
    assert_eq!(apply_reply(&organizer_copy, &wrong_day), None);
    reply.calendar = edited(&reply.calendar, |c| {
        c.properties.iter_mut().filter(|p| p.name == "ATTENDEE").for_each(|p| p.value = "mailto:zed@example.com".into())
    });
    assert_eq!(apply_reply(&organizer_copy, &reply.calendar), None);
}

#[test]
fn removing_an_instance_as_attendee_declines_it() {
    let accepted = fixture("recurring-accepted-by-bob");
    let removed = edited(&accepted, |c| {
        c.properties.push(Property {
            name: "EXDATE".into(),
            params: vec![Parameter { name: "TZID".into(), values: vec!["Europe/Berlin".into()] }],
            value: "20261230T090000".into(),
            line: 0,
        })
    });
    assert_eq!(check_attendee_change(&accepted, &removed, "bob@example.com"), Ok(()));
    let reply = attendee_reply(Some(&accepted), Some(&removed), "bob@example.com").unwrap();
    let parts = events(&reply.calendar);
    assert_eq!(parts.len(), 1);
    assert_eq!(value(parts[0], "RECURRENCE-ID"), Some("20261230T090000"));
    assert_eq!(answer(parts[0], "bob@example.com"), "DECLINED");
}

#[test]
fn deleting_the_attendees_copy_declines_unless_declined_already() {
    let accepted = bobs_copy("invite", "ACCEPTED");
    let reply = attendee_reply(Some(&accepted), None, "bob@example.com").unwrap();
    assert_eq!(answer(events(&reply.calendar)[0], "bob@example.com"), "DECLINED");
    assert_eq!(attendee_reply(Some(&bobs_copy("invite", "DECLINED")), None, "bob@example.com"), None);
}

#[test]
fn no_reply_when_nothing_was_answered_or_the_organizer_schedules_itself() {
    let delivered = bobs_copy("invite", "NEEDS-ACTION");
    assert_eq!(attendee_reply(None, Some(&delivered), "bob@example.com"), None);
    let with_alarm = edited(&delivered, |c| set_property(c, "X-MOZ-LASTACK", "20261130T000000Z"));
    assert_eq!(attendee_reply(Some(&delivered), Some(&with_alarm), "bob@example.com"), None);
    let client_agent = edited(&delivered, |c| {
        let organizer = c.properties.iter_mut().find(|p| p.name == "ORGANIZER").unwrap();
        set_param(organizer, "SCHEDULE-AGENT", "CLIENT");
    });
    let answered =
        edited(&client_agent, |c| set_param(attendee_mut(c, "bob@example.com").unwrap(), "PARTSTAT", "ACCEPTED"));
    assert_eq!(attendee_reply(Some(&client_agent), Some(&answered), "bob@example.com"), None);
}

#[test]
fn an_attendee_may_not_move_the_meeting() {
    let delivered = bobs_copy("invite", "NEEDS-ACTION");
    let moved = edited(&delivered, |c| {
        c.properties.iter_mut().filter(|p| p.name == "DTSTART").for_each(|p| p.value = "20261201T120000".into())
    });
    let refused = check_attendee_change(&delivered, &moved, "bob@example.com").unwrap_err();
    assert_eq!(refused.what, "DTSTART");
    let own_business = edited(&delivered, |c| {
        set_param(attendee_mut(c, "bob@example.com").unwrap(), "PARTSTAT", "TENTATIVE");
        set_property(c, "TRANSP", "TRANSPARENT");
        set_property(c, "SEQUENCE", "3");
        set_property(c, "DTSTAMP", "20261130T000000Z");
        set_property(c, "CREATED", "20261130T000000Z");
        set_param(attendee_mut(c, "carol@example.com").unwrap(), "CUTYPE", "INDIVIDUAL");
        set_property(c, "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", "AUTOMATIC");
        c.components.push(fixture("invite").components[1].components[0].clone());
    });
    assert_eq!(check_attendee_change(&delivered, &own_business, "bob@example.com"), Ok(()));
    let new_attendee = edited(&delivered, |c| {
        c.properties.push(Property {
            name: "ATTENDEE".into(),
            params: vec![],
            value: "mailto:mallory@example.com".into(),
            line: 0,
        })
    });
    assert!(check_attendee_change(&delivered, &new_attendee, "bob@example.com").is_err());
}

#[test]
fn force_send_sends_and_is_then_stripped_with_the_delivery_status() {
    let invite = fixture("invite");
    let forced =
        edited(&invite, |c| set_param(attendee_mut(c, "bob@example.com").unwrap(), "SCHEDULE-FORCE-SEND", "REQUEST"));
    let messages = organizer_messages(Some(&invite), Some(&forced));
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].recipients, ["bob@example.com"]);
    let text = write_component(&messages[0].calendar);
    assert!(!text.contains("SCHEDULE-FORCE-SEND"), "{text}");
    let stored = set_schedule_status(&forced, &[("bob@example.com".into(), "1.2".into())]);
    let bob = attendee(events(&stored)[0], "bob@example.com").unwrap();
    assert_eq!(bob.param("SCHEDULE-STATUS"), Some("1.2"));
    assert_eq!(bob.param("SCHEDULE-FORCE-SEND"), None);
    assert_eq!(attendee(events(&stored)[0], "carol@example.com").unwrap().param("SCHEDULE-STATUS"), None);
}

#[test]
fn messages_read_back_as_what_they_are() {
    let messages = organizer_messages(None, Some(&fixture("invite")));
    let stamped = messages[0].clone().stamped(Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap());
    assert_eq!(value(events(&stamped.calendar)[0], "DTSTAMP"), Some("20261129T080000Z"));
    let parsed = parse_message(write_component(&stamped.calendar).as_bytes()).unwrap();
    assert_eq!(parsed.method, Method::Request);
    assert_eq!(parsed.recipients, ["bob@example.com", "carol@example.com", "erin@example.com"]);
    assert_eq!(parsed.uid(), Some("meeting-1@example.com"));
    let reply = attendee_reply(
        Some(&bobs_copy("invite", "NEEDS-ACTION")),
        Some(&bobs_copy("invite", "TENTATIVE")),
        "bob@example.com",
    )
    .unwrap();
    let parsed = parse_message(write_component(&reply.calendar).as_bytes()).unwrap();
    assert_eq!((parsed.method, parsed.recipients), (Method::Reply, vec!["alice@example.com".to_owned()]));
    assert!(matches!(parse_message(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"), Err(InvalidMessage::NoMethod)));
}

#[test]
fn a_client_copy_older_than_the_replies_keeps_the_answers() {
    let stored = apply_reply(
        &fixture("recurring"),
        &attendee_reply(
            Some(&fixture("recurring-accepted-by-bob")),
            Some(&fixture("recurring-one-instance-declined")),
            "bob@example.com",
        )
        .unwrap()
        .calendar,
    )
    .unwrap();
    let stale = edited(&stored, |c| {
        set_property(c, "SUMMARY", "Standup (new room)");
        for attendee in c.properties.iter_mut().filter(|p| p.name == "ATTENDEE") {
            set_param(attendee, "PARTSTAT", "NEEDS-ACTION");
        }
    });
    let merged = keep_replies(&stored, &stale);
    let declined = events(&merged).into_iter().find(|c| c.property("RECURRENCE-ID").is_some()).unwrap();
    assert_eq!(answer(declined, "bob@example.com"), "DECLINED");
    assert_eq!(attendee(declined, "bob@example.com").unwrap().param("SCHEDULE-STATUS"), Some("2.0"));
    assert_eq!(answer(events(&merged)[0], "alice@example.com"), "ACCEPTED");
    assert_eq!(value(events(&merged)[0], "SUMMARY"), Some("Standup (new room)"));
}

#[test]
fn an_attendee_may_change_anything_when_the_organizers_client_schedules() {
    let delivered = edited(&bobs_copy("invite", "NEEDS-ACTION"), |c| {
        set_param(c.properties.iter_mut().find(|p| p.name == "ORGANIZER").unwrap(), "SCHEDULE-AGENT", "CLIENT")
    });
    let moved = edited(&delivered, |c| set_property(c, "SUMMARY", "mine now"));
    assert_eq!(check_attendee_change(&delivered, &moved, "bob@example.com"), Ok(()));
}

#[test]
fn an_attendee_of_one_instance_only_gets_that_instance_and_loses_it_alone() {
    let before = fixture("recurring-instance-changed");
    let dave = Property { name: "ATTENDEE".into(), params: vec![], value: "mailto:dave@example.com".into(), line: 0 };
    let mut after = before.clone();
    let moved = after.components.iter_mut().find(|c| c.property("RECURRENCE-ID").is_some()).unwrap();
    moved.properties.push(dave);
    let messages = to(&organizer_messages(Some(&before), Some(&after)), "dave@example.com");
    assert_eq!(messages.len(), 1);
    let parts = events(&messages[0].calendar);
    assert_eq!(parts.len(), 1, "only the instance dave is invited to");
    assert_eq!(value(parts[0], "RECURRENCE-ID"), Some("20261209T090000"));
    let copy = apply_request(None, &messages[0].calendar, "dave@example.com");
    crate::validate_object(write_component(&copy).as_bytes()).unwrap();
    // Bob and carol see the attendee list of that instance change.
    assert_eq!(to(&organizer_messages(Some(&before), Some(&after)), "bob@example.com")[0].method, Method::Request);

    let cancel = to(&organizer_messages(Some(&after), Some(&before)), "dave@example.com");
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].method, Method::Cancel);
}

#[test]
fn an_override_cancelled_sends_an_instance_cancel_and_one_dropped_sends_the_whole_event() {
    let before = fixture("recurring-instance-changed");
    let cancelled = {
        let mut calendar = before.clone();
        let moved = calendar.components.iter_mut().find(|c| c.property("RECURRENCE-ID").is_some()).unwrap();
        set_property(moved, "STATUS", "CANCELLED");
        calendar
    };
    let messages = to(&organizer_messages(Some(&before), Some(&cancelled)), "bob@example.com");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].method, Method::Cancel);
    assert_eq!(value(events(&messages[0].calendar)[0], "RECURRENCE-ID"), Some("20261209T090000"));

    let reverted = {
        let mut calendar = before.clone();
        calendar.components.retain(|c| c.property("RECURRENCE-ID").is_none());
        calendar
    };
    let messages = to(&organizer_messages(Some(&before), Some(&reverted)), "bob@example.com");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].method, Method::Request);
    let parts = events(&messages[0].calendar);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].property("RRULE").is_some(), "the whole series again");
}
