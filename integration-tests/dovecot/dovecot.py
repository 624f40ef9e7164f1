#!/usr/bin/env python3
"""A private Dovecot 2.3 (Debian's packages, unpacked, never installed) on loopback, for the
IMAP backend's tests.

    dovecot.py start DIR    unpacks the packages into a cache when missing, writes
                            DIR/dovecot.conf, a self-signed certificate and the users file,
                            starts Dovecot as the current user on free 127.0.0.1 ports (IMAP
                            with STARTTLS, and IMAPS), and writes DIR/env (shell `KEY=value`
                            lines) and DIR/pid
    dovecot.py stop DIR     stops that Dovecot by its PID (SIGTERM, bounded wait, SIGKILL)
    dovecot.py user DIR NAME PASSWORD   adds one more user
    dovecot.py halt DIR     stops Dovecot by its PID but keeps its data and ports, as an
                            outage or a restart of the mail server would
    dovecot.py resume DIR   starts it again as it was (same config, ports and mail)

Why unpacked: Debian's dovecot-imapd conflicts with cyrus-imapd, which `make test` installs
for the JMAP backend; `apt-get download` and `dpkg -x` put Dovecot in a cache directory
(integration-tests/.work/dovecot-pkg) without touching dpkg's state. The libraries it needs
and that are not there yet (only liblua and libexttextcat, for plugins not loaded here) are
left out. Dovecot names its own paths at build time (/usr/lib/dovecot for its services,
libraries and modules, /usr/bin/doveconf, which the master runs to read its config), so it
runs in a mount namespace of its own (`unshare --mount`, as root) where the unpacked tree is
laid over /usr/lib and /usr/bin with overlayfs: nothing outside that namespace sees it.
"""

import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "cyrus"))
from cyrus import _stop_group  # noqa: E402  one way to stop a private server, for both

PACKAGES = ["dovecot-core", "dovecot-imapd"]
CACHE = pathlib.Path(__file__).resolve().parent.parent / ".work" / "dovecot-pkg"
# Test users every start creates; tests add their own through `user`.
USERS = {"alice": "alice-secret", "bob": "bob-secret", "tester": "tester-secret"}
START_TIMEOUT_S = 30
DOVECOT_CONF = """\
# Everything Dovecot keeps lives under this directory.
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
# Run as the current user. Started by root, the processes that Dovecot refuses to run as
# root (the login processes, which face the network before authentication, and the mail
# users' imap processes) run as nobody (the role of Debian's dovenull and vmail).
default_internal_user = {user}
default_login_user = {login_user}
default_internal_group = {group}
# Users and passwords in private passwd-files, one per user: a user added while Dovecot
# runs (`user`) is a file it has not read yet. (One shared file is reread only when its
# mtime moved, so of two users added within a second the second could not log in.)
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users/%u
}}
# Loopback: LOGIN in clear text is fine (Dovecot counts 127.0.0.1 as secure anyway).
disable_plaintext_auth = no
auth_mechanisms = plain login
# Maildir, "/" as the hierarchy separator (as on Cyrus with unixhierarchysep), folders of a
# user without the INBOX. prefix.
mail_location = maildir:~/Maildir:LAYOUT=fs
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
# RFC 5464 METADATA, kept in a file per user.
imap_metadata = yes
mail_attribute_dict = file:%h/Maildir/dovecot-attributes
# STARTTLS on the IMAP port and an IMAPS port, with a certificate made for this run.
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
# No listeners besides those above (doveadm, the replicator and the stats services keep
# their UNIX sockets in base_dir).
service doveadm {{
  inet_listener {{
    port = 0
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unpack():
    """Downloads and unpacks Debian's packages into CACHE once."""
    if (CACHE / "root" / "usr" / "lib" / "dovecot" / "imap").exists() and (CACHE / "root" / "usr" / "bin" / "doveconf").exists():
        return
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not any(debs.glob("dovecot-imapd_*.deb")):
        download = subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, env=env)
        if download.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
            subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True, env=env)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(CACHE / "root")], check=True)


def make_certificate(d):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         # Not a CA: webpki (rustls) refuses a CA certificate as the server's own.
         "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )


def add_user(d, name, password):
    """The user's passwd-file DIR/users/NAME, one line: NAME:{PLAIN}PASSWORD:UID:GID::HOME."""
    d = pathlib.Path(d).resolve()
    if any(c in name + password for c in ":\n") or not name:
        raise SystemExit(f"unusable user name or password: {name!r}")
    home = d / "home" / name
    home.mkdir(parents=True, exist_ok=True)
    uid, gid = mail_owner()
    os.chown(home, uid, gid)
    line = f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{home}\n"
    users = d / "users"
    users.mkdir(exist_ok=True)
    # Written whole under another name first: Dovecot never reads half a line.
    partial = users / f".{name}.new"
    partial.write_text(line)
    partial.chmod(0o600)
    os.replace(partial, users / name)


def mail_owner():
    """Who owns the users' mail: the current user, or nobody when that is root (Dovecot
    never lets a mail user's process run as root)."""
    if os.getuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.getuid(), os.getgid()


