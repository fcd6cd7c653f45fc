"""The forwarding core of both modes, fed an endpoint table directly, against loopback backends."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import structlog
from dataplane_helpers import PlaneThread, cluster_ip, http_backend, pod_ip, refused_port, request_new_connection

from nonstop.sandbox.dataplane import Backend, Change, DataPlane, EndpointTable, Mode, Route
from nonstop.sandbox.dataplane.endpoints import LaggedFeed

PORT = 80


@pytest.fixture
def kube_proxy() -> Iterator[PlaneThread]:
    plane = PlaneThread("kube-proxy")
    yield plane
    plane.close()


@pytest.fixture
def ingress() -> Iterator[PlaneThread]:
    plane = PlaneThread("ingress")
    yield plane
    plane.close()


def route(ip: str, *backends: Backend) -> Route:
    return Route("default", "web", ip, PORT, "", backends)


def ready(addr: tuple[str, int], pod: str) -> Backend:
    return Backend(addr[0], addr[1], pod)


def terminating(addr: tuple[str, int], pod: str, *, serving: bool = True) -> Backend:
    return Backend(addr[0], addr[1], pod, ready=False, serving=serving, terminating=True)


# -- kube-proxy ------------------------------------------------------------------------------


def test_kube_proxy_spreads_new_connections_over_ready_endpoints(kube_proxy: PlaneThread) -> None:
    vip = cluster_ip()
    with http_backend("a") as a, http_backend("b") as b:
        kube_proxy.set_routes(route(vip, ready(a, "a"), ready(b, "b")))
        answers = [request_new_connection(vip, PORT) for _ in range(40)]
    assert {status for status, _ in answers} == {200}
    assert {pod for _, pod in answers} == {"a", "b"}


def test_kube_proxy_falls_back_to_serving_terminating_endpoints_only_when_none_is_ready(
    kube_proxy: PlaneThread,
) -> None:
    vip = cluster_ip()
    with http_backend("old") as old, http_backend("new") as new:
        gone = (pod_ip(), refused_port("127.0.0.1"))
        kube_proxy.set_routes(route(vip, terminating(old, "old"), terminating(gone, "gone", serving=False)))
        assert {request_new_connection(vip, PORT) for _ in range(10)} == {(200, "old")}
        kube_proxy.set_routes(route(vip, terminating(old, "old"), ready(new, "new")))
        assert {request_new_connection(vip, PORT) for _ in range(10)} == {(200, "new")}


def _send_then_read(s: socket.socket) -> bytes:
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return s.recv(1024)


def test_kube_proxy_resets_the_client_when_the_backend_refuses(kube_proxy: PlaneThread) -> None:
    vip, ip = cluster_ip(), pod_ip()
    kube_proxy.set_routes(route(vip, ready((ip, refused_port(ip)), "dead")))
    # The reset shows wherever it lands first: on connect (under load the RST can beat the return
    # of connect()), on the send, or on the read.
    with pytest.raises(ConnectionResetError), socket.create_connection((vip, PORT), timeout=5) as s:
        _send_then_read(s)


def test_kube_proxy_refuses_connections_while_the_service_has_no_usable_endpoint(kube_proxy: PlaneThread) -> None:
    vip = cluster_ip()
    with http_backend("a") as a:
        kube_proxy.set_routes(route(vip, terminating(a, "a", serving=False)))
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((vip, PORT), timeout=5).close()
        kube_proxy.set_routes(route(vip, ready(a, "a")))
        assert request_new_connection(vip, PORT) == (200, "a")
        kube_proxy.set_routes()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((vip, PORT), timeout=5).close()


DELAY = 0.2
"""A network delay (`sandbox.networkDelayMs`) wide against a loaded machine's scheduling jitter."""


