"""Which pod each failed request is charged to.

A failure whose answering pod is known (an HTTP error with `X-Pod-Name`) is charged to that pod.
Any other failure is charged to the pods that were in their *termination window* while the
request was in flight: from the first sign of termination (deletion, leaving the endpoints, the
stop, the exit — whichever was observed first), less a small lead for the drill's observation
delay, to the exit plus a margin for the data plane, which keeps routing to a pod for a while
after it is gone. A pod that had not exited when observation ended has an open window.

When several pods were terminating at that moment, each could be to blame: the failure is
*ambiguous* and counts for each of them. A failure in no window is unattributed.
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
    """One failed request and the pods it is charged to."""

    sample: RequestSample
    pods: tuple[str, ...]
    """Empty: unattributed; one: attributed; several: ambiguous (each could be to blame)."""
    from_response: bool = False
    """True when the answering pod named itself in the response (never ambiguous)."""

    @property
    def ambiguous(self) -> bool:
        return len(self.pods) > 1


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """Every failure's attribution and the per-pod counts the report shows."""

    failures: tuple[FailureAttribution, ...]
    attributed: Mapping[str, int] = field(default_factory=dict)
    """Per pod: failures it could be to blame for (sole or shared)."""
    ambiguous_by_pod: Mapping[str, int] = field(default_factory=dict)
    """Per pod: the part of `attributed` it shares with other pods."""
    ambiguous: int = 0
    """Failures with more than one candidate pod."""
    unattributed: int = 0
    """Failures in no pod's termination window and with no answering pod."""

    def failures_for(self, pod: str) -> int:
        """The failures charged to `pod`, sole or shared (CONTRACT.md's `failuresAttributed`)."""
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


def attribute_failures(
    samples: Iterable[RequestSample],
    pods: Iterable[PodTimeline],
    *,
    window: DrillWindow | None = None,
    lead_seconds: float = DEFAULT_LEAD_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
) -> AttributionResult:
    """Charge every failed request (in `window`, when given) to the pod(s) that could have caused it."""
    windows = termination_windows(pods, lead_seconds=lead_seconds, margin_seconds=margin_seconds)
    results: list[FailureAttribution] = []
    attributed: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    for sample in samples:
        if sample.failure is None or (window is not None and not window.contains(sample.at)):
            continue
        if sample.pod is not None:
            results.append(FailureAttribution(sample, (sample.pod,), from_response=True))
            attributed[sample.pod] += 1
            continue
        finished = sample.at + max(sample.latency_ms, 0.0) / 1000
        candidates = tuple(dict.fromkeys(w.pod for w in windows if w.overlaps(sample.at, finished)))
        results.append(FailureAttribution(sample, candidates))
        attributed.update(candidates)
        if len(candidates) > 1:
            shared.update(candidates)
    return AttributionResult(
        failures=tuple(results),
        attributed=dict(attributed),
        ambiguous_by_pod=dict(shared),
        ambiguous=sum(1 for item in results if item.ambiguous),
        unattributed=sum(1 for item in results if not item.pods),
    )
