"""The Locust worker's script (a daemon step): it must not exit by itself once the drill has finished.

Argo marks a daemon pod that exits on its own — even with exit code 0 — as a failed node, which
fails the workflow (the real controller's operator.go; seen on it as a fixed manifest's workflow
Failed when a worker left before the steps around it ended). So once the drill pod has finished the
worker idles until Argo's SIGTERM, and exits 0 on it. Run here by a real `sh`, with a `kubectl`
on PATH that reports the drill pod's phase.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from workflows.drill_template import WORKER_SCRIPT


def _start(tmp_path: Path, phase: str) -> subprocess.Popen[bytes]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/kubectl.calls\nprintf %s "{phase}"\n')
    kubectl.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "WORKFLOW_NAME": "wf", "LOCUST_MASTER_PORT": "5557"}
    env |= {"LOCUSTFILE": "x.py", "STREAM_PLUGIN": "y.py"}
    return subprocess.Popen(["sh", "-c", WORKER_SCRIPT], env=env, start_new_session=True)


def _calls(tmp_path: Path) -> int:
    calls = tmp_path / "kubectl.calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_a_worker_whose_drill_finished_waits_for_sigterm_and_then_exits_0(tmp_path: Path) -> None:
    worker = _start(tmp_path, "Succeeded")
    try:
        deadline = time.monotonic() + 10
        while _calls(tmp_path) == 0:  # it asked for the drill pod's phase
            assert time.monotonic() < deadline, "the worker never asked for the drill pod's phase"
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=3)  # the old script exited here at once
        assert worker.poll() is None, "a daemon that exits by itself is a failed node to Argo"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # the shell if it is still there, and its idle `sleep`
        worker.wait()
