"""`report.html`: one self-contained page a person reads at a glance (verdict, why, timeline, pods, events).

`render_html(report)` is a pure function of the `Report`: no clock, no file, no network. The page
inlines its CSS, its SVG and a few lines of JavaScript (a time cursor and lane ↔ row highlighting),
so it opens from an Argo artifact or an email attachment. The timeline draws requests/s,
failures/s and p99 latency over the drill, then one lane per pod (created → ready → deletion →
left endpoints → stopped accepting → exited) with the gap between leaving the endpoints and
stopping accepting highlighted (red when shorter than the drill's minimum), the rollout actions
and Kubernetes events as markers, and the failures charged to each pod where they happened.
Failures are drawn from `failureBuckets` folded into at most `_MAX_COLUMNS` columns, so a drill
with thousands of failures gives a page of the same size as one with none.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nonstop.report.model import EventEntry, PodEntry, Report, SeriesEntry

__all__ = ["render_html"]

_WIDTH = 1200
_LEFT = 230
_RIGHT = 64
_CHART_TOP = 26
_CHART_HEIGHT = 170
_MARKER_ROW = 40
_LANE = 40
_AXIS = 28
_MAX_COLUMNS = 300
"""At most this many time columns for the series and for each lane's failures (the page stays small)."""
_NAME_CHARS = 30

_VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


def render_html(report: Report) -> str:
    """The whole report.html for `report` (UTF-8 text)."""
    scale = _Scale.of(report)
    verdict = report.verdict
    title = f"nonstop: {report.drill} — {_VERDICT_TEXT.get(verdict, verdict.upper())}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head>",
        f'<body class="verdict-{_e(verdict)}">',
        _header(report, scale),
        _checks(report),
        '<section id="timeline"><h2>Timeline</h2>',
        _timeline_svg(report, scale),
        _LEGEND,
        "</section>",
        _pods_table(report, scale),
        _events_table(report.events, scale),
        _lint(report),
        '<footer>Rendered by nonstop from report.json. Times are UTC on the drill\'s clock; "t" counts from the '
        "rollout action.</footer>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# time scale


@dataclass(frozen=True, slots=True)
class _Scale:
    t0: float
    t1: float
    zero: float
    """The instant shown as t = 0: the rollout action (the window start), else the first instant drawn."""

    @classmethod
    def of(cls, report: Report) -> _Scale:
        core = [_ts(s.at) for s in report.series]
        if report.series:
            core.append(_ts(report.series[-1].at) + 1)
        core += [_ts(t) for t in (report.window.start, report.window.end) if t is not None]
        core += [_ts(e.at) for e in report.timeline if e.source == "action"]
        # terminations and events may widen the chart a little; pods created long before the
        # load (hours, on a real cluster) are clipped and marked at the edge instead
        others = [_ts(t) for pod in report.pods for t in _pod_times(pod)[2:] if t is not None]
        others += [_ts(e.at) for e in report.events]
        if not core:
            core = others or [_ts(t) for pod in report.pods for t in _pod_times(pod) if t is not None] or [0.0, 1.0]
        lo, hi = min(core), max(core)
        reach = max(5.0, 0.25 * (hi - lo))
        near = [t for t in others if lo - reach <= t <= hi + reach]
        lo, hi = min([lo, *near]), max([hi, *near])
        if hi - lo < 1.0:
            hi = lo + 1.0
        pad = 0.02 * (hi - lo)
        zero = _ts(report.window.start) if report.window.start is not None else lo
        return cls(lo - pad, hi + pad, zero)

    def x(self, t: float) -> float:
        return _LEFT + (t - self.t0) / (self.t1 - self.t0) * (_WIDTH - _LEFT - _RIGHT)

    def clamp_x(self, t: float) -> float:
        return self.x(min(max(t, self.t0), self.t1))

    def inside(self, t: float) -> bool:
        return self.t0 <= t <= self.t1

    def rel(self, t: float) -> str:
        """`t+1.234 s` relative to the rollout action."""
        offset = t - self.zero
        sign = "+" if offset >= 0 else "−"
        size = abs(offset)
        if size >= 120:
            minutes, seconds = divmod(size, 60)
            return f"t{sign}{int(minutes)}m{seconds:04.1f}s"
        return f"t{sign}{size:.3f} s"

    def ticks(self) -> list[float]:
        span = self.t1 - self.t0
        step = next((s for s in _TICK_STEPS if span / s <= 12), 3600.0)
        first = math.ceil((self.t0 - self.zero) / step) * step + self.zero
        return [first + i * step for i in range(int((self.t1 - first) / step) + 1)]


_TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _ts(value: datetime) -> float:
    return value.timestamp()


