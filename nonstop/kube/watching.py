"""Watches that survive: resume from the last resourceVersion, re-list on 410, stamp what was seen.

A `ResilientWatch` lists, then watches from the list's resourceVersion. When the stream ends
(server timeout, dropped connection) it resumes from the last resourceVersion it saw (bookmarks
included). When the API answers 410 Expired it re-lists and reports the difference between what
it knew and the new list as synthetic events, so consumers never miss an object's final state —
and it counts every re-list, because intermediate transitions may have been lost then.
Every event carries `at`: the drill clock's time (`time.time()`) when nonstop saw it.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from nonstop.errors import ClusterError, TransientError
from nonstop.kube.calls import call, translate
from nonstop.logs import get_logger

__all__ = ["Observed", "ResilientWatch", "WatchStats"]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True)
class Observed:
    """One change of one object as nonstop saw it."""

    at: float
    type: EventType
    obj: dict[str, Any]
    synthetic: bool = False
    """True when derived from a re-list rather than delivered by the watch."""
    uncertainty: float = 0.0
    """Seconds before `at` the change may really have happened: 0 when the watch was listening live;
    otherwise the watch was blind then (a reconnect's replay or a re-list), and the change happened
    somewhere in [at - uncertainty, at]."""


@dataclass
class WatchStats:
    """What the watch went through; the report says when this degraded the evidence."""

    reconnects: int = 0
    relists: int = 0
    errors: list[str] = field(default_factory=list)
    late_events: int = 0
    """Changes delivered after a blind spell (a reconnect's replay or a re-list; the first
    list-to-stream handover of a few milliseconds is not counted)."""
    max_uncertainty: float = 0.0
    """The largest uncertainty of those changes, in seconds."""


class ResilientWatch:
    """List + watch of one collection in a background thread, calling `on_event` for every change."""

    def __init__(
        self,
        list_fn: Callable[..., Any],
        *,
        what: str,
        on_event: Callable[[Observed], None],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        server_timeout: int = 30,
        give_up_after: float = 60.0,
    ) -> None:
        self._list_fn = list_fn
        self._what = what
        self._on_event = on_event
        self._args: tuple[Any, ...] = (namespace,) if namespace is not None else ()
        self._selectors: dict[str, Any] = {}
        if label_selector:
            self._selectors["label_selector"] = label_selector
        if field_selector:
            self._selectors["field_selector"] = field_selector
        self._server_timeout = server_timeout
        self._give_up_after = give_up_after
        self._known: dict[str, dict[str, Any]] = {}
        self._rv = ""
        self._stop = threading.Event()
        self._response: Any = None
        self._blind_since: float | None = None
        """Since when the watch may have missed changes (None before the first list)."""
        self._last_read_at = 0.0
        self._consecutive = 0
        self._thread = threading.Thread(target=self._run, name=f"watch {what}", daemon=True)
        self.synced = threading.Event()
        """Set once the first list has been delivered."""
        self.failed: ClusterError | None = None
        """Set when the watch gave up: observation was lost."""
        self.stats = WatchStats()
        self._log = get_logger("watch").bind(what=what)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # unblocks the reader; it sees _stop and returns
                response.shutdown()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _uid(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")

    def _emit(self, kind: EventType, obj: dict[str, Any], *, synthetic: bool, blind_since: float | None) -> None:
        uid = self._uid(obj)
        if kind == "DELETED":
            self._known.pop(uid, None)
        else:
            self._known[uid] = obj
        at = time.time()
        uncertainty = max(0.0, at - blind_since) if blind_since is not None else 0.0
        if uncertainty and (self.stats.reconnects or self.stats.relists):  # not the first list-to-stream handover
            self.stats.late_events += 1
            self.stats.max_uncertainty = max(self.stats.max_uncertainty, uncertainty)
        self._on_event(Observed(at, kind, obj, synthetic, uncertainty))

    def _relist(self) -> None:
        asked_at = time.time()
        response = call(
            self._list_fn, *self._args, what=f"list {self._what}", _preload_content=False, **self._selectors
        )
        body = json.loads(response.data)
        items: list[dict[str, Any]] = body.get("items") or []
        first = not self.synced.is_set()
        blind = None if first else self._blind_since  # what changed since the watch went blind
        seen: set[str] = set()
        for item in items:
            uid = self._uid(item)
            seen.add(uid)
            before = self._known.get(uid)
            if before is None:
                self._emit("ADDED", item, synthetic=not first, blind_since=blind)
            elif before.get("metadata", {}).get("resourceVersion") != item.get("metadata", {}).get("resourceVersion"):
                self._emit("MODIFIED", item, synthetic=True, blind_since=blind)
        for uid in list(self._known):
            if uid not in seen:
                self._emit("DELETED", self._known[uid], synthetic=True, blind_since=blind)
        self._rv = str(body.get("metadata", {}).get("resourceVersion") or "")
        self._blind_since = asked_at  # the list is a snapshot taken after this: later changes are replayed
        self.synced.set()

    def _horizon(self) -> int | None:
        """The collection's resourceVersion now: a resumed stream's changes up to it are replays."""
        response = call(self._list_fn, *self._args, limit=1, what=f"list {self._what}", _preload_content=False,
                        **self._selectors)  # fmt: skip
        rv = (json.loads(response.data).get("metadata") or {}).get("resourceVersion")
        return int(str(rv)) if str(rv or "").isdigit() else None

    def _stream_once(self) -> None:
        # The client's `watch.Watch` cannot read an ERROR event without deserializing (it looks for
        # `raw_object`), so the stream is read here, line by line: a 410 becomes ApiException(410).
        response = self._list_fn(
            *self._args,
            watch=True,
            resource_version=self._rv,
            allow_watch_bookmarks=True,
            timeout_seconds=self._server_timeout,
            _preload_content=False,
            _request_timeout=self._server_timeout + 15,
            **self._selectors,
        )
        self._response = response
        blind_since = self._blind_since
        read_anything = False
        clean = False
        try:
            # Changes the server replays at the start of this stream happened while nonstop was not
            # listening (since `blind_since`); the horizon tells replays (rv ≤ it) from live changes.
            horizon = self._horizon() if blind_since is not None else None
            caught_up = blind_since is None
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    raise ApiException(status=int(obj.get("code") or 500), reason=str(obj.get("message") or ""))
                read_anything = True
                self._last_read_at = time.time()
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                rv_number = int(str(rv)) if str(rv or "").isdigit() else None
                if not caught_up and (kind == "BOOKMARK" or (None not in (horizon, rv_number)
                                                              and (rv_number or 0) > (horizon or 0))):  # fmt: skip
                    caught_up = True
                if kind == "BOOKMARK":
                    if rv:
                        self._rv = str(rv)
                    continue
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._emit(kind, obj, synthetic=False, blind_since=None if caught_up else blind_since)
                    if rv:
                        self._rv = str(rv)
            clean = True
        finally:
            self._response = None
            response.close()
            response.release_conn()
            if clean:  # the server ended the stream: everything before now was delivered
                self._blind_since = time.time()
            elif read_anything:  # cut: changes after the last read may be missing
                self._blind_since = self._last_read_at
            # an answer that delivered nothing (410 at once, connect error) leaves the blind spell as it was

    def _run(self) -> None:
        failing_since: float | None = None
        try:
            while not self._stop.is_set():
                try:
                    if not self.synced.is_set() or not self._rv:
                        self._relist()
                    self._stream_once()
                    failing_since = None
                    self._consecutive = 0
                    if not self._stop.is_set():
                        self.stats.reconnects += 1
                except ApiException as exc:
                    if exc.status == 410:
                        self.stats.relists += 1
                        self._log.info("watch expired (410); re-listing")
                        self._rv = ""  # the loop re-lists (inside the try: a failed list is retried)
                        continue
                    error = translate(exc, f"watch {self._what}")
                    failing_since = self._note_failure(error, failing_since)
                except TransientError as error:
                    failing_since = self._note_failure(error, failing_since)
                except Exception as exc:  # noqa: BLE001 — transport errors from urllib3 mid-stream
                    if self._stop.is_set():
                        return
                    failing_since = self._note_failure(translate(exc, f"watch {self._what}"), failing_since)
        except ClusterError as error:
            self.failed = error
            self._log.error("watch lost", error=str(error))

    def _note_failure(self, error: ClusterError, failing_since: float | None) -> float:
        now = time.monotonic()
        failing_since = failing_since or now
        self.stats.errors.append(str(error))
        if not isinstance(error, TransientError) or now - failing_since > self._give_up_after:
            raise error
        self.stats.reconnects += 1
        # backoff with full jitter over the *consecutive* failures: one bad answer an hour ago does not
        # make the next reconnect wait the cap
        self._stop.wait(random.uniform(0, min(2.0, 0.1 * 2 ** min(self._consecutive, 5))))
        self._consecutive += 1
        return failing_since
