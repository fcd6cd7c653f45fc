"""Locust plugin: streams every request of this Locust process to nonstop's LoadRunner, live.

LoadRunner loads it next to the locustfile (``locust -f user.py,nonstop_stream.py``), so custom
locustfiles are streamed too. The master of a master/worker run does not send (its workers do).

Where to send: the options ``--nonstop-load-sink`` (``host:port`` of the runner's listener; an empty
host means "the host of my Locust master") and ``--nonstop-load-token``, which this plugin adds to
Locust's parser and which default to the environment variables ``NONSTOP_LOAD_SINK`` and
``NONSTOP_LOAD_TOKEN``. A process that knows the sink when it starts (LoadRunner's own processes get
the variables) connects at once. A worker started without them (a worker pod of the Argo workflow:
``locust --worker --master-host … -f user.py,nonstop_stream.py`` and nothing else) learns them from
its master: Locust's master sends its parsed custom options to every worker with the first spawn
message, before ``test_start`` fires there, so the worker connects on ``test_start``.

Protocol, one TCP connection per Locust process, newline-delimited JSON:

- first line: ``{"token": NONSTOP_LOAD_TOKEN, "pid": <pid>}``;
- then one line per batch (every ``FLUSH_SECONDS``, and at test stop and quit): a list of records
  ``[start epoch seconds, latency ms, failure class or null, HTTP status or null, X-Pod-Name or null,
  retries, the retried connection's last X-Pod-Name or null]``;
- and ``{"users": n}`` whenever the number of running users of this process changed.

The failure classes are CONTRACT.md's: ``refused``, ``reset`` (reset, broken pipe, or closed by the
server before an answer), ``timeout``, ``http-5xx``, ``http-4xx``, ``other``.

Retries: geventhttpclient silently sends an idempotent request again when the connection it took from
its pool is reset or closed before any response byte (a stale keep-alive connection to a pod that is
going away). The plugin wraps its pool's ``get_socket`` to count the connections each request took
(per greenlet: a Locust user runs in one) and remembers which pod last answered on each connection,
so a retried request is reported with its retry count and the pod whose connection failed — a
non-idempotent request would have failed there.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
import weakref
from typing import Any

import gevent
import gevent.lock
from geventhttpclient.connectionpool import ConnectionPool
from locust import events
from locust.runners import MasterRunner, WorkerRunner

FLUSH_SECONDS = 0.05
_logger = logging.getLogger("nonstop_stream")

_REFUSED_ERRNOS = {errno.ECONNREFUSED}
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}
_TIMEOUT_ERRNOS = {errno.ETIMEDOUT}
_RESET_TYPES = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
# Clients' names for "the server closed the connection before answering".
_CLOSED_NAMES = {"HTTPConnectionClosed", "RemoteDisconnected", "ProtocolError", "IncompleteRead", "EmptyResponse"}


_taken: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
"""Per greenlet: the pooled connections the request in flight took (more than one: it was retried)."""
_answered_by: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""Per connection: the pod (`X-Pod-Name`) that last answered on it."""
_get_socket = ConnectionPool.get_socket


def _counting_get_socket(self: ConnectionPool) -> Any:
    sock = _get_socket(self)
    _taken.setdefault(gevent.getcurrent(), []).append(sock)
    return sock


ConnectionPool.get_socket = _counting_get_socket  # type: ignore[method-assign]


def _retries(pod: str | None) -> tuple[int, str | None]:
    """The retries of the request that just ended in this greenlet, and the pod its failed connection had."""
    taken = _taken.pop(gevent.getcurrent(), [])
    if pod is not None and taken:
        _answered_by[taken[-1]] = pod
    if len(taken) < 2:
        return 0, None
    return len(taken) - 1, _answered_by.get(taken[0])


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (geventhttpclient's `original`, urllib3's `reason`, chaining)."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 16:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([getattr(item, "original", None), getattr(item, "reason", None), item.__cause__, item.__context__])
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return seen


