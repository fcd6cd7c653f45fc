"""The sample app: a small HTTP/1.1 server whose shutdown behaviour is set by env (CONTRACT.md "Sample app").

Standard library only, so `python3 sample_app.py` runs it anywhere (config/sample-app/Dockerfile).

Env: `PORT` (8080), `GRACEFUL_SHUTDOWN` (false: exit 143 at once on SIGTERM), `SHUTDOWN_DELAY_SECONDS`
(0: keep serving this long after SIGTERM before closing the listener), `DRAIN_TIMEOUT_SECONDS` (5),
`STARTUP_DELAY_SECONDS` (0: delay before listening), `READY_DELAY_SECONDS` (0: `/ready` answers 503 this
long after listening), `RESPONSE_DELAY_MS` (0, on `/` only), `VERSION` (unknown), `POD_IP` (bind address,
else 0.0.0.0), `POD_NAME` (else the hostname).

Graceful mode: after SIGTERM and the shutdown delay the listener closes (connections already queued
in the kernel's backlog are still accepted and served first); every open connection has its next
request answered with `Connection: close` and is then closed; connections idle at that point are cut
only when the drain timeout runs out; the process exits 0 once no connection is left. A request whose
first byte was read is always answered.

Every lifecycle moment is one JSON line on stderr with an RFC 3339 millisecond timestamp
(`listening`, `sigterm`, `listener-closed`, `drained`), so a measurement can compare its own view
with the app's.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    # Run as a file from the repository: its folder holds a `selectors.py` that would shadow the
    # standard library's (which `socket` imports). The app needs nothing from its own folder.
    del sys.path[0]

import contextlib
import json
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Settings", "main"]

MAX_HEAD_BYTES = 65536
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


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


def _env_bool(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"sample-app: {name}={raw!r} is not a boolean (true/false)")


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
    version: str = "unknown"
    pod_name: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        """Settings from `env`; a malformed value exits with a one-line message."""
        port_raw = env.get("PORT", "8080").strip() or "8080"
        if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
            raise SystemExit(f"sample-app: PORT={port_raw!r} is not a TCP port")
        return cls(
            port=int(port_raw),
            host=env.get("POD_IP", "").strip() or "0.0.0.0",
            graceful=_env_bool(env, "GRACEFUL_SHUTDOWN"),
            shutdown_delay=_env_float(env, "SHUTDOWN_DELAY_SECONDS", 0.0),
            drain_timeout=_env_float(env, "DRAIN_TIMEOUT_SECONDS", 5.0),
            startup_delay=_env_float(env, "STARTUP_DELAY_SECONDS", 0.0),
            ready_delay=_env_float(env, "READY_DELAY_SECONDS", 0.0),
            response_delay=_env_float(env, "RESPONSE_DELAY_MS", 0.0) / 1000.0,
            version=env.get("VERSION", "").strip() or "unknown",
            pod_name=env.get("POD_NAME", "").strip() or socket.gethostname(),
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


class _Request:
    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.method = method
        self.path = target.split("?", 1)[0]
        self.version = version
        self.headers = headers

    def wants_close(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


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
        self._drain_deadline = 0.0
        self._wake_r, self._wake_w = os.pipe()  # readable once SIGTERM arrived
        self._drain_r, self._drain_w = os.pipe()  # readable once draining started

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
        _log("listening", host=s.host, port=s.port, version=s.version, pod=s.pod_name)
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
                self._accept_all(listener)
        self._accept_all(listener)  # serve what the kernel already queued: those clients were accepted
        listener.close()
        closed_at = _now()  # the measurement: no connection is accepted from here on
        with self._lock:
            self._draining = True
            self._drain_deadline = time.monotonic() + s.drain_timeout
            open_now = self._connections
        os.write(self._drain_w, b"x")
        _log("listener-closed", at=closed_at, open_connections=open_now)
        with self._all_closed:
            self._all_closed.wait_for(lambda: self._connections == 0)
        _log("drained", connections=0)
        return 0

    def _accept_all(self, listener: socket.socket) -> None:
        while True:
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
                return bool(poller.poll(0))
            if poller.poll(int(remaining * 1000) + 1):
                return True

    def _connection(self, conn: socket.socket) -> None:
        buf = bytearray()
        try:
            while True:
                if not buf and not self._wait_readable(conn):
                    return  # idle when the drain timeout ran out
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                    if len(buf) > MAX_HEAD_BYTES and b"\r\n\r\n" not in buf:
                        conn.sendall(self._response(400, b"request head too large\n", close=True))
                        return
                head, _, rest = bytes(buf).partition(b"\r\n\r\n")
                buf = bytearray(rest)
                request = self._parse(head)
                if request is None:
                    conn.sendall(self._response(400, b"bad request\n", close=True))
                    return
                length = request.headers.get("content-length", "0").strip() or "0"
                if "transfer-encoding" in request.headers or not length.isdigit():
                    conn.sendall(self._response(400, b"chunked request bodies are not supported\n", close=True))
                    return
                while len(buf) < int(length):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                del buf[: int(length)]
                close = request.wants_close()
                status, body = self._handle(request)
                with self._lock:
                    close = close or self._draining
                extra = {"X-Pod-Name": self.settings.pod_name} if request.path == "/" else {}
                payload = b"" if request.method == "HEAD" else body
                conn.sendall(self._response(status, payload, close=close, length=len(body), extra=extra))
                if close:
                    return
        except OSError:
            return
        finally:
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

    def _handle(self, request: _Request) -> tuple[int, bytes]:
        if request.method not in ("GET", "HEAD"):
            return 405, b"method not allowed\n"
        s = self.settings
        if request.path == "/":
            if s.response_delay:
                time.sleep(s.response_delay)
            return 200, f"Hello from {s.pod_name} (version {s.version})\n".encode()
        if request.path == "/ready":
            if self._sigterm.is_set():
                return 503, b"shutting down\n"
            if time.monotonic() - self._listening_at < s.ready_delay:
                return 503, b"not ready yet\n"
            return 200, b"ready\n"
        if request.path == "/healthz":
            return 200, b"ok\n"
        return 404, b"not found\n"

    def _response(
        self,
        status: int,
        body: bytes,
        *,
        close: bool,
        length: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Unknown')}",
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body) if length is None else length}",
            f"X-Version: {self.settings.version}",
            f"Connection: {'close' if close else 'keep-alive'}",
        ]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def main() -> int:
    """Run the app until SIGTERM (or Ctrl-C); returns the exit code."""
    app = App(Settings.from_env(dict(os.environ)))
    signal.signal(signal.SIGTERM, app.on_sigterm)
    try:
        return app.serve()
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _log("error", error=str(exc))
        print(f"sample-app: cannot listen on {app.settings.host}:{app.settings.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
