"""`drain`: `kubectl drain <rollout.node>` limited to the target's pods (the drill's `Drain` does the
cordon and the evictions); nothing to undo, the template never changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nonstop.errors import InputError, NotFoundError
from nonstop.permissions import Permission
from nonstop.strategies.base import Evictions, PodView, Stage, Strategy, TargetView
from nonstop.strategies.pods import pods_on_node

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nonstop.kube.api import Kube
    from nonstop.spec import DrillSpec, RolloutSpec

__all__ = ["Drain"]


class Drain(Strategy):
    name = "drain"
    template_unchanged = "a drain leaves the template unchanged (the node was uncordoned): nothing to undo"

    def __init__(self, spec: DrillSpec) -> None:
        super().__init__(spec)
        self._drain: Evictions | None = None

    @classmethod
    def _check_fields(cls, rollout: RolloutSpec) -> None:
        if not rollout.node:
            raise ValueError("rollout.node (the Node to drain) is required by strategy 'drain'")

    @classmethod
    def _rollout_permissions(cls) -> set[Permission]:
        # cordon and uncordon the node (as kubectl drain), evict the target's pods on it
        return {Permission("", "nodes", "get"), Permission("", "nodes", "patch"),
                Permission("", "pods", "create", "eviction")}  # fmt: skip

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        return set()

    def preflight(self, kube: Kube, target: TargetView) -> None:
        """`rollout.node` must exist and run a pod of the target, or the drill would prove nothing."""
        name = self.spec.rollout.node
        if name is None:
            return
        try:
            kube.get_node(name)
        except NotFoundError:
            known = sorted(str(n["metadata"]["name"]) for n in kube.list_nodes())
            raise InputError(
                f"spec.rollout.node {name!r}: no such Node in the cluster (it has {', '.join(known) or 'none'})"
            ) from None
        pods = kube.list_pods(target.namespace, target.pod_selector)
        mine, _ = pods_on_node(pods, name, target.name)
        if not mine:
            where = sorted(
                {str((p.get("spec") or {}).get("nodeName")) for p in pods if (p.get("spec") or {}).get("nodeName")}
            )
            raise InputError(
                f"spec.rollout.node {name!r}: no pod of {target.kind} {target.namespace}/{target.name} runs there "
                f"(its pods run on {', '.join(where) or 'no node'}); draining it would prove nothing"
            )

    def expects_terminations(self, *, dry_run: bool, replicas_before: int) -> bool:
        return not dry_run

    def _start(self, stage: Stage) -> None:
        self._drain = stage.drain(self.spec.rollout.node or "")
        self._drain.start()

    def evictions_over(self, pods: Sequence[PodView]) -> bool:
        return self._drain is None or self._drain.over(pods)

    def finish(self, notes: list[str]) -> None:
        """The evictions stop and the node is uncordoned, whatever ended the window."""
        if self._drain is not None:
            self._drain.finish()
            if self._drain.note:
                notes.append(self._drain.note)
