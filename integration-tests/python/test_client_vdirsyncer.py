"""vdirsyncer 0.21.0 and khal 0.14.1, the real programs (PyPI, requirements.txt), against the
gateway over real TLS (vdirsyncer's `verify` names the gateway's CA).

One user with an event calendar and a task list the test makes (MKCALENDAR with name, colour
and order): `vdirsyncer discover` from the bare host (and from /.well-known/caldav), `sync`
into a filesystem vdir both ways, `metasync` of name, colour and order, a calendar made in
the vdir and created by vdirsyncer's MKCOL, a recurring event with a moved instance in both
directions, a conflict reported and then resolved with `conflict_resolution = "a wins"`, the
calendar-query path vdirsyncer takes with `item_types` and a time range, a first sync past
the multiget href limit (quirks/unchunked_multiget.rs), and khal listing what vdirsyncer
synced and making an event that vdirsyncer uploads. How vdirsyncer talks to a server (what
these checks rest on) is in docs/clients/vdirsyncer.md; the helpers are in
vdirsyncer_driver.py.

The requests vdirsyncer sent are read from its own debug log (`-v debug`: http.py `request`
logs method, URL and headers of each request), so the conditional headers it uses are checked
as sent, not assumed.
"""

import re
import shutil
import tempfile
import uuid
from pathlib import Path

import icalendar
import pytest

from icalendar_samples import event, todo
from vdirsyncer_driver import (
    USER, GatewaySide, LocalSide, Vdirsyncer, discovered, fixture_ics, meaning, requests_for, run_khal, summaries,
)


def khal(setup, *args):
    return run_khal(setup["workdir"], setup["syncer"].vdir, *args)


@pytest.fixture(scope="module")
def setup(module_gateway):
    """Two calendars of the user's on the gateway, each with one item that stays (vdirsyncer
    refuses to sync a collection that one side emptied completely: sync/__init__.py
    StorageEmpty), discovered and synced once into a fresh vdir."""
    gateway = module_gateway
    remote = GatewaySide(gateway, USER)
    suffix = uuid.uuid4().hex[:8]
    events, tasks = f"vds-events-{suffix}", f"vds-tasks-{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="vdirsyncer-test-"))
    try:
        remote.mkcalendar(events, "Work events", "#1E88E5FF", 2, "VEVENT")
        remote.mkcalendar(tasks, "Work tasks", "#43A047FF", 3, "VTODO")
        _, seed_event = event("Seed event", uid=f"seed-event-{suffix}", start="20310105T090000Z", end="20310105T100000Z")
        _, seed_task = todo("Seed task", uid=f"seed-task-{suffix}", due="20310105T170000Z")
        remote.put(events, f"seed-event-{suffix}.ics", seed_event)
        remote.put(tasks, f"seed-task-{suffix}.ics", seed_task)
        syncer = Vdirsyncer(workdir, gateway, "main", gateway.url, [events, tasks])
        _, discover_log, discover_sent = syncer.run("discover")
        syncer.run("sync")
        syncer.run("metasync")
        yield {
            "gateway": gateway, "remote": remote, "syncer": syncer, "local": LocalSide(syncer.vdir),
            "events": events, "tasks": tasks, "workdir": workdir,
            "seed_event": f"seed-event-{suffix}", "seed_task": f"seed-task-{suffix}",
            "discover_log": discover_log, "discover_sent": discover_sent,
        }
    finally:
        remote.delete_calendar(events)
        remote.delete_calendar(tasks)
        shutil.rmtree(workdir, ignore_errors=True)


def test_discovery_from_the_bare_host_finds_both_calendars_and_no_scheduling_box(setup):
    remote, local, log, sent = setup["remote"], setup["local"], setup["discover_log"], setup["discover_sent"]
    # dav.py Discover: PROPFIND Depth 1 on the URL given (no calendar there), then
    # current-user-principal (Depth 0), calendar-home-set (Depth 0), the home (Depth 1).
    walked = [(m, url.removeprefix(setup["gateway"].url.rstrip("/")), h.get("Depth")) for m, url, h, _ in sent[:4]]
    assert walked[0] == ("PROPFIND", "/", "1"), walked
    assert walked[1] == ("PROPFIND", "/", "0"), walked
    assert walked[2] == ("PROPFIND", remote.principal, "0"), walked
    assert walked[3] == ("PROPFIND", remote.home, "1"), walked
    assert all(h["User-Agent"] == "vdirsyncer/0.21.0" for _, _, h, _ in sent), sent
    # Every calendar collection of the user, nothing else (inbox and outbox are not calendars).
    found = discovered(log)
    assert found == remote.calendar_collections(), (found, log)
    assert {setup["events"], setup["tasks"]} <= found and not {"inbox", "outbox"} & found
    assert {p.name for p in local.root.iterdir() if p.is_dir()} == {setup["events"], setup["tasks"]}


