"""What every rollout strategy answers, and the answers most of them share.

A `Strategy` is made once per drill (`nonstop.strategies.strategy_for`) and is asked, in the
order of the drill: what the spec must say (`check_spec`), which permissions it needs
(`permissions`), what to check before anything changes (`preflight`), how the rollout starts
(`begin`), which pods are old (`is_old`), when it is complete (`complete`, `old_gone`,
`evictions_over`), what to tidy up (`finish`) and how a decision is carried out (`decide`).

Strategies sit below the drill and `workflows` (import-linter keeps them there): what the drill
lends them during a rollout is the `Stage`, whose pods and evictions are typed by the protocols
below, not by the drill's own classes. `nonstop.spec` imports the registry, so nothing here
imports `nonstop.spec` at run time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from nonstop.errors import ClusterError
from nonstop.kube import actions
from nonstop.permissions import Permission, decision_permissions, observe_permissions
from nonstop.strategies.status import argo_cd_tracked, is_complete

if TYPE_CHECKING:
    import threading

    from nonstop.kube.api import Kube
    from nonstop.spec import DrillSpec, RolloutSpec

__all__ = [
    "Act",
    "ActionName",
    "Decision",
    "DecisionName",
    "Evictions",
    "PodView",
    "Pods",
    "ReplacesEveryPod",
    "Stage",
    "Strategy",
    "TargetView",
    "old_pods_exited",
]

DecisionName = Literal["promote", "rollback", "abort", "none"]
ActionName = Literal["promoted", "rolled-back", "aborted", "paused", "none"]


@dataclass(frozen=True)
class Decision:
    decision: DecisionName
    action: ActionName
    note: str


@dataclass(frozen=True)
class Act:
    """One decision to carry out (not `none`, not a dry run), and what the drill lends to carry it out."""

    kube: Kube
    namespace: str
    decision: DecisionName
    interrupted: Callable[[], bool]
    replicas_before: int | None
    """The workload's replicas before the rollout (what `scale` goes back to), when known."""

    @property
    def undone(self) -> ActionName:
        """The action of a fail decision that took the change back: rolled back, or aborted."""
        return "rolled-back" if self.decision == "rollback" else "aborted"


