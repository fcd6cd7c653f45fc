"""Label selectors as Kubernetes evaluates them (`metav1.LabelSelectorAsSelector`, `labels.SelectorFromSet`).

Label values are strings and are compared exactly, as the API server does: it rejects a number or
boolean where a label value belongs (YAML `version: 1` does not decode into `map[string]string`), so
no such value is ever equal to a label. A selector Kubernetes would refuse to build (an unknown
operator, `In` without values, `Exists` with values) selects nothing, as its callers treat the error.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["matches_label_selector", "matches_map"]

_SET_OPERATORS = frozenset({"In", "NotIn"})
_EXISTENCE_OPERATORS = frozenset({"Exists", "DoesNotExist"})


def matches_map(selector: Mapping[str, object], labels: Mapping[str, str] | None) -> bool:
    """Every key of a map selector (a Service's `spec.selector`, a `matchLabels`) is on `labels` with an equal value."""
    labels = labels or {}
    return all(isinstance(value, str) and labels.get(key) == value for key, value in selector.items())


def _expression_matches(expression: object, labels: Mapping[str, str]) -> bool:
    if not isinstance(expression, Mapping):
        return False
    key, operator, raw_values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    if not isinstance(key, str) or not isinstance(raw_values, list) or not all(isinstance(v, str) for v in raw_values):
        return False
    values = set(raw_values)
    if operator in _SET_OPERATORS:
        if not values:
            return False  # "for 'in', 'notin' operators, values set can't be empty"
        present = bool(key in labels and labels[key] in values)
        return present if operator == "In" else not present
    if operator in _EXISTENCE_OPERATORS and not values:
        return (key in labels) is (operator == "Exists")
    return False  # an unknown operator, or values given to Exists/DoesNotExist


def matches_label_selector(selector: object, labels: Mapping[str, str] | None) -> bool:
    """A `metav1.LabelSelector` selects `labels`: null selects nothing, `{}` selects everything."""
    if not isinstance(selector, Mapping):
        return False
    labels = labels or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False
    return matches_map(match_labels, labels) and all(_expression_matches(e, labels) for e in expressions)
