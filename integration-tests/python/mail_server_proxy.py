"""Proxies in front of Cyrus's JMAP for tests and benchmarks: on 127.0.0.1, HTTP/1.1, forwarding
every request upstream.

- FaultyProxy: its `mode` makes the mail server fail (down, garbage, slow).
- PushProxy: answers the event source (RFC 8620 §7.3) itself, as a Cyrus built with push does.
  Debian's Cyrus 3.6 is built without Wslay, and its event source then answers 204 (push polling
  is only set up with WebSocket support, imap/http_jmap.c); this one does what `es_push` there
  does with `jmap_pushpoll: 1s`: the account's states are read once a second and a `state` event
  sent when they moved, a `ping` otherwise every `ping` seconds.
"""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# Cyrus's smallest `jmap_pushpoll`, the one docs/operations.md tells operators to set.
PUSH_POLL_S = 1.0


class FaultyProxy:
    """HTTP/1.1 proxy in front of Cyrus whose behaviour a test switches: `ok` forwards,
    `down` drops the connection unanswered, `garbage` answers 200 with HTML, `slow` answers
    after the gateway's timeout."""

    def __init__(self, upstream):
        import http.server
        import socketserver
        import threading

        self.mode = "ok"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.intercept(self):
                    return
                if proxy.mode == "down":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if proxy.mode == "slow":
                    time.sleep(3)
                if proxy.mode == "garbage":
                    payload, status, ctype = b"<html>upstream error</html>", 200, "text/html"
                else:
                    request = urllib.request.Request(
                        upstream + self.path, data=body or None, method=self.command,
                        headers={k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")},
                    )
                    try:
                        with urllib.request.urlopen(request, timeout=10) as response:
                            payload, status, ctype = response.read(), response.status, response.headers.get("Content-Type", "")
                    except urllib.error.HTTPError as error:
                        payload, status, ctype = error.read(), error.code, error.headers.get("Content-Type", "")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = handle_one

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def intercept(self, handler):
        """Whether the request was answered here instead of upstream (see test_jmap_push)."""
        return False

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PushProxy(FaultyProxy):
    """FaultyProxy whose event source pushes like a Cyrus with push; `push` switches it:
    `on` streams, `refuse` answers 204 as Debian's Cyrus does. `kill()` drops open streams."""

    def __init__(self, upstream, stream_seconds=60):
        self.upstream = upstream
        # Bounded: a stream ends after this long (the gateway reconnects, unconfirmed until the
        # first event of the new stream, about one ping).
        self.stream_seconds = stream_seconds
        self.push = "on"
        self.generation = 0
        super().__init__(upstream)

    def kill(self):
        self.generation += 1

    def states(self, authorization):
        """The account id and its Mailbox and Email states, asked of Cyrus with the user's
        credentials: what Cyrus's own push compares (its modseq counters)."""
        session_request = urllib.request.Request(self.upstream + "/jmap/", headers={"Authorization": authorization})
        with urllib.request.urlopen(session_request, timeout=10) as response:
            account = json.load(response)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        body = {
            "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
            "methodCalls": [
                ["Mailbox/get", {"accountId": account, "ids": []}, "0"],
                ["Email/get", {"accountId": account, "ids": []}, "1"],
            ],
        }
        request = urllib.request.Request(
            self.upstream + "/jmap/", data=json.dumps(body).encode(),
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answers = json.load(response)["methodResponses"]
        return account, {"Mailbox": answers[0][1]["state"], "Email": answers[1][1]["state"]}

    def intercept(self, handler):
        if not handler.path.startswith("/jmap/eventsource/"):
            return False
        if self.push == "refuse":
            handler.send_response(204)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        ping = int(query.get("ping", ["0"])[0])
        authorization = handler.headers["Authorization"]
        # Read before the answer starts, as Cyrus reads its counters (jmap_push_init).
        account, known = self.states(authorization)
        generation = self.generation
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        next_ping = time.monotonic() + ping
        try:
            for _ in range(int(self.stream_seconds / PUSH_POLL_S)):
                time.sleep(PUSH_POLL_S)
                if generation != self.generation or self.push != "on":
                    break
                _, now = self.states(authorization)
                changed = {kind: state for kind, state in now.items() if known[kind] != state}
                if changed:
                    known = now
                    data = json.dumps({"@type": "StateChange", "changed": {account: changed}})
                    event = f"id: {uuid.uuid4().int % 10**9}\nevent: state\ndata: {data}\n\n"
                elif ping and time.monotonic() >= next_ping:
                    event = f"event: ping\ndata: {json.dumps({'interval': ping})}\n\n"
                else:
                    continue
                handler.wfile.write(event.encode())
                handler.wfile.flush()
                next_ping = time.monotonic() + ping
        except (BrokenPipeError, ConnectionResetError):
            pass
        return True
