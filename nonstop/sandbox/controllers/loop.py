"""The level-triggered work loop every controller runs in its own thread.

A controller names the keys (namespace, name) a store change affects; the loop collects them,
deduplicates, and calls `sync(key)` for each with the store's current state. `sync` may ask to be
called again after a delay (minReadySeconds, progress deadlines). Waiting is on
`Store.wait_for_changes`, so a change is acted on within milliseconds, not on a polling period.

A racing writer (an ApiError: 404, 409) is retried quietly. Any other exception is a bug of the
sandbox: it is logged as `sync failed` (with its traceback), recorded as a Warning event
`SyncFailed` about the key's Namespace (filed in `default`, as Kubernetes files events about
cluster-scoped objects), and retried; the test suite fails on such a log line.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

import structlog

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.events import EventNote, EventRecorder
from nonstop.sandbox.kinds import require
from nonstop.sandbox.managedfields import acting_as
from nonstop.sandbox.store import Change, Obj, Store

__all__ = ["Controller", "Key", "key_of"]

Key = tuple[str, str]  # namespace, name: what most controllers reconcile
K = TypeVar("K", bound=Hashable)

_IDLE_WAIT = 0.25  # seconds: how often an idle loop looks at its stop flag
_RETRY_AFTER = 0.5  # seconds: a sync that raised is tried again after this long
_NAMESPACES = require("", "v1", "namespaces")


def key_of(obj: Obj) -> Key:
    """An object's (namespace, name)."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class Controller(ABC, Generic[K]):
    """One reconcile loop: `keys_for(change)` says what to look at, `sync(key)` makes it right."""

    name = "controller"
    field_manager = "kube-controller-manager"
    """The manager its writes are recorded under in managedFields (the real binary's User-Agent)."""

    def __init__(self, store: Store, recorder: EventRecorder, *, log: structlog.typing.FilteringBoundLogger) -> None:
        self.store = store
        self.recorder = recorder
        self.log = log.bind(controller=self.name)
        self._timers: dict[K, float] = {}

    @abstractmethod
    def all_keys(self) -> Iterable[K]:
        """Every key to reconcile on start-up and after a lost change history."""

    @abstractmethod
    def keys_for(self, change: Change) -> Iterable[K]:
        """The keys one change affects (`change.obj` is shared: never modify it)."""

    @abstractmethod
    def sync(self, key: K) -> float | None:
        """Reconcile one key; return seconds after which to look again, or None."""

    def sync_before(self, change: Change) -> Iterable[K]:
        """Keys to reconcile *before* `change` is taken in, if they are still waiting for a sync.

        The loop reads changes in batches; a controller whose real counterpart reacts to each
        update long before the next one arrives names here the keys whose intermediate state must
        not be folded into the final one (the EndpointSlice controller: a terminating pod's last
        moment before it goes).
        """
        return ()

    def event(self, involved: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        """Record an Event about `involved` as this controller (`source.component` is its name)."""
        self.recorder.record(involved, EventNote(reason, message, self.name, "Warning" if warning else "Normal"))

    def _sync_all(self, keys: dict[K, None]) -> None:
        # In the order the changes happened: a Deployment's scale-down of its old RS is acted on
        # before the scale-up of the new one that followed it, as their resourceVersions order them.
        for key in keys:
            try:
                again = self.sync(key)
            except ApiError as exc:  # a racing writer (404, 409): the next change or retry settles it
                self.log.debug("sync retry", key=key, reason=exc.reason, error=exc.message)
                again = _RETRY_AFTER
            except Exception as exc:  # noqa: BLE001 — a bug in one sync is logged and retried, not the loop's end
                self._sync_failed(key, exc)
                again = _RETRY_AFTER
            if again is not None:
                deadline = time.monotonic() + max(0.0, again)
                self._timers[key] = min(self._timers.get(key, deadline), deadline)

    def _sync_failed(self, key: K, exc: Exception) -> None:
        """A bug, not a race: log `sync failed` and record a Warning event where `kubectl get events` shows it."""
        self.log.exception("sync failed", key=key)  # noqa: LOG004 — called only from _sync_all's except block
        parts: tuple[object, ...] = key if isinstance(key, tuple) else (key,)
        namespace = next((part for part in parts if isinstance(part, str)), "")  # (namespace, name), (kind, ns, name)
        involved = self.store.find(_NAMESPACES, None, namespace) if namespace else None
        if involved is None:
            return
        shown = "/".join(str(getattr(part, "resource", part)) for part in parts)
        message = f"{self.name} could not sync {shown}: {type(exc).__name__}: {exc}"
        try:
            self.event(involved, "SyncFailed", message, warning=True)
        except Exception:  # the log line above already tells; an event that cannot be written must not mask it
            self.log.exception("sync failed event not recorded", key=key)

    def run(self, stopping: threading.Event) -> None:
        """Reconcile until `stopping` is set."""
        acting_as(self.field_manager)
        rv = self.store.resource_version
        pending: dict[K, None] = dict.fromkeys(self.all_keys())  # an ordered set
        while not stopping.is_set():
            now = time.monotonic()
            for key, deadline in list(self._timers.items()):
                if deadline <= now:
                    del self._timers[key]
                    pending[key] = None
            if pending:
                self._sync_all(pending)
                pending = {}
            wait = _IDLE_WAIT
            if self._timers:
                wait = max(0.0, min(wait, min(self._timers.values()) - time.monotonic()))
            try:
                changes = self.store.wait_for_changes(rv, wait)
            except ApiError:  # history compacted past our position: start over from a full list
                rv = self.store.resource_version
                pending = dict.fromkeys(self.all_keys())
                continue
            for change in changes:
                rv = change.rv
                try:
                    first = dict.fromkeys(k for k in self.sync_before(change) if k in pending)
                    if first:
                        self._sync_all(first)
                        pending = {k: None for k in pending if k not in first}
                    pending.update(dict.fromkeys(self.keys_for(change)))
                except Exception:
                    self.log.exception("keys_for failed", rv=change.rv)