def _clock(value: datetime | float) -> str:
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return when.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _pod_times(pod: PodEntry) -> tuple[datetime | None, ...]:
    return (pod.created_at, pod.ready_at, pod.deleted_at, pod.endpoint_unready_at, pod.stopped_accepting_at,
            pod.exited_at)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# header and checks


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _header(report: Report, scale: _Scale) -> str:
    r = report.requests
    window = report.window
    if window.start is not None and window.end is not None:
        span = f"{_stamp(window.start)} → {_clock(window.end)} ({_ts(window.end) - _ts(window.start):.1f} s)"
    elif window.start is not None:
        span = f"{_stamp(window.start)} → never closed"
    else:
        span = "the rollout never started"
    p50 = "–" if r.p50_ms is None else f"{r.p50_ms:.1f} ms"
    p99 = "–" if r.p99_ms is None else f"{r.p99_ms:.1f} ms"
    classes = ", ".join(f"{count} {name}" for name, count in sorted(r.failures_by_class.items()))
    failed = f"{r.failed} failed ({r.failure_ratio:.2%}{'; ' + classes if classes else ''})"
    return (
        '<header id="verdict">'
        f'<div class="badge">{_e(_VERDICT_TEXT.get(report.verdict, report.verdict))}</div>'
        f"<div><h1>{_e(report.drill)}</h1>"
        f'<p class="decision">decision <b>{_e(report.decision)}</b> → action <b>{_e(report.action)}</b></p>'
        f'<p class="facts">window {_e(span)} · {r.total} requests, {_e(failed)} · p50 {p50} · p99 {p99}'
        f" · unattributed failures {r.unattributed_failures}</p></div></header>"
    )


def _mark(passed: bool | None) -> str:
    if passed is None:
        return '<span class="mark inconclusive">inconclusive</span>'
    return '<span class="mark pass">pass</span>' if passed else '<span class="mark fail">FAIL</span>'


def _checks(report: Report) -> str:
    rows = "".join(
        f'<tr class="{_result_class(c.passed)}"><td>{_e(c.name)}</td><td>{_mark(c.passed)}</td>'
        f"<td>{_e(c.summary)}</td></tr>"
        for c in report.checks
    )
    said = {f"{c.name}: {c.summary}" for c in report.checks}
    why = [reason for reason in report.verdict_reasons if reason not in said]
    parts = [
        '<section id="checks"><h2>Checks</h2>',
        f"<table><thead><tr><th>check</th><th>result</th><th>summary</th></tr></thead><tbody>{rows}</tbody></table>",
    ]
    if why:
        parts.append('<div class="why"><h3>Why the verdict is ' + _e(report.verdict) + "</h3><ul>")
        parts += [f"<li>{_e(reason)}</li>" for reason in why]
        parts.append("</ul></div>")
    if report.notes:
        parts.append('<div class="notes"><h3>Notes</h3><ul>')
        parts += [f"<li>{_e(note)}</li>" for note in report.notes]
        parts.append("</ul></div>")
    parts.append("</section>")
    return "".join(parts)


def _result_class(passed: bool | None) -> str:
    return {True: "ok", False: "bad", None: "unsure"}[passed]


# ---------------------------------------------------------------------------------------------
# the timeline


def _timeline_svg(report: Report, scale: _Scale) -> str:
    lanes = list(report.pods)
    unattributed = sum(b.failures for b in report.failure_buckets if b.pod is None)
    lane_count = len(lanes) + (1 if unattributed else 0)
    lanes_top = _CHART_TOP + _CHART_HEIGHT + _MARKER_ROW
    height = lanes_top + max(lane_count, 1) * _LANE + _AXIS
    out = [
        f'<svg id="chart" viewBox="0 0 {_WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{_e("timeline of " + report.drill)}" data-t0="{scale.t0:.3f}" data-t1="{scale.t1:.3f}" '
        f'data-zero="{scale.zero:.3f}" data-x0="{_LEFT}" data-x1="{_WIDTH - _RIGHT}" xmlns="http://www.w3.org/2000/svg">'
    ]
    out.append(_window_band(report, scale, height))
    out.append(_grid(scale, height))
    out.append(_series(report.series, scale, report))
    out.append(_markers(report, scale, height))
    failures = _failure_columns(report, scale)
    peak = max((count for columns in failures.values() for _, count, _ in columns), default=0)
    for index, pod in enumerate(lanes):
        out.append(_lane(pod, index, lanes_top + index * _LANE, scale, report, failures.get(pod.name, []), peak))
    if unattributed:
        y = lanes_top + len(lanes) * _LANE
        out.append(
            f'<g class="lane unattributed"><text class="lane-name" x="{_LEFT - 8}" y="{y + 19}" '
            f'text-anchor="end">unattributed failures</text>'
        )
        out.append(_failure_marks(failures.get(None, []), y, scale, peak, "no pod", _failure_width(report, scale)))
        out.append("</g>")
    if not lanes:
        out.append(f'<text class="empty" x="{_LEFT}" y="{lanes_top + 19}">no pod of the target was seen</text>')
    out.append(_axis(scale, height - _AXIS + 4))
    out.append(f'<line id="cursor" x1="0" x2="0" y1="{_CHART_TOP}" y2="{height - _AXIS}" visibility="hidden"/>')
    out.append(f'<text id="cursor-label" x="0" y="{_CHART_TOP - 8}" visibility="hidden"></text>')
    out.append("</svg>")
    return "".join(out)


