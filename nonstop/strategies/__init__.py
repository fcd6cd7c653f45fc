"""Rollout strategies: one class per `rollout.strategy`, each owning how its rollout starts, which pods
are old, when it is complete, how it is decided and the permissions it needs (see `base.Strategy`).

This registry is the one place the spec's names meet the classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.strategies.base import Decision, Stage, Strategy
from nonstop.strategies.canary import Canary
from nonstop.strategies.drain import Drain
from nonstop.strategies.external import External
from nonstop.strategies.image import Image
from nonstop.strategies.restart import Restart
from nonstop.strategies.scale import Scale

if TYPE_CHECKING:
    from nonstop.permissions import Permission
    from nonstop.spec import DrillSpec

__all__ = ["STRATEGIES", "Decision", "Stage", "Strategy", "required_permissions", "strategy_for"]

STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Restart, Image, Canary, Scale, Drain, External)}
"""The spec's `rollout.strategy` names, each to its class."""


def strategy_for(spec: DrillSpec) -> Strategy:
    """The strategy of one drill (it keeps that drill's state: a drain, an Argo canary's stable hash)."""
    return STRATEGIES[spec.rollout.strategy](spec)


def required_permissions(
    *, kind: str, strategy: str, on_pass: str, on_fail: str, terminate_old_pods: bool
) -> list[Permission]:
    """Every permission a drill of this shape uses, sorted and without duplicates."""
    return STRATEGIES[strategy].permissions(
        kind=kind, on_pass=on_pass, on_fail=on_fail, terminate_old_pods=terminate_old_pods
    )
