"""Running a command on a pseudo-terminal, as a person's shell would, and reading what it wrote."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


def run_in_pty(argv: list[str], *, timeout: float, env: dict[str, str]) -> tuple[int, str]:
    """Run `argv` with stdin, stdout and stderr on a pseudo-terminal; returns its exit code and everything it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")
