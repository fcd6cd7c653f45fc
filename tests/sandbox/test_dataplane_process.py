"""The data-plane process: it stops cleanly on SIGTERM and when its parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nonstop.sandbox.dataplane import dataplane_command

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def _wait_for_log(proc: subprocess.Popen[str], text: str, deadline: float) -> None:
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"the data plane never logged {text!r}")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_sigterm_stops_the_data_plane_with_exit_0(kubeconfig: str) -> None:
    cmd = [*dataplane_command(kubeconfig=kubeconfig, mode="ingress", proxy_lag=0.5), "--log-format", "json"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_log(proc, "data plane started", time.monotonic() + 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_the_data_plane_exits_when_its_parent_dies(kubeconfig: str) -> None:
    cmd = dataplane_command(kubeconfig=kubeconfig)
    parent_code = (  # the intermediate parent names itself as the data plane's parent, as cluster.py does
        f"import os, subprocess, sys, time\ncmd = {cmd!r}\ncmd[cmd.index('--parent-pid') + 1] = str(os.getpid())\n"
        "p = subprocess.Popen(cmd)\nprint(p.pid, flush=True)\ntime.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    assert parent.stderr is not None
    child = int(parent.stdout.readline())
    try:
        _wait_for_log(parent, "data plane started", time.monotonic() + 30)  # the child inherited the pipe
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child)
    finally:
        parent.stdout.close()
        parent.stderr.close()
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_a_missing_kubeconfig_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    cmd = dataplane_command(kubeconfig=str(tmp_path / "nope"))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_plane_whose_parent_died_while_it_was_starting_exits(tmp_path: Path) -> None:
    """The leaked process of issue 18: the parent was gone before the death signal was armed (slow imports
    on a loaded machine), and the orphan saw a live parent (init). `--parent-pid` names the real one.
    """
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    cmd = [*dataplane_command(kubeconfig=str(kubeconfig))]
    cmd[cmd.index("--parent-pid") + 1] = "1"  # not this test's pid: as if the real parent had died
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGTERM
