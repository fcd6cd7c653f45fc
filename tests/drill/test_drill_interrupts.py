"""SIGINT/SIGTERM to `nonstop drill` in each phase: CONTRACT.md's exit code, load stopped, Lease released,
report and fail decision once the rollout started, and no process of the drill's tree left behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from drill_helpers import apply, drill_command, drill_spec, lease_writes, manifest, writes
from kubernetes import client

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _tree(root: int) -> dict[int, str]:
    """Every live descendant of `root`: pid → start time (so a reused pid is not mistaken for it)."""
    parents: dict[int, int] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
            starts[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = starts[pid]
                frontier.append(pid)
    return found


def _alive(pid: int, start: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[19] == start and fields[0] != "Z"


class RunningDrill:
    """`nonstop drill` as a subprocess whose JSON log lines are read as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)  # fmt: skip
        self.lines: list[str] = []
        self.stdout = ""
        self._readers = [threading.Thread(target=self._read_err, daemon=True),
                         threading.Thread(target=self._read_out, daemon=True)]  # fmt: skip
        for reader in self._readers:
            reader.start()
        self.children: dict[int, str] = {}
        self.cmdlines: dict[int, str] = {}

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def phases(self) -> list[str]:
        out = []
        for line in list(self.lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "drill phase":
                out.append(entry["phase"])
        return out

    def wait_for_phase(self, phase: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while phase not in self.phases():
            assert self.proc.poll() is None, "".join(self.lines)[-3000:]
            assert time.monotonic() < deadline, f"phase {phase} never came: {self.phases()}"
            time.sleep(0.05)

    def interrupt(self, sig: signal.Signals) -> int:
        self.children = _tree(self.proc.pid)
        self.cmdlines = {pid: _cmdline(pid) for pid in self.children}
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        self.close()
        return code

    def close(self) -> None:
        """Kill the drill if a failed assertion left it running; close the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def _session(sid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (f := _stat(int(e.name))) is not None and int(f[3]) == sid]  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _assert_nothing_left(drill: RunningDrill, *, load_was_running: bool) -> None:
    """The drill's process tree (seen just before the signal) is gone, the load's Locust included."""
    if load_was_running:
        assert any("locust" in cmd for cmd in drill.cmdlines.values()), drill.cmdlines
    deadline = time.monotonic() + 10  # the kernel reaps PDEATHSIG'd children right after the drill exits
    while True:
        left = {pid for pid, start in drill.children.items() if _alive(pid, start)} | set(_session(drill.proc.pid))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == set(), f"processes of the drill still running: {left}"


def _lease_gone(sandbox: Any, namespace: str) -> bool:
    api = client.CoordinationV1Api(sandbox.api_client())
    return api.list_namespaced_lease(namespace).items == []


@pytest.fixture
def start() -> Iterator[Callable[[list[str]], RunningDrill]]:
    """Start drills; teardown kills any still running and closes their pipes."""
    started: list[RunningDrill] = []

    def run(argv: list[str]) -> RunningDrill:
        started.append(RunningDrill(argv))
        return started[-1]

    try:
        yield run
    finally:
        for drill in started:
            drill.close()


BEFORE = [
    pytest.param("settle", signal.SIGINT, id="settle-SIGINT"),
    pytest.param("warm-up", signal.SIGTERM, id="warm-up-SIGTERM"),
]


@pytest.mark.parametrize(("phase", "sig"), BEFORE)
def test_interrupt_before_the_rollout_exits_2_with_nothing_changed(
    sandbox: Any, namespace: str, tmp_path: Path, start: Any, phase: str, sig: signal.Signals
) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    if phase == "settle":  # the target never gets a ready endpoint: the drill settles until interrupted
        client.AppsV1Api(sandbox.api_client()).patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 0}})
    spec = drill_spec(namespace, load={"warmupSeconds": 60})
    argv, report_dir = drill_command(sandbox, spec, tmp_path)
    mark = sandbox.mark()
    drill = start(argv)
    drill.wait_for_phase(phase)
    code = drill.interrupt(sig)
    assert code == 2, drill.stderr[-3000:]
    assert "interrupted before the rollout started; nothing was changed" in drill.stderr
    log = sandbox.requests(since=mark)
    assert writes(log) == []
    verbs = [e["verb"] for e in lease_writes(log)]
    # taken after preflight, renewed every third of its duration while the drill waits (a loaded machine
    # can reach the phase after a renewal), released
    assert (verbs[0], verbs[-1], set(verbs[1:-1]) <= {"update"}) == ("create", "delete", True), verbs
    assert _lease_gone(sandbox, namespace)
    assert not report_dir.exists()
    _assert_nothing_left(drill, load_was_running=phase == "warm-up")


def test_interrupt_during_preflight_exits_2_before_taking_the_lease(
    sandbox: Any, namespace: str, tmp_path: Path, faults: Any, start: Any
) -> None:
    """Each access review takes 0.5 s; the signal lands between two of them."""
    apply(sandbox, namespace, manifest("after"), tmp_path)
    faults(latencyMs=500, resources=["selfsubjectaccessreviews"], callers=["nonstop/"])
    argv, report_dir = drill_command(sandbox, drill_spec(namespace), tmp_path)
    mark = sandbox.mark()
    drill = start(argv)
    deadline = time.monotonic() + 60
    while not [e for e in sandbox.requests(since=mark) if e["resource"] == "selfsubjectaccessreviews"]:
        assert drill.proc.poll() is None, drill.stderr[-3000:]
        assert time.monotonic() < deadline, "preflight never asked for access"
        time.sleep(0.05)
    started = time.monotonic()
    code = drill.interrupt(signal.SIGINT)
    assert code == 2, drill.stderr[-3000:]
    assert time.monotonic() - started < 10  # not after the remaining access reviews
    assert "interrupted before the rollout started; nothing was changed" in drill.stderr
    log = sandbox.requests(since=mark)
    assert writes(log) == []
    assert lease_writes(log) == []
    assert drill.phases() == []  # it never got past preflight
    assert not report_dir.exists()
    _assert_nothing_left(drill, load_was_running=False)


AFTER = [
    pytest.param("rollout", signal.SIGTERM, "SIGINT/SIGTERM after the rollout started", id="rollout-SIGTERM"),
    pytest.param("cool-down", signal.SIGINT, "SIGINT/SIGTERM during the cool-down", id="cool-down-SIGINT"),
]


@pytest.mark.parametrize(("phase", "sig", "reason"), AFTER)
def test_interrupt_after_the_rollout_started_exits_3_with_report_and_fail_decision(
    sandbox: Any, namespace: str, tmp_path: Path, start: Any, phase: str, sig: signal.Signals, reason: str
) -> None:
    apply(sandbox, namespace, manifest("after"), tmp_path)
    spec = drill_spec(namespace, rollout={"strategy": "image", "image": "nonstop/sample-app:v2"},
                      load={"cooldownSeconds": 60})  # fmt: skip
    argv, report_dir = drill_command(sandbox, spec, tmp_path)
    drill = start(argv)
    drill.wait_for_phase(phase)
    code = drill.interrupt(sig)
    assert code == 3, drill.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["verdict"] == "inconclusive"
    assert any(reason in r for r in report["verdictReasons"]), report["verdictReasons"]
    assert (report["decision"], report["action"]) == ("rollback", "rolled-back")
    live = client.AppsV1Api(sandbox.api_client()).read_namespaced_deployment("web", namespace)
    assert live.spec.template.spec.containers[0].image == "nonstop/sample-app:v1"  # the fail decision undid it
    assert _lease_gone(sandbox, namespace)
    _assert_nothing_left(drill, load_was_running=True)