def test_discovery_from_well_known_finds_the_same_calendars(setup):
    # aiohttp follows the gateway's 301 with the same method and body (it changes them only
    # for 303, and for POST on 301/302: aiohttp 3.14.5 client.py `_request`).
    url = setup["gateway"].url.rstrip("/") + "/.well-known/caldav"
    syncer = Vdirsyncer(setup["workdir"], setup["gateway"], "wellknown", url, [setup["events"], setup["tasks"]])
    _, log, sent = syncer.run("discover")
    # vdirsyncer adds a slash to every storage URL (dav.py DAVSession.__init__).
    assert sent[0][:2] == ("PROPFIND", url + "/"), sent
    assert discovered(log) == setup["remote"].calendar_collections(), log


def test_metasync_brings_name_colour_and_order_into_the_vdir(setup):
    local, events, tasks = setup["local"], setup["events"], setup["tasks"]
    assert local.meta(events, "displayname") == "Work events"
    assert local.meta(tasks, "displayname") == "Work tasks"
    assert local.meta(events, "color") == "#1E88E5FF"
    assert local.meta(tasks, "color") == "#43A047FF"
    assert local.meta(events, "order") == "2"
    assert local.meta(tasks, "order") == "3"


def test_calendar_made_in_the_vdir_is_created_on_the_gateway_and_renamed_both_ways(setup):
    """vdirsyncer creates a missing collection with an extended MKCOL (dav.py
    Discover._create_collection_impl, RFC 5689) when `implicit = "create"`, and metasync
    copies displayname and colour with PROPPATCH / PROPFIND (dav.py set_meta, get_meta).
    It never deletes a collection; the test does, over raw HTTP."""
    remote, workdir, gateway = setup["remote"], setup["workdir"], setup["gateway"]
    name = f"vds-made-{uuid.uuid4().hex[:8]}"
    syncer = Vdirsyncer(workdir, gateway, "made", gateway.url, [name])
    local = LocalSide(syncer.vdir)
    (syncer.vdir / name).mkdir()
    uid, ics = event("Ski trip", uid=f"ski-{uuid.uuid4().hex}", start="20310201T080000Z", end="20310201T170000Z")
    local.write(name, f"{uid}.ics", ics)
    (syncer.vdir / name / "displayname").write_text("Holidays")
    (syncer.vdir / name / "color").write_text("#FF5722FF")
    try:
        _, log, sent = syncer.run("discover")
        made = [(url, body) for m, url, _, body in sent if m == "MKCOL"]
        assert [url for url, _ in made] == [f"{gateway.url.rstrip('/')}{remote.home}{name}"], (made, log)
        assert b'<ns0:calendar xmlns:ns0="urn:ietf:params:xml:ns:caldav" />' in made[0][1], made
        assert name in remote.calendar_collections()

        syncer.run("sync")
        assert meaning(remote.by_uid(name)[uid][1]) == meaning(ics)
        # vdirsyncer's MKCOL carries no displayname, and the gateway names every calendar
        # (its URL segment when none was set: properties.rs calendar_value), so the first
        # metasync finds two names and no earlier status: a conflict (metasync.py
        # MetaSyncConflict), reported, while the colour, unset on the gateway, is copied.
        code, log, _ = syncer.run("metasync", expect_ok=False)
        assert code != 0 and f"gateway_pair/{name}: displayname" in log, log
        assert remote.properties(name) == {"displayname": name, "calendar-color": "#FF5722FF", "calendar-order": None}
        try:
            syncer.configure('conflict_resolution = "b wins"')
            syncer.run("metasync")
        finally:
            syncer.configure("")
        assert remote.properties(name)["displayname"] == "Holidays"

        remote.rename(name, "Holidays 2031")
        syncer.run("metasync")
        assert local.meta(name, "displayname") == "Holidays 2031"
        (syncer.vdir / name / "displayname").write_text("Trips")
        syncer.run("metasync")
        assert remote.properties(name)["displayname"] == "Trips"
    finally:
        remote.delete_calendar(name)


