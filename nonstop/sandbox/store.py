"""The sandbox's object store: one global resourceVersion, a kept history of changes for watches.

The store is deliberately dumb: it keeps objects, stamps server-set metadata and records every
change. API semantics (defaults, validation, graceful deletion, status/spec separation) live in
the API server's registry; controllers and the kubelet run in the same process and use the store
directly through `mutate`, `create`, `remove` and `wait_for_changes`.

Thread safety: one re-entrant lock guards everything; `wait_for_changes` blocks on a condition
that every write notifies. Objects handed out are deep copies; callers may modify them freely.
"""

from __future__ import annotations

import builtins
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from nonstop.sandbox.apierrors import ApiError, already_exists, conflict, expired, not_found
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.managedfields import acting_manager, track_write
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.times import now_rfc3339

__all__ = ["Change", "ChangeType", "Obj", "Store", "now_rfc3339"]

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Key = tuple[str, str, str, str]  # group, resource, namespace ("" when cluster-scoped), name


@dataclass(frozen=True)
class Change:
    """One write, as a watch reports it: its resourceVersion, type, kind and the object after it."""

    rv: int
    type: ChangeType
    kind: Kind
    obj: Obj
    prev: Obj | None = None
    """The object before this change (None for ADDED): lets a watch see objects leave a selector."""


