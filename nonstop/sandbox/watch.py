"""One watch stream (K8S-SEMANTICS.md §6 "Watch"), written as chunked newline-delimited JSON.

The stream blocks on the store's condition variable (`Store.wait_for_changes`), so a write reaches
the watcher within milliseconds; it never polls. Without a resourceVersion (or with "0") it starts
with ADDED for what exists; from N it replays the kept history after N, or sends one ERROR event
(Status 410 Expired) when N is older than the history. Objects entering the selection arrive as
ADDED, objects leaving it as DELETED (their last matching content at the leaving write's
resourceVersion). BOOKMARKs with `allowWatchBookmarks`; `sendInitialEvents` ends the initial
events with an `initial-events-end` bookmark. The stream ends at `timeoutSeconds`, when the
server stops, or when the fault hooks drop watches.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nonstop.sandbox import hpa
from nonstop.sandbox.apierrors import ApiError, bad_request
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.registry import CORE_EVENTS, HPA_V1, HPA_V2, NEW_EVENTS, Registry, to_new_event
from nonstop.sandbox.selectors import FieldSelector, LabelSelector
from nonstop.sandbox.store import Change, Obj
from nonstop.sandbox.tables import table

__all__ = ["TRUE_VALUES", "WatchRequest", "parse_watch", "stream_watch"]

TRUE_VALUES = ("true", "True", "1")
# Without timeoutSeconds a real server closes after minRequestTimeout (30 min) to twice that.
DEFAULT_TIMEOUT_RANGE = (1800.0, 3600.0)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WatchRequest:
    """What a watch asked for."""

    kind: Kind
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: int | None  # None: start with ADDED for the current state
    bookmarks: bool
    send_initial: bool
    as_table: bool
    include: str
    timeout: float

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)


def parse_watch(
    kind: Kind,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    query: dict[str, str],
    *,
    as_table: bool,
    limit: float | None = None,
) -> WatchRequest:
    """Read the watch parameters from the query; malformed values answer 400."""
    try:
        timeout = (
            float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else random.uniform(*DEFAULT_TIMEOUT_RANGE)
        )
    except ValueError as exc:
        raise bad_request(f"timeoutSeconds {query['timeoutSeconds']!r} is not a number") from exc
    if limit is not None:
        timeout = min(timeout, limit)
    send_initial = query.get("sendInitialEvents") in TRUE_VALUES
    rv_text = query.get("resourceVersion") or ""
    start: int | None = None
    if rv_text not in ("", "0") and not send_initial:
        try:
            start = int(rv_text)
        except ValueError as exc:
            raise bad_request(f"resourceVersion {rv_text!r} is not valid") from exc
    return WatchRequest(
        kind=kind,
        namespace=namespace,
        labels=labels,
        fields=fields,
        resource_version=start,
        bookmarks=query.get("allowWatchBookmarks") in TRUE_VALUES,
        send_initial=send_initial,
        as_table=as_table,
        include=query.get("includeObject") or "Metadata",
        timeout=timeout,
    )


def stream_watch(  # noqa: C901, PLR0915 — one watch stream's loop: initial events, bookmarks, timeouts, resourceVersion rules
    req: WatchRequest,
    out: _Writable,
    *,
    registry: Registry,
    bookmark_interval: float,
    should_stop: Callable[[], bool],
) -> None:
    """Write the chunked event stream to `out` (headers already sent) until it ends."""
    store = registry.store
    kind = req.kind
    source = CORE_EVENTS if kind is NEW_EVENTS else HPA_V2 if kind is HPA_V1 else kind

    def wrap(obj: Obj) -> Obj:
        return table(kind, [obj], resource_version=None, include=req.include) if req.as_table else obj

    def shape(obj: Obj) -> Obj:
        """A store object (from history) as this watch shows it."""
        if kind is NEW_EVENTS:
            obj = to_new_event(obj)
        elif kind is HPA_V1:
            obj = hpa.to_v1(obj)
        elif kind.resource in ("endpointslices", "poddisruptionbudgets"):
            obj = registry.present(kind, dict(obj))  # history objects are shared: shallow copy
        return wrap(obj)

    def event(type_: str, obj: Obj) -> bytes:
        return _dump({"type": type_, "object": obj}) + b"\n"

    def bookmark(rv: int, *, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return event("BOOKMARK", {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta})

    def expired(rv: int) -> bytes:
        error = ApiError(410, "Expired", f"too old resource version: {rv} ({store.resource_version})")
        return event("ERROR", error.status())

    def write(lines: list[bytes]) -> None:
        if lines:
            data = b"".join(lines)
            out.write(b"%x\r\n%s\r\n" % (len(data), data))

    try:
        if req.resource_version is None:
            items, rv = registry.list(kind, req.namespace, req.labels, req.fields)
            lines = []
            for item in items:
                item.setdefault("kind", kind.kind)
                item.setdefault("apiVersion", kind.api_version)
                lines.append(event("ADDED", wrap(item)))
            if req.send_initial and req.bookmarks:
                lines.append(bookmark(rv, initial_end=True))
            write(lines)
        else:
            rv = req.resource_version
            if rv < store.compacted_rv:
                write([expired(rv)])
                out.write(b"0\r\n\r\n")
                return
        deadline = time.monotonic() + req.timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while not should_stop():
            now = time.monotonic()
            if now >= deadline:
                break
            wait = max(0.0, min(deadline, next_bookmark, now + 0.5) - now)
            try:
                changes = store.wait_for_changes(rv, wait, [source])
            except ApiError as exc:  # the history no longer holds our position
                write([expired(rv) if exc.code == 410 else event("ERROR", exc.status())])
                break
            lines = []
            for change in changes:
                rv = change.rv
                line = translate(change, req.matches, shape)
                if line is not None:
                    lines.append(line)
            pending, current = store.changes_and_rv(rv, [source])
            if not pending:
                rv = max(rv, current)  # nothing of ours happened up to `current`: move to the head
            if req.bookmarks and time.monotonic() >= next_bookmark:
                lines.append(bookmark(rv))
                next_bookmark = time.monotonic() + bookmark_interval
            write(lines)
    except OSError:  # the client went away (broken pipe, reset, timeout)
        return
    with contextlib.suppress(OSError):
        out.write(b"0\r\n\r\n")


def translate(change: Change, matches: Callable[[Obj | None], bool], shape: Callable[[Obj], Obj]) -> bytes | None:
    """The event one change means to a watch with this selection, or None."""
    now_in = change.type != "DELETED" and matches(change.obj)
    was_in = change.prev is not None and matches(change.prev)
    if change.type == "DELETED":
        return _dump({"type": "DELETED", "object": shape(change.obj)}) + b"\n" if was_in else None
    if now_in:
        type_ = change.type if (was_in or change.type == "ADDED") else "ADDED"
        return _dump({"type": type_, "object": shape(change.obj)}) + b"\n"
    if was_in and change.prev is not None:
        gone = dict(change.prev)
        gone["metadata"] = {**change.prev["metadata"], "resourceVersion": str(change.rv)}
        return _dump({"type": "DELETED", "object": shape(gone)}) + b"\n"
    return None
