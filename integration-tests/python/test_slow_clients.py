"""Slow clients (slowloris): a connection that never finishes its handshake, its headers or its
body must be closed within a bound, and must not keep anyone else from being served.

Each test starts its own gateway with short limits (TLS handshake 2 s, request 3 s), so a
bound of 12 s is generous; a connection still open then is held for as long as the client
likes, which lets a few hundred sockets pin the server's memory and file descriptors.
"""

import base64
import socket
import ssl
import time
import urllib.parse

import pytest
import requests

from conftest import USERS

HANDSHAKE_S = 2
REQUEST_S = 3
BOUND_S = 12
LIMITS = {"GATEWAY__TLS__HANDSHAKE_TIMEOUT_SECS": str(HANDSHAKE_S),
          "GATEWAY__LIMITS__REQUEST_TIMEOUT_SECS": str(REQUEST_S),
          "GATEWAY__SERVER__HEADER_READ_TIMEOUT_SECS": str(REQUEST_S),
          "GATEWAY__LIMITS__REQUEST_BODY_TIMEOUT_SECS": str(REQUEST_S)}


def address(gw):
    url = urllib.parse.urlsplit(gw.url)
    return url.hostname, url.port


def tls(gw):
    context = ssl.create_default_context(cafile=gw.ca)
    return context.wrap_socket(socket.create_connection(address(gw), timeout=5), server_hostname="localhost")


def seconds_until_closed(sock, trickle=None):
    """Seconds until the server closes (or answers on) `sock`, at most BOUND_S; `trickle`
    is sent once a second meanwhile."""
    started = time.monotonic()
    sock.settimeout(1)
    while time.monotonic() - started < BOUND_S:
        try:
            if trickle:
                sock.sendall(trickle)
            if sock.recv(1000) is not None:
                break  # b"" (closed) or an answer
        except socket.timeout:
            continue
        except OSError:
            break
    return time.monotonic() - started


def test_a_tls_handshake_never_finished_is_closed_after_the_handshake_timeout(start_dedicated_gateway):
    gw = start_dedicated_gateway(**LIMITS)
    sock = socket.create_connection(address(gw), timeout=5)
    try:
        assert seconds_until_closed(sock) < HANDSHAKE_S + 2
    finally:
        sock.close()


def test_headers_never_finished_are_closed_within_a_bound(start_dedicated_gateway):
    gw = start_dedicated_gateway(**LIMITS)
    sock = tls(gw)
    try:
        sock.sendall(b"PROPFIND /dav/ HTTP/1.1\r\nHost: localhost\r\n")
        assert seconds_until_closed(sock) < BOUND_S - 1
    finally:
        sock.close()


def test_a_trickled_body_is_cut_off_within_a_bound(start_dedicated_gateway):
    gw = start_dedicated_gateway(**LIMITS)
    credentials = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    sock = tls(gw)
    try:
        sock.sendall(
            "PUT /dav/calendars/alice/calendar/slow.ics HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Basic {credentials}\r\nContent-Type: text/calendar\r\nContent-Length: 100000\r\n\r\n".encode()
        )
        assert seconds_until_closed(sock, trickle=b"X") < BOUND_S - 1
    finally:
        sock.close()


def test_others_are_served_while_many_slow_connections_hang(start_dedicated_gateway):
    gw = start_dedicated_gateway(**LIMITS)
    hanging = []
    try:
        for i in range(150):
            if i % 3 == 0:
                hanging.append(socket.create_connection(address(gw), timeout=5))
            else:
                sock = tls(gw)
                sock.sendall(b"PROPFIND /dav/ HTTP/1.1\r\nHost: localhost\r\n")
                hanging.append(sock)
        for _ in range(5):
            started = time.monotonic()
            response = requests.request("PROPFIND", gw.url + "dav/calendars/alice/", auth=gw.auth("alice"),
                                        headers={"Depth": "1"}, verify=gw.ca, timeout=10)
            assert response.status_code == 207
            assert time.monotonic() - started < 2
    finally:
        for sock in hanging:
            sock.close()
