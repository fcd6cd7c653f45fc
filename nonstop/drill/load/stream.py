"""The record sink: the runner's side of locustfiles/nonstop_stream.py's protocol, and the live counters.

Each request-sending Locust process connects to the sink and sends JSON lines: first a greeting
(``{"token", "pid"}``; a connection without the run's token is dropped), then batches every 50 ms —
a list of request records, or ``{"users": N}`` while the number of users changes. Each connection
is one process's stream and is counted as such: the pid in the greeting is only what the process
calls itself — two worker pods, each in a PID namespace of its own, may well send the same one (a
drill keyed by pid saw 4 of 8 users and never started). `RecordStream`
decodes them into `RequestSample` objects, counts them, and hands each batch to ``on_samples``; all
of it on the runner's thread, the counters read by `stats()` from any thread.
"""

from __future__ import annotations

import collections
import hmac
import json
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks.evidence import FAILURE_CLASSES, FailureClass, RequestSample
from nonstop.logs import get_logger

__all__ = ["LoadStats", "Peer", "RecordStream", "SampleSink"]

SampleSink = Callable[[Sequence[RequestSample]], None]

_FAILURE_CLASSES = frozenset(FAILURE_CLASSES)
_BUCKET = 0.1  # seconds per bucket of the live request-rate counter
_RATE_LAG = 0.2  # records arrive up to ~2 flush intervals late: the rate covers [now-1.2 s, now-0.2 s)


@dataclass(frozen=True, slots=True)
class LoadStats:
    """Live figures of the load so far."""

    requests: int
    failures: int
    failures_by_class: Mapping[FailureClass, int]
    rps: float
    """Requests that completed in one second ending 0.2 s ago (records arrive in 50 ms batches)."""
    streaming: int
    """Locust processes connected and streaming (1, or the number of workers)."""
    by_process: Mapping[int, int]
    """Records received from each Locust process, by the number of its connection (1, 2, … in order of greeting)."""
    pids: Mapping[int, int]
    """The pid each connection's process greeted with (processes in different pods may share one)."""
    users: int
    """Users running, as the Locust processes last reported (every 50 ms while it changes)."""


@dataclass
class Peer:
    """One Locust process's connection to the sink."""

    sock: socket.socket
    pending: bytearray = field(default_factory=bytearray)
    stream: int = 0
    """The connection's number, from 1, given when it greets (0: not greeted yet)."""

    @property
    def greeted(self) -> bool:
        return self.stream > 0


class RecordStream:
    """Accepts and reads the Locust processes' connections (registered on the runner's selector); counts."""

    def __init__(self, *, token: str, on_samples: SampleSink | None) -> None:
        self._token = token
        self._on_samples = on_samples
        self._log = get_logger("load")
        self._lock = threading.Lock()
        self._requests = 0
        self._failures = 0
        self._by_class: collections.Counter[FailureClass] = collections.Counter()
        self._buckets: dict[int, int] = {}
        self._streaming = 0
        self._by_process: collections.Counter[int] = collections.Counter()
        self._users: dict[int, int] = {}
        self._pids: dict[int, int] = {}
        self._greetings = 0

    def stats(self) -> LoadStats:
        """The live counters (thread-safe)."""
        now = time.time()
        first, last = int((now - 1.0 - _RATE_LAG) / _BUCKET), int((now - _RATE_LAG) / _BUCKET)
        with self._lock:
            rate = sum(self._buckets.get(b, 0) for b in range(first, last))
            return LoadStats(
                requests=self._requests,
                failures=self._failures,
                failures_by_class=dict(self._by_class),
                rps=rate * 1.0 / ((last - first) * _BUCKET) if last > first else 0.0,
                streaming=self._streaming,
                by_process=dict(self._by_process),
                pids=dict(self._pids),
                users=sum(self._users.values()),
            )

    @staticmethod
    def close(selector: selectors.BaseSelector) -> None:
        """Close every connection still registered on `selector` (the listener is the runner's)."""
        for key in list(selector.get_map().values()):
            if isinstance(key.data, Peer):
                key.data.sock.close()

    def accept(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, Peer(sock))

    def receive(self, selector: selectors.BaseSelector, peer: Peer) -> None:
        try:
            data = peer.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            peer.pending += data
            end = peer.pending.rfind(b"\n")
            if end < 0:
                return
            lines = bytes(peer.pending[:end]).split(b"\n")
            del peer.pending[: end + 1]
            if self._take(peer, lines):
                return
        selector.unregister(peer.sock)
        peer.sock.close()
        if peer.greeted:
            with self._lock:
                self._streaming -= 1
                self._users.pop(peer.stream, None)

    def _take(self, peer: Peer, lines: list[bytes]) -> bool:
        """Handle complete lines; False drops the connection."""
        if not peer.greeted:
            try:
                hello = json.loads(lines.pop(0))
                token, pid = str(hello["token"]), int(hello["pid"])
            except (ValueError, KeyError, TypeError):
                token, pid = "", 0
            if not hmac.compare_digest(token, self._token):
                self._log.warning("dropped a load-stream connection without the right token")
                return False
            with self._lock:
                self._greetings += 1
                peer.stream = self._greetings
                self._pids[peer.stream] = pid
                self._streaming += 1
        samples: list[RequestSample] = []
        for line in lines:
            try:
                batch = json.loads(line)
                if isinstance(batch, dict):
                    with self._lock:
                        self._users[peer.stream] = int(batch["users"])
                else:
                    samples.extend(_sample(record) for record in batch)
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                self._log.warning("dropped a malformed load record batch", error=str(exc))
        if samples:
            self._count(peer.stream, samples)
            if self._on_samples is not None:
                try:
                    self._on_samples(samples)
                except Exception as exc:  # noqa: BLE001 — a display's callback must not stop the load's reader
                    self._log.exception("the load's sample callback failed", error=repr(exc))
        return True

    def _count(self, stream: int, samples: list[RequestSample]) -> None:
        failures = [s.failure for s in samples if s.failure is not None]
        with self._lock:
            self._requests += len(samples)
            self._by_process[stream] += len(samples)
            self._failures += len(failures)
            self._by_class.update(failures)
            buckets = self._buckets
            for sample in samples:
                bucket = int((sample.at + sample.latency_ms / 1000.0) / _BUCKET)
                buckets[bucket] = buckets.get(bucket, 0) + 1
            if len(buckets) > 100:
                horizon = int(time.time() / _BUCKET) - 50
                for bucket in [b for b in buckets if b < horizon]:
                    del buckets[bucket]


def _sample(record: Any) -> RequestSample:
    at, latency, failure, status, pod, *retried = record
    if failure is not None and failure not in _FAILURE_CLASSES:
        failure = "other"
    retries, retried_pod = retried if len(retried) == 2 else (0, None)
    return RequestSample(at, latency, failure, pod, status, int(retries), retried_pod)
