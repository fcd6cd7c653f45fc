"""Process supervision: the Locust processes of one run, started, watched, stopped and reaped.

No child outlives the runner: each Locust process runs in its own process group with
PR_SET_PDEATHSIG = SIGKILL set before it execs Locust (so it dies with the thread that started it,
which lives until every child is reaped). The first process is the lead (the master, or the single
process): its exit code is the run's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nonstop.logs import get_logger
from nonstop.toolkit import children

__all__ = ["Child", "LocustProcesses", "free_port", "last_line"]

# Runs in each child before it becomes Locust: die with the starting thread, optionally pin CPUs, exec.
# The child's path may not hold nonstop (another working directory, a bare environment): it is given.
_LAUNCHER = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(children.__file__).resolve().parents[2])!r})
from nonstop.toolkit.children import die_with_parent
if not die_with_parent(int(sys.argv[1]), signal.SIGKILL, orphan_exit=70):
    sys.exit("prctl(PR_SET_PDEATHSIG) failed")
if sys.argv[2]:
    os.sched_setaffinity(0, {{int(c) for c in sys.argv[2].split(",")}})
os.execv(sys.executable, [sys.executable, "-m", "locust", *sys.argv[3:]])
"""


@dataclass
class Child:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    exited: bool = False


class LocustProcesses:
    """The Locust processes of one run, lead first; started and reaped on the runner's thread (the launcher's
    PR_SET_PDEATHSIG fires when that thread ends).
    """

    def __init__(self, *, log_dir: Path, cpus: Sequence[int]) -> None:
        self._log_dir = log_dir
        self._cpus = tuple(cpus)
        self._log = get_logger("load")
        self.children: list[Child] = []
        self.exit_code: int | None = None
        """Exit code of the lead once it ended, else None."""

    @property
    def lead(self) -> Child | None:
        return self.children[0] if self.children else None

    def spawn(self, role: str, args: list[str], env: dict[str, str]) -> None:
        """Start ``python -m locust *args`` through the launcher, its output in ``<log_dir>/<role>.log``."""
        log = self._log_dir / f"{role}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), ",".join(map(str, self._cpus)), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._log_dir,
                env=env,
                start_new_session=True,
            )
        self._log.debug("locust started", role=role, pid=popen.pid)
        self.children.append(Child(role, popen, log))

    def poll(self, *, stopping: bool) -> None:
        """Reap the children that exited; a non-zero exit is a warning unless a stop was asked for."""
        for child in self.children:
            if not child.exited and _has_exited(child.popen.pid):
                child.exited = True
                _killpg(child.popen.pid)  # anything it left in its group; it stays a zombie until reaped
                code = child.popen.wait()
                if child is self.children[0]:
                    self.exit_code = code
                log = self._log.info if code == 0 or stopping else self._log.warning
                log("locust exited", role=child.role, pid=child.popen.pid, code=code)

    def terminate_lead(self) -> None:
        lead = self.children[0]
        if not lead.exited:
            with contextlib.suppress(ProcessLookupError):
                lead.popen.send_signal(signal.SIGTERM)

    def terminate_all(self) -> None:
        for child in self.children:
            if not child.exited:
                with contextlib.suppress(ProcessLookupError):
                    child.popen.send_signal(signal.SIGTERM)

    def kill_all(self) -> None:
        for child in self.children:
            if not child.exited:
                _killpg(child.popen.pid)

    def reap_all(self) -> None:
        self.kill_all()
        for child in self.children:
            if not child.exited:
                code = child.popen.wait()
                child.exited = True
                if child is self.children[0]:
                    self.exit_code = code


def _has_exited(pid: int) -> bool:
    """True once the child exited, without reaping it (so its process group id stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def last_line(log: Path) -> str:
    """The last meaningful line of a Locust log: usually the error that stopped it."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")) and "Shutting down" not in text:
            return text[:300]
    return ""