class Store:
    """Objects keyed by (group, resource, namespace, name), with a global resourceVersion counter."""

    def __init__(self, *, history_limit: int = 50_000) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._compacted_rv = 0  # changes at or below this rv are no longer kept
        self._resume_floor = 0  # expire_history_before(): new watches may not resume below this rv
        self._last_rv: dict[Kind, int] = {}  # the newest change of each kind: lets waiters skip scans

    # -- reading -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    @staticmethod
    def _key(kind: Kind, namespace: str | None, name: str) -> Key:
        return (kind.group, kind.resource, (namespace or "") if kind.namespaced else "", name)

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        """A copy of the object, or 404 NotFound."""
        with self._lock:
            obj = self._objects.get(self._key(kind, namespace, name))
            if obj is None:
                raise not_found(kind.resource, kind.group, name)
            return copy.deepcopy(obj)

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """A copy of the object, or None."""
        with self._lock:
            obj = self._objects.get(self._key(kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: Kind, namespace: str | None = None) -> tuple[builtins.list[Obj], int]:
        """Copies of every object of a kind (in one namespace, or all), and the store's resourceVersion."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (group, resource, ns, _), obj in self._objects.items()
                if group == kind.group and resource == kind.resource and (namespace is None or ns == namespace)
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return items, self._rv

    # -- writing -------------------------------------------------------------------------------

    def _record(self, change_type: ChangeType, kind: Kind, obj: Obj, prev: Obj | None = None) -> Change:
        change = Change(self._rv, change_type, kind, copy.deepcopy(obj), prev)
        self._last_rv[kind] = self._rv
        if len(self._history) == self._history.maxlen and self._history:
            self._compacted_rv = self._history[0].rv
        self._history.append(change)
        self._changed.notify_all()
        return change

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def create(self, kind: Kind, obj: Obj, *, manager: str | None = None) -> Obj:
        """Store a new object; stamps uid, resourceVersion, creationTimestamp and generation 1.

        `manager` (default: the thread's `managedfields.acting_as`) records the write in
        managedFields; the API server's registry tracks its own writes and passes none.
        """
        with self._lock:
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value")
            key = self._key(kind, meta.get("namespace"), name)
            if key in self._objects:
                raise already_exists(kind.resource, kind.group, name)
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            if not kind.namespaced:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta["resourceVersion"] = self._next_rv()
            obj["apiVersion"] = kind.api_version
            obj["kind"] = kind.kind
            if manager := manager if manager is not None else acting_manager():
                track_write(kind, None, obj, manager)
            self._objects[key] = obj
            self._record("ADDED", kind, obj)
            return copy.deepcopy(obj)

    def replace(
        self,
        kind: Kind,
        obj: Obj,
        *,
        expect_rv: str | None = None,
        bump_generation: bool = False,
        manager: str | None = None,
    ) -> Obj:
        """Overwrite an existing object; 409 Conflict when `expect_rv` is stale; a no-op write keeps its rv.

        `bump_generation` is the caller's judgement (the registry bumps it when spec or annotations
        changed on the main resource).
        """
        with self._lock:
            meta = obj["metadata"]
            key = self._key(kind, meta.get("namespace"), meta["name"])
            current = self._objects.get(key)
            if current is None:
                raise not_found(kind.resource, kind.group, meta["name"])
            if expect_rv and expect_rv != current["metadata"]["resourceVersion"]:
                raise conflict(kind.resource, kind.group, meta["name"])
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            for server_set in ("uid", "creationTimestamp"):
                meta[server_set] = current["metadata"][server_set]
            meta["generation"] = current["metadata"].get("generation", 1) + (1 if bump_generation else 0)
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            obj["apiVersion"] = kind.api_version
            obj["kind"] = kind.kind
            if manager := manager if manager is not None else acting_manager():
                track_write(kind, current, obj, manager)
            if obj == current:
                return copy.deepcopy(current)
            meta["resourceVersion"] = self._next_rv()
            self._objects[key] = obj
            self._record("MODIFIED", kind, obj, current)  # `current` is no longer stored: no copy needed
            return copy.deepcopy(obj)

    def mutate(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], None],
        *,
        bump_generation: bool = False,
        manager: str | None = None,
    ) -> Obj:
        """Read-modify-write under the lock (for in-process controllers: never conflicts)."""
        with self._lock:
            obj = self.get(kind, namespace, name)
            change(obj)
            return self.replace(kind, obj, bump_generation=bump_generation, manager=manager)

    def remove(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        """Remove the object now and record DELETED with its last state at a new resourceVersion."""
        with self._lock:
            key = self._key(kind, namespace, name)
            obj = self._objects.pop(key, None)
            if obj is None:
                raise not_found(kind.resource, kind.group, name)
            prev = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._record("DELETED", kind, obj, prev)
            return copy.deepcopy(obj)

    # -- watching ------------------------------------------------------------------------------

    def changes_after(self, rv: int, kinds: Iterable[Kind] | None = None) -> builtins.list[Change]:
        """Kept changes with resourceVersion > rv (of the given kinds); 410 Expired if history is gone."""
        with self._lock:
            return self._changes_after(rv, None if kinds is None else set(kinds))

    def _changes_after(self, rv: int, kinds: set[Kind] | None) -> builtins.list[Change]:
        if rv < self._compacted_rv:
            raise expired(f"too old resource version: {rv} ({self._rv})")
        if kinds is not None and all(self._last_rv.get(kind, 0) <= rv for kind in kinds):
            return []  # nothing of these kinds since rv: no need to scan other kinds' changes
        out: builtins.list[Change] = []
        for change in reversed(self._history):
            if change.rv <= rv:
                break
            if kinds is None or change.kind in kinds:
                out.append(change)
        out.reverse()
        return out

    def wait_for_changes(self, rv: int, timeout: float, kinds: Iterable[Kind] | None = None) -> builtins.list[Change]:
        """Block until a change after `rv` (of the given kinds) exists or `timeout` seconds pass."""
        wanted = None if kinds is None else set(kinds)
        with self._changed:
            found = self._changes_after(rv, wanted)
            if found:
                return found
            self._changed.wait_for(lambda: self._rv > rv and bool(self._changes_after(rv, wanted)), timeout)
            return self._changes_after(rv, wanted)

    def changes_and_rv(self, rv: int, kinds: Iterable[Kind] | None = None) -> tuple[builtins.list[Change], int]:
        """Kept changes after `rv` (of the given kinds) and the store's resourceVersion, read atomically.

        When no change is pending, a watcher may move its position to the returned resourceVersion
        (that is what a BOOKMARK announces).
        """
        with self._lock:
            return self._changes_after(rv, None if kinds is None else set(kinds)), self._rv

    @property
    def compacted_rv(self) -> int:
        """A watch may not *start* from a resourceVersion below this one (410 Expired)."""
        with self._lock:
            return max(self._compacted_rv, self._resume_floor)

    def expire_history_before(self, rv: int) -> None:
        """Make watches that *resume* from below `rv` get 410 (fault injection, tests).

        Established watchers and in-process components keep reading the history they already
        follow, as an etcd watch survives compaction; only new starts from older rvs are refused.
        """
        with self._lock:
            self._resume_floor = max(self._resume_floor, rv)
