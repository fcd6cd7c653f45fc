"""Readiness gates: the sandbox's stand-in for a load-balancer controller registering targets.

A pod that lists `spec.readinessGates` is Ready only once every gate's condition
(`status.conditions[type=<conditionType>]`) is True (K8S-SEMANTICS.md "Readiness gates"; the
kubelet computes Ready, `kubelet/status.py`). In a real cluster a load-balancer controller (AWS
Load Balancer Controller, GKE NEG) writes that condition once the pod's target is registered and
healthy. This controller writes each gate's condition True `delay` seconds (the sandbox's
`addLagSeconds`) after it saw the pod's `ContainersReady` turn True: only gated pods wait, and a
Deployment rolls on only as fast as the "load balancer" registers new pods.

What it does not do: it never sets a gate back to False (a registered target stays registered
until the pod goes), and it ignores pods that are terminating or terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from nonstop.sandbox.controllers.loop import Controller, Key
from nonstop.sandbox.controllers.objects import PODS
from nonstop.sandbox.store import Change, Obj, now_rfc3339

__all__ = ["ReadinessGateController"]

REASON = "TargetRegistered"


def _gates(pod: Obj) -> list[str]:
    return [
        str(g["conditionType"]) for g in (pod.get("spec") or {}).get("readinessGates") or [] if g.get("conditionType")
    ]


def _status(pod: Obj, ctype: str) -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return str(cond.get("status"))
    return None


class ReadinessGateController(Controller[Key]):
    """Sets every readiness gate's condition True `delay` seconds after the pod's containers are ready."""

    name = "readiness-gate-controller"

    def __init__(self, *args: Any, delay: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self._ready_since: dict[Key, tuple[str, float]] = {}  # pod key → (uid, when ContainersReady was seen)

    def all_keys(self) -> Iterable[Key]:
        items, _ = self.store.list(PODS)
        return [(p["metadata"].get("namespace", ""), p["metadata"]["name"]) for p in items if _gates(p)]

    def keys_for(self, change: Change) -> Iterable[Key]:
        if change.kind is not PODS:
            return []
        key = (change.obj["metadata"].get("namespace", ""), change.obj["metadata"]["name"])
        if change.type == "DELETED":
            self._ready_since.pop(key, None)
            return []
        return [key] if _gates(change.obj) else []

    def sync(self, key: Key) -> float | None:
        pod = self.store.find(PODS, key[0], key[1])
        if pod is None:
            self._ready_since.pop(key, None)
            return None
        gates = _gates(pod)
        uid = str(pod["metadata"].get("uid"))
        waiting = [g for g in gates if _status(pod, g) != "True"]
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if not waiting or pod["metadata"].get("deletionTimestamp") or terminal:
            return None
        if _status(pod, "ContainersReady") != "True":
            self._ready_since.pop(key, None)
            return None
        seen = self._ready_since.get(key)
        if seen is None or seen[0] != uid:
            seen = self._ready_since[key] = (uid, time.monotonic())
        left = seen[1] + self.delay - time.monotonic()
        if left > 0:
            return left
        self.store.mutate(PODS, key[0], key[1], lambda obj: _set_gates(obj, uid, waiting))
        self.log.debug("readiness gates set", pod=f"{key[0]}/{key[1]}", gates=waiting)
        return None


def _set_gates(pod: Obj, uid: str, gates: list[str]) -> None:
    if pod["metadata"].get("uid") != uid:
        return  # a new pod of the same name: its own containers must get ready first
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    now = now_rfc3339()
    for gate in gates:
        cond = next((c for c in conditions if c.get("type") == gate), None)
        if cond is None:
            conditions.append(
                {"type": gate, "status": "True", "lastProbeTime": None, "lastTransitionTime": now, "reason": REASON}
            )
        elif cond.get("status") != "True":
            cond.update(status="True", lastTransitionTime=now, reason=REASON)
