"""`error-budget`: failed requests and latency in the drill window against the spec's budget.

A request belongs to the window when it *started* inside it (a timeout that began in the window
counts there even though it ended later). Latency percentiles cover every request, failed or not,
as Locust's own statistics do, so a wave of timeouts shows up in the p99. Fewer requests than
`minRequests` decide nothing: the check is inconclusive (`passed=None`), never pass or fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.evidence import FAILURE_CLASSES, DrillWindow, FailureClass, RequestSample
from checks.result import CheckResult, format_percent, percentile

__all__ = ["ERROR_BUDGET", "BudgetResult", "RequestStats", "judge_error_budget", "request_stats", "samples_in_window"]

ERROR_BUDGET = "error-budget"


@dataclass(frozen=True, slots=True)
class RequestStats:
    """The figures of CONTRACT.md's `requests` block (less attribution, which `checks.attribution` adds)."""

    total: int
    failed: int
    failure_ratio: float
    """failed / total; 0.0 when there was no request."""
    p50_ms: float | None
    """Median latency in milliseconds; None without requests."""
    p99_ms: float | None
    """99th percentile latency in milliseconds (nearest rank); None without requests."""
    failures_by_class: Mapping[FailureClass, int] = field(default_factory=dict)
    """Failed requests per class, only the classes that occurred, in CONTRACT.md's order."""


@dataclass(frozen=True, slots=True)
class BudgetResult:
    """The `error-budget` check and the figures it judged."""

    check: CheckResult
    stats: RequestStats
    too_few_requests: bool
    """True when the window held fewer than `minRequests` requests (the check is then inconclusive)."""


def samples_in_window(samples: Iterable[RequestSample], window: DrillWindow) -> list[RequestSample]:
    """The requests that started inside the drill window, in their original order."""
    return [sample for sample in samples if window.contains(sample.at)]


def request_stats(samples: Iterable[RequestSample]) -> RequestStats:
    """Counts, failure ratio, p50/p99 and failures per class of the given requests."""
    latencies: list[float] = []
    classes: Counter[FailureClass] = Counter()
    for sample in samples:
        latencies.append(sample.latency_ms)
        if sample.failure is not None:
            classes[sample.failure] += 1
    total = len(latencies)
    failed = sum(classes.values())
    return RequestStats(
        total=total,
        failed=failed,
        failure_ratio=failed / total if total else 0.0,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        failures_by_class={name: classes[name] for name in FAILURE_CLASSES if classes[name]},
    )


def judge_error_budget(
    samples: Iterable[RequestSample],
    *,
    window: DrillWindow,
    max_failure_ratio: float,
    max_p99_ms: float | None,
    min_requests: int,
) -> BudgetResult:
    """Judge the requests of the drill window: ratio ≤ maxFailureRatio and p99 ≤ maxP99Ms pass (both inclusive)."""
    stats = request_stats(samples_in_window(samples, window))
    by_class = _by_class(stats)
    if stats.total < min_requests:
        if stats.total == 0:
            summary = f"no requests in the drill window (minRequests {min_requests}): inconclusive"
        else:
            summary = (
                f"only {stats.total} requests in the drill window, fewer than minRequests {min_requests}: "
                f"inconclusive ({stats.failed} failed{by_class})"
            )
        return BudgetResult(CheckResult(ERROR_BUDGET, None, summary), stats, too_few_requests=True)

    ratio_ok = stats.failure_ratio <= max_failure_ratio
    ratio_text = (
        f"{stats.failed} of {stats.total} requests failed ({format_percent(stats.failure_ratio)}), "
        f"{'budget' if ratio_ok else 'over the budget of'} {format_percent(max_failure_ratio)}{by_class}"
    )
    latency_ok = True
    latency_text = ""
    if max_p99_ms is not None and stats.p99_ms is not None:
        latency_ok = stats.p99_ms <= max_p99_ms
        relation = "≤ maxP99Ms" if latency_ok else "over maxP99Ms"
        latency_text = f"p99 {stats.p99_ms:.1f} ms {relation} {max_p99_ms:g} ms"
    # Lead with what broke the budget, so the one line reads as the reason.
    parts = [latency_text, ratio_text] if ratio_ok and not latency_ok else [ratio_text, latency_text]
    summary = "; ".join(part for part in parts if part)
    return BudgetResult(CheckResult(ERROR_BUDGET, ratio_ok and latency_ok, summary), stats, too_few_requests=False)


def _by_class(stats: RequestStats) -> str:
    if not stats.failures_by_class:
        return ""
    return ": " + ", ".join(f"{count} {name}" for name, count in stats.failures_by_class.items())
