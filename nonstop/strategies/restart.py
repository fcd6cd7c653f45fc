"""`restart`: `kubectl rollout restart` — the template's restartedAt annotation, so every pod is replaced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.kube import actions
from nonstop.strategies.base import ReplacesEveryPod, Stage

if TYPE_CHECKING:
    from nonstop.permissions import Permission

__all__ = ["Restart"]


class Restart(ReplacesEveryPod):
    name = "restart"
    template_unchanged = "a restart leaves the template unchanged: nothing to undo"

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        return set()  # nothing to undo

    def _start(self, stage: Stage) -> None:
        actions.restart(stage.kube, stage.namespace, self.spec.target.name)
