"""core/v1 Events as Kubernetes components record them, duplicates folded into a `count`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.store import Obj, Store, now_rfc3339

__all__ = ["EventNote", "EventRecorder", "FoldKey", "event_body", "fold_key_of"]

EVENTS = by_resource("", "v1", "events")


@dataclass(frozen=True, slots=True)
class EventNote:
    """What one Event says, apart from the object it is about; the same note about one object folds into one Event."""

    reason: str
    message: str
    component: str
    """`source.component` and `reportingComponent`: kubelet, deployment-controller, …"""
    type: Literal["Normal", "Warning"] = "Normal"
    field_path: str | None = None
    """`involvedObject.fieldPath`: the container a kubelet's event is about."""


class EventRecorder:
    """Records Events on objects, as `source.component` (kubelet, deployment-controller, …)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._recent: dict[FoldKey, str] = {}  # fold key -> event name

    def record(self, involved: Obj, note: EventNote) -> None:
        """Record (or fold into an existing) Event about `involved`, as a real component would."""
        assert EVENTS is not None
        namespace = involved["metadata"].get("namespace") or "default"
        fold_key = fold_key_of(involved, note)
        now = now_rfc3339()
        with self._lock:
            existing = self._recent.get(fold_key)
            if existing is not None and self._store.find(EVENTS, namespace, existing) is not None:

                def bump(event: Obj) -> None:
                    event["count"] = int(event.get("count", 1)) + 1
                    event["lastTimestamp"] = now

                self._store.mutate(EVENTS, namespace, existing, bump)
                return
            body = event_body(involved, note, now=now)
            self._store.create(EVENTS, body)
            self._recent[fold_key] = body["metadata"]["name"]


FoldKey = tuple[str, str, EventNote]  # namespace, uid of the object, what is said


def fold_key_of(involved: Obj, note: EventNote) -> FoldKey:
    """Events with the same key are one Event with a growing `count`."""
    meta = involved["metadata"]
    return (meta.get("namespace") or "default", str(meta.get("uid")), note)


_nano_lock = threading.Lock()
_last = [0]  # the last value handed out


def _unix_nano() -> int:
    """Now in nanoseconds since the epoch, strictly increasing within this process (names stay unique)."""
    with _nano_lock:
        _last[0] = max(time.time_ns(), _last[0] + 1)
        return _last[0]


def event_body(involved: Obj, note: EventNote, *, now: str, instance: str = "sandbox", host: str | None = None) -> Obj:
    """A new core/v1 Event about `involved` (count 1), as a component posts it.

    Its name is client-go's: `<involved name>.<creation time in UnixNano, hex>`, so a listing (in
    name order, as etcd's keys) shows each object's events in the order they happened.

    `host` is the node a kubelet's event comes from (`source.host`); controllers have none.
    """
    meta = involved["metadata"]
    namespace = meta.get("namespace") or "default"
    ref = {
        "kind": involved.get("kind") or "Pod",
        "namespace": namespace,
        "name": meta["name"],
        "uid": meta.get("uid"),
        "apiVersion": involved.get("apiVersion") or "v1",
        "resourceVersion": meta.get("resourceVersion"),
    }
    if note.field_path:
        ref["fieldPath"] = note.field_path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{_unix_nano():x}", "namespace": namespace},
        "involvedObject": ref,
        "reason": note.reason,
        "message": note.message,
        "type": note.type,
        "source": {"component": note.component, **({"host": host} if host else {})},
        "reportingComponent": note.component,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": None,
        "count": 1,
    }
