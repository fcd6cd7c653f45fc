"""Label selectors in lint input: Kubernetes' own matching (`nonstop.toolkit.selectors`), controller labels aside.

A selector read from a live object may carry a label a controller adds at run time
(`pod-template-hash`); no template in the input has it, so lint leaves those keys out of the match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nonstop.toolkit import selectors

__all__ = ["CONTROLLER_LABELS", "matches_label_selector", "matches_map"]

CONTROLLER_LABELS = frozenset({"pod-template-hash", "rollouts-pod-template-hash", "controller-revision-hash"})
"""Labels controllers add to pods at run time; a selector on the live object may carry them, a template never does."""


def _without_controller_labels(selector: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in selector.items() if key not in CONTROLLER_LABELS}


def matches_map(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Every key of a Service-style selector is on the pod with the same value (controller labels are skipped)."""
    return selectors.matches_map(_without_controller_labels(selector), labels)


def matches_label_selector(selector: object, labels: Mapping[str, str]) -> bool:
    """A `metav1.LabelSelector` matches: null selects nothing, `{}` selects everything (policy/v1 semantics)."""
    if isinstance(selector, Mapping) and isinstance(selector.get("matchLabels"), Mapping):
        selector = {**selector, "matchLabels": _without_controller_labels(selector["matchLabels"])}
    return selectors.matches_label_selector(selector, labels)
