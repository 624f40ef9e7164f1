#!/usr/bin/env python3
"""A private Cyrus IMAP 3.6 (Debian's packages) on loopback, for the JMAP backend's tests.

    cyrus.py start DIR      installs the packages when missing, writes DIR/imapd.conf and
                            DIR/cyrus.conf, starts `master` on free 127.0.0.1 ports, creates the
                            test users, and writes DIR/env (shell `KEY=value` lines) and DIR/pid
    cyrus.py stop DIR       stops that master by its PID (SIGTERM, bounded wait, SIGKILL)
    cyrus.py user DIR NAME PASSWORD   adds one more user (shared with the service account)
    cyrus.py grant DIR NAME RIGHTS   sets the service account's rights on every mailbox of
                            user NAME ("" removes them), as a mail operator would
    cyrus.py quota DIR NAME KB   limits user NAME's storage to KB kilobytes ("" lifts the
                            limit), as a mail operator would: writes past it are refused
    cyrus.py start DIR --smtp PORT    as start, and Cyrus sends mail (JMAP EmailSubmission)
                            to an SMTP server on 127.0.0.1:PORT (0: a free port), written
                            to DIR/env as CYRUS_SMTP_PORT; without it Cyrus uses sendmail
    cyrus.py start DIR --smtp PORT --relay PYTHON   as --smtp, and starts mail_relay.py (with
                            PYTHON, which has aiosmtpd) on that port first: mail Cyrus sends
                            is kept in DIR/mail (MAIL_SPOOL in DIR/env) and delivered to
                            Cyrus's own users over LMTP, as the MTA of a mail server does
    cyrus.py start DIR ... --set KEY=VALUE   as start (with or without --smtp/--relay), and
                            KEY: VALUE is added to DIR/imapd.conf (repeatable); make bench
                            sets httpkeepalive=0 (see peers.py)
    cyrus.py deliver DIR RECIPIENT [SENDER] < MESSAGE   delivers one message into a user's
                            INBOX over LMTP, as an MTA does (lmtpd listens on
                            127.0.0.1:CYRUS_LMTP_PORT of DIR/env)

Every setting written below is explained where it is set. Nothing outside DIR is touched
except: the Debian packages (installed once), and /dev/log, where Cyrus sends its log
(syslog(3) is its only log): when no syslog daemon owns it, this script listens there itself
and appends what arrives to DIR/syslog, and removes the socket when it stops.
"""

import base64
import fcntl
import json
import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

CYRUS_BIN = pathlib.Path("/usr/lib/cyrus/bin")
PACKAGES = ["cyrus-imapd", "cyrus-caldav", "cyrus-admin", "sasl2-bin"]
ADMIN = "cyrusadmin"
ADMIN_PASSWORD = "admin-secret"
# Test users every start creates; tests add their own through `user`.
USERS = {"alice": "alice-secret", "bob": "bob-secret", "tester": "tester-secret"}
# The gateway's service account (CYRUS_SERVICE_USER/CYRUS_SERVICE_PASSWORD in DIR/env): every
# test user's mailboxes are shared with it (`grant_service`), as a mail operator does for
# scheduling between colleagues (docs/scheduling.md, "What the mail operator grants").
SERVICE_USER = "caldav-service"
SERVICE_PASSWORD = "caldav-service-secret"
# IMAP ACL rights (RFC 4314 §2.1, Cyrus's letters) the service account gets on every mailbox
# of a user, and why:
#   l r  see the mailboxes and read their messages (JMAP mayReadItems): the user's calendars,
#        for free-busy (RFC 6638 §5) and to find the copy a delivery updates
#   s    set \Seen: each calendar object the gateway writes carries $seen (writes.rs)
#   i    add messages (mayAddItems): a delivered iTIP message into the schedule inbox, the
#        invitation into the default calendar; Cyrus accepts a Blob/upload into an account
#        only from a login that may add to one of its mailboxes (http_jmap.c,
#        has_shared_rw_rights)
#   t e  delete and expunge messages (mayRemoveItems): updating an object replaces its
#        message
#   k    create mailboxes (mayCreateChild): the schedule inbox `Calendars/inbox`, and the
#        `Calendars` parent and default calendar of a user who never logged in
# Not granted: p (post, i.e. submit mail: the gateway sends mail only from a user's own
# login), x (delete mailboxes), a (administer).
SERVICE_RIGHTS = "lrsikte"
START_TIMEOUT_S = 30
REALM = "cyrus-test"


