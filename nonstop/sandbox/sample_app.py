"""The sample app: a small HTTP/1.1 server whose shutdown behaviour is set by env (CONTRACT.md "Sample app").

Standard library only, so `python3 sample_app.py` runs it anywhere (config/sample-app/Dockerfile); the
proxy mode loads `sample_proxy.py` from beside it.

Env: `PORT` (8080), `GRACEFUL_SHUTDOWN` (false: exit 143 at once on SIGTERM), `SHUTDOWN_DELAY_SECONDS`
(0: keep serving this long after SIGTERM before closing the listener), `DRAIN_TIMEOUT_SECONDS` (5),
`STARTUP_DELAY_SECONDS` (0: delay before listening), `READY_DELAY_SECONDS` (0: `/ready` answers 503 this
long after listening), `RESPONSE_DELAY_MS` (0) on the comma-separated `RESPONSE_DELAY_PATHS` (`/`),
`VERSION` (unknown), `POD_IP` (bind address, else 0.0.0.0), `POD_NAME` (else the hostname).

Graceful mode: after SIGTERM and the shutdown delay the listener closes (connections already queued
in the kernel's backlog, and handshakes it already answered, are still accepted and served first; a
handshake starting while it closes is dropped, so the client's retry of it is refused rather than
reset); every open connection has its next request answered with `Connection: close` and is then
closed; connections idle at that point are cut only when the drain timeout runs out; the process
exits 0 once no connection is left. A request whose first byte was read is always answered.

Hazard knobs (each reproduces a way real apps lose requests in a rollout):
- `IGNORE_SIGTERM=true`: SIGTERM is ignored, as by a shell PID 1 that does not forward it; the app
  serves (and `/ready` answers 200) until SIGKILL.
- `WORKER_THREADS=N` (0: unbounded): at most N requests are handled at once, the response delay
  included; the rest, probes too, wait for a worker, as in a saturated app.
- `DRAIN_SEND_CLOSE=false`: while draining, responses keep the connection alive (no
  `Connection: close`); connections are cut between requests once the drain timeout runs out, which
  is when the process exits.
- `CLOSE_IDLE_ON_SIGTERM=true`: when the listener closes, idle keep-alive connections are closed at
  once instead of at the drain timeout, racing a client's next request on them.
- `PROXY_UPSTREAM_PORT=P`: sidecar proxy mode (`sample_proxy.py`): every request is forwarded to
  `$POD_IP` (else 127.0.0.1) port P, where a second container of the pod runs the app; SIGTERM and
  the graceful settings apply to the proxy itself, as to an Envoy sidecar (its `/ready` answers 503
  from SIGTERM on instead of asking the app).

`/` answers GET, HEAD and POST (the body is read and discarded); other paths GET and HEAD.

Every lifecycle moment is one JSON line on stderr with an RFC 3339 millisecond timestamp
(`listening`, `sigterm`, `listener-closed`, `drained`), so a measurement can compare its own view
with the app's.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    # Run as a file from the repository: its folder holds a `selectors.py` that would shadow the
    # standard library's (which `socket` imports). Its one sibling it needs is loaded by path.
    del sys.path[0]

import contextlib
import ctypes
import importlib.util
import json
import select
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nonstop.sandbox.sample_proxy import Upstream

__all__ = ["Settings", "main"]

MAX_HEAD_BYTES = 65536
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
Answer = tuple[int, bytes, dict[str, str]]  # status, body, headers beyond the defaults


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"sample-app: {name}={raw!r} is not a number") from None
    if value < 0:
        raise SystemExit(f"sample-app: {name}={raw!r} must not be negative")
    return value


def _env_int(env: dict[str, str], name: str, default: int, *, port: bool = False) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or (port and not 0 < int(raw) < 65536):
        raise SystemExit(f"sample-app: {name}={raw!r} is not {'a TCP port' if port else 'a whole number ≥ 0'}")
    return int(raw)


def _env_bool(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"sample-app: {name}={raw!r} is not a boolean (true/false)")


def _env_paths(env: dict[str, str], name: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in env.get(name, "/").split(",") if p.strip())
    if not paths or any(not p.startswith("/") for p in paths):
        raise SystemExit(f"sample-app: {name}={env.get(name)!r} is not a comma-separated list of paths (/a,/b)")
    return paths


@dataclass(frozen=True)
class Settings:
    """The app's knobs, read from the environment."""

    port: int = 8080
    host: str = "0.0.0.0"
    graceful: bool = False
    shutdown_delay: float = 0.0
    drain_timeout: float = 5.0
    startup_delay: float = 0.0
    ready_delay: float = 0.0
    response_delay: float = 0.0
    response_delay_paths: tuple[str, ...] = ("/",)
    version: str = "unknown"
    pod_name: str = ""
    ignore_sigterm: bool = False
    worker_threads: int = 0  # 0: unbounded
    drain_send_close: bool = True
    close_idle_on_sigterm: bool = False
    proxy_upstream_port: int = 0  # 0: not a proxy

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        """Settings from `env`; a malformed value exits with a one-line message."""
        return cls(
            port=_env_int(env, "PORT", 8080, port=True),
            host=env.get("POD_IP", "").strip() or "0.0.0.0",
            graceful=_env_bool(env, "GRACEFUL_SHUTDOWN"),
            shutdown_delay=_env_float(env, "SHUTDOWN_DELAY_SECONDS", 0.0),
            drain_timeout=_env_float(env, "DRAIN_TIMEOUT_SECONDS", 5.0),
            startup_delay=_env_float(env, "STARTUP_DELAY_SECONDS", 0.0),
            ready_delay=_env_float(env, "READY_DELAY_SECONDS", 0.0),
            response_delay=_env_float(env, "RESPONSE_DELAY_MS", 0.0) / 1000.0,
            response_delay_paths=_env_paths(env, "RESPONSE_DELAY_PATHS"),
            version=env.get("VERSION", "").strip() or "unknown",
            pod_name=env.get("POD_NAME", "").strip() or socket.gethostname(),
            ignore_sigterm=_env_bool(env, "IGNORE_SIGTERM"),
            worker_threads=_env_int(env, "WORKER_THREADS", 0),
            drain_send_close=_env_bool(env, "DRAIN_SEND_CLOSE", default=True),
            close_idle_on_sigterm=_env_bool(env, "CLOSE_IDLE_ON_SIGTERM"),
            proxy_upstream_port=_env_int(env, "PROXY_UPSTREAM_PORT", 0, port=True),
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _log(event: str, *, at: str | None = None, **fields: Any) -> None:
    line = json.dumps({"at": at or _now(), "event": event, **fields})
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr gone: measurement lines are best effort
        pass


def _upstream_class() -> type[Upstream]:
    """`sample_proxy.Upstream`: from the package, or from the file beside this one when run as a lone file."""
    try:
        from nonstop.sandbox.sample_proxy import Upstream
    except ImportError:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_proxy.py")
        spec = importlib.util.spec_from_file_location("sample_proxy", path)
        if spec is None or spec.loader is None or not os.path.exists(path):
            raise SystemExit(f"sample-app: PROXY_UPSTREAM_PORT needs {path}") from None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        upstream: type[Upstream] = module.Upstream
        return upstream
    return Upstream


class _Request:
    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.path = target.split("?", 1)[0]
        self.version = version
        self.headers = headers
        self.body = b""

    def wants_close(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


_DROP_SYN = (
    (0x30, 0, 0, 13),  # ldb [13]: the TCP flags (a TCP socket's filter sees the TCP header at 0)
    (0x54, 0, 0, 0x12),  # and #SYN|ACK
    (0x15, 0, 1, 0x02),  # jeq #SYN (a handshake's first packet) → drop, else keep
    (0x06, 0, 0, 0),  # ret #0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep the whole packet
)
"""A classic BPF program that drops a connection's first SYN and keeps every other packet."""
_ACCEPT_BATCH = 64
"""Connections accepted between two looks at the clock."""
_QUIET_SECONDS = 0.05
"""How long the accept queue must stay empty before the listener closes (loopback handshakes take µs)."""


def _refuse_new_handshakes(listener: socket.socket) -> None:
    """Stop `listener` starting handshakes; those already answered still complete (and get accepted).

    Closing a listening socket resets every connection still in its accept queue or half-way through
    its handshake. With `_DROP_SYN` attached, a new SYN is dropped (the client retransmits it, and by
    then the listener is gone: refused, which it can retry elsewhere), while the last ACK of a
    handshake the listener already answered passes, so that connection lands in the accept queue.
    Dropping every packet instead left a handshake whose SYN came before the filter and whose ACK
    came after it half-open, and the client's request was reset once the listener closed.
    Linux only; elsewhere the old, narrow race remains.
    """
    so_attach_filter = 26  # <asm-generic/socket.h>
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _DROP_SYN))
    program = struct.pack("HP", len(_DROP_SYN), ctypes.addressof(code))  # struct sock_fprog
    with contextlib.suppress(OSError):
        listener.setsockopt(socket.SOL_SOCKET, so_attach_filter, program)