@pytest.mark.parametrize(("mode", "delay"), [("kube-proxy", 0.0), ("kube-proxy", DELAY), ("ipvs", DELAY)])
def test_kube_proxy_splices_half_closed_connections(mode: Mode, delay: float) -> None:
    """The client shuts down its sending side; the backend still answers after reading EOF.

    With a network delay every byte and the end of stream are held back each way, in order: the answer
    comes no earlier than a round trip.
    """
    ip = pod_ip()
    listener = socket.create_server((ip, 0))

    def reverse_after_eof() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            conn.sendall(data[::-1])

    server = threading.Thread(target=reverse_after_eof, daemon=True)
    server.start()
    plane = PlaneThread(mode, network_delay=delay)
    try:
        vip = cluster_ip()
        plane.set_routes(route(vip, ready(listener.getsockname(), "rev")))
        payload = bytes(range(256)) * 4096  # 1 MiB: exercises flow control too
        with socket.create_connection((vip, PORT), timeout=10) as s:
            sent = time.monotonic()
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := s.recv(65536):
                received += chunk
            answered = time.monotonic() - sent
    finally:
        plane.close()
        server.join(timeout=5)
        listener.close()
    assert received == payload[::-1]
    assert answered >= 2 * delay


def test_kube_proxy_keeps_an_established_connection_on_its_backend(kube_proxy: PlaneThread) -> None:
    """Like conntrack: a route change affects new connections only."""
    vip = cluster_ip()
    with http_backend("a") as a, http_backend("b") as b:
        kube_proxy.set_routes(route(vip, ready(a, "a")))
        conn = http.client.HTTPConnection(vip, PORT, timeout=5)
        conn.request("GET", "/")
        first = conn.getresponse()
        first.read()
        kube_proxy.set_routes(route(vip, ready(b, "b")))
        conn.request("GET", "/")
        second = conn.getresponse()
        second.read()
        conn.close()
        assert (first.getheader("X-Pod-Name"), second.getheader("X-Pod-Name")) == ("a", "a")
        assert request_new_connection(vip, PORT) == (200, "b")


# -- ingress ---------------------------------------------------------------------------------


def test_ingress_balances_each_request_of_one_keepalive_connection(ingress: PlaneThread) -> None:
    vip = cluster_ip()
    with http_backend("a") as a, http_backend("b") as b:
        ingress.set_routes(route(vip, ready(a, "a"), ready(b, "b")))
        conn = http.client.HTTPConnection(vip, PORT, timeout=5)
        pods = []
        for _ in range(6):
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            pods.append(resp.getheader("X-Pod-Name"))
        conn.close()
    assert sorted(pods) == ["a", "a", "a", "b", "b", "b"]
    assert all(x != y for x, y in itertools.pairwise(pods))


def test_ingress_answers_502_when_the_pod_refuses_and_keeps_the_client_connection(ingress: PlaneThread) -> None:
    vip, ip = cluster_ip(), pod_ip()
    with http_backend("a") as a:
        ingress.set_routes(route(vip, ready((ip, refused_port(ip)), "dead")))
        conn = http.client.HTTPConnection(vip, PORT, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 502
        ingress.set_routes(route(vip, ready(a, "a")))
        conn.request("GET", "/")  # the same client connection
        resp = conn.getresponse()
        resp.read()
        conn.close()
    assert (resp.status, resp.getheader("X-Pod-Name")) == (200, "a")


def test_ingress_answers_503_without_ready_endpoints_and_never_uses_terminating_ones(ingress: PlaneThread) -> None:
    vip = cluster_ip()
    with http_backend("old") as old:
        ingress.set_routes(route(vip, terminating(old, "old")))
        assert request_new_connection(vip, PORT) == (503, None)
        ingress.set_routes(route(vip))
        assert request_new_connection(vip, PORT) == (503, None)


def test_ingress_answers_502_when_the_pod_resets_the_connection(ingress: PlaneThread) -> None:
    ip = pod_ip()
    listener = socket.create_server((ip, 0))

    def reset_each() -> None:
        for _ in range(1):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    server = threading.Thread(target=reset_each, daemon=True)
    server.start()
    vip = cluster_ip()
    ingress.set_routes(route(vip, ready(listener.getsockname(), "rst")))
    assert request_new_connection(vip, PORT) == (502, None)
    server.join(timeout=5)
    listener.close()


def test_ingress_passes_method_path_body_and_headers(ingress: PlaneThread) -> None:
    vip = cluster_ip()
    with http_backend("a") as a:
        ingress.set_routes(route(vip, ready(a, "a")))
        conn = http.client.HTTPConnection(vip, PORT, timeout=5)
        conn.request("POST", "/x?y=1", body=b"hello")
        resp = conn.getresponse()
        body = resp.read()
        conn.request("POST", "/chunked", body=iter([b"he", b"llo"]), encode_chunked=True)
        chunked = conn.getresponse()
        chunked_body = chunked.read()
        conn.close()
    assert (resp.status, resp.getheader("X-Pod-Name")) == (200, "a")
    assert body == b"a POST /x?y=1 5\nhello"
    assert chunked_body == b"a POST /chunked 5\nhello"


# -- lag -------------------------------------------------------------------------------------


def _web(ip: str, backend: tuple[str, int]) -> tuple[Change, Change]:
    svc = {"metadata": {"namespace": "d", "name": "web"}, "spec": {"clusterIP": ip, "ports": [{"port": PORT}]}}
    eps = {
        "metadata": {"namespace": "d", "name": "web-x", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "", "port": backend[1]}],
        "endpoints": [{"addresses": [backend[0]], "conditions": {"ready": True}}],
    }
    return Change("Service", "ADDED", (svc,)), Change("EndpointSlice", "ADDED", (eps,))


