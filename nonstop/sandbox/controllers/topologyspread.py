"""kube-scheduler's PodTopologySpread: how far a node would skew the pods a constraint counts.

**PodTopologySpread** (`whenUnsatisfiable: DoNotSchedule`): for each constraint, the pods matching
its `labelSelector` (ANDed with `matchLabelKeys` from the pod's own labels) in the pod's namespace,
terminating pods not counted, are counted per domain (the node's value of `topologyKey`) over the
nodes that have every constraint's key and pass the inclusion policies (`nodeAffinityPolicy`
Honor by default: the pod's node selector and required affinity; `nodeTaintsPolicy` Ignore by
default, Honor leaves out cordoned nodes the pod does not tolerate). A node fails when `count(its
domain) + (1 if the pod matches the selector) − global minimum > maxSkew`; the global minimum is
the smallest count among those domains, or 0 with fewer domains than `minDomains`. "node(s)
didn't match pod topology spread constraints", and "… (missing required label)" for a node without
the key. So a cordoned node still counts as an empty domain: with `maxSkew: 1` over 3 nodes with
one pod each, draining one leaves its replacement Pending, as on a real cluster.
`ScheduleAnyway` constraints score instead (weight 2): per constraint, `count × log(domains + 2) +
maxSkew − 1`, normalised so the emptiest domain scores 100. A pod with no constraint at all gets
the system default `maxSkew: 3` over `kubernetes.io/hostname`, ScheduleAnyway, selecting the pods
its Services and ReplicaSets select: a Deployment's pods spread over nodes by themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from nonstop.sandbox.controllers.clusterview import (
    MAX_NODE_SCORE,
    ClusterView,
    is_terminating,
    labels_of,
    meta_of,
    spec_of,
)
from nonstop.sandbox.controllers.nodefit import cordoned, fits_node_affinity, tolerates_unschedulable
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.selectors import matches_label_selector

__all__ = [
    "HOSTNAME",
    "R_SPREAD",
    "R_SPREAD_LABEL",
    "Constraint",
    "default_spread_selector",
    "spread_constraints",
    "spread_counts",
    "spread_filter",
    "spread_scores",
]

HOSTNAME = "kubernetes.io/hostname"
R_SPREAD = "node(s) didn't match pod topology spread constraints"
R_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    key: str
    selector: Obj | None
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def spread_constraints(pod: Obj, when: str, default_selector: Obj | None) -> list[Constraint]:
    raw = spec_of(pod).get("topologySpreadConstraints") or []
    if not raw:
        if when != "ScheduleAnyway" or default_selector is None:
            return []
        return [Constraint(3, HOSTNAME, default_selector, 1, True, False)]
    own = labels_of(pod)
    out = []
    for c in raw:
        if c.get("whenUnsatisfiable", "DoNotSchedule") != when:
            continue
        selector = c.get("labelSelector")
        keys = [k for k in c.get("matchLabelKeys") or [] if k in own]
        if selector is not None and keys:
            selector = {
                "matchLabels": dict(selector.get("matchLabels") or {}),
                "matchExpressions": [*(selector.get("matchExpressions") or []),
                                     *({"key": k, "operator": "In", "values": [own[k]]} for k in keys)],
            }  # fmt: skip
        out.append(
            Constraint(
                max_skew=int(c.get("maxSkew") or 1),
                key=str(c.get("topologyKey") or ""),
                selector=selector,
                min_domains=int(c.get("minDomains") or 1),
                honor_affinity=(c.get("nodeAffinityPolicy") or "Honor") == "Honor",
                honor_taints=(c.get("nodeTaintsPolicy") or "Ignore") == "Honor",
            )
        )
    return out


def _count_matching(pods: Iterable[Obj], selector: Obj | None, namespace: str) -> int:
    """Pods of `namespace` the selector matches, terminating ones left out (as countPodsMatchSelector)."""
    return sum(
        1
        for p in pods
        if not is_terminating(p)
        and meta_of(p).get("namespace") == namespace
        and matches_label_selector(selector, labels_of(p))
    )


def spread_counts(pod: Obj, constraints: list[Constraint], view: ClusterView) -> list[dict[str, int]]:
    """Per constraint: matching pods per domain, over the nodes the constraints count."""
    namespace = meta_of(pod).get("namespace", "")
    counts: list[dict[str, int]] = [{} for _ in constraints]
    for node in view.nodes:
        labels = labels_of(node)
        if not all(c.key in labels for c in constraints):
            continue
        on_node = view.pods_by_node.get(meta_of(node).get("name", ""), [])
        for i, c in enumerate(constraints):
            if c.honor_affinity and not fits_node_affinity(pod, node):
                continue
            if c.honor_taints and cordoned(node) and not tolerates_unschedulable(pod):
                continue
            domain = labels[c.key]
            counts[i][domain] = counts[i].get(domain, 0) + _count_matching(on_node, c.selector, namespace)
    return counts


def spread_filter(pod: Obj, node: Obj, constraints: list[Constraint], counts: list[dict[str, int]]) -> str | None:
    labels, own = labels_of(node), labels_of(pod)
    for c in constraints:
        if c.key not in labels:
            return R_SPREAD_LABEL
    for c, per_domain in zip(constraints, counts, strict=True):
        minimum = min(per_domain.values()) if per_domain and len(per_domain) >= c.min_domains else 0
        self_match = 1 if matches_label_selector(c.selector, own) else 0
        if per_domain.get(labels[c.key], 0) + self_match - minimum > c.max_skew:
            return R_SPREAD
    return None


def spread_scores(pod: Obj, fitting: list[Obj], view: ClusterView) -> dict[str, int]:
    constraints = spread_constraints(pod, "ScheduleAnyway", view.default_selector)
    names = [meta_of(n).get("name", "") for n in fitting]
    if not constraints:
        return dict.fromkeys(names, 0)
    system_default = not (spec_of(pod).get("topologySpreadConstraints") or [])
    ignored = {
        meta_of(n).get("name", "")
        for n in fitting
        if not system_default and not all(c.key in labels_of(n) for c in constraints)
    }
    counted = [n for n in fitting if meta_of(n).get("name", "") not in ignored]
    counts = spread_counts(pod, constraints, view)
    weights = []
    for c in constraints:  # log(domains + 2), the domains among the nodes being scored
        size = len({labels_of(n)[c.key] for n in counted if c.key in labels_of(n)})
        weights.append(math.log(size + 2))
    raw: dict[str, int] = {}
    for node in fitting:
        name = meta_of(node).get("name", "")
        if name in ignored:
            continue
        labels, score = labels_of(node), 0.0
        for i, c in enumerate(constraints):
            if c.key in labels:
                score += counts[i].get(labels[c.key], 0) * weights[i] + (c.max_skew - 1)
        raw[name] = round(score)
    if not raw:
        return dict.fromkeys(names, 0)
    low, high = min(raw.values()), max(raw.values())
    out = dict.fromkeys(names, 0)
    for name, score in raw.items():
        out[name] = MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - score) // high
    return out


def default_spread_selector(pod: Obj, services: Iterable[Obj], replicasets: Iterable[Obj]) -> Obj | None:
    """The selector of the system default spreading: every Service and ReplicaSet selecting the pod, ANDed."""
    own, namespace = labels_of(pod), meta_of(pod).get("namespace")
    match: dict[str, str] = {}
    expressions: list[Obj] = []
    found = False
    for svc in services:
        selector = spec_of(svc).get("selector") or {}
        if (
            meta_of(svc).get("namespace") == namespace
            and selector
            and all(own.get(k) == v for k, v in selector.items())
        ):
            match.update(selector)
            found = True
    for rs in replicasets:
        selector = spec_of(rs).get("selector")
        if meta_of(rs).get("namespace") == namespace and selector and matches_label_selector(selector, own):
            match.update(selector.get("matchLabels") or {})
            expressions.extend(selector.get("matchExpressions") or [])
            found = True
    return {"matchLabels": match, "matchExpressions": expressions} if found else None
