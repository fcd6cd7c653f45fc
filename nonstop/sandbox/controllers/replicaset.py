"""The ReplicaSet controller (K8S-SEMANTICS.md §2, restated from Kubernetes' `replica_set.go`).

Keeps `spec.replicas` active pods (neither terminal nor terminating, so a replacement is created as
soon as a deletion starts), creating them from the template in slow-start batches and deleting
surplus ones in Kubernetes' victim order through graceful deletion. Writes status: replicas,
ready, available (minReadySeconds), fullyLabeled and observedGeneration (not terminatingReplicas:
a field of v1.33+, feature-gated there, and the sandbox serves v1.32).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.claims import claim
from nonstop.sandbox.controllers.loop import Controller, Key, key_of
from nonstop.sandbox.controllers.objects import (
    PODS,
    REPLICASETS,
    controller_ref,
    controller_ref_to,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminal,
    namespace_open,
    owner_keys,
    random_suffix,
    ready_since,
)
from nonstop.sandbox.defaults import apply_defaults
from nonstop.sandbox.deletion import delete_pod_gracefully
from nonstop.sandbox.store import Change, Obj
from nonstop.toolkit.times import rfc3339, try_parse_time

__all__ = ["ReplicaSetController", "pods_to_delete", "rank_less"]

BURST_REPLICAS = 500  # `burstReplicas`: the most pods one sync creates or deletes
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    text = (pod["metadata"].get("annotations") or {}).get(DELETION_COST)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _log_rank_diff(t1: datetime, t2: datetime, now: datetime) -> int:
    """`logarithmicRankDiff`: compare two ages on a log2 scale of nanoseconds."""
    d1 = (now - t1).total_seconds() * 1e9
    d2 = (now - t2).total_seconds() * 1e9
    r1 = int(math.log2(d1)) if d1 > 0 else -1
    r2 = int(math.log2(d2)) if d2 > 0 else -1
    return r1 - r2


def _time_less(t1: datetime | None, t2: datetime | None, uid1: str, uid2: str, now: datetime) -> bool | None:
    """Rules 6 and 8 with LogarithmicScaleDown: the newer one first, equal log2 buckets by UID."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:  # `afterOrZero`: an empty time sorts first
        return t1 is None
    diff = _log_rank_diff(t1, t2, now)
    if diff == 0:
        return uid1 < uid2
    return diff < 0


def rank_less(a: Obj, b: Obj, rank_a: int, rank_b: int, now: datetime) -> bool:
    """`ActivePodsWithRanks.Less`: whether `a` should be deleted before `b` (K8S-SEMANTICS.md §2)."""
    node_a, node_b = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return not node_a
    phase_a = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase", ""), 0)
    phase_b = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase", ""), 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    ready_a, ready_b = is_pod_ready(a), is_pod_ready(b)
    if ready_a != ready_b:
        return not ready_a
    cost_a, cost_b = _deletion_cost(a), _deletion_cost(b)
    if cost_a != cost_b:
        return cost_a < cost_b
    if rank_a != rank_b:
        return rank_a > rank_b
    uid_a, uid_b = str(a["metadata"].get("uid")), str(b["metadata"].get("uid"))
    if ready_a and ready_b:
        decided = _time_less(ready_since(a), ready_since(b), uid_a, uid_b, now)
        if decided is not None:
            return decided
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b
    created_a = try_parse_time(a["metadata"].get("creationTimestamp"))
    created_b = try_parse_time(b["metadata"].get("creationTimestamp"))
    decided = _time_less(created_a, created_b, uid_a, uid_b, now)
    return bool(decided)


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int, now: datetime | None = None) -> list[Obj]:
    """`getPodsToDelete`: the `count` first pods in victim order; rank = active related pods on the same node."""
    if count >= len(pods):
        return list(pods)
    now = now or datetime.now(UTC)
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get((pod.get("spec") or {}).get("nodeName") or "", 0)) for pod in pods]

    def compare(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        if rank_less(x[0], y[0], x[1], y[1], now):
            return -1
        if rank_less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(compare))
    return [pod for pod, _ in ranked[:count]]


