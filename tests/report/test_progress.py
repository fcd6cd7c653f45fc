"""Drill progress: a live panel on a terminal (checked through a pty), whole log lines anywhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rich.console import Console
from structlog.testing import capture_logs
from terminal_helpers import run_in_pty

from nonstop.report.progress import LiveProgress, LogProgress, ProgressUpdate

T = 1_800_000_000.0


def _update(phase: str, at: float, requests: int = 0, failures: int = 0, **pods: int) -> ProgressUpdate:
    return ProgressUpdate(drill="web-restart", phase=phase, at=at, started_at=T, phase_started_at=T,
                          phase_seconds=90.0 if phase == "rollout" else 2.0, expected_seconds=95.0,
                          requests=requests, failures=failures, **pods)  # fmt: skip


def test_log_progress_says_each_phase_once_and_counters_every_few_seconds() -> None:
    """Phase changes are logged at once; counters at most every `every` seconds, with the request rate."""
    sink = LogProgress(every=5.0)
    with capture_logs() as logs:
        sink(_update("warm-up", T))
        for second in range(1, 12):
            sink(_update("rollout" if second >= 2 else "warm-up", T + second, requests=100 * second, failures=3,
                         old_ready=1, new_terminating=0))  # fmt: skip
    phases = [entry["phase"] for entry in logs if entry["event"] == "drill phase"]
    assert phases == ["warm-up", "rollout"]
    progress = [entry for entry in logs if entry["event"] == "drill progress"]
    assert [entry["elapsed"] for entry in progress] == [7.0]
    assert progress[0]["requests_per_second"] == 100.0
    assert progress[0]["failed"] == 3
    assert progress[0]["old_ready"] == 1


def test_live_panel_shows_phase_time_rate_failures_and_pods() -> None:
    """The panel a person watches: phase and its time, elapsed and expected, requests/s, failures, pods."""
    console = Console(record=True, width=120, force_terminal=True)
    live = LiveProgress(console)
    live(_update("rollout", T + 10, requests=1000))
    live(_update("rollout", T + 12, requests=1400, failures=17, old_ready=1, old_terminating=2, new_ready=3))
    console.print(live.render())
    text = console.export_text()
    assert "nonstop drill web-restart" in text
    assert "rollout" in text
    assert "expected ≤ 95 s" in text
    assert "requests/s" in text
    assert " 200 " in text  # (1400 - 1000) / 2 s
    assert "17" in text
    assert "1 ready, 2 terminating" in text
    assert "3 ready, 0 terminating" in text


_SCRIPT = """
import time
from nonstop.logs import configure_logging, get_logger
from nonstop.report.progress import ProgressUpdate, progress_display
configure_logging()
start = time.time()
with progress_display(every=0.2) as sink:
    for i, phase in enumerate(["settle", "warm-up", "rollout", "rollout", "rollout", "cool-down", "done"]):
        sink(ProgressUpdate(drill="pty-drill", phase=phase, at=time.time(), started_at=start,
                            phase_started_at=start, phase_seconds=5.0, expected_seconds=20.0,
                            requests=50 * i, failures=i, old_ready=1, new_ready=i % 2))
        if i == 3:
            get_logger("test").info("a log line during the drill")
        time.sleep(0.3)
print("finished")
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    return {**env, "TERM": "xterm-256color"}


def test_on_a_terminal_the_panel_is_redrawn_in_place() -> None:
    """Under a pty: cursor movements redraw the panel, its phases show, and log lines still come through."""
    code, output = run_in_pty([sys.executable, "-c", _SCRIPT], timeout=60, env=_env())
    assert code == 0, output[-2000:]
    assert "\x1b[2K" in output or "\x1b[1A" in output  # rich Live erasing and redrawing its lines
    assert "nonstop drill pty-drill" in output
    assert "cool-down" in output
    assert "a log line during the drill" in output
    assert "finished" in output


def test_off_a_terminal_progress_is_plain_json_lines() -> None:
    """Through pipes (a CI log): one JSON object per line, no escape sequence, each phase logged."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, env=_env(),
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b" not in done.stderr
    assert "\x1b" not in done.stdout
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    phases = [line["phase"] for line in lines if line["event"] == "drill phase"]
    assert phases == ["settle", "warm-up", "rollout", "cool-down", "done"]
    assert any(line["event"] == "a log line during the drill" for line in lines)
    assert done.stdout == "finished\n"
