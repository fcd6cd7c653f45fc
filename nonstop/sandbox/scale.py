"""The `/scale` subresource: a workload's replicas as an autoscaling/v1 Scale (K8S-SEMANTICS.md §6).

Deployments and ReplicaSets show `spec.replicas`, `status.replicas` and their selector as
`key=value,…`; Argo Rollouts (custom) show the status' `HPAReplicas` and `selector`, as their CRD's
scale subresource names them.
"""

from __future__ import annotations

from nonstop.sandbox.apierrors import invalid
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.store import Obj

__all__ = ["replicas_of", "scale_of"]


def scale_of(kind: Kind, obj: Obj) -> Obj:
    """The Scale of `obj`."""
    meta = obj["metadata"]
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind.custom:
        replicas = status.get("HPAReplicas", status.get("replicas", 0))
        selector = status.get("selector", "")
    else:
        replicas = status.get("replicas", 0)
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": replicas, "selector": selector},
    }


def replicas_of(scale: Obj, name: str) -> int:
    """The replicas a written Scale asks for; 422 unless a non-negative integer."""
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(
            "Scale",
            "autoscaling",
            name,
            [("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")],
        )
    return replicas
