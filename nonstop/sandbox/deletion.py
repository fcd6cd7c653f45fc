"""Graceful pod deletion as the API server does it (K8S-SEMANTICS.md §3 "API").

Shared by the API server's DELETE and eviction handlers and by the controllers: the object is
updated (deletionTimestamp, deletionGracePeriodSeconds), not removed; the kubelet removes it
once its containers have exited. Grace 0, unscheduled or terminal pods are removed at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.store import Obj, Store
from nonstop.toolkit.times import rfc3339

__all__ = ["delete_pod_gracefully"]

PODS = by_resource("", "v1", "pods")
DEFAULT_GRACE_SECONDS = 30


def delete_pod_gracefully(store: Store, namespace: str, name: str, *, grace_seconds: int | None = None) -> Obj:
    """Start (or shorten) a pod's graceful deletion; returns the pod as the API would answer."""
    assert PODS is not None
    pod = store.get(PODS, namespace, name)
    spec_grace = pod.get("spec", {}).get("terminationGracePeriodSeconds")
    grace = grace_seconds if grace_seconds is not None else spec_grace
    if grace is None:
        grace = DEFAULT_GRACE_SECONDS
    grace = 1 if grace < 0 else int(grace)
    phase = pod.get("status", {}).get("phase")
    unscheduled = not pod.get("spec", {}).get("nodeName")
    if grace == 0 or unscheduled or phase in ("Succeeded", "Failed"):
        return store.remove(PODS, namespace, name)
    meta = pod["metadata"]
    current = meta.get("deletionGracePeriodSeconds")
    if current is not None and current <= grace:
        return pod  # a later DELETE can only shorten the period
    deadline = datetime.now(UTC) + timedelta(seconds=grace)

    def mark(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = rfc3339(deadline)
        obj["metadata"]["deletionGracePeriodSeconds"] = grace

    return store.mutate(PODS, namespace, name, mark)