def _window_band(report: Report, scale: _Scale, height: int) -> str:
    start, end = report.window.start, report.window.end
    if start is None:
        return ""
    x0 = scale.clamp_x(_ts(start))
    x1 = scale.clamp_x(_ts(end)) if end is not None else _WIDTH - _RIGHT
    label = "drill window" if end is not None else "drill window (never closed)"
    return (
        f'<rect class="window" x="{x0:.1f}" y="{_CHART_TOP}" width="{max(x1 - x0, 1):.1f}" '
        f'height="{height - _AXIS - _CHART_TOP}"><title>{_e(label)}</title></rect>'
    )


def _grid(scale: _Scale, height: int) -> str:
    lines = [
        f'<line class="grid" x1="{scale.x(t):.1f}" x2="{scale.x(t):.1f}" y1="{_CHART_TOP}" y2="{height - _AXIS}"/>'
        for t in scale.ticks()
    ]
    return "".join(lines)


def _axis(scale: _Scale, y: int) -> str:
    out = [f'<line class="axis" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y - 4}" y2="{y - 4}"/>']
    for t in scale.ticks():
        label = "t=0" if abs(t - scale.zero) < 1e-6 else _short_rel(t - scale.zero)
        out.append(f'<text class="tick" x="{scale.x(t):.1f}" y="{y + 12}" text-anchor="middle">{label}</text>')
    return "".join(out)


def _short_rel(offset: float) -> str:
    size = abs(offset)
    sign = "+" if offset > 0 else "−"
    text = f"{size:.1f}".rstrip("0").rstrip(".") if size < 10 else f"{size:.0f}"
    return f"{sign}{text} s"


def _fold_series(series: Sequence[SeriesEntry], scale: _Scale) -> list[tuple[float, float, int, int, float | None]]:
    """(start, end, requests, failures, p99) columns; 1 s buckets folded so there are at most _MAX_COLUMNS."""
    if not series:
        return []
    width = max(1, math.ceil((scale.t1 - scale.t0) / _MAX_COLUMNS))
    columns: dict[int, list[float]] = {}
    p99s: dict[int, float | None] = {}
    for entry in series:
        at = _ts(entry.at)
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
        at = _ts(bucket.at)
        key = math.floor(at / width)
        first, last = spans.get(key, (at, at + step))
        spans[key] = (min(first, at), max(last, at + step))
    return spans


