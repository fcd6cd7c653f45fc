"""Label selectors as Kubernetes evaluates them: Service maps and `LabelSelector` (matchLabels/matchExpressions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CONTROLLER_LABELS", "matches_label_selector", "matches_map"]

CONTROLLER_LABELS = frozenset({"pod-template-hash", "rollouts-pod-template-hash", "controller-revision-hash"})
"""Labels controllers add to pods at run time; a selector on the live object may carry them, a template never does."""


def matches_map(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Every key of a Service-style selector is on the pod with the same value (controller labels are skipped)."""
    return all(key in CONTROLLER_LABELS or labels.get(str(key)) == str(value) for key, value in selector.items())


def matches_label_selector(selector: object, labels: Mapping[str, str]) -> bool:
    """A `metav1.LabelSelector` matches: null selects nothing, `{}` selects everything (policy/v1 semantics)."""
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping) and not matches_map(match_labels, labels):
        return False
    expressions = selector.get("matchExpressions")
    for expression in expressions if isinstance(expressions, list) else []:
        if not isinstance(expression, Mapping):
            return False
        key = str(expression.get("key"))
        values = [str(v) for v in expression.get("values") or []]
        operator = expression.get("operator")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
