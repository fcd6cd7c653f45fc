"""The chart above the lanes: requests/s, failures/s and p99 latency over the drill, folded into at most
MAX_COLUMNS columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nonstop.report.html.scale import CHART_HEIGHT, CHART_TOP, LEFT, MAX_COLUMNS, RIGHT, WIDTH, Scale, clock, ts
from nonstop.report.model import Report, SeriesEntry

__all__ = ["series_chart"]


def _fold_series(series: Sequence[SeriesEntry], scale: Scale) -> list[tuple[float, float, int, int, float | None]]:
    """(start, end, requests, failures, p99) columns; 1 s buckets folded so there are at most MAX_COLUMNS."""
    if not series:
        return []
    width = max(1, math.ceil((scale.t1 - scale.t0) / MAX_COLUMNS))
    columns: dict[int, list[float]] = {}
    p99s: dict[int, float | None] = {}
    for entry in series:
        at = ts(entry.at)
        key = math.floor(at / width)
        column = columns.setdefault(key, [0.0, 0.0])
        column[0] += entry.requests
        column[1] += entry.failures
        if entry.p99_ms is not None:
            p99s[key] = max(entry.p99_ms, p99s.get(key) or 0.0)
    return [(key * width, (key + 1) * width, int(v[0]), int(v[1]), p99s.get(key)) for key, v in sorted(columns.items())]


def _failure_spans(report: Report, width: float) -> dict[int, tuple[float, float]]:
    """Per series column: from the first to the end of the last failure bucket in it (where failures really were)."""
    spans: dict[int, tuple[float, float]] = {}
    step = report.failure_bucket_seconds
    for bucket in report.failure_buckets:
        at = ts(bucket.at)
        key = math.floor(at / width)
        first, last = spans.get(key, (at, at + step))
        spans[key] = (min(first, at), max(last, at + step))
    return spans


def series_chart(series: Sequence[SeriesEntry], scale: Scale, report: Report) -> str:
    columns = _fold_series(series, scale)
    bottom = CHART_TOP + CHART_HEIGHT
    out = [
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>',
        f'<text class="series-title" x="{LEFT - 8}" y="{CHART_TOP + 66}" text-anchor="end">requests/s</text>',
        f'<text class="series-title fail" x="{LEFT - 8}" y="{CHART_TOP + 82}" text-anchor="end">failures/s</text>',
        f'<text class="series-title p99" x="{WIDTH - RIGHT + 6}" y="{CHART_TOP + 74}">p99 ms</text>',
    ]
    if not columns:
        out.append(f'<text class="empty" x="{LEFT + 10}" y="{CHART_TOP + 90}">no request was recorded</text>')
        return "".join(out)
    width = columns[0][1] - columns[0][0]
    rate_peak = max(max(c[2] for c in columns) / width, 1.0)
    top_rate = _nice_ceiling(rate_peak)
    p99_values = [c[4] for c in columns if c[4] is not None]
    top_p99 = _nice_ceiling(max(p99_values)) if p99_values else 1.0

    def y_rate(value: float) -> float:
        return bottom - value / top_rate * (CHART_HEIGHT - 16)

    def y_p99(value: float) -> float:
        return bottom - value / top_p99 * (CHART_HEIGHT - 16)

    for fraction in (0.5, 1.0):
        y = y_rate(top_rate * fraction)
        out.append(f'<line class="hgrid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_num(top_rate * fraction)}</text>'
        )
        out.append(
            f'<text class="tick p99" x="{WIDTH - RIGHT + 6}" y="{y_p99(top_p99 * fraction) + 4:.1f}">'
            f"{_num(top_p99 * fraction)}</text>"
        )
    spans = _failure_spans(report, width) if report.failure_bucket_seconds < width else {}
    for start, end, requests, failures, _ in columns:
        if failures:
            first, last = spans.get(math.floor(start / width), (start, end))
            x0, x1 = scale.x(max(start, first)), scale.x(min(end, last))
            y = y_rate(failures / width)
            out.append(
                f'<rect class="fail-bar" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 0.5, 1):.1f}" '
                f'height="{bottom - y:.1f}"><title>{clock(start)}: {failures} of {requests} requests failed'
                f"{'' if width == 1 else f' in {width} s'}</title></rect>"
            )
    points = " ".join(f"{scale.x((s + e) / 2):.1f},{y_rate(r / width):.1f}" for s, e, r, _, _ in columns)
    out.append(f'<polyline class="rate-line" points="{points}"/>')
    runs: list[list[str]] = [[]]
    for start, end, _, _, p99 in columns:
        if p99 is None:
            runs.append([])
            continue
        runs[-1].append(f"{scale.x((start + end) / 2):.1f},{y_p99(p99):.1f}")
    for run in runs:
        if len(run) > 1:
            out.append(f'<polyline class="p99-line" points="{" ".join(run)}"/>')
        elif run:
            cx, cy = run[0].split(",")
            out.append(f'<circle class="p99-dot" cx="{cx}" cy="{cy}" r="2"/>')
    return "".join(out)


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _num(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
