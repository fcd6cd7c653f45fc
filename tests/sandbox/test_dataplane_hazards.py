"""Data-plane behaviours the hazard zoo needs, on the forwarding core fed routes directly.

- `ipvs` mode resets an established connection on its next packet once its endpoint left the
  endpoint set (kubernetes#123116); `kube-proxy` mode keeps it on its pod (conntrack).
- The ingress retries a request once when its pooled upstream connection was stale, unless
  `retry_stale_connections=False` (then the client sees the 502).
- `network_delay` (`sandbox.networkDelayMs`): a request in flight meets the server's close of a
  connection it saw idle (golang/go#23829); the delay itself is pinned by the half-close test in
  `test_dataplane_forwarding.py`.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from dataplane_helpers import (
    PlaneThread,
    cluster_ip,
    http_backend,
    one_answer_per_connection,
    pod_ip,
    request_new_connection,
)

from nonstop.sandbox.dataplane import Backend, Mode, Route

PORT = 80
REQUEST = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n"


def route(ip: str, *backends: Backend) -> Route:
    return Route("default", "web", ip, PORT, "", backends)


def ready(addr: tuple[str, int], pod: str) -> Backend:
    return Backend(addr[0], addr[1], pod)


def exchange(s: socket.socket) -> bytes:
    """One request on a kept-alive raw connection; the response head and body (small)."""
    s.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(("mode", "reset"), [("kube-proxy", False), ("ipvs", True)])
def test_an_established_connection_whose_endpoint_left(mode: Mode, reset: bool) -> None:
    plane = PlaneThread(mode)
    vip = cluster_ip()
    try:
        with http_backend("a") as a, http_backend("b") as b:
            plane.set_routes(route(vip, ready(a, "a")))
            with socket.create_connection((vip, PORT), timeout=5) as s:
                assert b"X-Pod-Name: a" in exchange(s)
                plane.set_routes(route(vip, ready(b, "b")))  # a left the endpoints (it still serves)
                assert request_new_connection(vip, PORT) == (200, "b")
                if reset:
                    with pytest.raises(ConnectionResetError):
                        exchange(s)
                else:
                    assert b"X-Pod-Name: a" in exchange(s)  # conntrack: still on a
    finally:
        plane.close()


def test_ipvs_keeps_connections_whose_endpoint_stays_and_the_terminating_fallback() -> None:
    """Only leaving the set a connection may be given resets it: a pod that turns terminating while
    no endpoint is ready stays a (fallback) real server.
    """
    plane = PlaneThread("ipvs")
    vip = cluster_ip()
    try:
        with http_backend("a") as a, http_backend("b") as b:
            plane.set_routes(route(vip, ready(a, "a")))
            with socket.create_connection((vip, PORT), timeout=5) as s:
                assert b"X-Pod-Name: a" in exchange(s)
                plane.set_routes(route(vip, ready(a, "a"), ready(b, "b")))
                assert b"X-Pod-Name: a" in exchange(s)
                plane.set_routes(route(vip, Backend(a[0], a[1], "a", ready=False, serving=True, terminating=True)))
                assert b"X-Pod-Name: a" in exchange(s)
    finally:
        plane.close()


@pytest.fixture(params=[True, False], ids=["retry", "no-retry"])
def ingress(request: pytest.FixtureRequest) -> Iterator[tuple[PlaneThread, bool]]:
    plane = PlaneThread("ingress", retry_stale_connections=request.param)
    yield plane, request.param
    plane.close()


def test_ingress_retries_a_stale_pooled_connection_only_when_allowed(ingress: tuple[PlaneThread, bool]) -> None:
    plane, retry = ingress
    vip = cluster_ip()
    with one_answer_per_connection("stale") as backend:
        plane.set_routes(route(vip, ready(backend, "stale")))
        conn = http.client.HTTPConnection(vip, PORT, timeout=5)
        try:
            statuses = []
            for _ in range(3):  # the 2nd and 3rd go out on the pooled connection the pod will close
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
        finally:
            conn.close()
    assert statuses == ([200, 200, 200] if retry else [200, 502, 200])


DELAY = 0.2
"""One-way delay of the test below: wide against a loaded machine's scheduling jitter."""


def test_a_request_in_flight_meets_the_close_of_an_idle_connection() -> None:
    """The server answers, then closes the connection if it looks idle, as the client's next request travels.

    The client sends its second request the moment the first answer arrives (`DELAY` after it left);
    `DELAY` after answering the server finds nothing to read (the request arrives at `2 * DELAY`) and
    closes, which the client cannot see before it sent. The request is lost. Without the delay the
    request would be there to read, and answered.
    """
    listener = socket.create_server((pod_ip(), 0))
    read_by_server: list[bytes] = []

    def answer_once_then_close_idle() -> None:
        conn, _ = listener.accept()
        read_by_server.append(conn.recv(65536))
        conn.sendall(b"one\n")
        time.sleep(DELAY)  # the client's next request is on the wire
        if select.select([conn], [], [], 0)[0]:  # not idle after all: answer it
            read_by_server.append(conn.recv(65536))
            conn.sendall(b"two\n")
        conn.close()

    server = threading.Thread(target=answer_once_then_close_idle, daemon=True)
    server.start()
    plane = PlaneThread("kube-proxy", network_delay=DELAY)
    try:
        vip = cluster_ip()
        plane.set_routes(route(vip, ready(listener.getsockname(), "web")))
        with socket.create_connection((vip, PORT), timeout=10) as s:
            s.sendall(b"first\n")
            assert s.recv(65536) == b"one\n"
            s.sendall(b"second\n")  # the connection still looks open to the client
            try:
                answer = s.recv(65536)
            except ConnectionResetError:
                answer = b""
    finally:
        plane.close()
        server.join(timeout=5)
        listener.close()
    assert answer == b""
    assert read_by_server == [b"first\n"]
