"""Where a pod may run and where it should: kube-scheduler's default filter and score plugins, restated.

Pure functions over plain objects (no store, no clock), unit-tested. `place(pod, cluster)` runs the
filters in kube-scheduler's plugin order, stopping at a node's first failure, then scores the nodes
that passed and picks the best (ties at random, as `selectHost` does):

- **NodeUnschedulable**: a node with `spec.unschedulable` (cordoned) fits only a pod tolerating the
  `node.kubernetes.io/unschedulable:NoSchedule` taint. "node(s) were unschedulable".
- **NodeAffinity**: `nodeSelector` and required node affinity (`nodeSelectorTerms`: terms ORed,
  `matchExpressions` In/NotIn/Exists/DoesNotExist/Gt/Lt and `matchFields` on `metadata.name` ANDed).
  "node(s) didn't match Pod's node affinity/selector". Scores preferred node affinity (weight 2).
- **PodTopologySpread** (`whenUnsatisfiable: DoNotSchedule`): for each constraint, the pods matching
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
- **InterPodAffinity**, in its order: the pod's required affinity ("node(s) didn't match pod
  affinity rules"; the first pod of a group that matches its own terms may go anywhere), its
  required anti-affinity (no matching pod — terminating ones included — in the node's domain of
  `topologyKey`: "node(s) didn't match pod anti-affinity rules"), existing pods' required
  anti-affinity against it ("node(s) didn't satisfy existing pods anti-affinity rules"). Preferred terms of both
  score (weight 2): each matching pod in the domain adds (affinity) or subtracts (anti-affinity)
  its term's weight, normalised to 0–100 between the lowest and highest node.
- **NodeResourcesFit** scoring, LeastAllocated (weight 1): the free share of CPU and memory after
  the pod, counting pods without requests as 100m CPU and 200 MiB (kube-scheduler's non-zero
  defaults), so equal nodes are filled evenly.

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

import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from nonstop.toolkit.objects import Obj
from nonstop.toolkit.quantity import quantity
from nonstop.toolkit.selectors import matches_label_selector

__all__ = [
    "HOSTNAME",
    "UNSCHEDULABLE_TAINT",
    "ClusterView",
    "Placement",
    "default_spread_selector",
    "failure_message",
    "place",
]


HOSTNAME = "kubernetes.io/hostname"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

R_UNSCHEDULABLE = "node(s) were unschedulable"
R_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
R_SPREAD = "node(s) didn't match pod topology spread constraints"
R_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
R_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
R_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
R_AFFINITY = "node(s) didn't match pod affinity rules"
UNRESOLVABLE = frozenset({R_UNSCHEDULABLE, R_NODE_AFFINITY, R_SPREAD_LABEL, R_AFFINITY})
"""Reasons kube-scheduler marks UnschedulableAndUnresolvable: preemption would not help there."""
NO_NODES = "no nodes available to schedule pods"
NO_VICTIMS = "No preemption victims found for incoming pod"

MAX_NODE_SCORE = 100
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
WEIGHTS = {"NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2, "NodeResourcesFit": 1}
"""kube-scheduler's default score plugin weights."""


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
            self.pods_by_node.setdefault(_node_name(pod), []).append(pod)

    def add(self, pod: Obj) -> None:
        """A pod just bound (the scheduler's "assume"): later placements in the same pass count it."""
        self.pods.append(pod)
        self.pods_by_node.setdefault(_node_name(pod), []).append(pod)


@dataclass(frozen=True)
class Placement:
    node: str | None
    """The chosen node, or None when no node fits."""
    reasons: dict[str, str]
    """Per node that did not fit: the first filter's reason."""
    scores: dict[str, int]
    """Per node that fit: the weighted total score."""


# -- small helpers ---------------------------------------------------------------------------------


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _labels(obj: Obj) -> dict[str, str]:
    return dict(_meta(obj).get("labels") or {})


def _node_name(pod: Obj) -> str:
    return str(_spec(pod).get("nodeName") or "")


def _terminating(pod: Obj) -> bool:
    return bool(_meta(pod).get("deletionTimestamp"))