class App:
    """The server: one accept loop on the main thread, one thread per connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._connections = 0
        self._all_closed = threading.Condition(self._lock)
        self._listening_at = 0.0
        self._sigterm = threading.Event()
        self._draining = False  # the listener is closed: every response now closes its connection
        self._drain_deadline = 0.0  # then: idle connections are cut from here on
        self._wake_r, self._wake_w = os.pipe()  # readable once SIGTERM arrived
        self._drain_r, self._drain_w = os.pipe()  # readable once draining started
        self._workers: contextlib.AbstractContextManager[Any] = (
            threading.Semaphore(settings.worker_threads) if settings.worker_threads else contextlib.nullcontext()
        )
        self._upstream_class = _upstream_class() if settings.proxy_upstream_port else None
        self._upstream_host = "127.0.0.1" if settings.host == "0.0.0.0" else settings.host

    # -- signals -------------------------------------------------------------------------------

    def on_sigterm(self, _signum: int, _frame: object) -> None:
        """SIGTERM: exit at once, or start the graceful sequence."""
        if self._sigterm.is_set():
            return
        self._sigterm.set()
        _log("sigterm", graceful=self.settings.graceful)
        if not self.settings.graceful:
            _log("listener-closed", reason="exit without graceful shutdown")
            os._exit(143)
        os.write(self._wake_w, b"x")

    # -- main loop -----------------------------------------------------------------------------

    def serve(self) -> int:
        """Listen, accept until shutdown, drain, return the exit code."""
        s = self.settings
        if s.startup_delay:
            self._sigterm.wait(s.startup_delay)
        if self._sigterm.is_set():
            _log("drained", connections=0)
            return 0
        listener = socket.create_server((s.host, s.port), backlog=1024, reuse_port=False)
        listener.setblocking(False)
        self._listening_at = time.monotonic()
        proxy: dict[str, Any] = {"proxy_upstream_port": s.proxy_upstream_port} if s.proxy_upstream_port else {}
        _log("listening", host=s.host, port=s.port, version=s.version, pod=s.pod_name, **proxy)
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        close_at: float | None = None
        while True:
            timeout_ms = None if close_at is None else max(0, int((close_at - time.monotonic()) * 1000))
            ready = poller.poll(timeout_ms)
            if close_at is None and self._sigterm.is_set():
                close_at = time.monotonic() + s.shutdown_delay
                poller.unregister(self._wake_r)
            if close_at is not None and time.monotonic() >= close_at:
                break
            if any(fd == listener.fileno() for fd, _ in ready):
                self._accept_batch(listener)
        _refuse_new_handshakes(listener)
        # Serve what the kernel queued, and the handshakes it still completes, until the queue stays
        # empty: those clients were accepted.
        quiet = select.poll()
        quiet.register(listener, select.POLLIN)
        give_up = time.monotonic() + 1.0  # bounded, should the filter be missing
        while time.monotonic() < give_up and quiet.poll(int(_QUIET_SECONDS * 1000)):
            self._accept_batch(listener)
        listener.close()
        closed_at = _now()  # the measurement: no connection is accepted from here on
        with self._lock:
            self._draining = True
            self._drain_deadline = time.monotonic() + (0.0 if s.close_idle_on_sigterm else s.drain_timeout)
            open_now = self._connections
        os.write(self._drain_w, b"x")
        _log("listener-closed", at=closed_at, open_connections=open_now)
        with self._all_closed:
            self._all_closed.wait_for(lambda: self._connections == 0)
        _log("drained", connections=0)
        return 0

    def _accept_batch(self, listener: socket.socket) -> None:
        """Accept what is queued, at most `_ACCEPT_BATCH`.

        A storm of new connections must not hold off the shutdown deadline the loop checks between batches.
        """
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log("accept-error", error=str(exc))
                return
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    # -- one connection ------------------------------------------------------------------------

    def _wait_readable(self, conn: socket.socket) -> bool:
        """Wait for the next request's first bytes; False when the idle connection must be cut."""
        poller = select.poll()
        poller.register(conn, select.POLLIN)
        if not self._draining:
            poller.register(self._drain_r, select.POLLIN)
            for fd, _ in poller.poll():
                if fd == conn.fileno():
                    return True
            poller.unregister(self._drain_r)
        while True:
            remaining = self._drain_deadline - time.monotonic()
            if remaining <= 0:
                # A request already waiting is answered (with Connection: close); a connection kept
                # alive while draining is cut, so that a client sending at once cannot keep it forever.
                return self.settings.drain_send_close and bool(poller.poll(0))
            if poller.poll(int(remaining * 1000) + 1):
                return True

    def _read_request(self, conn: socket.socket, buf: bytearray) -> _Request | bytes | None:
        """The next request (body included) from `buf` and `conn`; an error answer's body; None at EOF."""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
            if len(buf) > MAX_HEAD_BYTES and b"\r\n\r\n" not in buf:
                return b"request head too large\n"
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        buf[:] = rest
        request = self._parse(head)
        if request is None:
            return b"bad request\n"
        length = request.headers.get("content-length", "0").strip() or "0"
        if "transfer-encoding" in request.headers or not length.isdigit():
            return b"chunked request bodies are not supported\n"
        while len(buf) < int(length):
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        request.body = bytes(buf[: int(length)])
        del buf[: int(length)]
        return request

    def _connection(self, conn: socket.socket) -> None:
        buf = bytearray()
        upstream = None
        if self._upstream_class is not None:
            upstream = self._upstream_class(self._upstream_host, self.settings.proxy_upstream_port)
        try:
            while True:
                if not buf and not self._wait_readable(conn):
                    return  # idle when the drain timeout ran out
                request = self._read_request(conn, buf)
                if not isinstance(request, _Request):
                    if request is not None:
                        conn.sendall(self._response(400, request, close=True))
                    return
                with self._workers:
                    status, body, headers = self._handle(request, upstream)
                    with self._lock:
                        close = request.wants_close() or (self._draining and self.settings.drain_send_close)
                    payload = b"" if request.method == "HEAD" else body
                    conn.sendall(self._response(status, payload, close=close, length=len(body), headers=headers))
                if close:
                    return
        except OSError:
            return
        finally:
            if upstream is not None:
                upstream.close()
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            conn.close()
            with self._all_closed:
                self._connections -= 1
                self._all_closed.notify_all()

    @staticmethod
    def _parse(head: bytes) -> _Request | None:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            return None
        if not version.startswith("HTTP/1."):
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                return None
            headers[name.strip().lower()] = value.strip()
        return _Request(method, target, version, headers)

    def _handle(self, request: _Request, upstream: Upstream | None) -> Answer:
        s = self.settings
        if s.response_delay and request.path in s.response_delay_paths:
            time.sleep(s.response_delay)
        if request.path == "/ready" and self._sigterm.is_set():
            return 503, b"shutting down\n", {}
        if upstream is not None:
            return upstream.forward(request.method, request.target, request.headers, request.body)
        if request.method not in ("GET", "HEAD") and not (request.path == "/" and request.method == "POST"):
            return 405, b"method not allowed\n", {}
        if request.path == "/":
            return 200, f"Hello from {s.pod_name} (version {s.version})\n".encode(), {"X-Pod-Name": s.pod_name}
        if request.path == "/ready":
            if time.monotonic() - self._listening_at < s.ready_delay:
                return 503, b"not ready yet\n", {}
            return 200, b"ready\n", {}
        if request.path == "/healthz":
            return 200, b"ok\n", {}
        return 404, b"not found\n", {}

    def _response(
        self,
        status: int,
        body: bytes,
        *,
        close: bool,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        fields = {"Content-Type": "text/plain; charset=utf-8", "X-Version": self.settings.version, **(headers or {})}
        lines = [
            f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Unknown')}",
            f"Content-Length: {len(body) if length is None else length}",
            f"Connection: {'close' if close else 'keep-alive'}",
            *(f"{k}: {v}" for k, v in fields.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def main() -> int:
    """Run the app until SIGTERM (or Ctrl-C); returns the exit code."""
    app = App(Settings.from_env(dict(os.environ)))
    signal.signal(signal.SIGTERM, signal.SIG_IGN if app.settings.ignore_sigterm else app.on_sigterm)
    try:
        return app.serve()
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _log("error", error=str(exc))
        print(f"sample-app: cannot listen on {app.settings.host}:{app.settings.port}: {exc}", file=sys.stderr)  # noqa: T201 — plain stderr: the one sentence a pod's log shows
        return 1


if __name__ == "__main__":
    sys.exit(main())
