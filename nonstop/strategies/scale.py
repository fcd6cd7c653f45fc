"""`scale`: `kubectl scale` through `/scale`, as an HPA scales down — the pods it removes are judged;
rollback and abort scale back to the count before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.kube import actions
from nonstop.permissions import Permission
from nonstop.strategies.base import Act, Decision, PodView, Stage, Strategy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nonstop.spec import RolloutSpec

__all__ = ["Scale"]


class Scale(Strategy):
    name = "scale"

    @classmethod
    def _check_fields(cls, rollout: RolloutSpec) -> None:
        if rollout.replicas is None:
            raise ValueError("rollout.replicas is required by strategy 'scale'")

    @classmethod
    def _rollout_permissions(cls) -> set[Permission]:
        return {Permission("apps", "deployments", "patch", "scale")}  # the scale, and scaling back on rollback or abort

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        return set()

    def expects_terminations(self, *, dry_run: bool, replicas_before: int) -> bool:
        return not dry_run and (self.spec.rollout.replicas or 0) < replicas_before

    def _start(self, stage: Stage) -> None:
        name, replicas = self.spec.target.name, self.spec.rollout.replicas
        before = actions.scale(stage.kube, stage.namespace, name, replicas or 0)
        stage.notes.append(f"scaled Deployment {name} from {before} to {replicas} replicas")

    def old_gone(self, stage: Stage, pods: Sequence[PodView]) -> bool:
        # The Deployment is complete before the watch shows whom it removed: count them too.
        deleted = [p for p in pods if p.deleted_at is not None]
        removed = stage.target.replicas - (self.spec.rollout.replicas or 0)
        return super().old_gone(stage, pods) and len(deleted) >= removed

    def _act(self, act: Act) -> Decision:
        if act.decision == "promote" or act.replicas_before is None:
            return super()._act(act)
        name = self.spec.target.name
        actions.scale(act.kube, act.namespace, name, act.replicas_before)
        return Decision(act.decision, act.undone, f"scaled Deployment {name} back to {act.replicas_before} replicas")
