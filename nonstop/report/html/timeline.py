"""The timeline SVG: the drill window, the grid and axis, the series chart, rollout actions and events as
markers, then the pod lanes; and its legend.
"""

from __future__ import annotations

from collections import defaultdict

from nonstop.report.html.lanes import failure_columns, failure_marks, failure_width, lane
from nonstop.report.html.scale import (
    AXIS,
    CHART_HEIGHT,
    CHART_TOP,
    LANE,
    LEFT,
    MARKER_ROW,
    RIGHT,
    WIDTH,
    Scale,
    clock,
    esc,
    ts,
)
from nonstop.report.html.series import series_chart
from nonstop.report.model import EventEntry, Report

__all__ = ["LEGEND", "timeline_svg"]


def timeline_svg(report: Report, scale: Scale) -> str:
    lanes = list(report.pods)
    unattributed = sum(b.failures for b in report.failure_buckets if b.pod is None)
    lane_count = len(lanes) + (1 if unattributed else 0)
    lanes_top = CHART_TOP + CHART_HEIGHT + MARKER_ROW
    height = lanes_top + max(lane_count, 1) * LANE + AXIS
    out = [
        (
            f'<svg id="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
            f'aria-label="{esc("timeline of " + report.drill)}" data-t0="{scale.t0:.3f}" data-t1="{scale.t1:.3f}" '
            f'data-zero="{scale.zero:.3f}" data-x0="{LEFT}" data-x1="{WIDTH - RIGHT}" xmlns="http://www.w3.org/2000/svg">'
        )
    ]
    out.append(_window_band(report, scale, height))
    out.append(_grid(scale, height))
    out.append(series_chart(report.series, scale, report))
    out.append(_markers(report, scale, height))
    failures = failure_columns(report, scale)
    peak = max((count for columns in failures.values() for _, count, _ in columns), default=0)
    for index, pod in enumerate(lanes):
        out.append(lane(pod, index, lanes_top + index * LANE, scale, report, failures.get(pod.name, []), peak))
    if unattributed:
        y = lanes_top + len(lanes) * LANE
        out.append(
            f'<g class="lane unattributed"><text class="lane-name" x="{LEFT - 8}" y="{y + 19}" '
            f'text-anchor="end">unattributed failures</text>'
        )
        out.append(failure_marks(failures.get(None, []), y, scale, peak, "no pod", failure_width(report, scale)))
        out.append("</g>")
    if not lanes:
        out.append(f'<text class="empty" x="{LEFT}" y="{lanes_top + 19}">no pod of the target was seen</text>')
    out.append(_axis(scale, height - AXIS + 4))
    out.append(f'<line id="cursor" x1="0" x2="0" y1="{CHART_TOP}" y2="{height - AXIS}" visibility="hidden"/>')
    out.append(f'<text id="cursor-label" x="0" y="{CHART_TOP - 8}" visibility="hidden"></text>')
    out.append("</svg>")
    return "".join(out)


def _window_band(report: Report, scale: Scale, height: int) -> str:
    start, end = report.window.start, report.window.end
    if start is None:
        return ""
    x0 = scale.clamp_x(ts(start))
    x1 = scale.clamp_x(ts(end)) if end is not None else WIDTH - RIGHT
    label = "drill window" if end is not None else "drill window (never closed)"
    return (
        f'<rect class="window" x="{x0:.1f}" y="{CHART_TOP}" width="{max(x1 - x0, 1):.1f}" '
        f'height="{height - AXIS - CHART_TOP}"><title>{esc(label)}</title></rect>'
    )


def _grid(scale: Scale, height: int) -> str:
    lines = [
        f'<line class="grid" x1="{scale.x(t):.1f}" x2="{scale.x(t):.1f}" y1="{CHART_TOP}" y2="{height - AXIS}"/>'
        for t in scale.ticks()
    ]
    return "".join(lines)


def _axis(scale: Scale, y: int) -> str:
    out = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y - 4}" y2="{y - 4}"/>']
    for t in scale.ticks():
        label = "t=0" if abs(t - scale.zero) < 1e-6 else _short_rel(t - scale.zero)
        out.append(f'<text class="tick" x="{scale.x(t):.1f}" y="{y + 12}" text-anchor="middle">{label}</text>')
    return "".join(out)


def _short_rel(offset: float) -> str:
    size = abs(offset)
    sign = "+" if offset > 0 else "−"
    text = f"{size:.1f}".rstrip("0").rstrip(".") if size < 10 else f"{size:.0f}"
    return f"{sign}{text} s"


def _markers(report: Report, scale: Scale, height: int) -> str:
    """Rollout actions as dashed lines across the chart and lanes; Kubernetes events as diamonds in a row."""
    row = CHART_TOP + CHART_HEIGHT
    out = [f'<text class="series-title" x="{LEFT - 8}" y="{row + 30}" text-anchor="end">events</text>']
    actions = [e for e in report.timeline if e.source == "action" and scale.inside(ts(e.at))]
    taken: list[tuple[float, float, int]] = []
    for action in actions:
        x = scale.x(ts(action.at))
        label = action.what.split(":")[0].split("(")[0].strip()
        if len(label) > 28:
            label = label[:27] + "…"
        anchor = "end" if x > WIDTH - RIGHT - 150 else "start"
        dx = -3 if anchor == "end" else 3
        span = (x - 7.5 * len(label) - 8, x) if anchor == "end" else (x, x + 7.5 * len(label) + 8)
        label_y = next(
            (
                y
                for y in (row + 13, CHART_TOP - 8, CHART_TOP + 12, CHART_TOP + 28)
                if not any(a < span[1] and span[0] < b and y == ty for a, b, ty in taken)
            ),
            row + 13,
        )
        taken.append((span[0], span[1], label_y))
        out.append(
            f'<g class="action"><title>{esc(clock(action.at) + " " + scale.rel(ts(action.at)) + ": " + action.what)}'
            f'</title><line x1="{x:.1f}" x2="{x:.1f}" y1="{CHART_TOP}" y2="{height - AXIS}"/>'
            f'<text x="{x + dx:.1f}" y="{label_y}" text-anchor="{anchor}">{esc(label)}</text></g>'
        )
    groups: dict[int, list[EventEntry]] = defaultdict(list)
    for event in report.events:
        t = ts(event.at)
        if scale.inside(t):
            groups[round(scale.x(t) / 6)].append(event)
    for key in sorted(groups):
        events = groups[key]
        x = scale.x(ts(events[0].at))
        warning = any((e.type or "").lower() == "warning" for e in events)
        lines = [f"{clock(e.at)} {e.type or ''} {e.reason} {e.object}: {e.message}" for e in events[:12]]
        if len(events) > 12:
            lines.append(f"… and {len(events) - 12} more")
        y = row + 26
        out.append(
            f'<g class="event{" warning" if warning else ""}"><title>{esc(chr(10).join(lines))}</title>'
            f'<path d="M{x:.1f},{y - 6} l5,6 l-5,6 l-5,-6 z"/>'
            + (f'<text x="{x + 6:.1f}" y="{y - 4}">{len(events)}</text>' if len(events) > 1 else "")
            + "</g>"
        )
    return "".join(out)


LEGEND = (
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
