"""`external`: someone else rolls out (Argo CD, a pipeline, the Argo Rollouts controller); nonstop observes.

The window opens when an old pod starts terminating or a new pod appears — or at once when an Argo
Rollout is already between its stable and its canary version (an analysis step runs the drill while
the Rollout waits, changing no pod): its stable pods are then the old ones. An Argo Rollout's
decisions are the Argo Rollouts CLI's promote/abort patches; a Deployment's are the usual ones.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nonstop.kube import actions
from nonstop.strategies.base import Act, Decision, PodView, Stage, Strategy, old_pods_exited

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence

    from nonstop.spec import DrillSpec

__all__ = ["ROLLOUT_HASH_LABEL", "External"]

ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"


class External(Strategy):
    name = "external"
    observes_only = True
    takes_chaos = True
    on_rollout = True

    def __init__(self, spec: DrillSpec) -> None:
        super().__init__(spec)
        self.stable_hash: str | None = None
        """For an Argo Rollout in the middle of a canary: `status.stableRS`, the hash of its old pods."""

    def expects_terminations(self, *, dry_run: bool, replicas_before: int) -> bool:
        return True  # observed, not started: a dry run watches it too

    def begin(self, stage: Stage, *, deadline: float, interrupted: threading.Event) -> bool:
        under = self._canary_in_progress(stage) if stage.target.kind == "Rollout" else None
        if under:
            stage.notes.append(under)
            stage.pods.note("action", f"Argo Rollout canary in progress: {under}", at=stage.start)
            return True
        return self._wait(stage, deadline, interrupted)

    def _wait(self, stage: Stage, deadline: float, interrupted: threading.Event) -> bool:
        """The window opens when an old pod starts terminating or a new pod appears."""
        while not interrupted.is_set() and time.monotonic() < deadline:
            seen = stage.pods.changes
            for pod in stage.pods.snapshot():
                if (pod.name in stage.old and pod.deleted_at is not None) or pod.name not in stage.old:
                    stage.start = min(t for t in (pod.deleted_at, pod.created_at, time.time()) if t is not None)
                    stage.pods.note("action", f"external rollout seen ({pod.name})", at=stage.start)
                    return True
            stage.pods.wait_for_change(0.25, since=seen)
        return False

    def _canary_in_progress(self, stage: Stage) -> str | None:
        """An Argo Rollout between its stable and its canary version: the window opens now, the stable pods
        are the old ones. Returns which step it ran under, for the report; None when no canary is in progress.
        """
        name = self.spec.target.name
        rollout = stage.kube.get_rollout(stage.namespace, name)
        status = rollout.get("status") or {}
        stable, current = status.get("stableRS"), status.get("currentPodHash")
        if not stable or not current or stable == current:
            return None
        stage.start = time.time()
        self.stable_hash = str(stable)
        stage.old = {
            str(p["metadata"]["name"])
            for p in stage.kube.list_pods(stage.namespace)
            if (p["metadata"].get("labels") or {}).get(ROLLOUT_HASH_LABEL) == stable
            and not p["metadata"].get("deletionTimestamp")
        }
        steps = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
        index = status.get("currentStepIndex")
        step = f"step {int(index) + 1} of {len(steps)}" if index is not None and steps else "no step recorded"
        kind = next(iter(steps[int(index)]), "?") if index is not None and int(index) < len(steps) else "?"
        return f"ran under Rollout {name} {step} ({kind}), canary {current}, stable {stable}"

    def old_gone(self, stage: Stage, pods: Sequence[PodView]) -> bool:
        if stage.target.kind == "Deployment":
            return old_pods_exited(stage, pods)
        return super().old_gone(stage, pods)

    def is_old(self, pod: PodView, old: set[str]) -> bool:
        if self.stable_hash is not None:  # an Argo Rollout's stable pods, replacements of evicted ones included
            return pod.labels.get(ROLLOUT_HASH_LABEL) == self.stable_hash
        return pod.name in old

    def _apply(self, act: Act) -> Decision:
        if self.spec.target.kind != "Rollout":
            return super()._apply(act)
        name = self.spec.target.name
        if act.decision == "promote":
            done = actions.rollout_promote(act.kube, act.namespace, name)
            return Decision(act.decision, "promoted", "promote patches: " + (", ".join(done) or "nothing to patch"))
        actions.rollout_abort(act.kube, act.namespace, name)
        return Decision(act.decision, "aborted", "abort patch on /status")
