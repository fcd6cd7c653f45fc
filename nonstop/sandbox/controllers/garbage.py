"""Garbage collection of objects whose owners are gone (background cascading).

The registry cascades a DELETE through ownerReferences itself, and finishes foreground and orphan
deletions. What is left for a collector is what bypasses the registry: an owner removed directly
from the store (a controller's clean-up, the kubelet removing a pod), a dependent created while
its owner was being deleted, or an object created with an ownerReference to nothing. As
Kubernetes' garbage collector does, an object whose owners are **all** gone is deleted (pods
gracefully), and dangling references are dropped from an object that still has a live owner.
Owner kinds the sandbox does not serve are assumed alive (Kubernetes cannot resolve them either).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.loop import Controller
from nonstop.sandbox.controllers.objects import PODS
from nonstop.sandbox.deletion import delete_pod_gracefully
from nonstop.sandbox.kinds import KINDS, Kind, by_kind
from nonstop.sandbox.store import Change, Obj, now_rfc3339

__all__ = ["GarbageCollector"]

ObjKey = tuple[Kind, str, str]  # kind, namespace, name


def _collectable(kind: Kind) -> bool:
    return kind.namespaced and kind.resource != "events"


class GarbageCollector(Controller[ObjKey]):
    """Deletes dependents whose every owner is gone; drops dangling owner references from the others."""

    name = "garbage-collector"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live: set[str] = set()
        self._dependents: dict[str, set[ObjKey]] = {}

    def _index(self, kind: Kind, obj: Obj) -> ObjKey | None:
        meta = obj["metadata"]
        self._live.add(str(meta.get("uid")))
        refs = meta.get("ownerReferences") or []
        if not refs or not _collectable(kind):
            return None
        key = (kind, meta.get("namespace", ""), meta["name"])
        for ref in refs:
            self._dependents.setdefault(str(ref.get("uid")), set()).add(key)
        return key

    def all_keys(self) -> Iterable[ObjKey]:
        self._live.clear()
        self._dependents.clear()
        keys: list[ObjKey] = []
        for kind in KINDS:
            if kind.resource == "events":
                continue
            items, _ = self.store.list(kind)
            for obj in items:
                key = self._index(kind, obj)
                if key is not None:
                    keys.append(key)
        return keys

    def keys_for(self, change: Change) -> Iterable[ObjKey]:
        if change.kind.resource == "events":
            return []
        uid = str(change.obj["metadata"].get("uid"))
        if change.type == "DELETED":
            self._live.discard(uid)
            return self._dependents.pop(uid, set())
        key = self._index(change.kind, change.obj)
        if key is None:
            return []
        refs = change.obj["metadata"].get("ownerReferences") or []
        return [key] if any(str(ref.get("uid")) not in self._live for ref in refs) else []

    def _owner_alive(self, ref: Obj, namespace: str) -> bool:
        kind = by_kind(str(ref.get("apiVersion")), str(ref.get("kind")))
        if kind is None:
            return True
        owner = self.store.find(kind, namespace if kind.namespaced else None, str(ref.get("name")))
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    def sync(self, key: ObjKey) -> float | None:
        kind, namespace, name = key
        obj = self.store.find(kind, namespace, name)
        if obj is None:
            return None
        refs = obj["metadata"].get("ownerReferences") or []
        dangling = {str(ref.get("uid")) for ref in refs if not self._owner_alive(ref, namespace)}
        if not dangling:
            return None
        try:
            if len(dangling) < len(refs):
                self.store.mutate(kind, namespace, name, functools.partial(_drop_refs, dangling))
            elif kind is PODS:
                delete_pod_gracefully(self.store, namespace, name)
            elif obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    self.store.mutate(kind, namespace, name, _mark_deleted)
            else:
                self.store.remove(kind, namespace, name)
                self.log.debug("collected", kind=kind.kind, namespace=namespace, name=name)
        except ApiError as exc:
            if exc.code != 404:
                raise
        return None


def _drop_refs(uids: set[str], obj: Obj) -> None:
    obj["metadata"]["ownerReferences"] = [
        r for r in obj["metadata"].get("ownerReferences") or [] if str(r.get("uid")) not in uids
    ]


def _mark_deleted(obj: Obj) -> None:
    obj["metadata"]["deletionTimestamp"] = now_rfc3339()
    obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