def install():
    """Installs Debian's Cyrus when `master` is missing, without starting the system daemon."""
    if (CYRUS_BIN / "master").exists() and shutil.which("saslpasswd2"):
        return
    policy = pathlib.Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    if created_policy:
        # Debian's postinst would start a system-wide Cyrus on the standard ports; 101 tells
        # invoke-rc.d not to start anything.
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], check=True, env=env)
    finally:
        if created_policy:
            policy.unlink()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IMAPD_CONF = """\
# Everything Cyrus keeps lives under this directory.
configdirectory: {d}/conf
partition-default: {d}/spool
# Named, so that creating a user's INBOX never asks the partition list. Cyrus 3.6 builds that
# list lazily, once per process, and calls srand(time(NULL)) as it does (imap/partlist.c);
# Debian's build has no libuuid, so makeuuid() (lib/util.c) makes a mailbox's unique id from
# rand() alone. Two imapd processes that each create their first INBOX in the same second
# gave both the same id; the mailboxes.db id record then names the later mailbox, and JMAP,
# which finds a user's INBOX by id, refuses the earlier user's every top-level Mailbox/set
# create and Email/set into it (invalidProperties, parentId or mailboxIds) for good. With
# the partition named, rand() keeps the seed master gives each process (time * pid).
defaultpartition: default
sievedir: {d}/sieve
proc_path: {d}/proc
mboxname_lockpath: {d}/lock
lmtpsocket: {d}/socket/lmtp
idlesocket: {d}/socket/idle
notifysocket: {d}/socket/notify
# The admin creates users (IMAP CREATE user/NAME); it is not a mail user itself.
admins: {admin}
# Users and passwords in a private sasldb, checked by Cyrus itself (no saslauthd).
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {d}/sasldb2
sasl_mech_list: PLAIN LOGIN
# The SASL realm is the server name: fixed, so users need no @host whatever the machine is.
servername: {realm}
# Loopback without TLS: PLAIN and HTTP Basic must be allowed in clear text.
allowplaintext: yes
# "/" separates folders, so "." may appear in calendar names; folders of a user are shown
# without the "INBOX." prefix (the view a JMAP client has anyway).
unixhierarchysep: yes
altnamespace: yes
# JMAP needs the conversations database (thread ids, Email/queryChanges).
conversations: yes
conversations_db: twoskip
# JMAP over httpd; caldav too, so the server is the one the issue names.
httpmodules: jmap caldav
# No compression: the gateway measures what it sends and receives.
httpallowcompress: no
# JMAP push (RFC 8620 §7.3): Cyrus reads each streamed account's states this often and sends
# a StateChange when they moved (default 60s, 1s the least). Only a build with WebSocket
# support (Wslay) reads it: Debian's 3.6 has none, and its event source answers 204, so the
# gateway validates every account per request there (test_jmap_push.py emulates a build with it).
jmap_pushpoll: 1s
# Autocreate the INBOX of a user on first login is not wanted: users are created explicitly.
autocreate_quota: -1
virtdomains: off
syslog_prefix: cyrus-test
"""

# Every command names the private imapd.conf: master does not pass its own -C on.
CYRUS_CONF = """\
START {{
  recover cmd="{bin}/ctl_cyrusdb -C {conf} -r"
}}
SERVICES {{
  imap cmd="{bin}/imapd -C {conf}" listen="127.0.0.1:{imap}" prefork=0
  http cmd="{bin}/httpd -C {conf}" listen="127.0.0.1:{http}" prefork=0
  lmtp cmd="{bin}/lmtpd -a -C {conf}" listen="127.0.0.1:{lmtp}" prefork=0
}}
EVENTS {{
  checkpoint cmd="{bin}/ctl_cyrusdb -C {conf} -c" period=30
}}
DAEMON {{
}}
"""


# With `--smtp PORT`: JMAP EmailSubmission hands mail to that SMTP server (imap/smtpclient.c)
# instead of /usr/sbin/sendmail, so tests capture it; no SMTP AUTH on loopback.
SMTP_CONF = """\
smtp_backend: host
smtp_host: 127.0.0.1:{port}/noauth
"""


def deliver(d, recipient, sender, message):
    """Hands `message` (bytes) to Cyrus's lmtpd for `recipient`, as an MTA delivers local
    mail. lmtpd runs with -a (TCP connections count as authenticated: loopback only)."""
    import smtplib

    env = read_env(d)
    with smtplib.LMTP("127.0.0.1", int(env["CYRUS_LMTP_PORT"]), timeout=30) as lmtp:
        refused = lmtp.sendmail(sender, [recipient], message)
    if refused:
        raise SystemExit(f"LMTP refused {recipient}: {refused}")


