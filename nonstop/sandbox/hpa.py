"""autoscaling/v1 HorizontalPodAutoscalers: a view of the stored autoscaling/v2 objects (K8S-SEMANTICS.md §6).

kubectl up to 1.32 (`kubectl autoscale`) creates autoscaling/v1 HPAs. The real apiserver stores
autoscaling/v2 and converts (k8s.io/kubernetes pkg/apis/autoscaling/v1/conversion.go): v1's
`targetCPUUtilizationPercentage` is v2's CPU `Utilization` metric, 80 when v1 names none, and v2's
CPU `averageUtilization` in `status.currentMetrics` is v1's `currentCPUUtilizationPercentage`.
Here v1 is served for create, get, list, watch and delete only; the real server's round-trip
annotations (other metrics, behavior, conditions) are not written, so a v1 write never drops them.
"""

from __future__ import annotations

import copy

from nonstop.toolkit.objects import Obj

__all__ = ["to_v1", "to_v2"]

DEFAULT_CPU_UTILIZATION = 80  # autoscaling.DefaultCPUUtilization
_ROUND_TRIP_PREFIX = "autoscaling.alpha.kubernetes.io/"


def _is_cpu_utilization(metric: Obj, target: str) -> bool:
    resource = metric.get("resource") or {}
    return (
        metric.get("type") == "Resource"
        and resource.get("name") == "cpu"
        and (resource.get(target) or {}).get("averageUtilization") is not None
    )


def _metadata(obj: Obj) -> Obj:
    meta = copy.deepcopy(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(_ROUND_TRIP_PREFIX)}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return meta


def to_v2(v1: Obj) -> Obj:
    """A v1 HPA body as the v2 object to store."""
    spec = v1.get("spec") or {}
    cpu = spec.get("targetCPUUtilizationPercentage")
    v2_spec: Obj = {
        "scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef") or {}),
        "minReplicas": spec.get("minReplicas") or 1,  # v1 defaulting
        "maxReplicas": spec.get("maxReplicas", 0),
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": DEFAULT_CPU_UTILIZATION if cpu is None else cpu,
                    },
                },
            }
        ],
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(v1),
        "spec": v2_spec,
    }


def to_v1(v2: Obj) -> Obj:
    """A stored v2 HPA as autoscaling/v1 shows it."""
    spec = v2.get("spec") or {}
    status = v2.get("status") or {}
    v1_spec: Obj = {"scaleTargetRef": copy.deepcopy(spec.get("scaleTargetRef") or {})}
    if spec.get("minReplicas") is not None:
        v1_spec["minReplicas"] = spec["minReplicas"]
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric, "target"):
            v1_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"]["averageUtilization"]
            break
    v1_status: Obj = {}
    for field in ("observedGeneration", "lastScaleTime"):
        if status.get(field) is not None:
            v1_status[field] = status[field]
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    for metric in status.get("currentMetrics") or []:
        if _is_cpu_utilization(metric, "current"):
            v1_status["currentCPUUtilizationPercentage"] = metric["resource"]["current"]["averageUtilization"]
            break
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": _metadata(v2),
        "spec": v1_spec,
        "status": v1_status,
    }
