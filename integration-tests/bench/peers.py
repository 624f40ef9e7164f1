"""The servers compare.py measures side by side, each private to the run.

Every server listens on 127.0.0.1 on a port picked here, keeps its data under the run's work
directory, and is stopped by PID (a Cyrus through cyrus.py, which stops its process group):
`stop()` is safe to call whatever state `start()` reached. Each peer knows its own URL layout
(calendar home, the calendar the data is loaded into, the calendar PUTs of new objects go to)
and which processes do its work, for CPU and memory.
"""

import concurrent.futures
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
GATEWAY_BIN = ROOT / "target" / "release" / "caldav-gateway"
CEILING_BIN = ROOT / "target" / "release" / "bench-ceiling"
CYRUS = [sys.executable, str(ROOT / "integration-tests" / "cyrus" / "cyrus.py")]
START_TIMEOUT_S = 60
LOAD_CLIENTS = 8
# Seconds a server may take to be loaded through PUT (compare.py sets it from BENCH_LOAD_TIMEOUT).
LOAD_TIMEOUT_S = 1800


class LoadTooSlow(Exception):
    """The server had not taken every object through PUT within LOAD_TIMEOUT_S."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process=None):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            requests.request("OPTIONS", url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {START_TIMEOUT_S} s")


def stop_process(process):
    """SIGTERM, a bounded wait, then SIGKILL: by PID, never by name."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def package_version(name):
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True)
    return out.stdout.split("-")[0] if out.returncode == 0 else "?"


def python_version(name):
    from importlib import metadata
    return metadata.version(name)


class Peer:
    """A CalDAV server under test. Subclasses set the layout and start/stop it."""

    key = ""
    label = ""
    user, password = "bench", "bench-password"
    base = ""
    home = calendar = put_calendar = ""
    loads_through_put = True

    def __init__(self, work):
        self.work = work / self.key
        self.work.mkdir(parents=True, exist_ok=True)
        self.processes = {}  # role -> PID whose process tree does that role's work
        self.admin = None  # the gateway's admin listener, for /metrics

    def session(self):
        session = requests.Session()
        if self.user:
            session.auth = (self.user, self.password)
        return session

    def prepare(self, objects):
        """Before start: data written straight into storage, for peers that load that way."""

    def load(self, objects):
        """After start: the calendars, and the objects through PUT when that is the way in.
        Returns seconds spent on the objects, or None when they were written to storage."""
        session = self.session()
        for path in (self.calendar, self.put_calendar):
            response = session.request("MKCALENDAR", self.base + path, timeout=60)
            if response.status_code != 201:
                raise RuntimeError(f"{self.key}: MKCALENDAR {path}: {response.status_code} {response.text[:300]}")
        if not self.loads_through_put:
            return None
        return put_all(self, objects)

    def stop(self):
        raise NotImplementedError


def put_all(peer, objects):
    local = threading.local()
    started = time.monotonic()
    stored = []

    def put(item):
        if time.monotonic() - started > LOAD_TIMEOUT_S:
            raise LoadTooSlow(f"{len(stored):,} of {len(objects):,} objects stored through PUT in {LOAD_TIMEOUT_S} s")
        if not hasattr(local, "session"):
            local.session = peer.session()
        name, ics = item
        r = local.session.put(peer.base + peer.calendar + name, data=ics.encode(),
                              headers={"Content-Type": "text/calendar; charset=utf-8"}, timeout=120)
        if r.status_code not in (201, 204):
            raise RuntimeError(f"{peer.key}: PUT {name}: {r.status_code} {r.text[:300]}")
        stored.append(name)

    with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        list(pool.map(put, objects))
    return time.monotonic() - started


