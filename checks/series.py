"""The per-second series of the drill (CONTRACT.md's `series`): requests, failures and p99 in each second.

Buckets are whole seconds of the drill's clock, `[t, t + 1)`, from the second holding `start` to
the one holding `end`, with empty seconds included (zero requests, p99 None), so a gap in the
load shows as a gap. A request falls in the second it started in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from checks.evidence import RequestSample
from checks.result import percentile

__all__ = ["MAX_BUCKETS", "SeriesBucket", "per_second"]

MAX_BUCKETS = 86_400
"""At most a day of seconds: a safeguard against a bogus clock turning into millions of buckets."""


@dataclass(frozen=True, slots=True)
class SeriesBucket:
    """One second of the drill."""

    at: float
    """Start of the second (a whole epoch second)."""
    requests: int
    failures: int
    p99_ms: float | None
    """Nearest-rank p99 latency of the requests started in this second; None when there were none."""


def per_second(
    samples: Iterable[RequestSample],
    *,
    start: float | None = None,
    end: float | None = None,
) -> list[SeriesBucket]:
    """One bucket per second from `start` to `end` (default: first and last request); requests outside are left out."""
    chosen = [s for s in samples if (start is None or s.at >= start) and (end is None or s.at <= end)]
    if start is None or end is None:
        if not chosen:
            return []
        start = min(s.at for s in chosen) if start is None else start
        end = max(s.at for s in chosen) if end is None else end
    first = math.floor(start)
    count = math.floor(end) - first + 1
    if count <= 0:
        return []
    if count > MAX_BUCKETS:
        raise ValueError(f"the series would span {count} seconds (more than {MAX_BUCKETS}): check the drill's clock")
    latencies: list[list[float]] = [[] for _ in range(count)]
    failures = [0] * count
    for sample in chosen:
        index = math.floor(sample.at) - first
        latencies[index].append(sample.latency_ms)
        if sample.failure is not None:
            failures[index] += 1
    return [_bucket(float(first + i), latencies[i], failures[i]) for i in range(count)]


def _bucket(at: float, latencies: Sequence[float], failures: int) -> SeriesBucket:
    return SeriesBucket(at=at, requests=len(latencies), failures=failures, p99_ms=percentile(latencies, 99))
