"""`image`: `kubectl set image` — a new image in the template, so every pod is replaced; rollback is
`kubectl rollout undo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.errors import InputError
from nonstop.kube import actions
from nonstop.strategies.base import ReplacesEveryPod, Stage, TargetView

if TYPE_CHECKING:
    from nonstop.kube.api import Kube
    from nonstop.spec import DrillSpec, RolloutSpec

__all__ = ["Image", "check_container", "check_image"]


def check_image(name: str, rollout: RolloutSpec) -> None:
    if not rollout.image:
        raise ValueError(f"rollout.image is required by strategy {name!r}")


def check_container(spec: DrillSpec, target: TargetView) -> None:
    """`rollout.container` must name a container of the target before anything is changed."""
    wanted = spec.rollout.container
    if wanted is None:
        return
    containers = target.workload.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    names = [str(c.get("name")) for c in containers]
    if wanted not in names:
        raise InputError(
            f"spec.rollout.container {wanted!r} is not a container of {target.kind} {target.namespace}/{target.name} "
            f"(it has {', '.join(names) or 'none'})"
        )


class Image(ReplacesEveryPod):
    name = "image"

    @classmethod
    def _check_fields(cls, rollout: RolloutSpec) -> None:
        check_image(cls.name, rollout)

    def preflight(self, kube: Kube, target: TargetView) -> None:
        check_container(self.spec, target)

    def _start(self, stage: Stage) -> None:
        rollout = self.spec.rollout
        actions.set_image(stage.kube, stage.namespace, self.spec.target.name, rollout.image or "", rollout.container)
