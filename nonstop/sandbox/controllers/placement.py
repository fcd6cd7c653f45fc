"""Where a pod may run and where it should: kube-scheduler's default filter and score plugins, restated.

Pure functions over plain objects (no store, no clock), unit-tested. `place(pod, cluster)` runs the
filters in kube-scheduler's plugin order, stopping at a node's first failure, then scores the nodes
that passed and picks the best (ties at random, as `selectHost` does). The plugins, in filter order,
one module each (their docstrings say what each restates):

- `nodefit.py`: NodeUnschedulable (the cordon) and NodeAffinity (filter; preferred terms score, weight 2);
- `topologyspread.py`: PodTopologySpread (`DoNotSchedule` filters; `ScheduleAnyway` and the system
  default spreading score, weight 2);
- `podaffinity.py`: InterPodAffinity (required terms filter; preferred ones score, weight 2);
- `resourcefit.py`: NodeResourcesFit's LeastAllocated score (weight 1).

`clusterview.py` holds what they all read: the `ClusterView` and a pod's or node's fields.

A pod that fits no node gets kube-scheduler's message: "0/3 nodes are available: 1 node(s) were
unschedulable, 2 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 1
Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.." (reasons
counted per node and sorted as strings; the sandbox never preempts, and with equal priorities
kube-scheduler finds no victim either).

Not implemented: taints other than the cordon's (and tolerations beyond it), resource fit as a filter
(every node has room), host ports, volumes, `namespaceSelector` in affinity terms, the zone system
default (sandbox nodes have no zone), BalancedAllocation and ImageLocality scores, preemption.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from nonstop.sandbox.controllers.clusterview import ClusterView, meta_of
from nonstop.sandbox.controllers.nodefit import (
    R_NODE_AFFINITY,
    R_UNSCHEDULABLE,
    cordoned,
    fits_node_affinity,
    node_affinity_scores,
    tolerates_unschedulable,
)
from nonstop.sandbox.controllers.podaffinity import R_AFFINITY, affinity_filter, affinity_scores
from nonstop.sandbox.controllers.resourcefit import least_allocated_scores
from nonstop.sandbox.controllers.topologyspread import (
    R_SPREAD_LABEL,
    spread_constraints,
    spread_counts,
    spread_filter,
    spread_scores,
)
from nonstop.toolkit.objects import Obj

__all__ = ["ClusterView", "Placement", "failure_message", "place"]

UNRESOLVABLE = frozenset({R_UNSCHEDULABLE, R_NODE_AFFINITY, R_SPREAD_LABEL, R_AFFINITY})
"""Reasons kube-scheduler marks UnschedulableAndUnresolvable: preemption would not help there."""
NO_NODES = "no nodes available to schedule pods"
NO_VICTIMS = "No preemption victims found for incoming pod"

WEIGHTS = {"NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2, "NodeResourcesFit": 1}
"""kube-scheduler's default score plugin weights."""


@dataclass(frozen=True)
class Placement:
    node: str | None
    """The chosen node, or None when no node fits."""
    reasons: dict[str, str]
    """Per node that did not fit: the first filter's reason."""
    scores: dict[str, int]
    """Per node that fit: the weighted total score."""


def place(pod: Obj, view: ClusterView, *, rng: random.Random | None = None) -> Placement:
    """Filter every node in kube-scheduler's plugin order, score those that fit, choose one."""
    nodes = {meta_of(n).get("name", ""): n for n in view.nodes}
    hard = spread_constraints(pod, "DoNotSchedule", None)
    counts = spread_counts(pod, hard, view) if hard else []
    reasons: dict[str, str] = {}
    fitting: list[Obj] = []
    for name, node in sorted(nodes.items()):
        reason = None
        if cordoned(node) and not tolerates_unschedulable(pod):
            reason = R_UNSCHEDULABLE
        elif not fits_node_affinity(pod, node):
            reason = R_NODE_AFFINITY
        elif hard and (why := spread_filter(pod, node, hard, counts)):
            reason = why
        else:
            reason = affinity_filter(pod, node, view, nodes)
        if reason is None:
            fitting.append(node)
        else:
            reasons[name] = reason
    if not fitting:
        return Placement(None, reasons, {})
    parts = {
        "NodeAffinity": node_affinity_scores(pod, fitting),
        "PodTopologySpread": spread_scores(pod, fitting, view),
        "InterPodAffinity": affinity_scores(pod, fitting, view, nodes),
        "NodeResourcesFit": least_allocated_scores(pod, fitting, view),
    }
    scores = {
        meta_of(n).get("name", ""): sum(WEIGHTS[p] * parts[p][meta_of(n).get("name", "")] for p in parts)
        for n in fitting
    }
    best = max(scores.values())
    chosen = (rng or random).choice(sorted(name for name, score in scores.items() if score == best))
    return Placement(chosen, reasons, scores)


def failure_message(placement: Placement, node_count: int) -> str:
    """kube-scheduler's FitError text for a pod that fits no node (the FailedScheduling event's message)."""
    if node_count == 0:
        return NO_NODES
    histogram = Counter(placement.reasons.values())
    filtered = ", ".join(sorted(f"{count} {reason}" for reason, count in histogram.items()))
    preemption = Counter(
        "Preemption is not helpful for scheduling" if reason in UNRESOLVABLE else NO_VICTIMS
        for reason in placement.reasons.values()
    )
    helped = ", ".join(sorted(f"{count} {reason}" for reason, count in preemption.items()))
    return f"0/{node_count} nodes are available: {filtered}. preemption: 0/{node_count} nodes are available: {helped}.."