def test_initial_sync_brought_both_seed_items(setup):
    local = setup["local"]
    assert summaries(local.by_uid(setup["events"])[setup["seed_event"]][1]) == ["Seed event"]
    assert summaries(local.by_uid(setup["tasks"])[setup["seed_task"]][1]) == ["Seed task"]


def test_event_created_changed_deleted_on_the_gateway_arrives_in_the_vdir(setup):
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    uid, ics = event("Dentist", uid=f"{uuid.uuid4()}@example.com", start="20310110T080000Z", end="20310110T090000Z")
    href = remote.put(events, f"{uuid.uuid4().hex}.ics", ics)

    _, _, sent = syncer.run("sync")
    # Fetched in one calendar-multiget REPORT naming the new href (dav.py get_multi).
    assert any(m == "REPORT" and url.endswith(f"/{events}/") for m, url, _, _ in sent), sent
    assert meaning(local.by_uid(events)[uid][1]) == meaning(ics)

    remote.replace(events, href, ics.replace("SUMMARY:Dentist", "SUMMARY:Dentist (rebooked)"))
    syncer.run("sync")
    assert summaries(local.by_uid(events)[uid][1]) == ["Dentist (rebooked)"]

    remote.delete(href, remote.items(events)[href])
    syncer.run("sync")
    assert uid not in local.by_uid(events)


def test_event_created_changed_deleted_in_the_vdir_arrives_on_the_gateway_with_conditional_writes(setup):
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    # A UID with only characters vdirsyncer finds safe becomes the href (utils.py generate_href).
    uid, ics = event("Haircut", uid=f"haircut-{uuid.uuid4().hex}", start="20310111T080000Z", end="20310111T090000Z")
    local.write(events, f"{uid}.ics", ics)

    _, _, sent = syncer.run("sync")
    created = requests_for(sent, "PUT", f"/{events}/{uid}.ics")
    assert len(created) == 1 and created[0].get("If-None-Match") == "*", sent
    assert created[0]["Content-Type"] == "text/calendar", created
    href, body, etag = remote.by_uid(events)[uid]
    assert href.endswith(f"/{events}/{uid}.ics")
    assert meaning(body) == meaning(ics)

    local.write(events, f"{uid}.ics", ics.replace("SUMMARY:Haircut", "SUMMARY:Haircut at 10"))
    _, _, sent = syncer.run("sync")
    updated = requests_for(sent, "PUT", f"/{events}/{uid}.ics")
    # The ETag the gateway answered the first PUT with (or listed since) is the precondition.
    assert len(updated) == 1 and updated[0].get("If-Match") == etag, (updated, etag)
    assert summaries(remote.by_uid(events)[uid][1]) == ["Haircut at 10"]

    new_etag = remote.items(events)[href]
    (local.root / events / f"{uid}.ics").unlink()
    _, _, sent = syncer.run("sync")
    deleted = requests_for(sent, "DELETE", f"/{events}/{uid}.ics")
    assert len(deleted) == 1 and deleted[0].get("If-Match") == new_etag, (deleted, new_etag)
    assert uid not in remote.by_uid(events)


def test_uid_vdirsyncer_finds_unsafe_gets_a_random_href_and_still_syncs(setup):
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    uid, ics = event("Lunch", uid=f"{uuid.uuid4()}@example.com", start="20310112T110000Z", end="20310112T120000Z")
    local.write(events, "lunch.ics", ics)
    syncer.run("sync")
    href, body, _ = remote.by_uid(events)[uid]
    assert re.search(r"/[0-9a-f-]{36}\.ics$", href), href
    assert meaning(body) == meaning(ics)
    (local.root / events / "lunch.ics").unlink()
    syncer.run("sync")
    assert uid not in remote.by_uid(events)