def _affinity(pod: Obj, kind: str) -> Obj:
    return (_spec(pod).get("affinity") or {}).get(kind) or {}


def tolerates_unschedulable(pod: Obj) -> bool:
    """Whether the pod tolerates the cordon (`node.kubernetes.io/unschedulable:NoSchedule`)."""
    for toleration in _spec(pod).get("tolerations") or []:
        effect = toleration.get("effect") or ""
        if effect not in ("", "NoSchedule"):
            continue
        key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
        if operator == "Exists" and key in ("", UNSCHEDULABLE_TAINT):
            return True
        if operator == "Equal" and key == UNSCHEDULABLE_TAINT and not toleration.get("value"):
            return True
    return False


def _cordoned(node: Obj) -> bool:
    return bool(_spec(node).get("unschedulable"))


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _requirement(labels: dict[str, str], expr: Obj) -> bool:
    key, operator, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return not (key in labels and labels[key] in values)
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and len(values) == 1:
        have, bound = _integer(labels[key]), _integer(values[0])
        if have is None or bound is None:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _node_term(node: Obj, term: Obj) -> bool:
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    labels = _labels(node)
    if not all(_requirement(labels, expr) for expr in expressions):
        return False
    return all(_requirement({"metadata.name": _meta(node).get("name", "")}, expr) for expr in fields)


