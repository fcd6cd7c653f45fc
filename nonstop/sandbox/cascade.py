"""Deletion that follows ownerReferences and finalizers, as Kubernetes' garbage collector does.

- `Background` (the default): the owner goes at once, its dependents are deleted right after
  (pods gracefully); a dependent that has other owners only loses this reference.
- `Foreground`: the owner keeps a `foregroundDeletion` finalizer and a deletionTimestamp until
  its dependents are gone, then goes.
- `Orphan`: dependents lose the reference and stay.
- A namespace being deleted is `Terminating`: its objects are deleted, and it goes when empty.

Foreground owners and terminating namespaces are finished by one background thread woken by the
store's changes (no polling interval).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import structlog

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import KINDS, Kind, require
from nonstop.sandbox.store import Obj, Store, now_rfc3339

__all__ = ["Cascade"]

NAMESPACES = require("", "v1", "namespaces")
_READ_ONLY_VIEWS = frozenset({("events.k8s.io", "events")})  # a view of core events, not stored

DeleteFn = Callable[[Kind, str | None, str, Obj], object]


def _stored_namespaced() -> list[Kind]:
    return [k for k in KINDS if k.namespaced and (k.group, k.resource) not in _READ_ONLY_VIEWS]


class Cascade:
    """Cascading deletion for a registry whose `delete(kind, namespace, name, options)` it calls back."""

    def __init__(self, store: Store, delete: DeleteFn, *, log: structlog.typing.FilteringBoundLogger) -> None:
        self.store = store
        self._delete = delete
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._owners: set[tuple[Kind, str | None, str]] = set()  # foreground deletions waiting
        self._namespaces: set[str] = set()  # terminating namespaces waiting to be empty

    def start(self) -> None:
        """Start the thread that finishes foreground deletions and terminating namespaces."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._finalize_loop, name="sandbox-finalizer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def dependents(self, owner_uid: str, namespace: str | None) -> Iterator[tuple[Kind, Obj]]:
        for kind in _stored_namespaced():
            items, _ = self.store.list(kind, namespace)
            for item in items:
                refs = item["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in refs):
                    yield kind, item

    def cascade(self, owner: Obj, policy: str) -> None:
        if policy == "Orphan":  # the registry released them with `orphan_dependents` before the owner went
            return
        namespace = owner["metadata"].get("namespace")
        uid = owner["metadata"]["uid"]
        for kind, dep in list(self.dependents(uid, namespace)):
            refs = dep["metadata"].get("ownerReferences") or []
            others = [r for r in refs if r.get("uid") != uid]
            try:
                if others:
                    self.drop_owner_ref(kind, namespace, dep["metadata"]["name"], uid)
                else:
                    self._delete(kind, namespace, dep["metadata"]["name"], {"propagationPolicy": "Background"})
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def drop_owner_ref(self, kind: Kind, namespace: str | None, name: str, uid: str) -> None:
        def drop(obj: Obj) -> None:
            refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)

        self.store.mutate(kind, namespace, name, drop)

    def orphan_dependents(self, uid: str, namespace: str | None) -> None:
        for kind, dep in list(self.dependents(uid, namespace)):
            try:
                self.drop_owner_ref(kind, namespace, dep["metadata"]["name"], uid)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def drop_finalizer(self, kind: Kind, obj: Obj, finalizer: str) -> Obj | None:
        meta = obj["metadata"]
        remaining = [f for f in meta.get("finalizers", []) if f != finalizer]
        if remaining:

            def set_remaining(o: Obj) -> None:
                o["metadata"]["finalizers"] = remaining

            return self.store.mutate(kind, meta.get("namespace"), meta["name"], set_remaining)
        self.store.remove(kind, meta.get("namespace"), meta["name"])
        return None

    def terminate_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]

        def mark(obj: Obj) -> None:
            obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            obj["status"] = {"phase": "Terminating"}

        marked = self.store.mutate(NAMESPACES, None, name, mark)
        with self._lock:
            self._namespaces.add(name)
        for kind in _stored_namespaced():
            items, _ = self.store.list(kind, name)
            for item in items:
                try:
                    self._delete(kind, name, item["metadata"]["name"], {"propagationPolicy": "Background"})
                except ApiError as exc:
                    if exc.code != 404:
                        raise
        self.finish_namespace(name)
        return marked

    def finish_namespace(self, name: str) -> bool:
        for kind in _stored_namespaced():
            if self.store.list(kind, name)[0]:
                return False
        with self._lock:
            self._namespaces.discard(name)
        try:
            self.store.remove(NAMESPACES, None, name)
        except ApiError:
            return False
        return True

    def hold_for_dependents(self, kind: Kind, namespace: str | None, name: str) -> None:
        """Remember a foreground owner: it goes once nothing refers to it any more."""
        with self._lock:
            self._owners.add((kind, namespace, name))

    def _finalize_loop(self) -> None:
        """Finish foreground deletions and terminating namespaces once their dependents are gone."""
        rv = self.store.resource_version
        while not self._stop.is_set():
            try:
                changes = self.store.wait_for_changes(rv, 0.5)
            except ApiError:
                rv = self.store.resource_version
                continue
            if changes:
                rv = changes[-1].rv
            with self._lock:
                idle = not self._owners and not self._namespaces
            if idle:
                continue
            try:
                self._finalize_pending()
            except ApiError as exc:  # a racing writer: try again on the next change
                self.log.debug("finalizer retry", error=exc.message)

    def _finalize_pending(self) -> None:
        with self._lock:
            namespaces, owners = sorted(self._namespaces), list(self._owners)
        for name in namespaces:
            self.finish_namespace(name)
        for kind, namespace, name in owners:
            current = self.store.find(kind, namespace, name)
            if current is None or "foregroundDeletion" not in (current["metadata"].get("finalizers") or []):
                with self._lock:
                    self._owners.discard((kind, namespace, name))
                continue
            if not any(True for _ in self.dependents(current["metadata"]["uid"], namespace)):
                with self._lock:
                    self._owners.discard((kind, namespace, name))
                self.drop_finalizer(kind, current, "foregroundDeletion")
