"""Which pod each failed request is charged to.

A failure whose answering pod is known (an HTTP error with `X-Pod-Name`, or a retried request whose
failed connection had last been answered by that pod) is charged to that pod. Any other failure is
charged to a pod that was in its *termination window* while the request was in flight: from the
first sign of termination (deletion, leaving the endpoints, the stop, the exit — whichever was
observed first), less a small lead for the drill's observation delay, to the exit plus a margin for
the data plane, which keeps routing to a pod for a while after it is gone. A pod that had not exited
when observation ended has an open window.

When several pods were terminating at that moment, the failure is *ambiguous*: it is charged to
the candidate whose latest termination sign came last before the request started (the nearest pod
event before it) and counted as shared. Every failure is charged once, so the failures charged to
pods plus the unattributed ones equal the failures in the window (CONTRACT.md's report invariant).
A failure in no window is unattributed.

Retries (`RequestSample.retries`) are charged the same way, whether or not the budget counts them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.evidence import DrillWindow, PodTimeline, RequestSample

__all__ = [
    "DEFAULT_LEAD_SECONDS",
    "DEFAULT_MARGIN_SECONDS",
    "AttributionResult",
    "FailureAttribution",
    "TerminationWindow",
    "attribute_failures",
    "termination_windows",
]

DEFAULT_LEAD_SECONDS = 0.25
"""How much earlier than the drill saw termination begin a failure may still be the pod's (watch delivery delay)."""
DEFAULT_MARGIN_SECONDS = 2.0
"""How long after a pod's exit failures are still charged to it (data planes route to it until they catch up)."""


@dataclass(frozen=True, slots=True)
class TerminationWindow:
    """The interval during which failures are charged to a terminating pod (epoch seconds)."""

    pod: str
    start: float
    end: float
    """math.inf when the pod had not exited by the end of observation."""

    def overlaps(self, start: float, end: float) -> bool:
        """True when [start, end] meets this window (both ends included)."""
        return start <= self.end and end >= self.start


@dataclass(frozen=True, slots=True)
class FailureAttribution:
    """One failed request and the pod it is charged to."""

    sample: RequestSample
    pod: str | None
    """The pod it is charged to; None: unattributed."""
    candidates: tuple[str, ...] = ()
    """Every pod that could be to blame (the charged one among them); more than one: ambiguous."""
    from_response: bool = False
    """True when the pod is known from the request itself (never ambiguous)."""

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """Every failure's attribution and the per-pod counts the report shows."""

    failures: tuple[FailureAttribution, ...]
    attributed: Mapping[str, int] = field(default_factory=dict)
    """Per pod: failures charged to it (CONTRACT.md's `failuresAttributed`)."""
    ambiguous_by_pod: Mapping[str, int] = field(default_factory=dict)
    """Per pod: the part of `attributed` another terminating pod could equally be to blame for."""
    ambiguous: int = 0
    """Failures with more than one candidate pod."""
    unattributed: int = 0
    """Failures in no pod's termination window and with no answering pod."""
    retries_by_pod: Mapping[str, int] = field(default_factory=dict)
    """Per pod: requests in the window the client retried after that pod's connection failed."""
    retries: int = 0
    """Requests in the window the client retried at least once (whichever pod they are charged to)."""

    def failures_for(self, pod: str) -> int:
        """The failures charged to `pod` (CONTRACT.md's `failuresAttributed`)."""
        return self.attributed.get(pod, 0)


def termination_windows(
    pods: Iterable[PodTimeline],
    *,
    lead_seconds: float = DEFAULT_LEAD_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
) -> list[TerminationWindow]:
    """The termination window of every pod that was seen being deleted or exiting."""
    windows = []
    for pod in pods:
        if pod.deleted_at is None and pod.exited_at is None:
            continue
        signs = (pod.deleted_at, pod.endpoint_unready_at, pod.stopped_accepting_at, pod.exited_at)
        start = min(at for at in signs if at is not None)
        end = math.inf if pod.exited_at is None else pod.exited_at + margin_seconds
        windows.append(TerminationWindow(pod.name, start - lead_seconds, max(end, start)))
    return windows


def _last_sign_before(pod: PodTimeline | None, at: float) -> float:
    if pod is None:
        return -math.inf
    signs = (pod.deleted_at, pod.endpoint_unready_at, pod.stopped_accepting_at, pod.exited_at)
    before = [sign for sign in signs if sign is not None and sign <= at]
    return max(before) if before else -math.inf


def attribute_failures(
    samples: Iterable[RequestSample],
    pods: Iterable[PodTimeline],
    *,
    window: DrillWindow | None = None,
    lead_seconds: float = DEFAULT_LEAD_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
) -> AttributionResult:
    """Charge every failed request (in `window`, when given) to the one pod that most likely caused it."""
    known = {pod.name: pod for pod in pods}
    windows = termination_windows(known.values(), lead_seconds=lead_seconds, margin_seconds=margin_seconds)

    def charge(sample: RequestSample, named: str | None) -> FailureAttribution:
        if named is not None and named in known:
            return FailureAttribution(sample, named, (named,), from_response=True)
        finished = sample.at + max(sample.latency_ms, 0.0) / 1000
        candidates = tuple(dict.fromkeys(w.pod for w in windows if w.overlaps(sample.at, finished)))
        if not candidates:
            return FailureAttribution(sample, None)
        nearest = max(candidates, key=lambda name: (_last_sign_before(known.get(name), sample.at), name))
        return FailureAttribution(sample, nearest, candidates)

    results: list[FailureAttribution] = []
    attributed: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    retried = 0
    for sample in samples:
        if window is not None and not window.contains(sample.at):
            continue
        if sample.retries:
            retried += 1
            retry = charge(sample, sample.retried_pod)
            if retry.pod is not None:
                retries[retry.pod] += 1
        if sample.failure is None:
            continue
        item = charge(sample, sample.pod)
        results.append(item)
        if item.pod is not None:
            attributed[item.pod] += 1
            if item.ambiguous:
                shared[item.pod] += 1
    return AttributionResult(
        failures=tuple(results),
        attributed=dict(attributed),
        ambiguous_by_pod=dict(shared),
        ambiguous=sum(1 for item in results if item.ambiguous),
        unattributed=sum(1 for item in results if item.pod is None),
        retries_by_pod=dict(retries),
        retries=retried,
    )
