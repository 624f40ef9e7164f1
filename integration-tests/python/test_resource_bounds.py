"""Bounds on what one client can hold: a request head or body sent slowly (slowloris) gets its
connection closed after server.header_read_timeout_secs / limits.request_body_timeout_secs,
and connections beyond server.max_connections wait unaccepted until a slot is free.
"""

import base64
import re
import socket
import ssl
import time

import pytest
import requests


def port_of(gateway):
    return int(re.match(r"https://[^:/]+:(\d+)/", gateway.url).group(1))


def tls_connection(gateway, timeout=10):
    context = ssl.create_default_context(cafile=gateway.ca)
    context.set_alpn_protocols(["http/1.1"])
    sock = socket.create_connection(("127.0.0.1", port_of(gateway)), timeout=timeout)
    return context.wrap_socket(sock, server_hostname="localhost")


def read_until_closed(tls, limit_s):
    """Everything the server sends until it closes the connection; fails after `limit_s`."""
    tls.settimeout(limit_s)
    received = b""
    try:
        while chunk := tls.recv(4096):
            received += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    except socket.timeout:
        pytest.fail(f"connection still open after {limit_s} s; received {received[:200]!r}")
    return received


def test_a_request_body_sent_too_slowly_is_answered_408_and_closed(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__LIMITS__REQUEST_BODY_TIMEOUT_SECS="2")
    user, password = gateway.auth("alice")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    with tls_connection(gateway) as tls:
        started = time.monotonic()
        tls.sendall(
            b"PUT /dav/calendars/alice/calendar/slow.ics HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Basic " + token.encode() + b"\r\n"
            b"Content-Type: text/calendar\r\nContent-Length: 1000\r\n\r\nBEGIN:VCALENDAR\r\n"
        )
        # Keep trickling a byte now and then, as a slowloris client does, for a while.
        for _ in range(3):
            time.sleep(0.5)
            try:
                tls.sendall(b"X")
            except OSError:
                break
        received = read_until_closed(tls, 15)
        elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert 1.5 <= elapsed < 15, elapsed


def test_request_headers_sent_too_slowly_get_the_connection_closed(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__SERVER__HEADER_READ_TIMEOUT_SECS="2")
    with tls_connection(gateway) as tls:
        started = time.monotonic()
        tls.sendall(b"PROPFIND /dav/ HTTP/1.1\r\nHost: localhost\r\n")
        read_until_closed(tls, 15)
        assert 1.5 <= time.monotonic() - started < 15


def test_connections_over_the_cap_wait_until_one_closes(start_dedicated_gateway):
    gateway = start_dedicated_gateway(GATEWAY__SERVER__MAX_CONNECTIONS="2")
    first = tls_connection(gateway)
    second = tls_connection(gateway)
    try:
        # The third is not accepted: its TCP connect succeeds (kernel backlog), its TLS
        # handshake gets no answer while both slots are taken.
        waiting = socket.create_connection(("127.0.0.1", port_of(gateway)), timeout=10)
        context = ssl.create_default_context(cafile=gateway.ca)
        waiting.settimeout(1.5)
        with pytest.raises((socket.timeout, TimeoutError)):
            context.wrap_socket(waiting, server_hostname="localhost")
        waiting.close()

        # Handshake pending in the backlog; a slot frees up and it is served.
        pending = socket.create_connection(("127.0.0.1", port_of(gateway)), timeout=10)
        first.close()
        with context.wrap_socket(pending, server_hostname="localhost") as tls:
            tls.sendall(b"OPTIONS /dav/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert read_until_closed(tls, 10).startswith(b"HTTP/1.1 200")
    finally:
        first.close()
        second.close()
    # Once the test's connections are gone, ordinary requests are served again.
    assert requests.options(gateway.url + "dav/", verify=gateway.ca, timeout=30).status_code == 200