def fits_node_affinity(pod: Obj, node: Obj) -> bool:
    """`nodeSelector` and required node affinity (the NodeAffinity filter)."""
    labels = _labels(node)
    for key, value in (_spec(pod).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = _affinity(pod, "nodeAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms")
    if required and terms is not None:
        return any(_node_term(node, term) for term in terms)
    return True


# -- PodTopologySpread -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Constraint:
    max_skew: int
    key: str
    selector: Obj | None
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def _constraints(pod: Obj, when: str, default_selector: Obj | None) -> list[_Constraint]:
    raw = _spec(pod).get("topologySpreadConstraints") or []
    if not raw:
        if when != "ScheduleAnyway" or default_selector is None:
            return []
        return [_Constraint(3, HOSTNAME, default_selector, 1, True, False)]
    own = _labels(pod)
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
            _Constraint(
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
        if not _terminating(p)
        and _meta(p).get("namespace") == namespace
        and matches_label_selector(selector, _labels(p))
    )


def _spread_counts(pod: Obj, constraints: list[_Constraint], view: ClusterView) -> list[dict[str, int]]:
    """Per constraint: matching pods per domain, over the nodes the constraints count."""
    namespace = _meta(pod).get("namespace", "")
    counts: list[dict[str, int]] = [{} for _ in constraints]
    for node in view.nodes:
        labels = _labels(node)
        if not all(c.key in labels for c in constraints):
            continue
        on_node = view.pods_by_node.get(_meta(node).get("name", ""), [])
        for i, c in enumerate(constraints):
            if c.honor_affinity and not fits_node_affinity(pod, node):
                continue
            if c.honor_taints and _cordoned(node) and not tolerates_unschedulable(pod):
                continue
            domain = labels[c.key]
            counts[i][domain] = counts[i].get(domain, 0) + _count_matching(on_node, c.selector, namespace)
    return counts


def _spread_filter(pod: Obj, node: Obj, constraints: list[_Constraint], counts: list[dict[str, int]]) -> str | None:
    labels, own = _labels(node), _labels(pod)
    for c in constraints:
        if c.key not in labels:
            return R_SPREAD_LABEL
    for c, per_domain in zip(constraints, counts, strict=True):
        minimum = min(per_domain.values()) if per_domain and len(per_domain) >= c.min_domains else 0
        self_match = 1 if matches_label_selector(c.selector, own) else 0
        if per_domain.get(labels[c.key], 0) + self_match - minimum > c.max_skew:
            return R_SPREAD
    return None


def _spread_scores(pod: Obj, fitting: list[Obj], view: ClusterView) -> dict[str, int]:
    constraints = _constraints(pod, "ScheduleAnyway", view.default_selector)
    names = [_meta(n).get("name", "") for n in fitting]
    if not constraints:
        return dict.fromkeys(names, 0)
    system_default = not (_spec(pod).get("topologySpreadConstraints") or [])
    ignored = {
        _meta(n).get("name", "")
        for n in fitting
        if not system_default and not all(c.key in _labels(n) for c in constraints)
    }
    counted = [n for n in fitting if _meta(n).get("name", "") not in ignored]
    counts = _spread_counts(pod, constraints, view)
    weights = []
    for c in constraints:  # log(domains + 2), the domains among the nodes being scored
        size = len({_labels(n)[c.key] for n in counted if c.key in _labels(n)})
        weights.append(math.log(size + 2))
    raw: dict[str, int] = {}
    for node in fitting:
        name = _meta(node).get("name", "")
        if name in ignored:
            continue
        labels, score = _labels(node), 0.0
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
    own, namespace = _labels(pod), _meta(pod).get("namespace")
    match: dict[str, str] = {}
    expressions: list[Obj] = []
    found = False
    for svc in services:
        selector = _spec(svc).get("selector") or {}
        if _meta(svc).get("namespace") == namespace and selector and all(own.get(k) == v for k, v in selector.items()):
            match.update(selector)
            found = True
    for rs in replicasets:
        selector = _spec(rs).get("selector")
        if _meta(rs).get("namespace") == namespace and selector and matches_label_selector(selector, own):
            match.update(selector.get("matchLabels") or {})
            expressions.extend(selector.get("matchExpressions") or [])
            found = True
    return {"matchLabels": match, "matchExpressions": expressions} if found else None


# -- InterPodAffinity --------------------------------------------------------------------------------


def _term_matches(term: Obj, owner: Obj, other: Obj) -> bool:
    """Whether `other` is a pod the affinity term of `owner` selects (namespaces default to the owner's)."""
    namespaces = term.get("namespaces") or [_meta(owner).get("namespace")]
    if _meta(other).get("namespace") not in namespaces:
        return False
    return matches_label_selector(term.get("labelSelector"), _labels(other))


def _same_domain(key: str, node: Obj, other_node: Obj | None) -> bool:
    if other_node is None:
        return False
    value = _labels(node).get(key)
    return value is not None and _labels(other_node).get(key) == value


def _affinity_filter(pod: Obj, node: Obj, view: ClusterView, nodes: dict[str, Obj]) -> str | None:
    """InterPodAffinity's filter, in its order: the pod's affinity, its anti-affinity, existing pods' anti-affinity."""
    required = _affinity(pod, "podAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []
    required_anti = _affinity(pod, "podAntiAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if required:
        anywhere = any(_term_matches(t, pod, other) for t in required for other in view.pods)
        first_of_group = not anywhere and all(_term_matches(t, pod, pod) for t in required)
        for term in required if not first_of_group else []:
            key = term.get("topologyKey", "")
            if not any(
                _term_matches(term, pod, other) and _same_domain(key, node, nodes.get(_node_name(other)))
                for other in view.pods
            ):
                return R_AFFINITY
    for term in required_anti:
        key = term.get("topologyKey", "")
        if any(
            _term_matches(term, pod, other) and _same_domain(key, node, nodes.get(_node_name(other)))
            for other in view.pods
        ):
            return R_ANTI_AFFINITY
    for other in view.pods:
        other_node = nodes.get(_node_name(other))
        for term in _affinity(other, "podAntiAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            if _term_matches(term, other, pod) and _same_domain(term.get("topologyKey", ""), node, other_node):
                return R_EXISTING_ANTI_AFFINITY
    return None


def _affinity_scores(pod: Obj, fitting: list[Obj], view: ClusterView, nodes: dict[str, Obj]) -> dict[str, int]:
    names = [_meta(n).get("name", "") for n in fitting]
    raw = dict.fromkeys(names, 0)
    pod_affinity, pod_anti = _affinity(pod, "podAffinity"), _affinity(pod, "podAntiAffinity")
    preferred = [(t, 1) for t in pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    preferred += [(t, -1) for t in pod_anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for other in view.pods:
        other_node = nodes.get(_node_name(other))
        terms: list[tuple[Obj, int, Obj, Obj]] = [  # (term, signed weight, owner, selected)
            (weighted.get("podAffinityTerm") or {}, sign * int(weighted.get("weight") or 0), pod, other)
            for weighted, sign in preferred
        ]
        other_affinity, other_anti = _affinity(other, "podAffinity"), _affinity(other, "podAntiAffinity")
        terms.extend(  # hardPodAffinityWeight
            (term, 1, other, pod) for term in other_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        )
        terms.extend(
            (weighted.get("podAffinityTerm") or {}, int(weighted.get("weight") or 0), other, pod)
            for weighted in other_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        )
        terms.extend(
            (weighted.get("podAffinityTerm") or {}, -int(weighted.get("weight") or 0), other, pod)
            for weighted in other_anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        )
        for term, weight, owner, selected in terms:
            if not weight or not _term_matches(term, owner, selected):
                continue
            for node in fitting:
                if _same_domain(term.get("topologyKey", ""), node, other_node):
                    raw[_meta(node).get("name", "")] += weight
    low, high = min(raw.values(), default=0), max(raw.values(), default=0)
    if high == low:
        return dict.fromkeys(names, 0)
    return {name: MAX_NODE_SCORE * (score - low) // (high - low) for name, score in raw.items()}


# -- NodeAffinity (preferred) and NodeResourcesFit (LeastAllocated) scores ---------------------------


def _node_affinity_scores(pod: Obj, fitting: list[Obj]) -> dict[str, int]:
    preferred = _affinity(pod, "nodeAffinity").get("preferredDuringSchedulingIgnoredDuringExecution") or []
    raw = {
        _meta(n).get("name", ""): sum(
            int(p.get("weight") or 0) for p in preferred if _node_term(n, p.get("preference") or {})
        )
        for n in fitting
    }
    high = max(raw.values(), default=0)
    return {name: (MAX_NODE_SCORE * score // high if high else 0) for name, score in raw.items()}


def _pod_requests(pod: Obj) -> tuple[int, int]:
    """Milli-CPU and memory bytes the scheduler counts for a pod (non-zero defaults per container)."""
    cpu = memory = 0
    for container in _spec(pod).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        c = quantity(requests["cpu"], milli=True) if "cpu" in requests else None
        m = quantity(requests["memory"]) if "memory" in requests else None
        cpu += c if c is not None else DEFAULT_MILLI_CPU
        memory += m if m is not None else DEFAULT_MEMORY
    return cpu, memory


def _least_allocated_scores(pod: Obj, fitting: list[Obj], view: ClusterView) -> dict[str, int]:
    want_cpu, want_memory = _pod_requests(pod)
    out: dict[str, int] = {}
    for node in fitting:
        name = _meta(node).get("name", "")
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


# -- the whole decision ------------------------------------------------------------------------------


def place(pod: Obj, view: ClusterView, *, rng: random.Random | None = None) -> Placement:
    """Filter every node in kube-scheduler's plugin order, score those that fit, choose one."""
    nodes = {_meta(n).get("name", ""): n for n in view.nodes}
    hard = _constraints(pod, "DoNotSchedule", None)
    counts = _spread_counts(pod, hard, view) if hard else []
    reasons: dict[str, str] = {}
    fitting: list[Obj] = []
    for name, node in sorted(nodes.items()):
        reason = None
        if _cordoned(node) and not tolerates_unschedulable(pod):
            reason = R_UNSCHEDULABLE
        elif not fits_node_affinity(pod, node):
            reason = R_NODE_AFFINITY
        elif hard and (why := _spread_filter(pod, node, hard, counts)):
            reason = why
        else:
            reason = _affinity_filter(pod, node, view, nodes)
        if reason is None:
            fitting.append(node)
        else:
            reasons[name] = reason
    if not fitting:
        return Placement(None, reasons, {})
    parts = {
        "NodeAffinity": _node_affinity_scores(pod, fitting),
        "PodTopologySpread": _spread_scores(pod, fitting, view),
        "InterPodAffinity": _affinity_scores(pod, fitting, view, nodes),
        "NodeResourcesFit": _least_allocated_scores(pod, fitting, view),
    }
    scores = {
        _meta(n).get("name", ""): sum(WEIGHTS[p] * parts[p][_meta(n).get("name", "")] for p in parts) for n in fitting
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