def test_task_with_due_date_and_completion_syncs_both_ways(setup):
    remote, local, syncer, tasks = setup["remote"], setup["local"], setup["syncer"], setup["tasks"]
    uid, ics = todo("File taxes", uid=f"taxes-{uuid.uuid4().hex}", due="20310131T170000Z")
    remote.put(tasks, f"{uid}.ics", ics)
    syncer.run("sync")
    path, text = local.by_uid(tasks)[uid]
    assert meaning(text) == meaning(ics)

    completed = ics.replace(
        "STATUS:NEEDS-ACTION\r\n", "STATUS:COMPLETED\r\nCOMPLETED:20310130T100000Z\r\nPERCENT-COMPLETE:100\r\n"
    )
    local.write(tasks, path.name, completed)
    syncer.run("sync")
    todo_on_gateway = icalendar.Calendar.from_ical(remote.by_uid(tasks)[uid][1]).walk("VTODO")[0]
    assert str(todo_on_gateway["STATUS"]) == "COMPLETED"
    assert todo_on_gateway["COMPLETED"].to_ical() == b"20310130T100000Z"
    assert todo_on_gateway["DUE"].to_ical() == b"20310131T170000Z"
    assert int(todo_on_gateway["PERCENT-COMPLETE"]) == 100

    (local.root / tasks / path.name).unlink()
    syncer.run("sync")
    assert uid not in remote.by_uid(tasks)


def test_recurring_event_with_a_moved_instance_round_trips_both_ways(setup):
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    from_gateway_uid = f"standup-{uuid.uuid4().hex}"
    from_gateway = fixture_ics("standup-recurring.ics", uid=from_gateway_uid, summary="Standup")
    remote.put(events, f"{from_gateway_uid}.ics", from_gateway)
    from_vdir_uid = f"retro-{uuid.uuid4().hex}"
    from_vdir = fixture_ics("standup-recurring.ics", uid=from_vdir_uid, summary="Retro")
    local.write(events, f"{from_vdir_uid}.ics", from_vdir)

    syncer.run("sync")
    assert meaning(local.by_uid(events)[from_gateway_uid][1]) == meaning(from_gateway)
    assert meaning(remote.by_uid(events)[from_vdir_uid][1]) == meaning(from_vdir)

    # A second sync finds nothing to do: what the gateway serves hashes like what was sent.
    _, log, sent = syncer.run("sync")
    writes = [(m, url) for m, url, _, _ in sent if m in ("PUT", "DELETE")]
    assert writes == [], (writes, log[-3000:])


def test_conflict_is_reported_and_keeps_both_versions_then_a_wins_resolves_it(setup):
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    uid, ics = event("Board meeting", uid=f"board-{uuid.uuid4().hex}", start="20310115T130000Z", end="20310115T140000Z")
    href = remote.put(events, f"{uid}.ics", ics)
    syncer.run("sync")
    path, _ = local.by_uid(events)[uid]

    remote.replace(events, href, ics.replace("SUMMARY:Board meeting", "SUMMARY:Board meeting (gateway)"))
    local_version = ics.replace("SUMMARY:Board meeting", "SUMMARY:Board meeting (laptop)")
    local.write(events, path.name, local_version)

    code, log, sent = syncer.run("sync", expect_ok=False)
    assert code != 0, log
    # cli/utils.py handle_cli_error, SyncConflict.
    assert "One item changed on both sides" in log, log
    assert f"Item ID: {uid}" in log, log
    assert not [url for m, url, _, _ in sent if m in ("PUT", "DELETE") and url.endswith(href)], sent
    assert summaries(remote.by_uid(events)[uid][1]) == ["Board meeting (gateway)"]
    assert summaries(local.by_uid(events)[uid][1]) == ["Board meeting (laptop)"]

    try:
        syncer.configure('conflict_resolution = "a wins"')
        _, _, sent = syncer.run("sync")
    finally:
        syncer.configure("")
    # a (the gateway) wins: only the vdir is written (sync/__init__.py ResolveConflict).
    assert not [m for m, _, _, _ in sent if m in ("PUT", "DELETE")], sent
    assert summaries(local.by_uid(events)[uid][1]) == ["Board meeting (gateway)"]
    assert summaries(remote.by_uid(events)[uid][1]) == ["Board meeting (gateway)"]
    _, _, sent = syncer.run("sync")
    assert not [m for m, _, _, _ in sent if m in ("PUT", "DELETE")], sent