def read_env(d):
    path = pathlib.Path(d) / "env"
    if not path.exists():
        return {}
    return {k: shlex.split(v)[0] if v else "" for k, v in (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)}


def _launch(d):
    log = open(d / "master.log", "ab")
    # The unpacked tree laid over /usr/lib and /usr/bin in a mount namespace of Dovecot's
    # own (see the module docs); `exec` keeps the PID, which is Dovecot's master (-F: in the
    # foreground).
    root = CACHE / "root" / "usr"
    script = (
        f"mount -t overlay overlay -o lowerdir={root}/lib:/usr/lib /usr/lib && "
        f"mount -t overlay overlay -o lowerdir={root}/bin:/usr/bin /usr/bin && "
        f"exec {root}/sbin/dovecot -c {d}/dovecot.conf -F"
    )
    master = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    (d / "pid").write_text(f"{master.pid}\n")
    return master


def start(d):
    unpack()
    d = pathlib.Path(d).resolve()
    if (d / "pid").exists():
        raise SystemExit(f"{d}/pid exists: stop that Dovecot first")
    for sub in ["run", "state", "home"]:
        (d / sub).mkdir(parents=True, exist_ok=True)
    # The users' imap processes (nobody, when started by root) must reach their homes.
    for parent in [d, *d.parents]:
        if os.getuid() == 0 and not os.stat(parent).st_mode & 0o001:
            raise SystemExit(f"{parent} is not searchable by other users; mail processes (nobody) could not reach {d}")
    make_certificate(d)
    for name, password in USERS.items():
        add_user(d, name, password)
    imap, imaps = free_port(), free_port()
    import grp
    import pwd
    conf = DOVECOT_CONF.format(
        d=d, imap=imap, imaps=imaps,
        user=pwd.getpwuid(os.getuid()).pw_name,
        login_user="nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name,
        group=grp.getgrgid(os.getgid()).gr_name,
    )
    (d / "dovecot.conf").write_text(conf)
    master = _launch(d)
    facts = {
        "DOVECOT_DIR": str(d),
        "DOVECOT_IMAP_PORT": str(imap),
        "DOVECOT_IMAPS_PORT": str(imaps),
        "DOVECOT_IMAP_URL": f"imap://127.0.0.1:{imap}",
        "DOVECOT_IMAPS_URL": f"imaps://127.0.0.1:{imaps}",
        "DOVECOT_CA": str(d / "cert.pem"),
        "DOVECOT_USERS": json.dumps(USERS),
    }
    (d / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in facts.items()))
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if master.poll() is not None:
                raise SystemExit(f"Dovecot exited with {master.returncode}; see {d}/master.log and {d}/dovecot.log")
            try:
                with socket.create_connection(("127.0.0.1", imap), timeout=1), \
                        socket.create_connection(("127.0.0.1", imaps), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"Dovecot did not listen within {START_TIMEOUT_S} s; see {d}/dovecot.log")
                time.sleep(0.1)
        check_login(d, imap)
    except BaseException:
        stop(d)
        raise
    return facts


def check_login(d, port):
    """A login of the first user, and the capabilities the IMAP backend needs: the proof the
    whole chain (passwd-file, maildir, METADATA) works."""
    import imaplib

    name, password = next(iter(USERS.items()))
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login(name, password)
        wanted = {"CONDSTORE", "QRESYNC", "BINARY", "METADATA"}
        # After login: the greeting's list is the pre-authentication one.
        _, answer = imap.capability()
        missing = wanted - set(b" ".join(answer).decode().upper().split())
        if missing:
            raise RuntimeError(f"Dovecot lacks {sorted(missing)}; see {d}/dovecot.conf")
    finally:
        imap.logout()


def stop(d):
    # cyrus.py's: a process group stopped by its leader's PID, bounded wait, then SIGKILL.
    _stop_group(pathlib.Path(d) / "pid", signal.SIGTERM)


def halt(d):
    stop(d)


def resume(d):
    d = pathlib.Path(d).resolve()
    if (d / "pid").exists():
        raise SystemExit(f"{d}/pid exists: Dovecot is running")
    env = read_env(d)
    master = _launch(d)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if master.poll() is not None:
            raise SystemExit(f"Dovecot exited with {master.returncode}; see {d}/dovecot.log")
        try:
            with socket.create_connection(("127.0.0.1", int(env["DOVECOT_IMAP_PORT"])), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"Dovecot did not listen again within {START_TIMEOUT_S} s; see {d}/dovecot.log")
            time.sleep(0.1)


def main(argv):
    if len(argv) == 2 and argv[0] == "start":
        facts = start(argv[1])
        print("".join(f"{k}={shlex.quote(v)}\n" for k, v in facts.items()), end="")
    elif len(argv) == 2 and argv[0] == "stop":
        stop(argv[1])
    elif len(argv) == 2 and argv[0] == "halt":
        halt(argv[1])
    elif len(argv) == 2 and argv[0] == "resume":
        resume(argv[1])
    elif len(argv) == 4 and argv[0] == "user":
        add_user(argv[1], argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