class SyslogSink:
    """Receives syslog datagrams on /dev/log and appends them to a file, in a child process
    so it outlives this script between `start` and `stop`."""

    SOCKET = "/dev/log"

    @staticmethod
    def start(path):
        if os.path.exists(SyslogSink.SOCKET):
            return None
        child = subprocess.Popen(
            [sys.executable, __file__, "syslog-sink", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 5
        while not os.path.exists(SyslogSink.SOCKET) and time.monotonic() < deadline:
            time.sleep(0.05)
        return child.pid

    @staticmethod
    def run(path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(SyslogSink.SOCKET)
        os.chmod(SyslogSink.SOCKET, 0o666)

        def stop(*_):
            try:
                os.unlink(SyslogSink.SOCKET)
            finally:
                sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        with open(path, "ab", buffering=0) as out:
            while True:
                out.write(sock.recv(65536) + b"\n")


def run_as_cyrus(args, **kw):
    return subprocess.run(["setpriv", "--reuid=cyrus", "--regid=mail", "--init-groups", *args], **kw)


def add_user(d, name, password):
    d = pathlib.Path(d)
    # Tests create users from parallel processes; saslpasswd2 rewrites one Berkeley DB file,
    # and two at once can lose a user.
    with open(d / "users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _add_user(d, name, password)
    grant_service(d, name)


def grant_service(d, name, rights=SERVICE_RIGHTS):
    """Shares every mailbox of user `name` with the service account (`rights`, none when
    empty). Set on
    the INBOX (`user/NAME`), the rights are copied to mailboxes created below it later
    (Cyrus gives a new mailbox its parent's ACL); mailboxes that exist already get them too."""
    if name in (ADMIN, SERVICE_USER):
        return
    import imaplib

    env = read_env(d)
    imap = imaplib.IMAP4("127.0.0.1", int(env["CYRUS_IMAP_PORT"]))
    try:
        imap.login(ADMIN, ADMIN_PASSWORD)
        status, listed = imap.list('""', _imap_quote(f"user/{name}/*"))
        mailboxes = [f"user/{name}"]
        for line in listed if status == "OK" else []:
            # `(\\HasNoChildren) "/" user/alice/Calendars`, the name quoted when it must be
            if line:
                mailboxes.append(line.decode().split(' "/" ', 1)[1].strip('"').replace('\\"', '"'))
        for mailbox in mailboxes:
            if rights:
                status, detail = imap.setacl(_imap_quote(mailbox), SERVICE_USER, rights)
            else:
                status, detail = imap.deleteacl(_imap_quote(mailbox), SERVICE_USER)
            if status != "OK":
                raise RuntimeError(f"SETACL {mailbox} {SERVICE_USER}: {status} {detail}")
    finally:
        imap.logout()


def set_quota(d, name, kilobytes):
    import imaplib

    env = read_env(d)
    imap = imaplib.IMAP4("127.0.0.1", int(env["CYRUS_IMAP_PORT"]))
    try:
        imap.login(ADMIN, ADMIN_PASSWORD)
        limits = f"(STORAGE {int(kilobytes)})" if kilobytes else "()"
        status, detail = imap.setquota(_imap_quote(f"user/{name}"), limits)
        if status != "OK":
            raise RuntimeError(f"SETQUOTA user/{name} {limits}: {status} {detail}")
    finally:
        imap.logout()


def _add_user(d, name, password):
    subprocess.run(
        ["saslpasswd2", "-p", "-c", "-f", str(d / "sasldb2"), "-u", REALM, name],
        input=password, text=True, check=True, capture_output=True,
    )
    shutil.chown(d / "sasldb2", "cyrus", "mail")
    env = read_env(d)
    if name != ADMIN:
        import imaplib

        imap = imaplib.IMAP4("127.0.0.1", int(env["CYRUS_IMAP_PORT"]))
        try:
            imap.login(ADMIN, ADMIN_PASSWORD)
            status, detail = imap.create(f"user/{name}")
            if status != "OK" and b"exists" not in b" ".join(detail).lower():
                raise RuntimeError(f"CREATE user/{name}: {status} {detail}")
        finally:
            imap.logout()
        check_unique_ids(d)


def _imap_quote(text):
    """An IMAP quoted string (RFC 3501 §4.3): imaplib sends arguments as they are."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_unique_ids(d):
    """Fails when two live mailboxes share a unique id: the earlier one is then unusable over
    JMAP (see defaultpartition in IMAPD_CONF), and a test run on it fails far from the cause."""
    dump = run_as_cyrus(
        [str(CYRUS_BIN / "ctl_mboxlist"), "-C", str(pathlib.Path(d) / "imapd.conf"), "-d"],
        check=True, capture_output=True, text=True,
    ).stdout
    owners = {}
    for name, entry in json.loads(dump).items():
        # "d": deleted, a tombstone that keeps the id of a mailbox that is gone.
        if "d" in entry.get("mbtype", "") or not entry.get("uniqueid"):
            continue
        owners.setdefault(entry["uniqueid"], []).append(name)
    shared = {uid: names for uid, names in owners.items() if len(names) > 1}
    if shared:
        raise RuntimeError(f"Cyrus gave mailboxes the same unique id: {shared}")


def read_env(d):
    path = pathlib.Path(d) / "env"
    if not path.exists():
        return {}
    return {k: shlex.split(v)[0] if v else "" for k, v in (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)}


def _launch_master(d):
    log = open(d / "master.log", "ab")
    # master drops to the cyrus user itself; -D keeps it in the foreground for its PID; -p
    # moves its lock file out of /run, so instances do not lock each other out.
    master = subprocess.Popen(
        [str(CYRUS_BIN / "master"), "-C", str(d / "imapd.conf"), "-M", str(d / "cyrus.conf"), "-D",
         "-p", str(d / "master.pid")],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    (d / "pid").write_text(f"{master.pid}\n")
    return master


def start_relay(d, python, port, lmtp):
    """mail_relay.py in its own process group (stopped by PID with Cyrus), listening before
    Cyrus starts: Cyrus reads the relay's EHLO once per httpd process to decide whether it
    offers EmailSubmission at all (jmap_emailsubmission_capabilities)."""
    spool = d / "mail"
    ready = d / "relay.port"
    relay = subprocess.Popen(
        [python, str(pathlib.Path(__file__).with_name("mail_relay.py")), "--spool", str(spool),
         "--port", str(port), "--lmtp", f"127.0.0.1:{lmtp}", "--port-file", str(ready)],
        stdout=open(d / "relay.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    (d / "relay.pid").write_text(f"{relay.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.exists():
        if relay.poll() is not None or time.monotonic() > deadline:
            _stop_group(d / "relay.pid", signal.SIGTERM)
            raise SystemExit(f"mail_relay.py did not start; see {d}/relay.log")
        time.sleep(0.1)
    return spool


def start(d, smtp_port=None, relay_python=None, settings=()):
    install()
    d = pathlib.Path(d).resolve()
    if (d / "pid").exists():
        raise SystemExit(f"{d}/pid exists: stop that Cyrus first")
    for sub in ["conf", "spool", "sieve", "proc", "lock", "socket"]:
        (d / sub).mkdir(parents=True, exist_ok=True)
    imap, http, lmtp = free_port(), free_port(), free_port()
    if smtp_port == 0:
        smtp_port = free_port()
    conf = IMAPD_CONF.format(d=d, admin=ADMIN, realm=REALM)
    if smtp_port is not None:
        conf += SMTP_CONF.format(port=smtp_port)
    for key, value in settings:
        conf += f"{key}: {value}\n"
    (d / "imapd.conf").write_text(conf)
    (d / "cyrus.conf").write_text(
        CYRUS_CONF.format(bin=CYRUS_BIN, conf=d / "imapd.conf", imap=imap, http=http, lmtp=lmtp))
    subprocess.run(["chown", "-R", "cyrus:mail", str(d)], check=True)
    # Cyrus runs as the cyrus user: every directory above DIR must let it through.
    for parent in d.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise SystemExit(f"{parent} is not searchable by other users; Cyrus (user cyrus) could not reach {d}")
    spool = start_relay(d, relay_python, smtp_port, lmtp) if relay_python and smtp_port else None
    sink = SyslogSink.start(d / "syslog")
    master = _launch_master(d)
    if sink:
        (d / "syslog.pid").write_text(f"{sink}\n")
    env = {
        "CYRUS_DIR": str(d),
        "CYRUS_IMAP_PORT": str(imap),
        "CYRUS_HTTP_PORT": str(http),
        "CYRUS_LMTP_PORT": str(lmtp),
        "CYRUS_JMAP_URL": f"http://127.0.0.1:{http}/.well-known/jmap",
        "CYRUS_ADMIN": ADMIN,
        "CYRUS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CYRUS_USERS": json.dumps(USERS),
        "CYRUS_SERVICE_USER": SERVICE_USER,
        "CYRUS_SERVICE_PASSWORD": SERVICE_PASSWORD,
    }
    if smtp_port is not None:
        env["CYRUS_SMTP_PORT"] = str(smtp_port)
    if spool is not None:
        env["MAIL_SPOOL"] = str(spool)
    (d / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if master.poll() is not None:
            raise SystemExit(f"Cyrus master exited with {master.returncode}; see {d}/master.log and {d}/syslog")
        try:
            with socket.create_connection(("127.0.0.1", imap), timeout=1), socket.create_connection(("127.0.0.1", http), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop(d)
                raise SystemExit(f"Cyrus did not listen within {START_TIMEOUT_S} s; see {d}/syslog")
            time.sleep(0.1)
    try:
        add_user(d, ADMIN, ADMIN_PASSWORD)
        add_user(d, SERVICE_USER, SERVICE_PASSWORD)
        for name, password in USERS.items():
            add_user(d, name, password)
        # The JMAP session of a user is the proof the whole chain works.
        name, password = next(iter(USERS.items()))
        request = urllib.request.Request(env["CYRUS_JMAP_URL"])
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            session = json.load(response)
        if "urn:ietf:params:jmap:mail" not in session["capabilities"]:
            raise RuntimeError(f"no JMAP Mail in the session: {session}")
    except BaseException:
        stop(d)
        raise
    return env


def stop(d):
    d = pathlib.Path(d)
    for name, sig in [("pid", signal.SIGTERM), ("syslog.pid", signal.SIGTERM), ("relay.pid", signal.SIGTERM)]:
        _stop_group(d / name, sig)


def _stop_group(path, sig):
    """Signals the process group whose leader's PID is in `path`, waits (bounded, then
    SIGKILL) and removes the file."""
    if not path.exists():
        return
    pid = int(path.read_text().strip())
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        path.unlink()
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    path.unlink()


def halt(d):
    """Stops Cyrus (master and its services, by PID) but keeps its data, ports and log sink,
    as an outage of the mail server would; `resume` brings it back as it was."""
    _stop_group(pathlib.Path(d) / "pid", signal.SIGTERM)


def resume(d):
    d = pathlib.Path(d).resolve()
    if (d / "pid").exists():
        raise SystemExit(f"{d}/pid exists: Cyrus is running")
    env = read_env(d)
    master = _launch_master(d)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if master.poll() is not None:
            raise SystemExit(f"Cyrus master exited with {master.returncode}; see {d}/master.log and {d}/syslog")
        try:
            with socket.create_connection(("127.0.0.1", int(env["CYRUS_IMAP_PORT"])), timeout=1), \
                    socket.create_connection(("127.0.0.1", int(env["CYRUS_HTTP_PORT"])), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"Cyrus did not listen again within {START_TIMEOUT_S} s; see {d}/syslog")
            time.sleep(0.1)


def _settings(argv):
    """Takes every `--set KEY=VALUE` out of argv: [(KEY, VALUE)], the rest of argv."""
    settings, rest = [], []
    args = iter(argv)
    for arg in args:
        if arg == "--set":
            key, separator, value = next(args, "").partition("=")
            if not separator or not key:
                raise SystemExit("--set wants KEY=VALUE")
            settings.append((key, value))
        else:
            rest.append(arg)
    return settings, rest


def main(argv):
    settings, argv = _settings(argv)
    if settings and (not argv or argv[0] != "start"):
        raise SystemExit("--set is for start")
    if len(argv) >= 2 and argv[0] == "syslog-sink":
        SyslogSink.run(argv[1])
    elif len(argv) == 2 and argv[0] == "start":
        env = start(argv[1], settings=settings)
        print("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()), end="")
    elif len(argv) == 4 and argv[0] == "start" and argv[2] == "--smtp":
        env = start(argv[1], smtp_port=int(argv[3]), settings=settings)
        print("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()), end="")
    elif len(argv) == 6 and argv[0] == "start" and argv[2] == "--smtp" and argv[4] == "--relay":
        env = start(argv[1], smtp_port=int(argv[3]), relay_python=argv[5], settings=settings)
        print("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()), end="")
    elif len(argv) in (3, 4) and argv[0] == "deliver":
        deliver(argv[1], argv[2], argv[3] if len(argv) == 4 else "sender@example.org", sys.stdin.buffer.read())
    elif len(argv) == 2 and argv[0] == "stop":
        stop(argv[1])
    elif len(argv) == 4 and argv[0] == "user":
        add_user(argv[1], argv[2], argv[3])
    elif len(argv) == 4 and argv[0] == "quota":
        set_quota(argv[1], argv[2], argv[3])
    elif len(argv) == 4 and argv[0] == "grant":
        grant_service(argv[1], argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