def test_item_types_and_time_range_sync_through_calendar_query(setup):
    """With `item_types` and start/end dates vdirsyncer lists through calendar-query REPORTs
    (one per component, with a time-range) instead of PROPFIND (dav.py CalDAVStorage.list)."""
    remote, events, tasks = setup["remote"], setup["events"], setup["tasks"]
    standup_uid = f"ranged-{uuid.uuid4().hex}"
    # First instance on 2031-01-06, the moved one on 01-20: only the later ones are in range.
    remote.put(events, f"{standup_uid}.ics", fixture_ics("standup-recurring.ics", uid=standup_uid, summary="Ranged"))
    early_uid, early = event("Long ago", uid=f"early-{uuid.uuid4().hex}", start="20300105T090000Z", end="20300105T100000Z")
    remote.put(events, f"{early_uid}.ics", early)
    task_uid, task = todo("Due in range", uid=f"ranged-task-{uuid.uuid4().hex}", due="20310120T170000Z")
    remote.put(tasks, f"{task_uid}.ics", task)
    try:
        syncer = Vdirsyncer(
            setup["workdir"], setup["gateway"], "ranged", setup["gateway"].url, [events, tasks],
            caldav_options='item_types = ["VEVENT", "VTODO"]\nstart_date = "datetime(2031, 1, 15)"\nend_date = "datetime(2031, 2, 1)"',
        )
        syncer.run("discover")
        _, _, sent = syncer.run("sync")
        queries = requests_for(sent, "REPORT", f"/{events}/", b"<C:time-range")
        assert len(queries) == 2 and all(h.get("Depth") == "1" for h in queries), sent
        local = LocalSide(syncer.vdir)
        in_range = set(local.by_uid(events))
        assert standup_uid in in_range
        assert early_uid not in in_range
        assert setup["seed_event"] not in in_range  # 2031-01-05
        # A task is in range by its DUE (RFC 4791 §9.9): the seed's is on 2031-01-05.
        assert set(local.by_uid(tasks)) == {task_uid}
    finally:
        for calendar, uid in ((events, standup_uid), (events, early_uid), (tasks, task_uid)):
            href, _, etag = remote.by_uid(calendar)[uid]
            remote.delete(href, etag)
        setup["syncer"].run("sync")


def test_first_sync_of_a_calendar_past_the_multiget_limit_succeeds_for_vdirsyncer_only(setup, start_dedicated_gateway):
    """vdirsyncer asks for every new or changed item in ONE calendar-multiget (dav.py
    get_multi, no chunking) and fails the calendar's sync when that is refused, so the gateway
    lifts `limits.max_multiget_hrefs` for it (crates/gateway/src/quirks/unchunked_multiget.rs).
    Shown with a limit of 3 and 4 items; another client's multiget of the same 4 hrefs is
    still refused (403 number-of-matches-within-limits)."""
    gateway = start_dedicated_gateway(GATEWAY__LIMITS__MAX_MULTIGET_HREFS="3")
    remote = GatewaySide(gateway, USER)
    name = f"vds-big-{uuid.uuid4().hex[:8]}"
    remote.mkcalendar(name, "Big", "#000000FF", 9, "VEVENT")
    try:
        uids = set()
        for day in range(1, 5):
            uid, ics = event(f"Item {day}", uid=f"big-{day}-{uuid.uuid4().hex}", start=f"2031030{day}T090000Z", end=f"2031030{day}T100000Z")
            remote.put(name, f"{uid}.ics", ics)
            uids.add(uid)
        syncer = Vdirsyncer(setup["workdir"], gateway, "big", gateway.url, [name])
        syncer.run("discover")
        _, _, sent = syncer.run("sync")
        multigets = [body for m, url, _, body in sent if m == "REPORT" and url.endswith(f"/{name}/") and b"calendar-multiget" in body]
        assert len(multigets) == 1 and multigets[0].count(b"<href>") == 4, multigets
        assert set(LocalSide(syncer.vdir).by_uid(name)) == uids

        response = remote.request(
            "REPORT", f"{remote.home}{name}/", data=multigets[0],
            headers={"Content-Type": "application/xml; charset=utf-8", "User-Agent": "python-requests/2.34.2"},
        )
        assert response.status_code == 403 and "number-of-matches-within-limits" in response.text, response.text

        # Claiming vdirsyncer's User-Agent buys no more than the calendar holds: one object named
        # in several spellings counts once, and more distinct hrefs than its 4 objects plus the
        # configured 3 are refused.
        base = f"{remote.home}{name}/"
        objects = [f"{base}{uid}.ics" for uid in sorted(uids)]
        spellings = [f"{gateway.url.rstrip('/')}{objects[0]}", f" {objects[0]} "]

        def multiget(hrefs):
            body = (
                '<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                + "".join(f"<D:href>{h}</D:href>" for h in hrefs) + "</C:calendar-multiget>"
            )
            return remote.request("REPORT", base, data=body, headers={
                "Content-Type": "application/xml; charset=utf-8", "User-Agent": "vdirsyncer/0.21.0"})

        within = multiget(objects + spellings + [f"{base}gone-{n}.ics" for n in range(3)])
        assert within.status_code == 207, within.text
        assert within.text.count("<D:response>") == 7, within.text
        beyond = multiget(objects + [f"{base}gone-{n}.ics" for n in range(4)])
        assert beyond.status_code == 403 and "number-of-matches-within-limits" in beyond.text, beyond.text
    finally:
        remote.delete_calendar(name)


