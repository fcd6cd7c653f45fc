"""kube-scheduler's InterPodAffinity: where a pod may and would rather go, by the pods already there.

**InterPodAffinity**, in its order: the pod's required affinity ("node(s) didn't match pod
affinity rules"; the first pod of a group that matches its own terms may go anywhere), its
required anti-affinity (no matching pod — terminating ones included — in the node's domain of
`topologyKey`: "node(s) didn't match pod anti-affinity rules"), existing pods' required
anti-affinity against it ("node(s) didn't satisfy existing pods anti-affinity rules"). Preferred terms of both
score (weight 2): each matching pod in the domain adds (affinity) or subtracts (anti-affinity)
its term's weight, normalised to 0–100 between the lowest and highest node.
"""

from __future__ import annotations

from nonstop.sandbox.controllers.clusterview import (
    MAX_NODE_SCORE,
    ClusterView,
    affinity_of,
    bound_node,
    labels_of,
    meta_of,
)
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.selectors import matches_label_selector

__all__ = ["R_AFFINITY", "R_ANTI_AFFINITY", "R_EXISTING_ANTI_AFFINITY", "affinity_filter", "affinity_scores"]

R_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
R_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
R_AFFINITY = "node(s) didn't match pod affinity rules"


def _term_matches(term: Obj, owner: Obj, other: Obj) -> bool:
    """Whether `other` is a pod the affinity term of `owner` selects (namespaces default to the owner's)."""
    namespaces = term.get("namespaces") or [meta_of(owner).get("namespace")]
    if meta_of(other).get("namespace") not in namespaces:
        return False
    return matches_label_selector(term.get("labelSelector"), labels_of(other))


def _same_domain(key: str, node: Obj, other_node: Obj | None) -> bool:
    if other_node is None:
        return False
    value = labels_of(node).get(key)
    return value is not None and labels_of(other_node).get(key) == value


def affinity_filter(pod: Obj, node: Obj, view: ClusterView, nodes: dict[str, Obj]) -> str | None:
    """InterPodAffinity's filter, in its order: the pod's affinity, its anti-affinity, existing pods' anti-affinity."""
    required = affinity_of(pod, "podAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []
    required_anti = affinity_of(pod, "podAntiAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if required:
        anywhere = any(_term_matches(t, pod, other) for t in required for other in view.pods)
        first_of_group = not anywhere and all(_term_matches(t, pod, pod) for t in required)
        for term in required if not first_of_group else []:
            key = term.get("topologyKey", "")
            if not any(
                _term_matches(term, pod, other) and _same_domain(key, node, nodes.get(bound_node(other)))
                for other in view.pods
            ):
                return R_AFFINITY
    for term in required_anti:
        key = term.get("topologyKey", "")
        if any(
            _term_matches(term, pod, other) and _same_domain(key, node, nodes.get(bound_node(other)))
            for other in view.pods
        ):
            return R_ANTI_AFFINITY
    for other in view.pods:
        other_node = nodes.get(bound_node(other))
        for term in affinity_of(other, "podAntiAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            if _term_matches(term, other, pod) and _same_domain(term.get("topologyKey", ""), node, other_node):
                return R_EXISTING_ANTI_AFFINITY
    return None


def affinity_scores(pod: Obj, fitting: list[Obj], view: ClusterView, nodes: dict[str, Obj]) -> dict[str, int]:
    names = [meta_of(n).get("name", "") for n in fitting]
    raw = dict.fromkeys(names, 0)
    pod_affinity, pod_anti = affinity_of(pod, "podAffinity"), affinity_of(pod, "podAntiAffinity")
    preferred = [(t, 1) for t in pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    preferred += [(t, -1) for t in pod_anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for other in view.pods:
        other_node = nodes.get(bound_node(other))
        terms: list[tuple[Obj, int, Obj, Obj]] = [  # (term, signed weight, owner, selected)
            (weighted.get("podAffinityTerm") or {}, sign * int(weighted.get("weight") or 0), pod, other)
            for weighted, sign in preferred
        ]
        other_affinity, other_anti = affinity_of(other, "podAffinity"), affinity_of(other, "podAntiAffinity")
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
                    raw[meta_of(node).get("name", "")] += weight
    low, high = min(raw.values(), default=0), max(raw.values(), default=0)
    if high == low:
        return dict.fromkeys(names, 0)
    return {name: MAX_NODE_SCORE * (score - low) // (high - low) for name, score in raw.items()}
