"""The page's geometry and clock: where an instant is drawn, how a time is written, and HTML escaping."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from nonstop.report.model import PodEntry, Report

__all__ = [
    "AXIS",
    "CHART_HEIGHT",
    "CHART_TOP",
    "LANE",
    "LEFT",
    "MARKER_ROW",
    "MAX_COLUMNS",
    "NAME_CHARS",
    "RIGHT",
    "WIDTH",
    "Scale",
    "clock",
    "esc",
    "opt",
    "pod_times",
    "stamp",
    "ts",
]

WIDTH = 1200
LEFT = 230
RIGHT = 64
CHART_TOP = 26
CHART_HEIGHT = 170
MARKER_ROW = 40
LANE = 40
AXIS = 28
MAX_COLUMNS = 300
"""At most this many time columns for the series and for each lane's failures (the page stays small)."""
NAME_CHARS = 30


@dataclass(frozen=True, slots=True)
class Scale:
    t0: float
    t1: float
    zero: float
    """The instant shown as t = 0: the rollout action (the window start), else the first instant drawn."""

    @classmethod
    def of(cls, report: Report) -> Scale:
        core = [ts(s.at) for s in report.series]
        if report.series:
            core.append(ts(report.series[-1].at) + 1)
        core += [ts(t) for t in (report.window.start, report.window.end) if t is not None]
        core += [ts(e.at) for e in report.timeline if e.source == "action"]
        # terminations and events may widen the chart a little; pods created long before the
        # load (hours, on a real cluster) are clipped and marked at the edge instead
        others = [ts(t) for pod in report.pods for t in pod_times(pod)[2:] if t is not None]
        others += [ts(e.at) for e in report.events]
        if not core:
            core = others or [ts(t) for pod in report.pods for t in pod_times(pod) if t is not None] or [0.0, 1.0]
        lo, hi = min(core), max(core)
        reach = max(5.0, 0.25 * (hi - lo))
        near = [t for t in others if lo - reach <= t <= hi + reach]
        lo, hi = min([lo, *near]), max([hi, *near])
        if hi - lo < 1.0:
            hi = lo + 1.0
        pad = 0.02 * (hi - lo)
        zero = ts(report.window.start) if report.window.start is not None else lo
        return cls(lo - pad, hi + pad, zero)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)

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


def ts(value: datetime) -> float:
    return value.timestamp()


def clock(value: datetime | float) -> str:
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return when.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def pod_times(pod: PodEntry) -> tuple[datetime | None, ...]:
    return (pod.created_at, pod.ready_at, pod.deleted_at, pod.endpoint_unready_at, pod.stopped_accepting_at,
            pod.exited_at)  # fmt: skip


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def opt(value: datetime | None) -> float | None:
    return None if value is None else ts(value)
