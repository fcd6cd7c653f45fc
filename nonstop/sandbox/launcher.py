"""Run `nonstop sandbox up` as a subprocess: start it, wait for its kubeconfig, stop it cleanly.

The kubeconfig is written last (atomically), so its existence means the API serves and the
applied objects exist. Used by the test fixture, `nonstop drill --sandbox` and `nonstop demo`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml

from nonstop.errors import SandboxStartError

__all__ = ["SandboxProcess"]


class SandboxProcess:
    """A `nonstop sandbox up` subprocess and the kubeconfig it writes."""

    def __init__(
        self,
        *,
        apply: Sequence[Path] = (),
        proxy_lag: float | None = None,
        data_plane: str | None = None,
        add_lag: float | None = None,
        remove_lag: float | None = None,
        retry_stale_connections: bool = True,
        network_delay_ms: float = 0.0,
        nodes: int = 1,
        control_plane: str = "embedded",
        extra_args: Sequence[str] = (),
        workdir: Path | None = None,
        startup_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nonstop-sandbox-run-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.log_path = workdir / "sandbox.log"
        args = ["--kubeconfig-out", str(self.kubeconfig)]
        for manifest in apply:
            args += ["--apply", str(manifest)]
        if proxy_lag is not None:
            args += ["--proxy-lag", str(proxy_lag)]
        if data_plane is not None:
            args += ["--data-plane", data_plane]
        if add_lag is not None:
            args += ["--add-lag", str(add_lag)]
        if remove_lag is not None:
            args += ["--remove-lag", str(remove_lag)]
        if not retry_stale_connections:
            args.append("--no-retry-stale-connections")
        if network_delay_ms:
            args += ["--network-delay-ms", str(network_delay_ms)]
        if nodes != 1:
            args += ["--nodes", str(nodes)]
        if control_plane != "embedded":
            args += ["--control-plane", control_plane]
        self.argv = [sys.executable, "-m", "nonstop", "--log-format", "json", "sandbox", "up", *args, *extra_args]
        self.startup_timeout = startup_timeout
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Self:
        """Start the subprocess and block until its kubeconfig exists (or raise SandboxStartError)."""
        self.kubeconfig.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while not self.kubeconfig.exists():
            if self.process.poll() is not None:
                raise SandboxStartError(
                    f"the sandbox exited with code {self.process.returncode} before it was ready: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxStartError(
                    f"the sandbox was not ready after {self.startup_timeout:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.02)
        config = yaml.safe_load(self.kubeconfig.read_text())
        self.url = str(config["clusters"][0]["cluster"]["server"])
        return self

    def log_tail(self, lines: int = 20) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL if it hangs; returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.process = None
        code = proc.returncode
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