def test_lagged_feed_applies_changes_no_earlier_than_the_lag(kube_proxy: PlaneThread) -> None:
    lag = 0.5
    plane: DataPlane = kube_proxy.plane
    vip = cluster_ip()

    async def start() -> tuple[LaggedFeed, asyncio.Task[None]]:
        feed = LaggedFeed(lag=lag, table=EndpointTable(), plane=plane)
        return feed, asyncio.get_running_loop().create_task(feed.run())

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    feed, task = kube_proxy.call(start())
    with http_backend("a") as a:
        seen = time.monotonic()

        async def put() -> None:
            for change in _web(vip, a):
                feed.put(change, seen)

        kube_proxy.call(put())
        deadline = seen + 10
        while (vip, PORT) not in plane.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        applied = time.monotonic()
        assert (vip, PORT) in plane.listening
        assert applied - seen >= lag
        assert request_new_connection(vip, PORT) == (200, "a")
    kube_proxy.call(stop(task))


def test_structlog_logs_route_changes(kube_proxy: PlaneThread) -> None:
    vip = cluster_ip()
    with structlog.testing.capture_logs() as logs, http_backend("a") as a:
        kube_proxy.set_routes(route(vip, ready(a, "a")))
    events = [e for e in logs if e["event"] == "route"]
    assert events
    assert events[0]["ready"] == ["a"]


def test_an_address_in_use_is_retried_until_it_is_free(kube_proxy: PlaneThread) -> None:
    """Another sandbox on the machine may hold the ClusterIP:port for a while."""
    vip = cluster_ip()
    blocker = socket.create_server((vip, PORT))
    with http_backend("a") as a:
        with structlog.testing.capture_logs() as logs:
            kube_proxy.set_routes(route(vip, ready(a, "a")))
        assert (vip, PORT) not in kube_proxy.plane.listening
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["cannot listen, retrying"]
        blocker.close()
        deadline = time.monotonic() + 10
        while (vip, PORT) not in kube_proxy.plane.listening and time.monotonic() < deadline:
            time.sleep(0.02)
        assert request_new_connection(vip, PORT) == (200, "a")


def test_ingress_answers_504_when_the_pod_does_not_answer_in_time(ingress: PlaneThread) -> None:
    ip = pod_ip()
    listener = socket.create_server((ip, 0))  # accepts (the kernel's backlog) and never answers
    ingress.plane.forwarder.read_timeout = 0.5  # type: ignore[attr-defined]
    vip = cluster_ip()
    ingress.set_routes(route(vip, ready(listener.getsockname(), "mute")))
    started = time.monotonic()
    assert request_new_connection(vip, PORT) == (504, None)
    assert time.monotonic() - started >= 0.5
    listener.close()
