"""What kube-scheduler's plugins read (`placement.py` runs them): the cluster as the scheduler sees it, and fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from nonstop.toolkit.objects import Obj

__all__ = [
    "MAX_NODE_SCORE",
    "ClusterView",
    "affinity_of",
    "bound_node",
    "is_terminating",
    "labels_of",
    "meta_of",
    "spec_of",
]

MAX_NODE_SCORE = 100


@dataclass
class ClusterView:
    """What the scheduler knows: nodes, and pods bound to them (not terminal; terminating included)."""

    nodes: list[Obj]
    pods: list[Obj]
    default_selector: Obj | None = None
    """The system default spreading's selector for the pod being placed (`default_spread_selector`)."""
    pods_by_node: dict[str, list[Obj]] = field(init=False)

    def __post_init__(self) -> None:
        self.pods_by_node = {}
        for pod in self.pods:
            self.pods_by_node.setdefault(bound_node(pod), []).append(pod)

    def add(self, pod: Obj) -> None:
        """A pod just bound (the scheduler's "assume"): later placements in the same pass count it."""
        self.pods.append(pod)
        self.pods_by_node.setdefault(bound_node(pod), []).append(pod)


def meta_of(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec_of(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def labels_of(obj: Obj) -> dict[str, str]:
    return dict(meta_of(obj).get("labels") or {})


def bound_node(pod: Obj) -> str:
    return str(spec_of(pod).get("nodeName") or "")


def is_terminating(pod: Obj) -> bool:
    return bool(meta_of(pod).get("deletionTimestamp"))


def affinity_of(pod: Obj, kind: str) -> Obj:
    return (spec_of(pod).get("affinity") or {}).get(kind) or {}
