"""`nonstop sandbox up --control-plane real --with <controller>` for a test module: started, ready, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def require_built(binary: Path, what: str) -> None:
    """Fail under CI=true, else skip, when `binary` (built by `make controlplane`) is missing."""
    if binary.exists():
        return
    reason = f"{what} is not built ({binary}): run `make controlplane`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def real_sandbox_with(controller: str, tmp: Path) -> Iterator[Path]:
    """Run sandbox up with `controller` until the kubeconfig is written (≤ 240 s); yield it; SIGTERM at the end.

    Its output goes to `tmp/up.log`, quoted when it exits or does not get ready in time.
    """
    kubeconfig, log_path = tmp / "kubeconfig", tmp / "up.log"
    argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", "--control-plane", "real"]
    argv += ["--with", controller, "--kubeconfig-out", str(kubeconfig)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not kubeconfig.exists():
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        yield kubeconfig
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
