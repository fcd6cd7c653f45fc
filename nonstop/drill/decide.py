"""Apply the decision: CONTRACT.md's table, per target kind and strategy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nonstop.drill.target import argo_cd_tracked, is_complete
from nonstop.errors import ClusterError
from nonstop.kube import actions
from nonstop.kube.api import Kube
from nonstop.logs import get_logger
from nonstop.spec import DrillSpec

__all__ = ["Decision", "apply_decision", "choose_decision"]

log = get_logger("decide")


DecisionName = Literal["promote", "rollback", "abort", "none"]
ActionName = Literal["promoted", "rolled-back", "aborted", "paused", "none"]


@dataclass(frozen=True)
class Decision:
    decision: DecisionName
    action: ActionName
    note: str


def choose_decision(spec: DrillSpec, verdict: str) -> DecisionName:
    """The decision the spec asks for: onPass for a pass, onFail for a fail or an inconclusive drill."""
    return spec.decision.on_pass if verdict == "pass" else spec.decision.on_fail


def _wait_complete(kube: Kube, namespace: str, name: str, *, timeout: float, interrupted: Callable[[], bool]) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not interrupted():
        done, failure = is_complete(kube.get_deployment(namespace, name), "Deployment")
        if failure:
            return f"; {failure}"
        if done:
            return ""
        time.sleep(0.25)  # polling the API with a bounded deadline, not synchronising a test
    return f"; not complete after {timeout:.0f} s"


def apply_decision(
    kube: Kube,
    spec: DrillSpec,
    *,
    namespace: str,
    decision: DecisionName,
    dry_run: bool,
    interrupted: Callable[[], bool] = lambda: False,
    replicas_before: int | None = None,
) -> Decision:
    """Carry out `decision` (or describe it under --dry-run); returns what was done and why.

    `replicas_before`: the Deployment's replica count before a `scale` drill, which rollback and abort restore.
    """
    t, strategy = spec.target, spec.rollout.strategy
    name = t.name
    if decision == "none":
        return Decision("none", "none", "the spec asks for no action")
    if dry_run:
        return Decision(decision, "none", f"dry run: would {decision} {t.kind} {namespace}/{name}")
    if t.kind == "Rollout":
        if decision == "promote":
            done = actions.rollout_promote(kube, namespace, name)
            return Decision(decision, "promoted", "promote patches: " + (", ".join(done) or "nothing to patch"))
        actions.rollout_abort(kube, namespace, name)
        return Decision(decision, "aborted", "abort patch on /status")
    if decision == "rollback":
        app = argo_cd_tracked(kube.get_deployment(namespace, name))
        if app and not spec.decision.allow_git_ops_managed_rollback:
            return Decision(
                decision,
                "none",
                f"not rolled back: Argo CD Application {app!r} tracks {t.kind} {name} and self-heal would undo it "
                "(set spec.decision.allowGitOpsManagedRollback to allow)",
            )
    if strategy == "canary":
        if decision == "promote":
            actions.promote_canary(kube, namespace, name)
            waited = _wait_complete(kube, namespace, name, timeout=spec.timeout_seconds, interrupted=interrupted)
            actions.delete_canary(kube, namespace, name)
            return Decision(decision, "promoted", f"stable Deployment rolled to the canary's template{waited}")
        actions.delete_canary(kube, namespace, name)
        return Decision(decision, "rolled-back" if decision == "rollback" else "aborted", "canary deleted")
    if decision == "promote":
        revision = actions.annotate_verified(kube, namespace, name)
        return Decision(decision, "promoted", f"revision {revision} annotated {actions.VERIFIED_REVISION}")
    if strategy == "restart":
        return Decision(decision, "none", "a restart leaves the template unchanged: nothing to undo")
    if strategy == "scale" and replicas_before is not None:
        actions.scale(kube, namespace, name, replicas_before)
        action: ActionName = "rolled-back" if decision == "rollback" else "aborted"
        return Decision(decision, action, f"scaled Deployment {name} back to {replicas_before} replicas")
    if decision == "abort":
        actions.pause(kube, namespace, name)
        return Decision(decision, "paused", f"Deployment {name} paused (spec.paused: true) for a human")
    try:
        to_revision = actions.undo(kube, namespace, name)
    except ClusterError as exc:
        return Decision(decision, "none", f"rollback failed: {exc}")
    if to_revision is None:
        return Decision(decision, "none", "no earlier revision to roll back to")
    waited = _wait_complete(kube, namespace, name, timeout=spec.timeout_seconds, interrupted=interrupted)
    return Decision(decision, "rolled-back", f"rolled back to revision {to_revision} (as kubectl rollout undo){waited}")
