"""One lane per pod: its life (created → ready → deletion → left endpoints → stopped accepting → exited), the
gap between leaving the endpoints and stopping accepting, and the failures charged to it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from nonstop.report.html.scale import LANE, LEFT, MAX_COLUMNS, NAME_CHARS, RIGHT, WIDTH, Scale, clock, esc, opt, ts
from nonstop.report.model import PodEntry, Report

__all__ = ["failure_columns", "failure_marks", "failure_width", "lane"]


def failure_columns(report: Report, scale: Scale) -> dict[str | None, list[tuple[float, int, int]]]:
    """Per pod (None: unattributed): (column start, failures, ambiguous), at most MAX_COLUMNS columns."""
    width = failure_width(report, scale)
    folded: dict[str | None, dict[int, list[int]]] = defaultdict(dict)
    for bucket in report.failure_buckets:
        key = math.floor(ts(bucket.at) / width)
        column = folded[bucket.pod].setdefault(key, [0, 0])
        column[0] += bucket.failures
        column[1] += bucket.ambiguous
    return {pod: [(key * width, v[0], v[1]) for key, v in sorted(columns.items())] for pod, columns in folded.items()}


def failure_width(report: Report, scale: Scale) -> float:
    """Columns as fine as the buckets, folded so there are at most MAX_COLUMNS."""
    step = report.failure_bucket_seconds if report.failure_bucket_seconds > 0 else 1.0
    return step * max(1, math.ceil((scale.t1 - scale.t0) / MAX_COLUMNS / step))


def failure_marks(
    columns: Iterable[tuple[float, int, int]], y: int, scale: Scale, peak: int, pod: str, width: float
) -> str:
    out = []
    for start, count, shared in columns:
        if not scale.inside(start):
            continue
        x0, x1 = scale.x(start), scale.x(start + width)
        size = 2 + 9 * math.sqrt(count / max(peak, 1))
        note = f" ({shared} shared with other terminating pods)" if shared else ""
        out.append(
            f'<rect class="lane-fail" x="{x0:.1f}" y="{y + LANE - 2 - size:.1f}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{size:.1f}"><title>{clock(start)} {scale.rel(start)}: {count} failed request(s) charged to '
            f"{esc(pod)}{note}</title></rect>"
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


def lane(
    pod: PodEntry,
    index: int,
    y: int,
    scale: Scale,
    report: Report,
    failures: list[tuple[float, int, int]],
    peak: int,
) -> str:
    name = pod.name if len(pod.name) <= NAME_CHARS else pod.name[: NAME_CHARS - 1] + "…"
    mid = y + 15
    out = [
        f'<g class="lane {pod.role}{" odd" if index % 2 else ""}" data-pod="{esc(pod.name)}" id="lane-{index}">',
        f'<rect class="lane-bg" x="0" y="{y}" width="{WIDTH}" height="{LANE}"/>',
        f'<text class="role {pod.role}" x="8" y="{mid + 4:.1f}">{pod.role}</text>',
        (
            f'<text class="lane-name" x="{LEFT - 8}" y="{mid + 4:.1f}" text-anchor="end"><title>{esc(pod.name)}</title>'
            f"{esc(name)}</text>"
        ),
    ]
    times = {attr: opt(getattr(pod, attr)) for attr, _, _ in _MOMENTS}
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
            f"<title>{esc(pod.name)}: {label}</title></rect>"
        )
    if created is not None and created < scale.t0:
        out.append(
            f'<text class="clipped" x="{LEFT + 2}" y="{mid - 7:.1f}">◀ created {clock(created)}'
            f"<title>created {esc(scale.rel(created))}, before the chart</title></text>"
        )
    if left is not None and stopped is not None:
        out.append(_gap(pod, left, stopped, mid, scale, report))
    for attr, css, label in _MOMENTS:
        t = times[attr]
        if t is None or not scale.inside(t):
            continue
        extra = f" (exit code {pod.exit_code})" if attr == "exited_at" and pod.exit_code is not None else ""
        out.append(
            f'<g class="moment {css}"><title>{esc(pod.name)} {label}{extra}: {clock(t)} {scale.rel(t)}</title>'
            f"{_glyph(css, scale.x(t), mid)}</g>"
        )
    if pod.last_routed_at is not None and scale.inside(ts(pod.last_routed_at)):
        t = ts(pod.last_routed_at)
        out.append(
            f'<g class="moment routed"><title>{esc(pod.name)} answered its last request: {clock(t)} '
            f'{scale.rel(t)}</title><line x1="{scale.x(t):.1f}" x2="{scale.x(t):.1f}" y1="{mid - 9:.1f}" '
            f'y2="{mid + 9:.1f}"/></g>'
        )
    out.append(failure_marks(failures, y, scale, peak, pod.name, failure_width(report, scale)))
    out.append("</g>")
    return "".join(out)


def _gap(pod: PodEntry, left: float, stopped: float, mid: float, scale: Scale, report: Report) -> str:
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
    after = max(t for t in (left, stopped, opt(pod.exited_at)) if t is not None)
    anchor_x = max(x1, scale.clamp_x(after)) + 8
    anchor = "start"
    if anchor_x > WIDTH - RIGHT - 70:
        anchor_x, anchor = x0 - 4, "end"
    return (
        f'<g class="{css}"><title>{esc(pod.name)}: {esc(text)}</title>'
        f'<rect x="{x0:.1f}" y="{mid - 11:.1f}" width="{x1 - x0:.1f}" height="22"/>'
        f'<text x="{anchor_x:.1f}" y="{mid - 1:.1f}" text-anchor="{anchor}">{esc(label)}</text></g>'
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