class PodView(Protocol):
    """One pod as the drill observed it (`checks.evidence.PodTimeline`)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def created_at(self) -> float | None: ...
    @property
    def deleted_at(self) -> float | None: ...
    @property
    def exited_at(self) -> float | None: ...


class Pods(Protocol):
    """The pods as the drill sees them, and its timeline (the drill's `Observer`)."""

    @property
    def changes(self) -> int: ...
    def snapshot(self) -> Sequence[PodView]: ...
    def note(self, source: str, what: str, at: float | None = None) -> None: ...
    def wait_for_change(self, timeout: float, *, since: int | None = None) -> None: ...


class Evictions(Protocol):
    """Evictions running beside the rollout (the drill's `Drain`)."""

    @property
    def note(self) -> str | None: ...
    def start(self) -> None: ...
    def over(self, pods: Iterable[PodView]) -> bool: ...
    def finish(self) -> None: ...


class TargetView(Protocol):
    """The resolved target (the drill's `Target`)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def workload(self) -> dict[str, Any]: ...
    @property
    def pod_selector(self) -> str: ...
    @property
    def replicas(self) -> int: ...


@dataclass
class Stage:
    """What the drill lends a strategy while it rolls out, and the window's state a strategy sets."""

    kube: Kube
    namespace: str
    drill: str
    """The drill's name (a drain's cordon annotation names it)."""
    spec: DrillSpec
    target: TargetView
    pods: Pods
    drain: Callable[[str], Evictions]
    """Makes (does not start) the drain of the named node."""
    start: float | None = None
    old: set[str] = field(default_factory=set)
    """The pods present when the rollout started (a strategy may narrow them: an Argo canary's stable pods)."""
    notes: list[str] = field(default_factory=list)


class Strategy:
    """A rollout strategy of a Deployment; subclasses answer where theirs differs."""

    name: ClassVar[str]
    """The spec's `rollout.strategy`."""
    observes_only: ClassVar[bool] = False
    """nonstop changes nothing to start it (someone else rolls out): a dry run still watches it."""
    takes_chaos: ClassVar[bool] = False
    """`chaos.terminateOldPods` evicts the old pods one at a time (it replaces none of them itself)."""
    on_rollout: ClassVar[bool] = False
    """Allowed for an Argo Rollout (the Rollouts controller rolls out)."""
    template_unchanged: ClassVar[str | None] = None
    """Set when the rollout leaves the pod template as it was: why rollback and abort have nothing to undo."""

    def __init__(self, spec: DrillSpec) -> None:
        self.spec = spec

    # -- the spec and the permissions ----------------------------------------------------------

    @classmethod
    def check_spec(cls, rollout: RolloutSpec, kind: str) -> None:
        """Raise ValueError (the spec's validation message) when the spec cannot run this strategy."""
        cls._check_fields(rollout)
        if kind == "Rollout" and not cls.on_rollout:
            raise ValueError(
                f"strategy {cls.name!r} is not supported for an Argo Rollout; use 'external' "
                "(the Rollouts controller rolls out, nonstop observes)"
            )

    @classmethod
    def _check_fields(cls, rollout: RolloutSpec) -> None:
        """The `rollout` fields this strategy requires."""

    @classmethod
    def permissions(cls, *, kind: str, on_pass: str, on_fail: str, terminate_old_pods: bool) -> list[Permission]:
        """Every permission a drill of this shape uses, sorted and without duplicates."""
        needed = set(observe_permissions(kind))
        if kind == "Deployment":
            needed |= cls._rollout_permissions()
            if on_pass == "promote":
                needed.add(Permission("apps", "deployments", "patch"))
            if on_fail in ("rollback", "abort"):
                needed |= cls._undo_permissions()
        else:
            needed |= decision_permissions(kind, on_pass=on_pass, on_fail=on_fail)
        if terminate_old_pods and cls.takes_chaos:
            needed.add(Permission("", "pods", "create", "eviction"))
        return sorted(needed)

    @classmethod
    def _rollout_permissions(cls) -> set[Permission]:
        """What starting the rollout of a Deployment needs."""
        return set()

    @classmethod
    def _undo_permissions(cls) -> set[Permission]:
        """What rolling back or pausing a Deployment needs (undo and pause are patches)."""
        return {Permission("apps", "deployments", "patch")}

    # -- before and during the rollout ---------------------------------------------------------

    def preflight(self, kube: Kube, target: TargetView) -> None:
        """Refuse (InputError) what would make this rollout prove nothing; changes nothing."""

    def expects_terminations(self, *, dry_run: bool, replicas_before: int) -> bool:
        """Does the rollout replace serving pods (so the ordering check must find terminations)?"""
        return not dry_run and self.spec.chaos.terminate_old_pods

    def begin(self, stage: Stage, *, deadline: float, interrupted: threading.Event) -> bool:
        """Start the rollout and open the window (`stage.start`); False when no rollout came before the deadline."""
        spec, name = self.spec, self.spec.target.name
        stage.start = time.time()
        self._start(stage)
        stage.pods.note("action", f"rollout started: {self.name} of {spec.target.kind} {stage.namespace}/{name}",
                        at=stage.start)  # fmt: skip
        from nonstop.logs import get_logger  # structlog stays out of the spec's imports (workflows render without it)

        get_logger("drill").info("rollout started", strategy=self.name, target=f"{spec.target.kind}/{name}")
        return True

    def _start(self, stage: Stage) -> None:
        """The change that starts the rollout."""
        raise NotImplementedError

    def ready_for_chaos(self, stage: Stage) -> bool:
        """May the chaos start evicting old pods now?"""
        return True

    def complete(self, stage: Stage) -> tuple[bool, str | None]:
        """(complete, failure): the workload's own word on the rollout."""
        if stage.target.kind == "Rollout":
            return is_complete(stage.kube.get_rollout(stage.namespace, stage.target.name), "Rollout")
        return is_complete(stage.kube.get_deployment(stage.namespace, stage.target.name), "Deployment")

    def old_gone(self, stage: Stage, pods: Sequence[PodView]) -> bool:
        """Has every pod the rollout removed exited? Here: every deleted pod."""
        return all(p.exited_at is not None for p in pods if p.deleted_at is not None)

    def evictions_over(self, pods: Sequence[PodView]) -> bool:
        """Are the strategy's own evictions through (and their pods exited)?"""
        return True

    def finish(self, notes: list[str]) -> None:
        """Whatever ended the window: stop what the strategy started beside the rollout."""

    def is_old(self, pod: PodView, old: set[str]) -> bool:
        """Is `pod` of the version going away (the report's role `old`)?"""
        return pod.name in old

    # -- the decision --------------------------------------------------------------------------

    def decide(
        self,
        kube: Kube,
        *,
        namespace: str,
        decision: DecisionName,
        dry_run: bool,
        interrupted: Callable[[], bool],
        replicas_before: int | None,
    ) -> Decision:
        """Carry out `decision` (or describe it under --dry-run): CONTRACT.md's table."""
        t = self.spec.target
        if decision == "none":
            return Decision("none", "none", "the spec asks for no action")
        if dry_run:
            return Decision(decision, "none", f"dry run: would {decision} {t.kind} {namespace}/{t.name}")
        return self._apply(Act(kube, namespace, decision, interrupted, replicas_before))

    def _apply(self, act: Act) -> Decision:
        """A Deployment's decision: a rollback Argo CD would undo is refused, the rest is the strategy's."""
        t = self.spec.target
        if act.decision == "rollback":
            app = argo_cd_tracked(act.kube.get_deployment(act.namespace, t.name))
            if app and not self.spec.decision.allow_git_ops_managed_rollback:
                return Decision(
                    act.decision,
                    "none",
                    f"not rolled back: Argo CD Application {app!r} tracks {t.kind} {t.name} and self-heal would "
                    "undo it (set spec.decision.allowGitOpsManagedRollback to allow)",
                )
        return self._act(act)

    def _act(self, act: Act) -> Decision:
        """Promote marks the revision verified; abort pauses; rollback is `kubectl rollout undo`."""
        kube, namespace, decision, name = act.kube, act.namespace, act.decision, self.spec.target.name
        if decision == "promote":
            revision = actions.annotate_verified(kube, namespace, name)
            return Decision(decision, "promoted", f"revision {revision} annotated {actions.VERIFIED_REVISION}")
        if self.template_unchanged is not None:
            return Decision(decision, "none", self.template_unchanged)
        if decision == "abort":
            actions.pause(kube, namespace, name)
            return Decision(decision, "paused", f"Deployment {name} paused (spec.paused: true) for a human")
        try:
            to_revision = actions.undo(kube, namespace, name)
        except ClusterError as exc:
            return Decision(decision, "none", f"rollback failed: {exc}")
        if to_revision is None:
            return Decision(decision, "none", "no earlier revision to roll back to")
        waited = self._wait_complete(act)
        return Decision(
            decision, "rolled-back", f"rolled back to revision {to_revision} (as kubectl rollout undo){waited}"
        )

    def _wait_complete(self, act: Act) -> str:
        """Wait up to the spec's timeout for the target Deployment to complete; '' or why it did not."""
        timeout = self.spec.timeout_seconds
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not act.interrupted():
            done, failure = is_complete(act.kube.get_deployment(act.namespace, self.spec.target.name), "Deployment")
            if failure:
                return f"; {failure}"
            if done:
                return ""
            time.sleep(0.25)  # polling the API with a bounded deadline, not synchronising a test
        return f"; not complete after {timeout:.0f} s"


class ReplacesEveryPod(Strategy):
    """A new ReplicaSet of the Deployment replaces every old pod (a template change)."""

    @classmethod
    def _rollout_permissions(cls) -> set[Permission]:
        return {Permission("apps", "deployments", "patch")}

    def expects_terminations(self, *, dry_run: bool, replicas_before: int) -> bool:
        return not dry_run

    def begin(self, stage: Stage, *, deadline: float, interrupted: threading.Event) -> bool:
        super().begin(stage, deadline=deadline, interrupted=interrupted)
        if self.spec.chaos.terminate_old_pods:
            stage.notes.append(f"chaos skipped: a {self.name} rollout already sends SIGTERM to every old pod")
        return True

    def old_gone(self, stage: Stage, pods: Sequence[PodView]) -> bool:
        return old_pods_exited(stage, pods)


def old_pods_exited(stage: Stage, pods: Sequence[PodView]) -> bool:
    """A Deployment reports complete while its old pods still terminate: each must have exited."""
    return all(p.exited_at is not None for p in pods if p.name in stage.old)
