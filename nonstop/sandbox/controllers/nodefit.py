"""Whether a node takes a pod by the node's own cordon and labels: kube-scheduler's NodeUnschedulable and NodeAffinity.

**NodeUnschedulable**: a node with `spec.unschedulable` (cordoned) fits only a pod tolerating the
`node.kubernetes.io/unschedulable:NoSchedule` taint. "node(s) were unschedulable".

**NodeAffinity**: `nodeSelector` and required node affinity (`nodeSelectorTerms`: terms ORed,
`matchExpressions` In/NotIn/Exists/DoesNotExist/Gt/Lt and `matchFields` on `metadata.name` ANDed).
"node(s) didn't match Pod's node affinity/selector". Scores preferred node affinity (weight 2).
"""

from __future__ import annotations

from nonstop.sandbox.controllers.clusterview import MAX_NODE_SCORE, affinity_of, labels_of, meta_of, spec_of
from nonstop.toolkit.objects import Obj

__all__ = [
    "R_NODE_AFFINITY",
    "R_UNSCHEDULABLE",
    "UNSCHEDULABLE_TAINT",
    "cordoned",
    "fits_node_affinity",
    "node_affinity_scores",
    "tolerates_unschedulable",
]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
R_UNSCHEDULABLE = "node(s) were unschedulable"
R_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"


def tolerates_unschedulable(pod: Obj) -> bool:
    """Whether the pod tolerates the cordon (`node.kubernetes.io/unschedulable:NoSchedule`)."""
    for toleration in spec_of(pod).get("tolerations") or []:
        effect = toleration.get("effect") or ""
        if effect not in ("", "NoSchedule"):
            continue
        key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
        if operator == "Exists" and key in ("", UNSCHEDULABLE_TAINT):
            return True
        if operator == "Equal" and key == UNSCHEDULABLE_TAINT and not toleration.get("value"):
            return True
    return False


def cordoned(node: Obj) -> bool:
    return bool(spec_of(node).get("unschedulable"))


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


def node_term(node: Obj, term: Obj) -> bool:
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    labels = labels_of(node)
    if not all(_requirement(labels, expr) for expr in expressions):
        return False
    return all(_requirement({"metadata.name": meta_of(node).get("name", "")}, expr) for expr in fields)


def fits_node_affinity(pod: Obj, node: Obj) -> bool:
    """`nodeSelector` and required node affinity (the NodeAffinity filter)."""
    labels = labels_of(node)
    for key, value in (spec_of(pod).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = affinity_of(pod, "nodeAffinity").get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms")
    if required and terms is not None:
        return any(node_term(node, term) for term in terms)
    return True


def node_affinity_scores(pod: Obj, fitting: list[Obj]) -> dict[str, int]:
    preferred = affinity_of(pod, "nodeAffinity").get("preferredDuringSchedulingIgnoredDuringExecution") or []
    raw = {
        meta_of(n).get("name", ""): sum(
            int(p.get("weight") or 0) for p in preferred if node_term(n, p.get("preference") or {})
        )
        for n in fitting
    }
    high = max(raw.values(), default=0)
    return {name: (MAX_NODE_SCORE * score // high if high else 0) for name, score in raw.items()}
