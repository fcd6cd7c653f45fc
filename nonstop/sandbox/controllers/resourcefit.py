"""kube-scheduler's NodeResourcesFit score (LeastAllocated): the emptier node scores higher.

**NodeResourcesFit** scoring, LeastAllocated (weight 1): the free share of CPU and memory after
the pod, counting pods without requests as 100m CPU and 200 MiB (kube-scheduler's non-zero
defaults), so equal nodes are filled evenly.
"""

from __future__ import annotations

from nonstop.sandbox.controllers.clusterview import MAX_NODE_SCORE, ClusterView, meta_of, spec_of
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.quantity import quantity

__all__ = ["least_allocated_scores"]

DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024


def _pod_requests(pod: Obj) -> tuple[int, int]:
    """Milli-CPU and memory bytes the scheduler counts for a pod (non-zero defaults per container)."""
    cpu = memory = 0
    for container in spec_of(pod).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        c = quantity(requests["cpu"], milli=True) if "cpu" in requests else None
        m = quantity(requests["memory"]) if "memory" in requests else None
        cpu += c if c is not None else DEFAULT_MILLI_CPU
        memory += m if m is not None else DEFAULT_MEMORY
    return cpu, memory


def least_allocated_scores(pod: Obj, fitting: list[Obj], view: ClusterView) -> dict[str, int]:
    want_cpu, want_memory = _pod_requests(pod)
    out: dict[str, int] = {}
    for node in fitting:
        name = meta_of(node).get("name", "")
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        cpu_total = quantity(allocatable.get("cpu", "0"), milli=True) or 0
        memory_total = quantity(allocatable.get("memory", "0")) or 0
        cpu, memory = want_cpu, want_memory
        for other in view.pods_by_node.get(name, []):
            c, m = _pod_requests(other)
            cpu, memory = cpu + c, memory + m
        parts = [
            (total - used) * MAX_NODE_SCORE // total if total and used <= total else 0
            for total, used in ((cpu_total, cpu), (memory_total, memory))
        ]
        out[name] = sum(parts) // len(parts)
    return out
