"""`restart`: `kubectl rollout restart` — the template's restartedAt annotation, so every pod is replaced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.kube import actions
from nonstop.strategies.base import Decision, DecisionName, ReplacesEveryPod, Stage

if TYPE_CHECKING:
    from collections.abc import Callable

    from nonstop.kube.api import Kube
    from nonstop.permissions import Permission

__all__ = ["Restart"]


class Restart(ReplacesEveryPod):
    name = "restart"

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        return set()  # nothing to undo

    def _start(self, stage: Stage) -> None:
        actions.restart(stage.kube, stage.namespace, self.spec.target.name)

    def _act(
        self,
        kube: Kube,
        namespace: str,
        decision: DecisionName,
        *,
        interrupted: Callable[[], bool],
        replicas_before: int | None,
    ) -> Decision:
        if decision == "promote":
            return super()._act(kube, namespace, decision, interrupted=interrupted, replicas_before=replicas_before)
        return Decision(decision, "none", "a restart leaves the template unchanged: nothing to undo")
