"""Live progress of a running drill: a rich panel on a terminal, plain structlog lines anywhere else.

`run_drill` calls a `ProgressSink` with a `ProgressUpdate` at every phase change and about once a
second while it waits. `progress_display()` picks the sink: on a terminal a `LiveProgress` (a rich
`Live` panel on stderr with the phase, elapsed and expected time, requests/s, failures so far and
the old/new pods ready and terminating; log lines printed meanwhile scroll above it), otherwise a
`LogProgress`, which logs one `drill phase` line per phase and one `drill progress` line every few
seconds, so a CI log gets whole lines and no cursor movement.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self, TextIO

import structlog
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from nonstop.logs import get_logger

__all__ = ["LiveProgress", "LogProgress", "ProgressSink", "ProgressUpdate", "progress_display"]

log = get_logger("drill")

PHASES = ("preflight", "settle", "warm-up", "rollout", "cool-down", "judging", "done")
"""The phases in order; `rollout` is the drill window (the rollout and its terminations)."""


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Where a drill is, as `run_drill` sees it at `at` (epoch seconds)."""

    drill: str
    phase: str
    at: float
    started_at: float
    """When the drill started (epoch seconds)."""
    phase_started_at: float
    phase_seconds: float | None
    """The phase's planned length (warm-up, cool-down) or its bound (settle, rollout: the timeout); None: open."""
    expected_seconds: float | None
    """The drill's expected length from its spec: settle bound aside, warm-up + rollout bound + cool-down."""
    requests: int
    failures: int
    old_ready: int = 0
    old_terminating: int = 0
    new_ready: int = 0
    new_terminating: int = 0

    @property
    def elapsed(self) -> float:
        return max(self.at - self.started_at, 0.0)


ProgressSink = Callable[[ProgressUpdate], None]


class _Rate:
    """Requests per second over the last few seconds of updates."""

    def __init__(self, span: float = 3.0) -> None:
        self._span = span
        self._points: deque[tuple[float, int]] = deque()

    def add(self, at: float, requests: int) -> float | None:
        self._points.append((at, requests))
        while len(self._points) > 2 and at - self._points[0][0] > self._span:
            self._points.popleft()
        first_at, first = self._points[0]
        if at - first_at < 0.5:
            return None
        return max(requests - first, 0) / (at - first_at)


class LogProgress:
    """Plain lines for logs: `drill phase` at each phase change, `drill progress` every `every` seconds."""

    def __init__(self, *, every: float = 5.0) -> None:
        self._every = every
        self._phase: str | None = None
        self._last = 0.0
        self._rate = _Rate(span=every)

    def __call__(self, update: ProgressUpdate) -> None:
        rate = self._rate.add(update.at, update.requests)
        if update.phase != self._phase:
            self._phase = update.phase
            self._last = update.at
            log.info("drill phase", drill=update.drill, phase=update.phase, elapsed=round(update.elapsed, 1),
                     phase_seconds=update.phase_seconds)  # fmt: skip
            return
        if update.at - self._last < self._every:
            return
        self._last = update.at
        log.info(
            "drill progress",
            phase=update.phase,
            elapsed=round(update.elapsed, 1),
            requests=update.requests,
            requests_per_second=None if rate is None else round(rate, 1),
            failed=update.failures,
            old_ready=update.old_ready,
            old_terminating=update.old_terminating,
            new_ready=update.new_ready,
            new_terminating=update.new_terminating,
        )


class LiveProgress:
    """A rich `Live` panel redrawn in place (use on a terminal only; see `progress_display`)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._latest: ProgressUpdate | None = None
        self._rate: float | None = None
        self._rates = _Rate()
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4, transient=True,
                          redirect_stdout=False, redirect_stderr=True)  # fmt: skip

    def __call__(self, update: ProgressUpdate) -> None:
        self._rate = self._rates.add(update.at, update.requests)
        self._latest = update

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()

    def render(self) -> RenderableType:
        """The panel for the latest update (what the terminal shows)."""
        return self._render()

    def _render(self) -> RenderableType:
        update = self._latest
        if update is None:
            return Text("drill starting…", style="dim")
        steps = Text()
        current = PHASES.index(update.phase) if update.phase in PHASES else -1
        for index, phase in enumerate(PHASES):
            style = "bold reverse" if index == current else ("green" if index < current else "dim")
            steps.append(f" {phase} ", style=style)
        now = max(update.at, time.time())  # the panel keeps counting while a phase blocks (e.g. settle)
        phase_time = f"{now - update.phase_started_at:.0f} s"
        if update.phase_seconds is not None:
            phase_time += f" of {'≤ ' if update.phase in ('settle', 'rollout') else ''}{update.phase_seconds:g} s"
        total = f"{now - update.started_at:.0f} s"
        if update.expected_seconds is not None:
            total += f" (expected ≤ {update.expected_seconds:.0f} s)"
        rate = "–" if self._rate is None else f"{self._rate:.0f}"
        failed = Text(str(update.failures), style="bold red" if update.failures else "green")
        grid = Table.grid(padding=(0, 2))
        for _ in range(4):
            grid.add_column()
        grid.add_row("phase", Text(f"{update.phase} {phase_time}", style="bold"), "elapsed", total)
        grid.add_row("requests/s", rate, "requests", str(update.requests))
        grid.add_row("failures", failed, "", "")
        grid.add_row("old pods", f"{update.old_ready} ready, {update.old_terminating} terminating",
                     "new pods", f"{update.new_ready} ready, {update.new_terminating} terminating")  # fmt: skip
        return Group(Text(f"nonstop drill {update.drill}", style="bold"), steps, grid)


@contextmanager
def progress_display(console: Console | None = None, *, every: float = 5.0) -> Iterator[ProgressSink]:
    """The sink for this terminal: `LiveProgress` when stderr is an interactive terminal, else `LogProgress`.

    While the live panel shows, structlog writes through rich's stderr proxy, so log lines scroll
    above the panel instead of tearing it.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal or console.is_dumb_terminal:
        yield LogProgress(every=every)
        return
    with LiveProgress(console) as live:
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
        try:
            yield live
        finally:
            structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_unproxied(sys.stderr)))


def _unproxied(stream: TextIO) -> TextIO:
    original: TextIO = getattr(stream, "rich_proxied_file", stream)
    return original
