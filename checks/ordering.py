"""`endpoint-ordering`: every pod that terminated after serving left the endpoints before it stopped serving.

For each such pod the drill observes: left the endpoints (`endpointUnreadyAt`) → last request
routed to it → stopped accepting (the direct prober's first refusal) → exited. It is in order when

    serveAfterUnreadySeconds = stop − endpointUnreadyAt ≥ minServeAfterUnreadySeconds

where `stop` is when it stopped accepting, or when it exited if it never stopped accepting before
(exactly at the minimum is in order). The figure is rounded to milliseconds, the drill's resolution.

Each moment carries its uncertainty (`PodTimeline`: how long a watch had been blind when it was
seen), so the figure is really an interval:

    serve-after ∈ [min(stop − its uncertainty) − left,  min(stop) − (left − left's uncertainty)]

When the whole interval is on one side of the minimum, the verdict is the one an unfaulted run
would give. When it straddles the minimum the pod's ordering cannot be judged (`PodOrdering.uncertain`)
and the drill is inconclusive (`judge_drill`): a fault never turns into a `pass` (or a `fail`) the
evidence cannot carry.

Missing evidence never passes: a pod that served and terminated but whose departure from the
endpoints, or whose stop, was not observed, or that the prober cannot measure (a sidecar proxy
answers for it), fails the check with its reason. Pods that never served, or did not terminate,
are listed but not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from checks.evidence import PodTimeline
from checks.result import CheckResult, format_limit, format_seconds

__all__ = ["ENDPOINT_ORDERING", "OrderingResult", "PodOrdering", "judge_endpoint_ordering", "judge_pod_ordering"]

ENDPOINT_ORDERING = "endpoint-ordering"
_LISTED = 5
"""Pods named in a summary before it says "and N more" (the summary stays one line)."""


@dataclass(frozen=True, slots=True)
class PodOrdering:
    """The ordering verdict on one pod; the two figures are CONTRACT.md's pod fields."""

    name: str
    judged: bool
    """True for a pod that terminated after serving (the only pods the check judges)."""
    serve_after_unready_seconds: float | None
    """stop − endpointUnreadyAt in seconds (ms precision); None when not judged or not measurable."""
    ordering_ok: bool | None
    """None when not judged; False when out of order or when evidence is missing."""
    reason: str
    """One phrase: why it is in order, out of order, unjudgeable or not judged."""
    evidence_missing: bool = False
    """True when the pod failed because something was not observed (not because it was measured too short)."""
    uncertain: str | None = None
    """When the figure's interval straddles the minimum: one phrase saying so (the verdict cannot be trusted)."""


@dataclass(frozen=True, slots=True)
class OrderingResult:
    """The `endpoint-ordering` check and its verdict on every pod it was given, in the same order."""

    check: CheckResult
    pods: tuple[PodOrdering, ...]

    def for_pod(self, name: str) -> PodOrdering | None:
        """The verdict on the named pod, if it was given."""
        return next((pod for pod in self.pods if pod.name == name), None)

    @property
    def uncertain(self) -> tuple[str, ...]:
        """One phrase per pod whose verdict the watches' blind spells could flip (empty: every verdict holds)."""
        return tuple(pod.uncertain for pod in self.pods if pod.uncertain is not None)


def judge_pod_ordering(pod: PodTimeline, *, min_serve_after_unready_seconds: float) -> PodOrdering:
    """Judge one pod: not judged unless it served and terminated; then in order, out of order, or missing evidence."""
    if not pod.was_serving:
        return PodOrdering(pod.name, False, None, None, "never served")
    if not pod.terminated:
        return PodOrdering(pod.name, False, None, None, "did not terminate")
    if not pod.measurable:
        return PodOrdering(pod.name, True, None, False, "not measurable", evidence_missing=True)
    if pod.endpoint_unready_at is None:
        return PodOrdering(pod.name, True, None, False, "leaving the endpoints not observed", evidence_missing=True)
    stops = (
        (pod.stopped_accepting_at, pod.stopped_accepting_uncertainty, "stopped accepting"),
        (pod.exited_at, pod.exited_uncertainty, "exited"),
    )
    observed = [(at, uncertainty, what) for at, uncertainty, what in stops if at is not None]
    if not observed:
        return PodOrdering(pod.name, True, None, False, "stop not observed", evidence_missing=True)
    left = pod.endpoint_unready_at
    stop_at, _, stop_what = min(observed, key=lambda item: item[0])
    serve_after = round(stop_at - left, 3)
    minimum = min_serve_after_unready_seconds
    in_order = serve_after >= minimum
    relation = "≥" if in_order else "<"
    reason = f"{stop_what} {format_seconds(serve_after)} after leaving endpoints ({relation} {format_limit(minimum)})"
    low = min(at - uncertainty for at, uncertainty, _ in observed) - left
    high = stop_at - (left - pod.endpoint_unready_uncertainty)
    uncertain = None
    if low < minimum <= high:
        uncertain = (
            f"{pod.name} served between {low:.2f} s and {high:.2f} s after leaving the endpoints "
            f"(the minimum is {minimum:g} s)"
        )
    return PodOrdering(pod.name, True, serve_after, in_order, reason, uncertain=uncertain)


def judge_endpoint_ordering(
    pods: Iterable[PodTimeline],
    *,
    min_serve_after_unready_seconds: float,
    expect_terminations: bool = False,
) -> OrderingResult:
    """Judge every pod that terminated after serving; the check passes only when each one is in order.

    `expect_terminations`: the strategy replaces serving pods (restart, image, or chaos evicting
    them). Then no judged pod at all means the evidence is missing, and the check is inconclusive
    rather than passed. Without it (a canary without chaos), nothing to judge passes.
    """
    verdicts = tuple(
        judge_pod_ordering(pod, min_serve_after_unready_seconds=min_serve_after_unready_seconds) for pod in pods
    )
    judged = [pod for pod in verdicts if pod.judged]
    limit = format_limit(min_serve_after_unready_seconds)
    if not judged:
        if expect_terminations:
            summary = "no pod was seen terminating after serving, though the rollout replaces them: inconclusive"
            return OrderingResult(CheckResult(ENDPOINT_ORDERING, None, summary), verdicts)
        return OrderingResult(
            CheckResult(ENDPOINT_ORDERING, True, "no pod terminated after serving: nothing to judge"), verdicts
        )

    short = [
        (pod.name, pod.serve_after_unready_seconds)
        for pod in judged
        if pod.ordering_ok is False and pod.serve_after_unready_seconds is not None
    ]
    missing = [pod for pod in judged if pod.evidence_missing]
    n = len(judged)
    if not short and not missing:
        summary = f"{n} of {n} terminated pods served ≥ {limit} after leaving endpoints"
        return OrderingResult(CheckResult(ENDPOINT_ORDERING, True, summary), verdicts)
    parts = []
    if short:
        parts.append(
            f"{len(short)} of {n} terminated pods served < {limit} after leaving endpoints: "
            + _listing([f"{name} {format_seconds(figure)}" for name, figure in short])
        )
    if missing:
        parts.append(
            f"{len(missing)} of {n} terminated pods could not be judged (missing evidence never passes): "
            + _listing([f"{pod.name} ({pod.reason})" for pod in missing])
        )
    return OrderingResult(CheckResult(ENDPOINT_ORDERING, False, "; ".join(parts)), verdicts)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    if len(items) > _LISTED:
        shown += f" and {len(items) - _LISTED} more"
    return shown
