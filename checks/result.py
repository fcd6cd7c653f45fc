"""What every check returns, and the small helpers they share: percentiles and number wording."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CheckResult", "format_limit", "format_percent", "format_seconds", "percentile"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the verdict table (CONTRACT.md's `checks` entries)."""

    name: str
    """The check's id, e.g. `error-budget` or `endpoint-ordering`."""
    passed: bool | None
    """True: passed; False: failed; None: inconclusive (the evidence cannot decide either way)."""
    summary: str
    """One line saying what was measured and, for a failure, why it failed."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (`q` in [0, 100]) of `values`: a value that was measured; None when empty.

    Nearest rank (the smallest value with at least q % of the values at or below it) never
    invents a latency between two samples, so a p99 of 5000 ms means a request took 5000 ms.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def format_percent(ratio: float) -> str:
    """A ratio as a percentage with two decimals, e.g. `0.88 %`; tiny non-zero ratios keep two significant digits."""
    text = f"{ratio * 100:.2f}"
    if ratio > 0 and text == "0.00":
        text = f"{ratio * 100:.2g}"
    return f"{text} %"


def format_seconds(seconds: float) -> str:
    """A measured duration with two decimals, as CONTRACT.md's summaries write it: `0.02 s`, `-0.35 s`."""
    return f"{seconds:.2f} s"


def format_limit(seconds: float) -> str:
    """A limit as the user wrote it, with at least one decimal: `1.0 s`, `0.25 s`, `2.5 s`."""
    if seconds == round(seconds, 1):
        return f"{seconds:.1f} s"
    return f"{seconds:g} s"
