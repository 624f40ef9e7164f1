"""The two sides and the two programs of test_client_vdirsyncer.py: the gateway over raw HTTP
(another client of the same user), the vdir on disk, and the real vdirsyncer 0.21.0 and khal
0.14.1 (from requirements.txt, beside this interpreter) run as subprocesses."""

import ast
import json
import os
import re
import string
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import icalendar
import pytest
import requests

from conftest import USERS

FIXTURES = Path(__file__).parent / "clients" / "vdirsyncer"
# vdirsyncer and khal come from requirements.txt, so they sit beside this interpreter.
CLIENTS_BIN = Path(sys.executable).parent
USER = "alice"
RUN_TIMEOUT_S = 120
DAV = "{DAV:}"
APPLE = "http://apple.com/ns/ical/"
PROPFIND_ETAGS = (
    '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
)


def client_binary(name):
    path = CLIENTS_BIN / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: install integration-tests/python/requirements.txt (make integration does)")
    return str(path)


def fixture_text(name, **values):
    return string.Template((FIXTURES / name).read_text()).substitute(values)


def fixture_ics(name, **values):
    return fixture_text(name, **values).replace("\r\n", "\n").replace("\n", "\r\n")


def client_env(home):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    # aiohttp's session in vdirsyncer runs with trust_env=True (storage/dav.py `_session`):
    # no proxy may stand between it and the gateway on loopback. Neither program may read the
    # developer's own configuration.
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local")})
    return env


def meaning(ics):
    """Every component with its properties, parameters and values, in a form that ignores
    line folding and property order. PRODID is left out, as vdirsyncer's own item hash does
    (vobject.py IGNORE_PROPS)."""
    calendar = icalendar.Calendar.from_ical(ics)
    components = {}
    for component in calendar.walk():
        key = (
            component.name,
            str(component.get("UID", component.get("TZID", ""))),
            component["RECURRENCE-ID"].to_ical().decode() if "RECURRENCE-ID" in component else "",
            component["DTSTART"].to_ical().decode() if component.name in ("DAYLIGHT", "STANDARD") else "",
        )
        properties = []
        for name, value in component.property_items(recursive=False):
            if name in ("BEGIN", "END", "PRODID"):
                continue
            params = tuple(sorted((k, str(v)) for k, v in getattr(value, "params", {}).items()))
            text = value.to_ical() if hasattr(value, "to_ical") else str(value)
            properties.append((name, params, text.decode() if isinstance(text, bytes) else text))
        components[key] = sorted(properties)
    return components


def uid_of(ics):
    for component in icalendar.Calendar.from_ical(ics).walk():
        if "UID" in component:
            return str(component["UID"])
    return None


def summaries(ics):
    return sorted(str(c["SUMMARY"]) for c in icalendar.Calendar.from_ical(ics).walk() if "SUMMARY" in c)