class Gateway(Peer):
    """The gateway, release build, on its embedded store."""

    key, label = "gateway", "gateway (embedded)"

    def start(self):
        port, admin_port = free_port(), free_port()
        env = self.env(port, admin_port)
        subprocess.run([GATEWAY_BIN, "user", "add", self.user, "--password", self.password], env=env, check=True,
                       capture_output=True)
        self.process = subprocess.Popen([GATEWAY_BIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=open(self.work / "gateway.log", "ab"))
        self.processes = {"gateway": self.process.pid}
        self.base = f"http://127.0.0.1:{port}"
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.home = f"/dav/calendars/{self.user}/"
        self.calendar, self.put_calendar = self.home + "bench/", self.home + "bench-put/"
        wait_until_up(self.base + "/dav/", self.process)

    def env(self, port, admin_port):
        return dict(os.environ, GATEWAY__SERVER__LISTEN=f"127.0.0.1:{port}", GATEWAY__TLS__ENABLED="false",
                    GATEWAY__ADMIN__LISTEN=f"127.0.0.1:{admin_port}",
                    GATEWAY__BACKEND__EMBEDDED__DATA_DIR=str(self.work / "data"), GATEWAY__DEMO__ENABLED="false",
                    GATEWAY__LOG__LEVEL="warn")

    def stop(self):
        stop_process(getattr(self, "process", None))


def start_cyrus(directory):
    """A private Cyrus (cyrus.py); returns its env (ports, users) and the master's PID.

    httpkeepalive=0: a request Cyrus takes longer than 20 s over (a PUT while the machine is
    busy loading every server at once) is otherwise answered `102 Processing` first, which
    Python's http.client takes for the final answer and wrk counts as one; the final answer
    is all the benchmark wants, when it comes."""
    directory.parent.chmod(0o755)  # Cyrus runs as its own user and must reach its directory
    subprocess.run([*CYRUS, "start", str(directory), "--set", "httpkeepalive=0"], check=True,
                   stdout=subprocess.DEVNULL)
    env = {k: v.strip("'") for k, v in (line.split("=", 1) for line in (directory / "env").read_text().splitlines())}
    return env, int((directory / "pid").read_text())


class GatewayJmap(Gateway):
    """The gateway on its JMAP backend in front of a private Cyrus of its own."""

    key, label = "gateway-jmap", "gateway (JMAP on Cyrus)"
    user = "tester"

    def start(self):
        self.cyrus_dir = self.work / "cyrus"
        env, master = start_cyrus(self.cyrus_dir)
        self.password = json.loads(env["CYRUS_USERS"])[self.user]
        self.jmap_url = env["CYRUS_JMAP_URL"]
        port, admin_port = free_port(), free_port()
        gateway_env = dict(self.env(port, admin_port), GATEWAY__BACKEND__KIND="jmap",
                           GATEWAY__BACKEND__JMAP__URL=self.jmap_url)
        self.process = subprocess.Popen([GATEWAY_BIN, "serve"], env=gateway_env, stdout=subprocess.DEVNULL,
                                        stderr=open(self.work / "gateway.log", "ab"))
        self.processes = {"gateway": self.process.pid, "cyrus": master}
        self.base = f"http://127.0.0.1:{port}"
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.home = f"/dav/calendars/{self.user}/"
        self.calendar, self.put_calendar = self.home + "bench/", self.home + "bench-put/"
        wait_until_up(self.base + "/dav/", self.process)

    def stop(self):
        super().stop()
        if hasattr(self, "cyrus_dir"):
            subprocess.run([*CYRUS, "stop", str(self.cyrus_dir)], check=False)


class CyrusCaldav(Peer):
    """Cyrus IMAP's own CalDAV (Debian's cyrus-caldav, httpd with `httpmodules: caldav`), a
    private Cyrus of its own so its CPU is not mixed with the JMAP gateway's Cyrus."""

    key = "cyrus"
    user = "tester"

    def __init__(self, work):
        super().__init__(work)
        self.label = f"Cyrus {package_version('cyrus-caldav')} CalDAV"

    def start(self):
        self.cyrus_dir = self.work / "cyrus"
        env, master = start_cyrus(self.cyrus_dir)
        self.password = json.loads(env["CYRUS_USERS"])[self.user]
        self.processes = {"cyrus": master}
        self.base = f"http://127.0.0.1:{env['CYRUS_HTTP_PORT']}"
        self.home = f"/dav/calendars/user/{self.user}/"
        self.calendar, self.put_calendar = self.home + "bench/", self.home + "bench-put/"

    def stop(self):
        if hasattr(self, "cyrus_dir"):
            subprocess.run([*CYRUS, "stop", str(self.cyrus_dir)], check=False)


class Xandikos(Peer):
    """Xandikos (PyPI), git-backed: the objects are written into the calendar's git work tree
    and committed once (through PUT each object is a commit), then checked through HTTP."""

    key = "xandikos"
    user = None
    loads_through_put = False

    def __init__(self, work):
        super().__init__(work)
        self.label = f"Xandikos {python_version('xandikos')}"

    def start(self):
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xandikos", "serve", "-d", str(self.work / "data"), "--defaults",
             "--state-dir", str(self.work / "state"), "-l", "127.0.0.1", "-p", str(port), "--no-detect-systemd"],
            stdout=subprocess.DEVNULL, stderr=open(self.work / "xandikos.log", "ab"))
        self.processes = {"xandikos": self.process.pid}
        self.base = f"http://127.0.0.1:{port}"
        self.home = "/user/calendars/"
        self.calendar, self.put_calendar = self.home + "bench/", self.home + "bench-put/"
        wait_until_up(self.base + "/", self.process)

    def load(self, objects):
        super().load(objects)
        folder = self.work / "data" / "user" / "calendars" / "bench"
        for name, ics in objects:
            (folder / name).write_text(ics, newline="")
        git = ["git", "-C", str(folder), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
        subprocess.run([*git, "commit", "-q", "-m", "bench data"], check=True, capture_output=True)
        return None

    def stop(self):
        stop_process(getattr(self, "process", None))


class Radicale(Peer):
    """Radicale (PyPI) on its filesystem storage, written directly: through PUT each object
    re-reads the growing collection (4,080 of 10,000 after 8 minutes, BENCHMARKS.md)."""

    key = "radicale"
    loads_through_put = False

    def __init__(self, work):
        super().__init__(work)
        self.label = f"Radicale {python_version('radicale')}"

    def prepare(self, objects):
        root = self.work / "data" / "collection-root" / self.user
        for name, items in (("bench", objects), ("bench-put", [])):
            folder = root / name
            folder.mkdir(parents=True)
            (folder / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": name}))
            for file_name, ics in items:
                (folder / file_name).write_text(ics, newline="")

    def load(self, objects):
        return None

    def start(self):
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}", "--auth-type", "none",
             "--storage-filesystem-folder", str(self.work / "data"), "--logging-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=open(self.work / "radicale.log", "ab"))
        self.processes = {"radicale": self.process.pid}
        self.base = f"http://127.0.0.1:{port}"
        self.home = f"/{self.user}/"
        self.calendar, self.put_calendar = self.home + "bench/", self.home + "bench-put/"
        wait_until_up(self.base + "/", self.process)

    def stop(self):
        stop_process(getattr(self, "process", None))


class Ceiling(Peer):
    """bench-ceiling (crates/bench-ceiling): the embedded gateway's recorded answers replayed
    from memory over hyper, the same HTTP stack; the machine's limit for these requests."""

    key, label = "ceiling", "static ceiling"
    loads_through_put = False

    def __init__(self, work, gateway):
        super().__init__(work)
        self.gateway = gateway
        self.home, self.calendar, self.put_calendar = gateway.home, gateway.calendar, gateway.put_calendar

    def start_with(self, recordings):
        path = self.work / "recordings.json"
        path.write_text(json.dumps(recordings))
        port = free_port()
        self.process = subprocess.Popen([CEILING_BIN, f"127.0.0.1:{port}", str(path)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.work / "ceiling.log", "ab"))
        self.processes = {"ceiling": self.process.pid}
        self.base = f"http://127.0.0.1:{port}"
        wait_until_up(self.base + "/", self.process)

    def start(self):
        """Started by compare.py once the gateway's answers are recorded (start_with)."""

    def load(self, objects):
        return None

    def stop(self):
        stop_process(getattr(self, "process", None))


PEERS = {"gateway": Gateway, "gateway-jmap": GatewayJmap, "cyrus": CyrusCaldav, "xandikos": Xandikos,
         "radicale": Radicale, "ceiling": Ceiling}
