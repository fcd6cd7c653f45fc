"""The arithmetic of a rolling update (K8S-SEMANTICS.md §1.2, §1.3), as pure functions.

Restated from Kubernetes' `deployment_util.go` and `intstr.go`: percentages scale by the desired
replica count, `maxSurge` rounds up and `maxUnavailable` rounds down, and when both come out 0,
`maxUnavailable` becomes 1. Counts are ReplicaSet `spec.replicas` (and `status.availableReplicas`);
terminating pods are counted nowhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nonstop.toolkit.intstr import IntOrPercent, scaled_value

__all__ = [
    "Fenceposts",
    "max_scaled_down",
    "max_surge",
    "max_unavailable",
    "new_rs_new_replicas",
    "replica_set_proportion",
    "resolve_fenceposts",
    "round_half_away_from_zero",
]


@dataclass(frozen=True)
class Fenceposts:
    """Resolved limits of a rolling update: how many pods above and below `replicas` it may go."""

    surge: int
    unavailable: int


def resolve_fenceposts(surge: IntOrPercent, unavailable: IntOrPercent, desired: int) -> Fenceposts:
    """`ResolveFenceposts`: surge rounded up, unavailable down; both 0 → unavailable 1."""
    resolved_surge = scaled_value(surge, desired, round_up=True)
    resolved_unavailable = scaled_value(unavailable, desired, round_up=False)
    if resolved_surge == 0 and resolved_unavailable == 0:
        resolved_unavailable = 1
    return Fenceposts(resolved_surge, resolved_unavailable)


def _rolling(deployment: dict[str, Any]) -> dict[str, Any] | None:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling: dict[str, Any] = strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}
    return rolling


def _replicas(deployment: dict[str, Any]) -> int:
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def max_surge(deployment: dict[str, Any]) -> int:
    """`MaxSurge`: the resolved surge of a RollingUpdate Deployment, 0 for Recreate."""
    rolling = _rolling(deployment)
    if rolling is None:
        return 0
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), _replicas(deployment)).surge


def max_unavailable(deployment: dict[str, Any]) -> int:
    """`MaxUnavailable`: 0 for Recreate or 0 replicas, else the resolved value capped at `replicas`."""
    rolling = _rolling(deployment)
    replicas = _replicas(deployment)
    if rolling is None or replicas == 0:
        return 0
    resolved = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas).unavailable
    return min(resolved, replicas)


def new_rs_new_replicas(*, replicas: int, surge: int, total_spec: int, new_spec: int) -> int:
    """`NewRSNewReplicas` for RollingUpdate: grow the new RS up to the surge cap, never past `replicas`."""
    max_total = replicas + surge
    if total_spec >= max_total:
        return new_spec
    return new_spec + min(max_total - total_spec, replicas - new_spec)


def max_scaled_down(*, total_spec: int, min_available: int, new_spec: int, new_available: int) -> int:
    """How many old replicas one pass may remove: Σspec − minAvailable − (new.spec − new.available)."""
    return total_spec - min_available - (new_spec - new_available)


def round_half_away_from_zero(value: float) -> int:
    """Go's `math.Round` (Python's `round` rounds half to even)."""
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def replica_set_proportion(
    *,
    rs_spec: int,
    annotated_max: int | None,
    deployment_replicas: int,
    deployment_surge: int,
    deployment_status_replicas: int,
    to_add: int,
    added: int,
) -> int:
    """`GetReplicaSetProportion`: an RS's share of a mid-rollout `replicas` change (may be negative)."""
    if rs_spec == 0 or to_add in (0, added):
        return 0
    if deployment_replicas == 0:
        fraction = -rs_spec
    else:
        allowed_total = deployment_replicas + deployment_surge
        base = annotated_max if annotated_max is not None else deployment_status_replicas
        fraction = round_half_away_from_zero(rs_spec * allowed_total / base) - rs_spec if base else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