class GatewaySide:
    """The other writer: raw HTTP on the gateway, as another client of the same user would."""

    def __init__(self, gateway, user):
        self.base = gateway.url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, USERS[user])
        self.ca = gateway.ca
        self.home = self._calendar_home()

    def request(self, method, path, **kwargs):
        # Per request, not Session.verify: requests lets REQUESTS_CA_BUNDLE override the latter.
        return self.session.request(method, self.base + path, timeout=30, verify=self.ca, **kwargs)

    def _propfind(self, path, body, depth):
        response = self.request("PROPFIND", path, data=body, headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        assert response.status_code == 207, (path, response.status_code, response.text)
        return ElementTree.fromstring(response.content)

    def _calendar_home(self):
        root = self._propfind(
            "/", '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>', "0"
        )
        self.principal = root.find(f".//{DAV}current-user-principal/{DAV}href").text
        root = self._propfind(
            self.principal,
            '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><C:calendar-home-set/></prop></propfind>',
            "0",
        )
        return root.find(".//{urn:ietf:params:xml:ns:caldav}calendar-home-set/" + f"{DAV}href").text

    def calendar_collections(self):
        """The collection names below the home whose resourcetype says calendar."""
        root = self._propfind(self.home, '<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>', "1")
        names = set()
        for response in root.findall(f"{DAV}response"):
            if response.find(f".//{DAV}resourcetype/{{urn:ietf:params:xml:ns:caldav}}calendar") is not None:
                names.add(requests.utils.unquote(response.find(f"{DAV}href").text.rstrip("/").rsplit("/", 1)[1]))
        return names

    def mkcalendar(self, name, displayname, color, order, component):
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="http://apple.com/ns/ical/">'
            f"<D:set><D:prop><D:displayname>{displayname}</D:displayname>"
            f"<A:calendar-color>{color}</A:calendar-color><A:calendar-order>{order}</A:calendar-order>"
            f'<C:supported-calendar-component-set><C:comp name="{component}"/></C:supported-calendar-component-set>'
            "</D:prop></D:set></C:mkcalendar>"
        )
        response = self.request("MKCALENDAR", f"{self.home}{name}/", data=body, headers={"Content-Type": "application/xml; charset=utf-8"})
        assert response.status_code == 201, (name, response.status_code, response.text)

    def properties(self, name):
        """displayname, calendar-color and calendar-order of a calendar, as texts."""
        root = self._propfind(
            f"{self.home}{name}/",
            '<propfind xmlns="DAV:" xmlns:A="http://apple.com/ns/ical/"><prop><displayname/>'
            "<A:calendar-color/><A:calendar-order/></prop></propfind>",
            "0",
        )
        return {
            key: getattr(root.find(f".//{{{ns}}}{key}"), "text", None)
            for ns, key in (("DAV:", "displayname"), (APPLE, "calendar-color"), (APPLE, "calendar-order"))
        }

    def rename(self, name, displayname):
        body = (
            '<?xml version="1.0" encoding="utf-8"?><propertyupdate xmlns="DAV:"><set><prop>'
            f"<displayname>{displayname}</displayname></prop></set></propertyupdate>"
        )
        response = self.request("PROPPATCH", f"{self.home}{name}/", data=body, headers={"Content-Type": "application/xml; charset=utf-8"})
        assert response.status_code == 207 and "200 OK" in response.text, (response.status_code, response.text)

    def delete_calendar(self, name):
        self.request("DELETE", f"{self.home}{name}/")

    def items(self, calendar):
        """{href: etag} of the calendar's members."""
        root = self._propfind(f"{self.home}{calendar}/", PROPFIND_ETAGS, "1")
        found = {}
        for response in root.findall(f"{DAV}response"):
            href = response.find(f"{DAV}href").text
            etag = response.find(f".//{DAV}getetag")
            if not href.endswith("/") and etag is not None:
                found[href] = etag.text
        return found

    def by_uid(self, calendar):
        """{uid: (href, body, etag)} of every member, read with GET."""
        found = {}
        for href in self.items(calendar):
            response = self.request("GET", href)
            assert response.status_code == 200, (href, response.status_code)
            found[uid_of(response.text)] = (href, response.text, response.headers.get("ETag"))
        return found

    def put(self, calendar, name, ics):
        """Creates NAME in CALENDAR (If-None-Match: *); returns its href."""
        href = f"{self.home}{calendar}/{name}"
        response = self.request(
            "PUT", href, data=ics.encode(), headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
        )
        assert response.status_code == 201, (name, response.status_code, response.text)
        return href

    def replace(self, calendar, href, ics):
        """Changes HREF under If-Match with the ETag it has now."""
        response = self.request(
            "PUT", href, data=ics.encode(),
            headers={"Content-Type": "text/calendar; charset=utf-8", "If-Match": self.items(calendar)[href]},
        )
        assert response.status_code == 204, (href, response.status_code, response.text)

    def delete(self, href, etag):
        response = self.request("DELETE", href, headers={"If-Match": etag})
        assert response.status_code == 204, (href, response.status_code, response.text)


