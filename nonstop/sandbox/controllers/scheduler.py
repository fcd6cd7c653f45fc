"""The sandbox's scheduler: binds every pending pod to a node, as kube-scheduler does.

A pod is pending when it has no `spec.nodeName`, its `schedulerName` is `default-scheduler`, it has
no `schedulingGates`, and it is neither terminating nor terminal. Each pass takes one snapshot of
the nodes and of the pods bound to them (pods bound in the same pass are added to it, kube-
scheduler's "assume"), and places each pending pod with `placement.place` (the filter and score
rules are in that module). Then, as kube-scheduler and the binding subresource do:

- bound: `spec.nodeName` set and the `PodScheduled` condition True, Event `Scheduled` "Successfully
  assigned <ns>/<pod> to <node>" from `default-scheduler`;
- no node fits: the pod stays Pending with `PodScheduled` False, reason `Unschedulable`, and a
  Warning `FailedScheduling` Event with the FitError text ("0/3 nodes are available: …"); repeats
  fold into the Event's count. It is tried again when a Node or a bound pod changes (a cordon lifted,
  a pod gone), no sooner than its back-off (1 s, doubling to 10 s, per failed attempt), and at least
  every 5 minutes (kube-scheduler's flush of unschedulable pods). A change of the pod's own spec or
  labels retries it too; its status changes do not.

The sandbox's pods all run on one machine (one kubelet serves every node): the node only decides
`spec.nodeName`, what the topology rules see, and what `kubectl drain` evicts.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.loop import Controller, Key, key_of
from nonstop.sandbox.controllers.objects import PODS, REPLICASETS, SERVICES, is_terminal
from nonstop.sandbox.controllers.placement import ClusterView, failure_message, place
from nonstop.sandbox.controllers.topologyspread import default_spread_selector
from nonstop.sandbox.kinds import require
from nonstop.sandbox.store import Change, Obj, now_rfc3339

__all__ = ["SCHEDULER_NAME", "Scheduler"]

NODES = require("", "v1", "nodes")
SCHEDULER_NAME = "default-scheduler"
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
FLUSH_AFTER = 300.0


@dataclass
class _Pending:
    uid: str
    attempts: int = 0
    not_before: float = 0.0
    wanted: bool = True
    """Something changed that may make it fit (or it was never tried)."""
    flush_at: float = 0.0
    message: str = ""


def _pending(pod: Obj) -> bool:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not spec.get("schedulingGates")
        and not meta.get("deletionTimestamp")
        and not is_terminal(pod)
    )


def _shape(pod: Obj | None) -> Any:
    """What of a pending pod can change where it fits: its spec and labels (not its status)."""
    if pod is None:
        return None
    return (pod.get("spec"), (pod.get("metadata") or {}).get("labels"))


class Scheduler(Controller[Key]):
    """Binds pending pods to the sandbox's nodes (see the module docstring)."""

    name = SCHEDULER_NAME
    field_manager = "kube-scheduler"

    def __init__(self, *args: Any, rng: random.Random | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[Key, _Pending] = {}
        self._view: ClusterView | None = None
        self._rng = rng or random.Random()

    # -- what to look at -------------------------------------------------------------------------

    def all_keys(self) -> Iterable[Key]:
        items, _ = self.store.list(PODS)
        keys = [key_of(p) for p in items if _pending(p)]
        for key in keys:
            self._pending.setdefault(key, _Pending(uid=""))
        return keys

    def keys_for(self, change: Change) -> Iterable[Key]:
        if change.kind is NODES:
            return self._wake_all()
        if change.kind is not PODS:
            return []
        pod = change.obj
        key = key_of(pod)
        if change.type != "DELETED" and _pending(pod):
            state = self._pending.get(key)
            uid = str(pod["metadata"].get("uid"))
            if state is None or state.uid not in ("", uid):
                self._pending[key] = _Pending(uid=uid)
                return [key]
            if _shape(pod) != _shape(change.prev):
                state.wanted = True
                return [key]
            return []
        self._pending.pop(key, None)
        if change.type == "DELETED" or (pod.get("spec") or {}).get("nodeName"):
            return self._wake_all()  # a bound pod changed or went: room or rules may have changed
        return []

    def _wake_all(self) -> list[Key]:
        for state in self._pending.values():
            state.wanted = True
        return list(self._pending)

    # -- one pass --------------------------------------------------------------------------------

    def _sync_all(self, keys: dict[Key, None]) -> None:
        self._view = None  # one snapshot per pass, built when the first pod needs it
        try:
            super()._sync_all(keys)
        finally:
            self._view = None

    def _snapshot(self) -> ClusterView:
        if self._view is None:
            nodes, _ = self.store.list(NODES)
            pods, _ = self.store.list(PODS)
            bound = [p for p in pods if (p.get("spec") or {}).get("nodeName") and not is_terminal(p)]
            self._view = ClusterView(nodes, bound)
        return self._view

    def sync(self, key: Key) -> float | None:
        pod = self.store.find(PODS, key[0], key[1])
        if pod is None or not _pending(pod):
            self._pending.pop(key, None)
            return None
        state = self._pending.setdefault(key, _Pending(uid=str(pod["metadata"].get("uid"))))
        if state.uid != pod["metadata"].get("uid"):
            state = self._pending[key] = _Pending(uid=str(pod["metadata"].get("uid")))
        now = time.monotonic()
        if not state.wanted and now < state.flush_at:
            return state.flush_at - now
        if now < state.not_before:
            return state.not_before - now
        view = self._snapshot()
        services, _ = self.store.list(SERVICES, key[0])
        replicasets, _ = self.store.list(REPLICASETS, key[0])
        view.default_selector = default_spread_selector(pod, services, replicasets)
        placement = place(pod, view, rng=self._rng)
        if placement.node is not None:
            bound = self._bind(pod, placement.node)
            self._pending.pop(key, None)
            if bound is not None:
                view.add(bound)
            return None
        state.attempts += 1
        state.not_before = now + min(INITIAL_BACKOFF * 2 ** (state.attempts - 1), MAX_BACKOFF)
        state.wanted = False
        state.flush_at = now + FLUSH_AFTER
        self._unschedulable(pod, failure_message(placement, len(view.nodes)), state)
        return FLUSH_AFTER

    # -- writes ----------------------------------------------------------------------------------

    def _bind(self, pod: Obj, node: str) -> Obj | None:
        uid = pod["metadata"].get("uid")
        meta = pod["metadata"]

        def bind(obj: Obj) -> None:
            if obj["metadata"].get("uid") != uid or (obj.get("spec") or {}).get("nodeName"):
                raise ApiError(409, "Conflict", f"pod {meta['name']} changed before it could be bound")
            obj.setdefault("spec", {})["nodeName"] = node
            _set_condition(obj, "True", None, None)

        try:
            bound = self.store.mutate(PODS, meta.get("namespace"), meta["name"], bind)
        except ApiError:
            return None  # deleted, replaced or bound by someone else meanwhile
        with contextlib.suppress(ApiError):
            self.event(bound, "Scheduled", f"Successfully assigned {meta.get('namespace')}/{meta['name']} to {node}")
        self.log.debug("pod bound", pod=f"{meta.get('namespace')}/{meta['name']}", node=node)
        return bound

    def _unschedulable(self, pod: Obj, message: str, state: _Pending) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ApiError):
            self.event(pod, "FailedScheduling", message, warning=True)
        if message == state.message:
            return
        state.message = message
        uid = meta.get("uid")

        def mark(obj: Obj) -> None:
            if obj["metadata"].get("uid") == uid and not (obj.get("spec") or {}).get("nodeName"):
                _set_condition(obj, "False", "Unschedulable", message)

        with contextlib.suppress(ApiError):
            self.store.mutate(PODS, meta.get("namespace"), meta["name"], mark)
        self.log.info("pod unschedulable", pod=f"{meta.get('namespace')}/{meta['name']}", why=message)


def _set_condition(pod: Obj, status: str, reason: str | None, message: str | None) -> None:
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    body: Obj = {"type": "PodScheduled", "status": status, "lastProbeTime": None}
    if reason:
        body["reason"] = reason
    if message:
        body["message"] = message
    if current is None:
        conditions.append({**body, "lastTransitionTime": now_rfc3339()})
        return
    since = current.get("lastTransitionTime") if current.get("status") == status else None
    current.clear()
    current.update(body, lastTransitionTime=since or now_rfc3339())
