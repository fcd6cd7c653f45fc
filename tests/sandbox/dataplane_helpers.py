"""Loopback helpers for the data-plane tests: a plane on its own loop thread, tiny backends, raw clients."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import random
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import structlog

from nonstop.sandbox.dataplane import DataPlane, Mode, Route, RouteKey

__all__ = [
    "PlaneThread",
    "cluster_ip",
    "http_backend",
    "one_answer_per_connection",
    "pod_ip",
    "request_new_connection",
    "sandbox_cluster_ip",
]


def cluster_ip() -> str:
    """A ClusterIP no sandbox allocates (those come from 127.20.0.0/16)."""
    return f"127.21.{random.randint(1, 254)}.{random.randint(1, 254)}"


def sandbox_cluster_ip() -> str:
    """A ClusterIP in the sandbox's range, away from the addresses its allocator hands out first.

    Every sandbox on the machine allocates from 127.20.0.1 upwards; tests that run several at
    once ask for a random high address instead (Kubernetes accepts a requested spec.clusterIP).
    """
    return f"127.20.{random.randint(128, 254)}.{random.randint(1, 254)}"


def pod_ip() -> str:
    """A pod IP no sandbox kubelet hands out."""
    return f"127.11.{random.randint(1, 254)}.{random.randint(1, 254)}"


class PlaneThread:
    """A DataPlane running in an event loop on a background thread, fed routes by the test."""

    def __init__(self, mode: Mode, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.plane = self.call(self._make(mode, options))

    @staticmethod
    async def _make(mode: Mode, options: dict[str, Any]) -> DataPlane:
        return DataPlane(mode=mode, log=structlog.get_logger("test-dataplane"), **options)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def set_routes(self, *routes: Route) -> None:
        table: Mapping[RouteKey, Route] = {r.key: r for r in routes}
        self.call(self.plane.update(table))

    def close(self) -> None:
        self.call(self.plane.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        body = f"{self.server.name} {self.command} {self.path} {len(body_in)}\n".encode() + body_in
        self.send_response(200)
        self.send_header("X-Pod-Name", self.server.name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    name = ""


@contextmanager
def http_backend(name: str, ip: str | None = None, port: int = 0) -> Iterator[tuple[str, int]]:
    """A keep-alive HTTP/1.1 server on a pod-like loopback address answering with X-Pod-Name."""
    server = _Server((ip or pod_ip(), port), _Handler)
    server.name = name
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def request_new_connection(ip: str, port: int, path: str = "/") -> tuple[int, str | None]:
    """One GET on a fresh connection, closed after: (status, X-Pod-Name)."""
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Pod-Name")
    finally:
        conn.close()


def refused_port(ip: str) -> int:
    """A port on `ip` where nothing listens."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@contextmanager
def one_answer_per_connection(name: str) -> Iterator[tuple[str, int]]:
    """A server that answers the first request of each connection with keep-alive, then closes the
    connection without answering when the next request arrives: every reused connection is stale.
    """
    listener = socket.create_server((pod_ip(), 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            body = name.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pod-Name: %s\r\nContent-Length: %d\r\n\r\n%s" % (body, len(body), body))
            conn.settimeout(30)
            with suppress(OSError):
                conn.recv(65536)  # the next request (or EOF): close without an answer

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[0], listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