class ReplicaSetController(Controller[Key]):
    """Keeps each ReplicaSet's active pod count at `spec.replicas`."""

    name = "replicaset-controller"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # namespace → name → pod, kept from the change stream like an informer's cache (read, never
        # modified), and from this controller's own writes, so a sync copies no pods
        self._pods: dict[str, dict[str, Obj]] = {}

    def _cache(self, pod: Obj, *, gone: bool = False) -> None:
        pods = self._pods.setdefault(pod["metadata"].get("namespace", ""), {})
        name = pod["metadata"]["name"]
        known = pods.get(name)
        if known is not None and int(known["metadata"]["resourceVersion"]) > int(pod["metadata"]["resourceVersion"]):
            return  # an older change than what this controller already wrote
        if gone:
            pods.pop(name, None)
        else:
            pods[name] = pod

    def all_keys(self) -> Iterable[Key]:
        self._pods = {}
        for pod in self.store.list(PODS)[0]:
            self._cache(pod)
        return [key_of(rs) for rs in self.store.list(REPLICASETS)[0]]

    def keys_for(self, change: Change) -> Iterable[Key]:
        obj = change.obj
        if change.kind is REPLICASETS:
            return [key_of(obj)]
        if change.kind is not PODS:
            return []
        self._cache(obj, gone=change.type == "DELETED")
        # a terminating orphan is not adopted
        return owner_keys(self.store, obj, change.prev, REPLICASETS, orphans_while_terminating=False)

    def _sync_all(self, keys: dict[Key, None]) -> None:
        """Shrinking ReplicaSets first: when a Deployment moved a replica from an old RS to the new one,
        the old pod starts terminating before the new one is created, so live pods stay within maxSurge.
        """
        shrinking: dict[Key, None] = {}
        for key in keys:
            rs = self.store.find(REPLICASETS, *key)
            if rs is not None and int((rs.get("spec") or {}).get("replicas", 1)) < int(
                (rs.get("status") or {}).get("replicas") or 0
            ):
                shrinking[key] = None
        super()._sync_all({**shrinking, **{k: None for k in keys if k not in shrinking}})

    # -- one pass --------------------------------------------------------------------------------

    def _claim(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        """`claimPods`: owned pods that match, adopting matching active orphans and releasing non-matching ones."""
        claimed, written = claim(self.store, PODS, rs, pods, adoptable=is_pod_active)
        for pod in written:
            self._cache(pod)
        return claimed

    def sync(self, key: Key) -> float | None:
        namespace, name = key
        rs = self.store.find(REPLICASETS, namespace, name)
        if rs is None:
            return None
        pods_all = list(self._pods.get(namespace, {}).values())
        owned = self._claim(rs, pods_all)
        active = [p for p in owned if is_pod_active(p)]
        terminating = [p for p in owned if p["metadata"].get("deletionTimestamp") and not is_terminal(p)]
        error: str | None = None
        if not rs["metadata"].get("deletionTimestamp"):
            error = self._manage_replicas(rs, active, pods_all)
            if error is None:
                owned = [p for p in self._pods.get(namespace, {}).values() if _owned_by(p, rs)]
                active = [p for p in owned if is_pod_active(p)]
                terminating = [p for p in owned if p["metadata"].get("deletionTimestamp") and not is_terminal(p)]
        return self._write_status(rs, active, terminating, error)

    def _manage_replicas(self, rs: Obj, active: list[Obj], pods_all: list[Obj]) -> str | None:
        """Create or delete pods so that `len(active) == spec.replicas`; returns an error message or None."""
        wanted = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(active) - wanted
        if diff < 0:
            return self._create_pods(rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            related = _related_pods(rs, pods_all, self.store.list(REPLICASETS, rs["metadata"]["namespace"])[0])
            for pod in pods_to_delete(active, related, min(diff, BURST_REPLICAS)):
                try:
                    deleted = delete_pod_gracefully(self.store, rs["metadata"]["namespace"], pod["metadata"]["name"])
                    self._cache(deleted, gone=self.store.find(PODS, *key_of(deleted)) is None)
                except ApiError as exc:
                    if exc.code != 404:
                        self.event(rs, "FailedDelete", f"Error deleting: {exc.message}", warning=True)
                        return exc.message
                    continue
                self.event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        return None

    def _create_pods(self, rs: Obj, count: int) -> str | None:
        """`slowStartBatch`: batches of 1, 2, 4, …; the first failure stops the rest."""
        namespace = rs["metadata"]["namespace"]
        if not namespace_open(self.store, namespace):
            return None  # a terminating namespace takes no new content; nothing to report
        remaining, batch = count, 1
        while remaining > 0:
            size = min(batch, remaining)
            for _ in range(size):
                try:
                    pod = self._create_pod(rs)
                    self._cache(pod)
                except ApiError as exc:
                    self.event(rs, "FailedCreate", f"Error creating: {exc.message}", warning=True)
                    return exc.message
                self.event(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            remaining -= size
            batch *= 2
        return None

    def _create_pod(self, rs: Obj) -> Obj:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        prefix = f"{rs['metadata']['name']}-"
        pod: Obj = {
            "metadata": {
                "generateName": prefix,
                "namespace": rs["metadata"]["namespace"],
                "labels": meta.get("labels") or {},
                "annotations": meta.get("annotations") or {},
                "ownerReferences": [controller_ref_to(rs)],
            },
            "spec": template.get("spec") or {},
        }
        if meta.get("finalizers"):
            pod["metadata"]["finalizers"] = meta["finalizers"]
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        apply_defaults(PODS, pod)
        for _ in range(10):
            pod["metadata"]["name"] = prefix + random_suffix()
            try:
                return self.store.create(PODS, pod)
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
        return self.store.create(PODS, pod)

    def _write_status(self, rs: Obj, active: list[Obj], terminating: list[Obj], error: str | None) -> float | None:
        """`calculateStatus` + `updateReplicaSetStatus`; returns when to recount for minReadySeconds."""
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = datetime.now(UTC)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        fully_labeled = ready = available = 0
        recheck: float | None = None
        for pod in active:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
                elif (since := ready_since(pod)) is not None:
                    wait = min_ready - (now - since).total_seconds() + 0.05
                    recheck = wait if recheck is None else min(recheck, wait)
        wanted = int(spec.get("replicas", 1))
        generation = rs["metadata"].get("generation", 1)

        def update(obj: Obj) -> None:
            status: dict[str, Any] = obj.setdefault("status", {})
            status["replicas"] = len(active)  # required; the other counters are omitempty on the wire
            for field, value in (
                ("fullyLabeledReplicas", fully_labeled),
                ("readyReplicas", ready),
                ("availableReplicas", available),
                ("observedGeneration", generation),
            ):
                if value:
                    status[field] = value
                else:
                    status.pop(field, None)
            status.pop("terminatingReplicas", None)  # a v1.33+ field (feature-gated): the sandbox serves v1.32
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
            failure = next((c for c in status.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
            if error is not None:
                if failure is None:
                    reason = "FailedCreate" if len(active) < wanted else "FailedDelete"
                    failure = {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": reason,
                        "message": error,
                        "lastTransitionTime": rfc3339(now),
                    }
                conditions.append(failure)
            if conditions:
                status["conditions"] = conditions
            else:
                status.pop("conditions", None)

        try:
            self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], update)
        except ApiError as exc:
            if exc.code != 404:
                raise
            return None
        return recheck


def _owned_by(pod: Obj, rs: Obj) -> bool:
    ref = controller_ref(pod)
    return ref is not None and ref.get("uid") == rs["metadata"]["uid"]


def _related_pods(rs: Obj, pods: list[Obj], replicasets: list[Obj]) -> list[Obj]:
    """`getIndirectlyRelatedPods`: pods of every RS with the same controller owner (or just this RS)."""
    owner = controller_ref(rs)
    uids = {rs["metadata"]["uid"]}
    if owner is not None:
        uids |= {
            other["metadata"]["uid"]
            for other in replicasets
            if (ref := controller_ref(other)) is not None and ref.get("uid") == owner.get("uid")
        }
    return [p for p in pods if (ref := controller_ref(p)) is not None and ref.get("uid") in uids]