def _series(series: Sequence[SeriesEntry], scale: _Scale, report: Report) -> str:
    columns = _fold_series(series, scale)
    bottom = _CHART_TOP + _CHART_HEIGHT
    out = [
        f'<line class="axis" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{bottom}" y2="{bottom}"/>',
        f'<text class="series-title" x="{_LEFT - 8}" y="{_CHART_TOP + 66}" text-anchor="end">requests/s</text>',
        f'<text class="series-title fail" x="{_LEFT - 8}" y="{_CHART_TOP + 82}" text-anchor="end">failures/s</text>',
        f'<text class="series-title p99" x="{_WIDTH - _RIGHT + 6}" y="{_CHART_TOP + 74}">p99 ms</text>',
    ]
    if not columns:
        out.append(f'<text class="empty" x="{_LEFT + 10}" y="{_CHART_TOP + 90}">no request was recorded</text>')
        return "".join(out)
    width = columns[0][1] - columns[0][0]
    rate_peak = max(max(c[2] for c in columns) / width, 1.0)
    top_rate = _nice_ceiling(rate_peak)
    p99_values = [c[4] for c in columns if c[4] is not None]
    top_p99 = _nice_ceiling(max(p99_values)) if p99_values else 1.0

    def y_rate(value: float) -> float:
        return bottom - value / top_rate * (_CHART_HEIGHT - 16)

    def y_p99(value: float) -> float:
        return bottom - value / top_p99 * (_CHART_HEIGHT - 16)

    for fraction in (0.5, 1.0):
        y = y_rate(top_rate * fraction)
        out.append(f'<line class="hgrid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_num(top_rate * fraction)}</text>'
        )
        out.append(
            f'<text class="tick p99" x="{_WIDTH - _RIGHT + 6}" y="{y_p99(top_p99 * fraction) + 4:.1f}">'
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
                f'height="{bottom - y:.1f}"><title>{_clock(start)}: {failures} of {requests} requests failed'
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


def _markers(report: Report, scale: _Scale, height: int) -> str:
    """Rollout actions as dashed lines across the chart and lanes; Kubernetes events as diamonds in a row."""
    row = _CHART_TOP + _CHART_HEIGHT
    out = [f'<text class="series-title" x="{_LEFT - 8}" y="{row + 30}" text-anchor="end">events</text>']
    actions = [e for e in report.timeline if e.source == "action" and scale.inside(_ts(e.at))]
    taken: list[tuple[float, float, int]] = []
    for action in actions:
        x = scale.x(_ts(action.at))
        label = action.what.split(":")[0].split("(")[0].strip()
        if len(label) > 28:
            label = label[:27] + "…"
        anchor = "end" if x > _WIDTH - _RIGHT - 150 else "start"
        dx = -3 if anchor == "end" else 3
        span = (x - 7.5 * len(label) - 8, x) if anchor == "end" else (x, x + 7.5 * len(label) + 8)
        label_y = next(
            (
                y
                for y in (row + 13, _CHART_TOP - 8, _CHART_TOP + 12, _CHART_TOP + 28)
                if not any(a < span[1] and span[0] < b and y == ty for a, b, ty in taken)
            ),
            row + 13,
        )
        taken.append((span[0], span[1], label_y))
        out.append(
            f'<g class="action"><title>{_e(_clock(action.at) + " " + scale.rel(_ts(action.at)) + ": " + action.what)}'
            f'</title><line x1="{x:.1f}" x2="{x:.1f}" y1="{_CHART_TOP}" y2="{height - _AXIS}"/>'
            f'<text x="{x + dx:.1f}" y="{label_y}" text-anchor="{anchor}">{_e(label)}</text></g>'
        )
    groups: dict[int, list[EventEntry]] = defaultdict(list)
    for event in report.events:
        t = _ts(event.at)
        if scale.inside(t):
            groups[round(scale.x(t) / 6)].append(event)
    for key in sorted(groups):
        events = groups[key]
        x = scale.x(_ts(events[0].at))
        warning = any((e.type or "").lower() == "warning" for e in events)
        lines = [f"{_clock(e.at)} {e.type or ''} {e.reason} {e.object}: {e.message}" for e in events[:12]]
        if len(events) > 12:
            lines.append(f"… and {len(events) - 12} more")
        y = row + 26
        out.append(
            f'<g class="event{" warning" if warning else ""}"><title>{_e(chr(10).join(lines))}</title>'
            f'<path d="M{x:.1f},{y - 6} l5,6 l-5,6 l-5,-6 z"/>'
            + (f'<text x="{x + 6:.1f}" y="{y - 4}">{len(events)}</text>' if len(events) > 1 else "")
            + "</g>"
        )
    return "".join(out)


def _failure_columns(report: Report, scale: _Scale) -> dict[str | None, list[tuple[float, int, int]]]:
    """Per pod (None: unattributed): (column start, failures, ambiguous), at most _MAX_COLUMNS columns."""
    width = _failure_width(report, scale)
    folded: dict[str | None, dict[int, list[int]]] = defaultdict(dict)
    for bucket in report.failure_buckets:
        key = math.floor(_ts(bucket.at) / width)
        column = folded[bucket.pod].setdefault(key, [0, 0])
        column[0] += bucket.failures
        column[1] += bucket.ambiguous
    return {pod: [(key * width, v[0], v[1]) for key, v in sorted(columns.items())] for pod, columns in folded.items()}


def _failure_width(report: Report, scale: _Scale) -> float:
    """Columns as fine as the buckets, folded so there are at most _MAX_COLUMNS."""
    step = report.failure_bucket_seconds if report.failure_bucket_seconds > 0 else 1.0
    return step * max(1, math.ceil((scale.t1 - scale.t0) / _MAX_COLUMNS / step))


def _failure_marks(
    columns: Iterable[tuple[float, int, int]], y: int, scale: _Scale, peak: int, pod: str, width: float
) -> str:
    out = []
    for start, count, shared in columns:
        if not scale.inside(start):
            continue
        x0, x1 = scale.x(start), scale.x(start + width)
        size = 2 + 9 * math.sqrt(count / max(peak, 1))
        note = f" ({shared} shared with other terminating pods)" if shared else ""
        out.append(
            f'<rect class="lane-fail" x="{x0:.1f}" y="{y + _LANE - 2 - size:.1f}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{size:.1f}"><title>{_clock(start)} {scale.rel(start)}: {count} failed request(s) charged to '
            f"{_e(pod)}{note}</title></rect>"
        )
    return "".join(out)


_MOMENTS = (
    ("created_at", "created", "created"),
    ("ready_at", "ready", "ready"),
    ("deleted_at", "deleted", "deletion (SIGTERM path started)"),
    ("endpoint_unready_at", "left", "left the endpoints"),
    ("stopped_accepting_at", "stopped", "stopped accepting connections"),
    ("exited_at", "exited", "exited"),
)


def _lane(
    pod: PodEntry,
    index: int,
    y: int,
    scale: _Scale,
    report: Report,
    failures: list[tuple[float, int, int]],
    peak: int,
) -> str:
    name = pod.name if len(pod.name) <= _NAME_CHARS else pod.name[: _NAME_CHARS - 1] + "…"
    mid = y + 15
    out = [
        f'<g class="lane {pod.role}{" odd" if index % 2 else ""}" data-pod="{_e(pod.name)}" id="lane-{index}">',
        f'<rect class="lane-bg" x="0" y="{y}" width="{_WIDTH}" height="{_LANE}"/>',
        f'<text class="role {pod.role}" x="8" y="{mid + 4:.1f}">{pod.role}</text>',
        f'<text class="lane-name" x="{_LEFT - 8}" y="{mid + 4:.1f}" text-anchor="end"><title>{_e(pod.name)}</title>'
        f"{_e(name)}</text>",
    ]
    times = {attr: _opt(getattr(pod, attr)) for attr, _, _ in _MOMENTS}
    created, ready = times["created_at"], times["ready_at"]
    deleted, left = times["deleted_at"], times["endpoint_unready_at"]
    stopped, exited = times["stopped_accepting_at"], times["exited_at"]
    end_of_life = exited if exited is not None else scale.t1
    first_sign = min((t for t in (deleted, left, stopped) if t is not None), default=None)
    serving_end = first_sign if first_sign is not None else end_of_life
    segments: list[tuple[str, float | None, float | None, str]] = [
        ("starting", created, ready if ready is not None else serving_end, "created → ready"),
        ("serving", ready, serving_end, "ready and serving"),
        ("terminating", first_sign, end_of_life, "terminating"),
    ]
    for css, start, end, label in segments:
        if start is None or end is None or end < start:
            continue
        x0, x1 = scale.clamp_x(start), scale.clamp_x(end)
        if x1 - x0 < 0.5:
            continue
        out.append(
            f'<rect class="seg {css}" x="{x0:.1f}" y="{mid - 5:.1f}" width="{x1 - x0:.1f}" height="10">'
            f"<title>{_e(pod.name)}: {label}</title></rect>"
        )
    if created is not None and created < scale.t0:
        out.append(
            f'<text class="clipped" x="{_LEFT + 2}" y="{mid - 7:.1f}">◀ created {_clock(created)}'
            f"<title>created {_e(scale.rel(created))}, before the chart</title></text>"
        )
    if left is not None and stopped is not None:
        out.append(_gap(pod, left, stopped, mid, scale, report))
    for attr, css, label in _MOMENTS:
        t = times[attr]
        if t is None or not scale.inside(t):
            continue
        extra = f" (exit code {pod.exit_code})" if attr == "exited_at" and pod.exit_code is not None else ""
        out.append(
            f'<g class="moment {css}"><title>{_e(pod.name)} {label}{extra}: {_clock(t)} {scale.rel(t)}</title>'
            f"{_glyph(css, scale.x(t), mid)}</g>"
        )
    if pod.last_routed_at is not None and scale.inside(_ts(pod.last_routed_at)):
        t = _ts(pod.last_routed_at)
        out.append(
            f'<g class="moment routed"><title>{_e(pod.name)} answered its last request: {_clock(t)} '
            f'{scale.rel(t)}</title><line x1="{scale.x(t):.1f}" x2="{scale.x(t):.1f}" y1="{mid - 9:.1f}" '
            f'y2="{mid + 9:.1f}"/></g>'
        )
    out.append(_failure_marks(failures, y, scale, peak, pod.name, _failure_width(report, scale)))
    out.append("</g>")
    return "".join(out)


def _gap(pod: PodEntry, left: float, stopped: float, mid: float, scale: _Scale, report: Report) -> str:
    minimum = report.ordering.min_serve_after_unready_seconds
    served = pod.serve_after_unready_seconds if pod.serve_after_unready_seconds is not None else stopped - left
    too_short = pod.ordering_ok is False or (minimum is not None and served < minimum)
    x0, x1 = sorted((scale.clamp_x(left), scale.clamp_x(stopped)))
    x1 = max(x1, x0 + 3)
    need = "" if minimum is None else f" (minimum {minimum:g} s)"
    if served < 0:
        text = f"stopped {abs(served):.2f} s before leaving the endpoints{need}"
    else:
        text = f"served {served:.2f} s after leaving the endpoints{need}"
    label = f"{served:.2f} s" + ("" if minimum is None else f" {'<' if too_short else '≥'} {minimum:g} s")
    css = "gap short" if too_short else "gap ok"
    after = max(t for t in (left, stopped, _opt(pod.exited_at)) if t is not None)
    anchor_x = max(x1, scale.clamp_x(after)) + 8
    anchor = "start"
    if anchor_x > _WIDTH - _RIGHT - 70:
        anchor_x, anchor = x0 - 4, "end"
    return (
        f'<g class="{css}"><title>{_e(pod.name)}: {_e(text)}</title>'
        f'<rect x="{x0:.1f}" y="{mid - 11:.1f}" width="{x1 - x0:.1f}" height="22"/>'
        f'<text x="{anchor_x:.1f}" y="{mid - 1:.1f}" text-anchor="{anchor}">{_e(label)}</text></g>'
    )


def _glyph(css: str, x: float, mid: float) -> str:
    if css == "created":
        return f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="4"/>'
    if css == "ready":
        return f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="4.5"/>'
    if css == "deleted":
        return f'<path d="M{x - 5:.1f},{mid - 11:.1f} h10 l-5,7 z"/>'
    if css == "left":
        return f'<rect x="{x - 1.5:.1f}" y="{mid - 11:.1f}" width="3" height="22"/>'
    if css == "stopped":
        return f'<path d="M{x - 4:.1f},{mid - 4:.1f} l8,8 M{x + 4:.1f},{mid - 4:.1f} l-8,8"/>'
    return f'<rect x="{x - 4:.1f}" y="{mid - 4:.1f}" width="8" height="8"/>'


def _opt(value: datetime | None) -> float | None:
    return None if value is None else _ts(value)


_LEGEND = (
    '<p class="legend">'
    '<span class="key rate"></span>requests/s '
    '<span class="key fail"></span>failures/s (and in a lane: failures charged to that pod) '
    '<span class="key p99"></span>p99 latency '
    '<span class="key window"></span>drill window '
    '<span class="key action"></span>rollout action '
    '<span class="sym event">◆</span>Kubernetes event '
    "<br>pod lanes: "
    '<span class="sym">○</span>created '
    '<span class="key starting"></span>starting '
    '<span class="sym ready">●</span>ready '
    '<span class="key serving"></span>serving '
    '<span class="sym deleted">▼</span>deletion '
    '<span class="sym left">┃</span>left the endpoints '
    '<span class="key gap-ok"></span><span class="key gap-short"></span>served after leaving the endpoints '
    "(red: under the minimum) "
    '<span class="sym stopped">✕</span>stopped accepting '
    '<span class="sym">■</span>exited '
    '<span class="sym routed">│</span>last request answered'
    "</p>"
)


# ---------------------------------------------------------------------------------------------
# tables


def _cell_time(value: datetime | None, scale: _Scale, suffix: str = "") -> str:
    if value is None:
        return '<td class="none">–</td>'
    return f'<td title="{_e(_stamp(value))}">{_e(scale.rel(_ts(value)) + suffix)}</td>'


def _pods_table(report: Report, scale: _Scale) -> str:
    minimum = report.ordering.min_serve_after_unready_seconds
    head = (
        "<tr><th>pod</th><th>role</th><th>created</th><th>ready</th><th>deletion</th><th>left endpoints</th>"
        "<th>last answered</th><th>stopped accepting</th><th>exited (code)</th>"
        f"<th>served after leaving endpoints{'' if minimum is None else f' (min {minimum:g} s)'}</th>"
        "<th>in order</th><th>failures</th><th>retries</th><th>exited by itself</th><th>why</th></tr>"
    )
    rows = []
    for pod in report.pods:
        serve = pod.serve_after_unready_seconds
        order = {True: '<span class="mark pass">yes</span>', False: '<span class="mark fail">no</span>', None: "–"}
        failures = str(pod.failures_attributed)
        if pod.failures_ambiguous:
            failures += f" ({pod.failures_ambiguous} shared)"
        row_class = "" if pod.ordering_ok is None else _result_class(pod.ordering_ok)
        rows.append(
            f'<tr data-pod="{_e(pod.name)}" class="{row_class}">'
            f"<td>{_e(pod.name)}</td><td>{pod.role}</td>"
            + "".join(
                _cell_time(t, scale)
                for t in (
                    pod.created_at,
                    pod.ready_at,
                    pod.deleted_at,
                    pod.endpoint_unready_at,
                    pod.last_routed_at,
                    pod.stopped_accepting_at,
                )
            )
            + _cell_time(pod.exited_at, scale, "" if pod.exit_code is None else f" ({pod.exit_code})")
            + f"<td>{'–' if serve is None else f'{serve:.2f} s'}</td>"
            + f"<td>{order[pod.ordering_ok]}</td><td>{_e(failures)}</td><td>{pod.retries}</td>"
            + f'<td title="{_e(pod.graceful_exit_reason or "")}">{order[pod.graceful_exit]}</td>'
            + f"<td>{_e(pod.ordering_reason or '')}{'' if pod.measurable else ' (not measurable)'}"
            + ("" if pod.graceful_exit is not False else f"; {_e(pod.graceful_exit_reason or '')}")
            + "</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="15">no pod of the target was seen</td></tr>'
    return (
        '<section id="pods"><h2>Pods</h2><p class="hint">Times relative to the rollout action (t = 0); hover a '
        f'cell for the UTC time.</p><div class="scroll"><table><thead>{head}</thead><tbody>{body}</tbody></table>'
        "</div></section>"
    )


def _events_table(events: Sequence[EventEntry], scale: _Scale) -> str:
    rows = []
    for event in events:
        kind, _, name = event.object.partition("/")
        shown = f"{kind.lower()}/{name}" if name else event.object
        count = f" (x{event.count})" if event.count and event.count > 1 else ""
        rows.append(
            f'<tr class="{"warning" if (event.type or "").lower() == "warning" else ""}">'
            f'<td title="{_e(_stamp(event.at))}">{_clock(event.at)}</td><td>{_e(scale.rel(_ts(event.at)))}</td>'
            f"<td>{_e(event.type or '')}</td><td>{_e(event.reason)}</td><td>{_e(shown)}</td>"
            f"<td>{_e(event.message)}{count}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6">no event was recorded</td></tr>'
    return (
        '<section id="events"><h2>Events</h2><p class="hint">As <code>kubectl get events '
        "--sort-by=.metadata.creationTimestamp</code> lists them.</p>"
        '<div class="scroll"><table class="events"><thead><tr><th>AT (UTC)</th><th>T</th><th>TYPE</th><th>REASON</th>'
        f"<th>OBJECT</th><th>MESSAGE</th></tr></thead><tbody>{body}</tbody></table></div></section>"
    )


def _lint(report: Report) -> str:
    if not report.lint:
        return ""
    items = []
    for finding in report.lint:
        where = "/".join(str(finding[k]) for k in ("kind", "name") if finding.get(k))
        if finding.get("container"):
            where += f" container {finding['container']}"
        items.append(
            f'<li><span class="sev {_e(finding.get("severity", ""))}">{_e(finding.get("severity", ""))}</span> '
            f"<b>{_e(finding.get('rule', ''))}</b> {_e(where)}: {_e(finding.get('message', ''))}</li>"
        )
    return (
        f'<section id="lint"><details><summary>Static findings on the live objects ({len(report.lint)})</summary>'
        f"<ul>{''.join(items)}</ul></details></section>"
    )


_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--unsure:#9a6700;--ink:#1f2328;--mute:#656d76;--line:#d0d7de;--rate:#0969da;
--p99:#bc4c00;--serving:#4ac26b;--starting:#b6e3c4;--term:#afb8c1;--win:#ddf4ff}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
margin:0;padding:0 24px 24px;background:#fff}
header{display:flex;gap:20px;align-items:center;margin:0 -24px 16px;padding:16px 24px;
border-bottom:4px solid var(--line)}
.verdict-pass header{background:#dafbe1;border-color:var(--ok)}
.verdict-fail header{background:#ffebe9;border-color:var(--bad)}
.verdict-inconclusive header{background:#fff8c5;border-color:var(--unsure)}
.badge{font:700 30px/1 system-ui,sans-serif;padding:12px 18px;border-radius:8px;color:#fff;background:var(--mute)}
.verdict-pass .badge{background:var(--ok)}.verdict-fail .badge{background:var(--bad)}
.verdict-inconclusive .badge{background:var(--unsure)}
h1{margin:0;font-size:24px}h2{font-size:17px;margin:22px 0 8px}h3{font-size:14px;margin:10px 0 4px}
.decision{margin:2px 0;font-size:16px}.facts{margin:2px 0;color:var(--mute)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);
vertical-align:top}th{font-weight:600;background:#f6f8fa;white-space:nowrap}
tr.bad td:first-child{border-left:4px solid var(--bad)}tr.ok td:first-child{border-left:4px solid var(--ok)}
tr.unsure td:first-child{border-left:4px solid var(--unsure)}tr.hl td{background:#fff8c5}
.mark{font-weight:700}.mark.pass{color:var(--ok)}.mark.fail{color:var(--bad)}.mark.inconclusive{color:var(--unsure)}
.why,.notes{margin-top:8px;padding:4px 12px;border-left:4px solid var(--line);background:#f6f8fa}
.why{border-color:var(--bad)}ul{margin:4px 0;padding-left:20px}
.scroll{overflow-x:auto}#pods td,#events td{white-space:nowrap}
#pods td:last-child,#events td:last-child{white-space:normal;min-width:200px}
#pods th{white-space:normal}#pods table{font-size:13px}
#events tr.warning td{color:var(--p99)}.hint{color:var(--mute);margin:0 0 6px}.none{color:var(--mute)}
footer{margin-top:24px;color:var(--mute);font-size:12px}code{font-size:12px}
.sev{font-weight:700}.sev.error{color:var(--bad)}.sev.warning{color:var(--unsure)}
svg{display:block;font:12px system-ui,sans-serif;background:#fff;border:1px solid var(--line);border-radius:6px}
svg .window{fill:var(--win)}svg .grid{stroke:#eaeef2}svg .hgrid{stroke:#eaeef2;stroke-dasharray:2 3}
svg .axis{stroke:#8c959f}svg .tick{fill:var(--mute);font-size:11px}svg .tick.p99{fill:var(--p99)}
svg .series-title{fill:var(--rate);font-weight:600}svg .series-title.fail{fill:var(--bad)}
svg .series-title.p99{fill:var(--p99)}svg .rate-line{fill:none;stroke:var(--rate);stroke-width:2}
svg .p99-line{fill:none;stroke:var(--p99);stroke-width:1.5;stroke-dasharray:5 3}svg .p99-dot{fill:var(--p99)}
svg .fail-bar{fill:var(--bad);opacity:.75}svg .action line{stroke:#6639ba;stroke-width:1.5;stroke-dasharray:6 4}
svg .action text{fill:#6639ba;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .event path{fill:#57606a}svg .event.warning path{fill:var(--p99)}
svg .event text{fill:var(--mute);font-size:10px}svg .lane-bg{fill:transparent}
svg .lane.odd .lane-bg{fill:rgba(31,35,40,.04)}
svg .lane.hl .lane-bg{fill:rgba(212,167,44,.2)}
svg .lane-name{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;fill:var(--ink)}
svg .role{font-size:11px;font-weight:700}svg .role.old{fill:#8250df}svg .role.new{fill:#0969da}
svg .seg.starting{fill:var(--starting)}svg .seg.serving{fill:var(--serving)}svg .seg.terminating{fill:var(--term)}
svg .gap rect{stroke-width:1.5}svg .gap.ok rect{fill:rgba(26,127,55,.25);stroke:var(--ok)}
svg .gap.short rect{fill:rgba(207,34,46,.35);stroke:var(--bad)}svg .gap text{font-weight:700;font-size:11px}
svg .gap.ok text{fill:var(--ok)}svg .gap.short text{fill:var(--bad)}
svg .moment circle,svg .moment rect,svg .moment path{stroke:#24292f;stroke-width:1.2}
svg .moment.created circle{fill:#fff}svg .moment.ready circle{fill:var(--ok)}svg .moment.deleted path{fill:#6639ba}
svg .moment.left rect{fill:#0969da;stroke:none}svg .moment.stopped path{stroke:var(--bad);stroke-width:2.5}
svg .moment.exited rect{fill:#24292f}svg .moment.routed line{stroke:#0969da;stroke-width:1;stroke-dasharray:2 2}
svg .lane-fail{fill:var(--bad)}svg .clipped{fill:var(--mute);font-size:10px}svg .empty{fill:var(--mute)}
svg #cursor{stroke:#24292f;stroke-width:1;stroke-dasharray:3 3}svg #cursor-label{font-size:11px;fill:#24292f}
.legend{color:var(--mute);font-size:12px;margin:6px 0}
.key{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;
vertical-align:middle}.key.rate{height:3px;background:var(--rate)}.key.fail{background:var(--bad)}
.key.p99{height:3px;background:var(--p99)}.key.window{background:var(--win);border:1px solid #9cd0f4}
.key.action{height:3px;background:#6639ba}.key.starting{background:var(--starting)}.key.serving{background:var(--serving)}
.key.gap-ok{background:rgba(26,127,55,.35);margin-right:0}.key.gap-short{background:rgba(207,34,46,.45);margin-left:1px}
.sym{margin:0 3px 0 10px;color:#24292f}.sym.ready{color:var(--ok)}.sym.deleted{color:#6639ba}.sym.left{color:#0969da}
.sym.stopped{color:var(--bad)}.sym.event{color:#57606a}.sym.routed{color:#0969da}
"""

_JS = """
(function () {
  "use strict";
  var svg = document.getElementById("chart");
  if (!svg) { return; }
  var t0 = parseFloat(svg.dataset.t0), t1 = parseFloat(svg.dataset.t1), zero = parseFloat(svg.dataset.zero);
  var x0 = parseFloat(svg.dataset.x0), x1 = parseFloat(svg.dataset.x1);
  var cursor = document.getElementById("cursor"), label = document.getElementById("cursor-label");
  svg.addEventListener("mousemove", function (event) {
    var box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.width / box.width;
    var x = (event.clientX - box.left) * scale;
    if (x < x0 || x > x1) {
      cursor.setAttribute("visibility", "hidden"); label.setAttribute("visibility", "hidden"); return;
    }
    var t = t0 + (x - x0) / (x1 - x0) * (t1 - t0), offset = t - zero;
    cursor.setAttribute("x1", x); cursor.setAttribute("x2", x); cursor.setAttribute("visibility", "visible");
    label.setAttribute("x", x + 4); label.setAttribute("visibility", "visible");
    label.textContent = "t" + (offset < 0 ? "\\u2212" : "+") + Math.abs(offset).toFixed(2) + " s  " +
      new Date(t * 1000).toISOString().substring(11, 23) + " UTC";
  });
  svg.addEventListener("mouseleave", function () {
    cursor.setAttribute("visibility", "hidden"); label.setAttribute("visibility", "hidden");
  });
  function highlight(pod, on) {
    document.querySelectorAll("[data-pod]").forEach(function (element) {
      if (element.getAttribute("data-pod") === pod) { element.classList.toggle("hl", on); }
    });
  }
  document.querySelectorAll("[data-pod]").forEach(function (element) {
    var pod = element.getAttribute("data-pod");
    element.addEventListener("mouseenter", function () { highlight(pod, true); });
    element.addEventListener("mouseleave", function () { highlight(pod, false); });
  });
})();
"""