def test_khal_lists_what_vdirsyncer_synced_with_recurring_instances(setup):
    remote, syncer, events = setup["remote"], setup["syncer"], setup["events"]
    uid = f"khal-{uuid.uuid4().hex}"
    remote.put(events, f"{uid}.ics", fixture_ics("standup-recurring.ics", uid=uid, summary="Planning"))
    syncer.run("sync")
    completed = khal(
        setup, "list", "--day-format", "", "--format", "{start}|{end}|{title}|{calendar}|{repeat-symbol}|{uid}",
        "2031-01-01", "2031-02-15",
    )
    # khal takes the colour metasync copied (#RRGGBBAA, settings/utils.py is_color) as valid.
    assert "invalid color" not in completed.stderr, completed.stderr
    rows = [line.split("|") for line in completed.stdout.splitlines() if line.strip()]
    # Four weekly instances in Europe/Berlin, the third moved to 11:00 with its own title; the
    # calendar's name is the displayname metasync copied from the gateway.
    assert [row[:4] for row in rows if row[5] == uid] == [
        ["2031-01-06 09:00", "2031-01-06 09:15", "Planning", "Work events"],
        ["2031-01-13 09:00", "2031-01-13 09:15", "Planning", "Work events"],
        ["2031-01-20 11:00", "2031-01-20 11:30", "Planning (moved)", "Work events"],
        ["2031-01-27 09:00", "2031-01-27 09:15", "Planning", "Work events"],
    ], completed.stdout
    assert all(row[4].strip() for row in rows if row[5] == uid), completed.stdout  # khal's recurrence mark
    seed = [row[:4] for row in rows if row[5] == setup["seed_event"]]
    assert seed == [["2031-01-05 10:00", "2031-01-05 11:00", "Seed event", "Work events"]], completed.stdout


def test_event_made_with_khal_reaches_the_gateway_through_vdirsyncer(setup):
    """khal writes a new event into the vdir with its own serialisation (icalendar, a VTIMEZONE
    for the configured zone); vdirsyncer uploads it and the gateway keeps its meaning."""
    remote, local, syncer, events = setup["remote"], setup["local"], setup["syncer"], setup["events"]
    title = f"Budget review {uuid.uuid4().hex[:6]}"
    khal(setup, "new", "-a", "Work events", "-r", "weekly", "-u", "2031-01-29", "2031-01-08 10:00", "11:00", title)
    made = [(uid, text) for uid, (_, text) in local.by_uid(events).items() if title in summaries(text)]
    assert len(made) == 1, local.by_uid(events)
    uid, text = made[0]

    _, _, sent = syncer.run("sync")
    assert [h.get("If-None-Match") for h in requests_for(sent, "PUT", ".ics")] == ["*"], sent
    stored = remote.by_uid(events)[uid][1]
    assert meaning(stored) == meaning(text)
    master = icalendar.Calendar.from_ical(stored).walk("VEVENT")[0]
    assert master["DTSTART"].to_ical() == b"20310108T100000" and master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert master["RRULE"]["FREQ"] == ["WEEKLY"]
