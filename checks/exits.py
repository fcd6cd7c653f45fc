"""`graceful-exit`: every pod the rollout terminated exited by itself within its grace period.

The kubelet sends SIGTERM, waits `terminationGracePeriodSeconds` (preStop included), then SIGKILLs
whatever still runs. A pod that needed the SIGKILL lost whatever it was still doing — and the
error budget cannot see it when the load's client retried the cut connections, or when the pod had
no traffic left. So the exit itself is judged, from what any cluster reports in the pod's
`containerStatuses`:

- exit code 137 (128 + SIGKILL) or reason `OOMKilled` on any container → not graceful;
- no exit code seen (the pod vanished first): the timing decides — an exit seen well before the
  grace period ran out was the process's own; one at or after its end was most likely the SIGKILL,
  and missing evidence never passes.

The cause is told apart by what the prober saw: a pod that kept accepting connections until it was
killed ignored SIGTERM (a shell-form entrypoint that does not forward it); one that had stopped
accepting and was still draining ran out of grace period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks.evidence import PodTimeline
from checks.result import CheckResult, format_seconds

__all__ = ["GRACEFUL_EXIT", "SIGKILL_EXIT_CODE", "ExitResult", "PodExit", "judge_graceful_exit", "judge_pod_exit"]

GRACEFUL_EXIT = "graceful-exit"
SIGKILL_EXIT_CODE = 137
TIMING_MARGIN_SECONDS = 1.0
"""Without an exit code, an exit seen this close to the end of the grace period (or later) counts as the SIGKILL."""
_LISTED = 3

_IGNORED_SIGTERM = (
    "the process ignores SIGTERM (e.g. a shell-form ENTRYPOINT that does not forward it): "
    "exec the server as PID 1 or forward the signal"
)
_DRAIN_TOO_LONG = (
    "draining outlasted terminationGracePeriodSeconds: raise it above the preStop sleep plus the longest drain"
)
_OOM = "the container ran out of memory while terminating (OOMKilled): raise its memory limit"


@dataclass(frozen=True, slots=True)
class PodExit:
    """The graceful-exit verdict on one pod."""

    name: str
    judged: bool
    """True for a pod that was deleted and whose exit was seen."""
    graceful: bool | None
    """None when not judged."""
    reason: str
    """One phrase: how it exited, and for a failure the cause and the fix."""


@dataclass(frozen=True, slots=True)
class ExitResult:
    check: CheckResult
    pods: tuple[PodExit, ...]

    def for_pod(self, name: str) -> PodExit | None:
        return next((pod for pod in self.pods if pod.name == name), None)


def _cause(pod: PodTimeline) -> str:
    if pod.exit_reason == "OOMKilled":
        return _OOM
    stopped, exited = pod.stopped_accepting_at, pod.exited_at
    if stopped is not None and exited is not None and stopped < exited - TIMING_MARGIN_SECONDS:
        return _DRAIN_TOO_LONG
    return _IGNORED_SIGTERM


def judge_pod_exit(pod: PodTimeline) -> PodExit:
    """Judge one pod: only pods seen deleted and exiting are judged."""
    if pod.deleted_at is None:
        return PodExit(pod.name, False, None, "not terminated")
    if pod.exited_at is None:
        return PodExit(pod.name, False, None, "exit not seen")
    took = pod.exited_at - pod.deleted_at
    grace = pod.grace_period_seconds
    grace_text = f"its {grace:g} s grace period" if grace is not None else "its grace period"
    if pod.exit_code == SIGKILL_EXIT_CODE or pod.exit_reason == "OOMKilled":
        what = "OOMKilled" if pod.exit_reason == "OOMKilled" else "SIGKILLed (exit 137)"
        return PodExit(pod.name, True, False, f"{what} {format_seconds(took)} after deletion: {_cause(pod)}")
    if pod.exit_code is not None:
        return PodExit(pod.name, True, True, f"exited by itself with code {pod.exit_code} after {format_seconds(took)}")
    if grace is not None and took < grace - TIMING_MARGIN_SECONDS:
        return PodExit(pod.name, True, True, f"gone {format_seconds(took)} after deletion, before {grace_text} ended")
    return PodExit(
        pod.name,
        True,
        False,
        f"gone {format_seconds(took)} after deletion with no exit code seen, at the end of {grace_text}: "
        f"most likely SIGKILLed ({_cause(pod)})",
    )


def judge_graceful_exit(pods: Iterable[PodTimeline], *, expect_terminations: bool = False) -> ExitResult:
    """Pass when every terminated pod exited by itself; `expect_terminations` as in `judge_endpoint_ordering`."""
    verdicts = tuple(judge_pod_exit(pod) for pod in pods)
    judged = [pod for pod in verdicts if pod.judged]
    if not judged:
        if expect_terminations:
            summary = "no pod was seen exiting, though the rollout replaces them: inconclusive"
            return ExitResult(CheckResult(GRACEFUL_EXIT, None, summary), verdicts)
        return ExitResult(CheckResult(GRACEFUL_EXIT, True, "no pod terminated: nothing to judge"), verdicts)
    killed = [pod for pod in judged if not pod.graceful]
    n = len(judged)
    if not killed:
        summary = f"{n} of {n} terminated pods exited by themselves within their grace period"
        return ExitResult(CheckResult(GRACEFUL_EXIT, True, summary), verdicts)
    listed = "; ".join(f"{pod.name} {pod.reason}" for pod in killed[:_LISTED])
    if len(killed) > _LISTED:
        listed += f"; and {len(killed) - _LISTED} more"
    summary = f"{len(killed)} of {n} terminated pods did not exit by themselves: {listed}"
    return ExitResult(CheckResult(GRACEFUL_EXIT, False, summary), verdicts)
