"""PodDisruptionBudgets and the Eviction API (K8S-SEMANTICS.md §6; CONTRACT.md "Chaos").

A PDB's status is computed from the pods it selects when it is read (the sandbox has no
disruption controller); an eviction of a Ready pod is refused with 429 TooManyRequests when its
budget has no disruption left, exactly as the real eviction subresource answers.
"""

from __future__ import annotations

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import require
from nonstop.sandbox.store import Obj, Store
from nonstop.toolkit.intstr import scaled_value
from nonstop.toolkit.selectors import matches_label_selector

__all__ = ["check_eviction", "pdb_status", "pod_ready"]

_PODS = require("", "v1", "pods")
_PDBS = require("policy", "v1", "poddisruptionbudgets")


def pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pdb_status(store: Store, pdb: Obj) -> Obj:
    """currentHealthy, desiredHealthy, disruptionsAllowed and expectedPods from the selected pods."""
    namespace = pdb["metadata"].get("namespace")
    spec = pdb.get("spec") or {}
    pods, _ = store.list(_PODS, namespace)
    selected = [
        p
        for p in pods
        if matches_label_selector(spec.get("selector"), p["metadata"].get("labels"))
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    expected = len(selected)
    healthy = sum(1 for p in selected if pod_ready(p))
    if spec.get("minAvailable") is not None:
        desired = scaled_value(spec["minAvailable"], expected, round_up=True)
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, round_up=True))
    else:
        desired = expected
    return {
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": max(0, healthy - desired),
        "expectedPods": expected,
        "observedGeneration": pdb["metadata"].get("generation", 1),
    }


def check_eviction(store: Store, pod: Obj) -> None:
    """Raise 429 when evicting `pod` would break its PodDisruptionBudget (500 with more than one)."""
    if pod["metadata"].get("deletionTimestamp"):
        return  # already going: evicting it again changes nothing
    pdbs, _ = store.list(_PDBS, pod["metadata"].get("namespace"))
    labels = pod["metadata"].get("labels")
    matching = [p for p in pdbs if matches_label_selector((p.get("spec") or {}).get("selector"), labels)]
    if len(matching) > 1:
        raise ApiError(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )
    if not matching or not pod_ready(pod):
        return  # an unready pod does not count against the budget
    status = pdb_status(store, matching[0])
    if status["disruptionsAllowed"] > 0:
        return
    name = matching[0]["metadata"]["name"]
    raise ApiError(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
        details={
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": f"The disruption budget {name} needs {status['desiredHealthy']} healthy pods "
                    f"and has {status['currentHealthy']} currently",
                }
            ]
        },
    )