class LocalSide:
    """The vdir vdirsyncer writes: one directory per collection, one .ics file per item."""

    def __init__(self, root):
        self.root = root

    def by_uid(self, collection):
        found = {}
        for path in sorted((self.root / collection).glob("*.ics")):
            text = path.read_text(encoding="utf-8")
            found[uid_of(text)] = (path, text)
        return found

    def write(self, collection, filename, ics):
        # A new inode each time, as an editor saving the file does: vdirsyncer's filesystem etag
        # is mtime and inode (utils.py get_etag_from_file), so a rewrite within the same clock
        # tick is still seen.
        target = self.root / collection / filename
        scratch = target.with_suffix(".tmp")
        scratch.write_text(ics, encoding="utf-8")
        os.replace(scratch, target)

    def meta(self, collection, key):
        path = self.root / collection / key
        return path.read_text(encoding="utf-8") if path.exists() else None


class Vdirsyncer:
    def __init__(self, workdir, gateway, name, url, collections, pair_options="", caldav_options=""):
        self.workdir = workdir
        self.gateway = gateway
        self.vdir = workdir / f"{name}-vdir"
        self.vdir.mkdir()
        self.binary = client_binary("vdirsyncer")
        self.env = client_env(workdir)
        self.config_values = {
            "status_path": str(workdir / f"{name}-status"),
            "url": url,
            "user": USER,
            "password": USERS[USER],
            "ca": gateway.ca,
            "vdir": str(self.vdir),
            "caldav_options": caldav_options,
            "collections": json.dumps(collections),
        }
        self.config = workdir / f"{name}.conf"
        self.configure(pair_options)

    def configure(self, pair_options):
        self.config.write_text(fixture_text("vdirsyncer.conf", pair_options=pair_options, **self.config_values))

    def run(self, *args, expect_ok=True):
        """Runs `vdirsyncer -v debug ARGS`; returns (exit code, its log, the requests it sent).
        Expecting success, it also checks the gateway answered none of them with an error
        (vdirsyncer swallows some, e.g. while discovering)."""
        gateway_log_start = len(self.gateway.stderr)
        completed = subprocess.run(
            [self.binary, "-c", str(self.config), "-v", "debug", *args],
            env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )
        log = completed.stdout + completed.stderr
        if expect_ok:
            assert completed.returncode == 0, f"vdirsyncer {' '.join(args)} exited {completed.returncode}:\n{log[-6000:]}"
            refused = [line for line in self.gateway.stderr[gateway_log_start:] if re.search(r" status=[45]\d\d", line)]
            assert not refused, "".join(refused)
        return completed.returncode, log, sent_requests(log)


def sent_requests(log):
    """(method, url, headers, body) of each request in vdirsyncer's debug log: http.py
    `request` logs "=" * 20, then "METHOD URL", the headers dict and the body (bytes or None)."""
    lines = [line.removeprefix("debug: ") for line in log.splitlines()]
    sent = []
    for i, line in enumerate(lines[:-3]):
        if line == "=" * 20:
            method, url = lines[i + 1].split(" ", 1)
            body = ast.literal_eval(lines[i + 3]) if lines[i + 3].startswith(("b'", 'b"')) else b""
            sent.append((method, url, ast.literal_eval(lines[i + 2]), body))
    return sent


def discovered(log, instance="gateway"):
    """The collections `vdirsyncer discover` lists for one storage (cli/discover.py
    `_print_collections`: the instance name, then `  - "collection" ("displayname")`)."""
    names, listing = set(), False
    for line in log.splitlines():
        if not line.startswith("debug: "):
            listing = line == f"{instance}:" or (listing and line.startswith("  - "))
            match = re.match(r'  - "([^"]+)"', line)
            if listing and match:
                names.add(match.group(1))
    return names


def requests_for(sent, method, path_end, body_has=b""):
    return [headers for m, url, headers, body in sent if m == method and url.endswith(path_end) and body_has in body]


def run_khal(workdir, vdir, *args):
    """Runs khal 0.14.1 on VDIR (clients/vdirsyncer/khal.conf, its cache in WORKDIR); fails on a
    non-zero exit."""
    config = workdir / "khal.conf"
    config.write_text(fixture_text("khal.conf", vdir=str(vdir), database=str(workdir / "khal.db")))
    completed = subprocess.run(
        [client_binary("khal"), "-c", str(config), *args],
        env=client_env(workdir), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    assert completed.returncode == 0, f"khal {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}{completed.stderr}"
    return completed
