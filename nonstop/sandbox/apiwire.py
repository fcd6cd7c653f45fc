"""The API server's HTTP/1.1 wire: connections, request bodies in, answers out.

`Server` is a `ThreadingHTTPServer` (one thread per connection, keep-alive for urllib3 pools,
`TCP_NODELAY` so small answers are not held back) that hands every request to one callback and
can drop its open connections when it stops. `Handler` reads a request's body (JSON, YAML, the
Kubernetes protobuf envelope; chunked or with a Content-Length) and writes answers: JSON with a
Content-Length, or a chunked stream (watches, logs). Bodies are never compressed.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from nonstop.sandbox import protobuf
from nonstop.sandbox.apierrors import ApiError, bad_request

__all__ = ["Handler", "Server", "dump", "load_yaml"]


def dump(obj: Any) -> bytes:
    """Compact JSON, as the apiserver writes it."""
    return json.dumps(obj, separators=(",", ":")).encode()


class _Loader(yaml.SafeLoader):
    """YAML as the apiserver reads it: a date stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(raw: bytes) -> Any:
    """A YAML (or JSON) request body; 400 when it is not YAML."""
    try:
        return yaml.load(raw, Loader=_Loader)  # noqa: S506 - a SafeLoader without timestamps
    except yaml.YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc


class Server(ThreadingHTTPServer):
    """Serves each request by `serve(handler, method)`; remembers its connections to drop them on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], serve: Callable[[Handler, str], None]) -> None:
        self.serve = serve
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal (watch streams, stopped drills): no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | BrokenPipeError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Shut every open connection (keep-alive, watch streams) so that its thread ends."""
        with self.conn_lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """One connection; `before_answer(code)` is called as a JSON answer (or a stream) is about to start."""

    protocol_version = "HTTP/1.1"
    server: Server
    timeout = 600  # an idle keep-alive connection is closed after this long
    before_answer: Callable[[int], None] | None = None  # the request log's hook, set per request

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces the stdlib's access log

    def do_GET(self) -> None:
        self.server.serve(self, "GET")

    def do_POST(self) -> None:
        self.server.serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.serve(self, "DELETE")

    # -- in --------------------------------------------------------------------------------------

    def read_body(self) -> Any:
        """The request body, decoded by its Content-Type (None when empty); 400 or 415 when it cannot be."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return None
            raw = self.rfile.read(length)
        if not raw.strip():
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == protobuf.MEDIA_TYPE:
            return protobuf.decode(raw)
        if "protobuf" in ctype or "cbor" in ctype:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include:"
                f' "application/json", "{protobuf.MEDIA_TYPE}" (not {ctype})',
            )
        if "yaml" in ctype:
            return load_yaml(raw)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from exc

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def gone(self) -> bool:
        """Whether the client closed its end (an idle stream would otherwise notice only when it writes)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- out -------------------------------------------------------------------------------------

    def answering(self, code: int) -> None:
        """Tell the request log that the answer `code` is about to leave."""
        if self.before_answer is not None:
            self.before_answer(code)

    def send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        """A JSON answer; `headers` named "Warning#1", "Warning#2", … are sent as one Warning line each."""
        self.answering(code)
        data = dump(obj) + b"\n"  # Go's json.Encoder ends every body with a newline
        extra = [(name.split("#")[0], value) for name, value in (headers or {}).items()]
        self.send_bytes(
            code, data, [*extra, ("Content-Type", "application/json"), ("Cache-Control", "no-cache, private")]
        )

    def send_bytes(self, code: int, data: bytes, headers: list[tuple[str, str]]) -> None:
        """An answer of `data` with these headers and its Content-Length."""
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_chunks(self, content_type: str) -> None:
        """Start a 200 answer of unknown length; the caller writes its chunks and the last, empty one."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
