"""`canary`: a `<name>-canary` Deployment with the new image beside the stable one; promote rolls the
stable Deployment to the canary's template, anything else deletes the canary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.kube import actions
from nonstop.permissions import Permission
from nonstop.strategies.base import Act, Decision, PodView, Stage, Strategy, TargetView
from nonstop.strategies.image import check_container, check_image
from nonstop.strategies.status import is_complete

if TYPE_CHECKING:
    from nonstop.kube.api import Kube
    from nonstop.spec import RolloutSpec

__all__ = ["Canary"]

DEPLOYMENTS = "apps", "deployments"


class Canary(Strategy):
    name = "canary"
    takes_chaos = True

    @classmethod
    def _check_fields(cls, rollout: RolloutSpec) -> None:
        check_image(cls.name, rollout)

    @classmethod
    def _rollout_permissions(cls) -> set[Permission]:
        return {Permission(*DEPLOYMENTS, "create"), Permission(*DEPLOYMENTS, "delete")}

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        return {Permission(*DEPLOYMENTS, "patch"), Permission(*DEPLOYMENTS, "delete")}

    def preflight(self, kube: Kube, target: TargetView) -> None:
        check_container(self.spec, target)

    def _start(self, stage: Stage) -> None:
        rollout = self.spec.rollout
        actions.create_canary(stage.kube, stage.namespace, self.spec.target.name, image=rollout.image or "",
                              container=rollout.container, replicas=rollout.canary_replicas)  # fmt: skip

    def ready_for_chaos(self, stage: Stage) -> bool:
        """The canary Deployment is complete: its pods serve before an old one goes."""
        canary = stage.kube.get_deployment(stage.namespace, actions.canary_name(self.spec.target.name))
        done, _ = is_complete(canary, "Deployment")
        return done

    def complete(self, stage: Stage) -> tuple[bool, str | None]:
        done, failure = super().complete(stage)
        if done and not failure:
            return self.ready_for_chaos(stage), None
        return done, failure

    def is_old(self, pod: PodView, old: set[str]) -> bool:
        return not actions.is_canary_pod(pod.labels)

    def _act(self, act: Act) -> Decision:
        kube, namespace, name = act.kube, act.namespace, self.spec.target.name
        if act.decision == "promote":
            actions.promote_canary(kube, namespace, name)
            waited = self._wait_complete(act)
            actions.delete_canary(kube, namespace, name)
            return Decision(act.decision, "promoted", f"stable Deployment rolled to the canary's template{waited}")
        actions.delete_canary(kube, namespace, name)
        return Decision(act.decision, act.undone, "canary deleted")