def classify(exception: BaseException | None, status: int) -> str | None:
    """CONTRACT.md's failure class of one request: None for a success."""
    if exception is None:
        return None
    if status >= 500:
        return "http-5xx"
    if status >= 400:
        return "http-4xx"
    causes = _causes(exception)
    for cause in causes:
        number = getattr(cause, "errno", None)
        if isinstance(cause, ConnectionRefusedError) or number in _REFUSED_ERRNOS:
            return "refused"
        if isinstance(cause, _RESET_TYPES) or number in _RESET_ERRNOS:
            return "reset"
        if isinstance(cause, TimeoutError) or number in _TIMEOUT_ERRNOS or "Timeout" in type(cause).__name__:
            return "timeout"
    for cause in causes:
        if type(cause).__name__ in _CLOSED_NAMES or "connection closed" in str(cause).lower():
            return "reset"
    return "other"


class _Stream:
    """The buffer and the connection of this process; sends from one greenlet at a time."""

    def __init__(self, sock: socket.socket, runner: Any) -> None:
        self.sock: socket.socket | None = sock
        self.runner = runner
        self.users = 0
        self.buffer: list[tuple[float, float, str | None, int | None, str | None, int, str | None]] = []
        self.lock = gevent.lock.Semaphore()

    def on_request(
        self,
        response_time: float,
        response: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_kwargs: Any,
    ) -> None:
        status = 0
        pod = None
        if response is not None:
            status = getattr(response, "status_code", 0) or 0
            headers = getattr(response, "headers", None)
            if headers:
                pod = headers.get("X-Pod-Name")
        at = start_time if start_time is not None else time.time() - response_time / 1000.0
        retries, retried_pod = _retries(pod)
        failure = classify(exception, status)
        self.buffer.append((at, round(response_time, 3), failure, status or None, pod, retries, retried_pod))

    def flush(self) -> None:
        with self.lock:
            users = getattr(self.runner, "user_count", 0)
            if self.sock is None or (not self.buffer and users == self.users):
                return
            data = b""
            if users != self.users:
                self.users = users
                data = json.dumps({"users": users}).encode() + b"\n"
            if self.buffer:
                batch, self.buffer = self.buffer, []
                data += json.dumps(batch, separators=(",", ":")).encode() + b"\n"
            try:
                self.sock.sendall(data)
            except OSError as exc:
                _logger.error("nonstop_stream: lost the connection to the load runner (%s); records dropped", exc)
                self.sock = None

    def flush_forever(self) -> None:
        while self.sock is not None:
            gevent.sleep(FLUSH_SECONDS)
            self.flush()

    def close(self) -> None:
        self.flush()
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None


def _connect(sink: str, token: str, runner: Any) -> socket.socket:
    host, _, port = sink.rpartition(":")
    if not host and isinstance(runner, WorkerRunner):
        host = runner.master_host
    sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _logger.info("nonstop_stream: streaming records to %s:%s", host or "127.0.0.1", port)
    hello = {"token": token, "pid": os.getpid()}
    sock.sendall(json.dumps(hello).encode() + b"\n")
    return sock


def _stream(environment: Any, runner: Any, sink: str, token: str) -> None:
    stream = _Stream(_connect(sink, token, runner), runner)
    environment.events.request.add_listener(stream.on_request)
    environment.events.test_stop.add_listener(lambda **_kw: stream.flush())
    environment.events.quit.add_listener(lambda **_kw: stream.close())
    gevent.spawn(stream.flush_forever)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--nonstop-load-sink",
        env_var="NONSTOP_LOAD_SINK",
        default="",
        include_in_web_ui=False,
        help="nonstop: host:port that receives every request record (empty host: the master's host)",
    )
    parser.add_argument(
        "--nonstop-load-token",
        env_var="NONSTOP_LOAD_TOKEN",
        default="",
        include_in_web_ui=False,
        help="nonstop: token the record sink requires",
    )


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_kwargs: Any) -> None:
    if isinstance(runner, MasterRunner):
        return
    sink = os.environ.get("NONSTOP_LOAD_SINK")
    if sink:
        _stream(environment, runner, sink, os.environ.get("NONSTOP_LOAD_TOKEN", ""))
    elif isinstance(runner, WorkerRunner):
        started: list[bool] = []

        def on_test_start(environment: Any, **_kw: Any) -> None:
            options = environment.parsed_options
            sink = getattr(options, "nonstop_load_sink", "") or ""
            if started or not sink:
                return
            started.append(True)
            try:
                _stream(environment, runner, sink, getattr(options, "nonstop_load_token", "") or "")
            except OSError as exc:
                _logger.error("nonstop_stream: cannot reach the load runner's record sink %s (%s)", sink, exc)

        environment.events.test_start.add_listener(on_test_start)
