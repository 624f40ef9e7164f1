"""Replays one client's own request sequence against the gateway and reads the answers the way
that client does.

A replay sends the client's recorded bodies (fixtures in `clients/<client>/`, each saying where
it comes from) with its headers and User-Agent, over real TLS, and never follows a redirect by
itself: the test follows it the way the client does (`follow`). Every exchange is kept, so a
failing assertion can show the whole conversation (`transcript`).
"""

import base64
import os
import ssl
import string
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urljoin, urlsplit

import httpx

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
DAV = "{DAV:}"
# Request and response bodies are cut in the transcript beyond these many characters.
TRANSCRIPT_BODY_CHARS = 3000


class Replay:
    """One client of one user talking to one gateway.

    `preemptive=True` sends Basic credentials with every request (DAVx5 after its first
    challenge, python libraries). `preemptive=False` sends the first request without them,
    answers the 401 challenge and from then on sends them with every request, as a client
    does once it knows the protection space; `challenge_per_path=True` waits for a challenge
    on every new path instead.
    """

    def __init__(self, gateway, client, user="alice", user_agent="", preemptive=True,
                 challenge_per_path=False, http2=False):
        self.gateway = gateway
        self.client = client
        self.user = user
        self.user_agent = user_agent
        self.preemptive = preemptive
        self.challenge_per_path = challenge_per_path
        self.origin = _origin(gateway.url)
        user_name, password = gateway.auth(user)
        token = base64.b64encode(f"{user_name}:{password}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=gateway.ca), http2=http2, follow_redirects=False, timeout=60)
        self.exchanges = []
        self.created = []
        self._challenged = False
        self._challenged_paths = set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def url(self, path):
        """An absolute URL from a path (`/dav/...`) or an absolute URL of this gateway."""
        if path.startswith(("http://", "https://")):
            return path
        return self.origin + path

    def body(self, name, **variables):
        """The fixture `clients/<client>/<name>` with `${var}` substituted, as bytes."""
        with open(os.path.join(FIXTURES, self.client, name), encoding="utf-8") as f:
            text = f.read()
        # A fixture may start with XML or iCalendar comments saying where it comes from; those
        # are kept, since the client's own bytes are what the gateway must take.
        return string.Template(text).substitute(variables).encode("utf-8")

    def request(self, method, path, body=None, headers=None, auth=True):
        """Sends one request as the client would and returns the httpx.Response."""
        sent = {"User-Agent": self.user_agent} if self.user_agent else {}
        sent.update(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        url = self.url(path)
        request_path = urlsplit(url).path
        if auth and self._sends_credentials(request_path):
            sent["Authorization"] = self.authorization
        response = self._send(method, url, body, sent)
        if auth and response.status_code == 401 and "Authorization" not in sent:
            challenge = response.headers.get("WWW-Authenticate", "")
            assert challenge.lower().startswith("basic"), f"401 without a Basic challenge\n{self.transcript()}"
            self._challenged = True
            self._challenged_paths.add(request_path)
            sent["Authorization"] = self.authorization
            response = self._send(method, url, body, sent)
        if method in ("MKCALENDAR", "MKCOL") and response.status_code == 201:
            self.created.append(request_path)
        return response

    def follow(self, response):
        """The path (or absolute URL, when it leaves this origin) a redirect points to."""
        location = response.headers.get("Location")
        assert location, f"{response.status_code} without Location\n{self.transcript()}"
        target = urljoin(str(response.request.url), location)
        if _origin(target) == self.origin:
            parts = urlsplit(target)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return target

    def transcript(self):
        """The exchange so far, for a failing assertion's message."""
        return "\n\n".join(self.exchanges)

    def close(self):
        """Deletes the collections this replay created (best effort), then the connection."""
        for path in reversed(self.created):
            try:
                self._send("DELETE", self.url(path), None, {"Authorization": self.authorization})
            except httpx.HTTPError:
                pass
        self.created.clear()
        self.http.close()

    def _sends_credentials(self, path):
        if self.preemptive:
            return True
        if self.challenge_per_path:
            return path in self._challenged_paths
        return self._challenged

    def _send(self, method, url, body, headers):
        response = self.http.request(method, url, content=body, headers=headers)
        self.exchanges.append(_describe(method, url, headers, body, response))
        return response


class Props(dict):
    """The properties of one `<response>`: {clark name: (status, element)}; `status` is the
    response-level status (a removed member in a sync report), else None."""

    status = None


class Multistatus(dict):
    """{href as sent: Props}, and the `<sync-token>` of a sync report (else None)."""

    sync_token = None


def multistatus(response):
    """Parses a 207 body the way DAV clients do: one entry per `<response>` under its href as
    sent (not decoded or normalised: a client compares what it got), the properties of each
    with the status of their propstat."""
    assert response.status_code == 207, f"expected 207 Multi-Status, got {response.status_code}: {response.text[:500]}"
    root = ET.fromstring(response.content)
    assert root.tag == DAV + "multistatus", f"root element {root.tag}"
    result = Multistatus()
    token = root.find(DAV + "sync-token")
    if token is not None:
        result.sync_token = (token.text or "").strip()
    for entry in root.findall(DAV + "response"):
        hrefs_of_entry = entry.findall(DAV + "href")
        assert hrefs_of_entry, "a <response> without <href>"
        props = Props()
        status = entry.find(DAV + "status")
        if status is not None:
            props.status = parse_status(status.text)
        for propstat in entry.findall(DAV + "propstat"):
            code = parse_status(propstat.findtext(DAV + "status"))
            found = propstat.find(DAV + "prop")
            for element in [] if found is None else list(found):
                props[element.tag] = (code, element)
        for href in hrefs_of_entry:
            result[(href.text or "").strip()] = props
    return result


def parse_status(line):
    """200 from `HTTP/1.1 200 OK`."""
    parts = (line or "").split()
    assert len(parts) >= 2 and parts[1].isdigit(), f"malformed status line {line!r}"
    return int(parts[1])


def hrefs(ms):
    """The hrefs of a multistatus, in document order."""
    return list(ms)


def prop(ms, href, name):
    """The element of a property found (200) on `href`, else None."""
    found = ms.get(href, Props()).get(name)
    if found is None or found[0] != 200:
        return None
    return found[1]


def prop_text(ms, href, name):
    """The text of a property found (200) on `href`, stripped; None when it is not there."""
    element = prop(ms, href, name)
    if element is None:
        return None
    return "".join(element.itertext()).strip()


def prop_hrefs(ms, href, name):
    """The `<href>` texts inside a property such as calendar-home-set, [] when it is absent."""
    element = prop(ms, href, name)
    if element is None:
        return []
    return [(h.text or "").strip() for h in element.iter(DAV + "href")]


def same_path(a, b):
    """Whether two hrefs name the same resource the way most clients compare them: decoded,
    without the origin, a trailing slash not counting."""
    def norm(h):
        return unquote(urlsplit(h).path).rstrip("/")
    return norm(a) == norm(b)


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _describe(method, url, headers, body, response):
    shown = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    request_body = (body or b"").decode("utf-8", "replace")[:TRANSCRIPT_BODY_CHARS]
    response_headers = "\n".join(f"< {k}: {v}" for k, v in response.headers.items())
    response_body = response.content.decode("utf-8", "replace")[:TRANSCRIPT_BODY_CHARS]
    sent = "\n".join(f"> {k}: {v}" for k, v in shown.items())
    return (
        f"> {method} {url}\n{sent}\n{request_body}\n"
        f"< {response.status_code} {response.reason_phrase}\n{response_headers}\n{response_body}"
    )
