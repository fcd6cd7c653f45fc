"""LoadRunner with external workers: the master alone, workers started the way the workflow's pods start them."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drill_helpers import apply, drill_command, drill_spec, manifest
from test_load import Collector, alive, locust_counts, spec, url, wait_until

from nonstop.drill.load import (
    BUNDLED_LOCUSTFILE,
    STREAM_PLUGIN,
    ExternalWorkers,
    LoadRunner,
    external_workers_from_env,
)
from nonstop.errors import InputError, LoadFailed
from workflows.drill_template import WORKER_IDLE_SECONDS, drill_template
from workflows.names import LOCUST_ROLE_LABEL

__all__ = ["url"]  # the fixture, re-used

# Stands in for the API server the worker pods ask: the drill pod's phase (from a file) and its IP.
FAKE_KUBECTL = """#!/bin/sh
echo "$*" >> "$KUBECTL_CALLS"
case "$*" in
  *status.phase*) cat "$DRILL_PHASE" ;;
  *status.podIP*) echo 127.0.0.1 ;;
esac
"""


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _worker_template() -> dict[str, Any]:
    rendered = drill_template(image="nonstop:test").to_dict()
    (worker,) = [t for t in rendered["spec"]["templates"] if t["name"] == "locust-worker"]
    return worker


def _span(sink: Collector) -> float:
    starts = [s.at for s in sink.snapshot()]
    return max(starts) - min(starts) if starts else 0.0


def _rate(sink: Collector) -> float:
    """Requests per second started in the 1.5 s before the last half second of records (past ramp-up)."""
    starts = [s.at for s in sink.snapshot()]
    end = max(starts) - 0.5
    return sum(1 for at in starts if end - 1.5 <= at < end) / 1.5


class WorkerPods:
    """Runs the rendered `locust-worker` container's script as local processes, kubectl faked."""

    def __init__(self, tmp_path: Path, master_port: int) -> None:
        container = _worker_template()["container"]
        assert container["command"] == ["sh", "-c"]
        self.script: str = container["args"][0]
        inputs = {"locustfile": str(BUNDLED_LOCUSTFILE), "stream-plugin": str(STREAM_PLUGIN)}
        env = {e["name"]: e["value"] for e in container["env"]}
        for name, value in inputs.items():
            env = {k: v.replace("{{inputs.parameters." + name + "}}", value) for k, v in env.items()}
        env["WORKFLOW_NAME"] = "drill-abc12"
        assert env["LOCUST_MASTER_PORT"] == "5557"
        env["LOCUST_MASTER_PORT"] = str(master_port)  # a free port instead: tests run side by side
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        kubectl = bin_dir / "kubectl"
        kubectl.write_text(FAKE_KUBECTL)
        kubectl.chmod(0o755)
        self.phase = tmp_path / "phase"
        self.phase.write_text("Running")
        self.calls = tmp_path / "kubectl-calls"
        # Nothing else: no NONSTOP_LOAD_* variable reaches a worker pod.
        self.env = {
            **env,
            "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": str(tmp_path),
            "DRILL_PHASE": str(self.phase),
            "KUBECTL_CALLS": str(self.calls),
        }
        self.cwd = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for i in range(count):
            log = (self.cwd / f"worker-pod-{i}.log").open("wb")
            with log:
                self.procs.append(
                    subprocess.Popen(
                        ["sh", "-c", self.script],
                        env=self.env,
                        cwd=self.cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[tuple[WorkerPods, ExternalWorkers]]:
    master_port, sink_port = _free_ports(2)
    external = ExternalWorkers(master_port=master_port, sink_port=sink_port, bind_host="127.0.0.1", wait_seconds=30)
    workers = WorkerPods(tmp_path, master_port)
    yield workers, external
    workers.kill()


@pytest.mark.slow
def test_two_worker_pods_stream_to_a_master_started_alone(
    url: str, tmp_path: Path, pods: tuple[WorkerPods, ExternalWorkers]
) -> None:
    """Workers started with only the rendered command get sink, token and settings from the master."""
    workers, external = pods
    sink = Collector()
    logs = tmp_path / "logs"
    runner = LoadRunner(
        host=url, load=spec(users=4, workers=2, userRate=5), on_samples=sink, log_dir=logs, external_workers=external
    )
    runner.start()
    try:
        assert len(runner.pids) == 1  # the master only
        workers.start(2)
        runner.wait_ready(timeout=60)
        live = runner.stats()
        assert (live.streaming, live.users) == (2, 4)
        wait_until(
            lambda: len(runner.stats().by_process) == 2 and min(runner.stats().by_process.values()) >= 15,
            what="15 records from each worker",
        )
        assert runner.running  # the records arrived while the load runs
        streamed = sorted(runner.stats().pids.values())
        assert runner.pids[0] not in streamed
        assert all(alive(pid) for pid in streamed)
        assert {s.pod for s in sink.samples} == {"pod-a"}
        # 4 users at the master's userRate of 5/s, not the locustfile's default of 20/s: the workers
        # run with the master's settings.
        wait_until(lambda: _span(sink) >= 2.5, what="2.5 s of load")
        assert 12 <= _rate(sink) <= 30, _rate(sink)
        workers.phase.write_text("Succeeded")  # what the workers' loop sees once the drill pod ended
    finally:
        runner.stop()
    assert runner.exit_code == 0
    for proc in workers.procs:  # master quit them, drill pod done: each pod's script idles until Argo stops it
        wait_until(functools.partial(_idle, proc.pid), what="the worker pod's script idling after the drill")
        assert proc.poll() is None  # a daemon that left by itself would be a failed node to Argo
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        os.killpg(proc.pid, signal.SIGKILL)  # its idle sleep, as the pod's end would
    assert not any(alive(pid) for pid in [*runner.pids, *streamed])
    requests, failures = locust_counts(runner)
    assert requests == sink.count() == runner.stats().requests
    assert failures == runner.stats().failures == 0
    assert LOCUST_ROLE_LABEL + "=master" in workers.calls.read_text()


def test_the_sink_drops_a_connection_without_the_token(pods: tuple[WorkerPods, ExternalWorkers]) -> None:
    """The sink is reachable by other hosts in this mode, so the token gate matters."""
    _, external = pods
    runner = LoadRunner(
        host="http://127.0.0.1:9", load=spec(users=1, workers=1), log_dir=None, external_workers=external
    )
    runner.start()
    try:
        with socket.create_connection(("127.0.0.1", external.sink_port), timeout=10) as intruder:
            hello = json.dumps({"token": "guess", "pid": 1}).encode() + b"\n"
            intruder.sendall(hello + b'[[1.0, 1.0, null, 200, "x"]]\n')
            try:
                closed = intruder.recv(1) == b""
            except ConnectionResetError:  # closed with the batch still unread
                closed = True
            assert closed
        stats = runner.stats()
        assert (stats.streaming, stats.requests) == (0, 0)
    finally:
        runner.stop()
    assert not any(alive(pid) for pid in runner.pids)


def test_without_workers_external_mode_is_ignored(url: str, tmp_path: Path) -> None:
    """load.workers 0 runs one local Locust process even when the workflow asks for external workers."""
    sink = Collector()
    external = ExternalWorkers(master_port=1, sink_port=2, bind_host="127.0.0.1")
    runner = LoadRunner(host=url, load=spec(), on_samples=sink, log_dir=tmp_path, external_workers=external)
    assert runner.external_workers is None
    with runner:
        runner.wait_ready()
        wait_until(lambda: sink.count() >= 5, what="5 records")
    assert runner.exit_code == 0


def test_external_workers_from_the_environment() -> None:
    assert external_workers_from_env({}) is None
    assert external_workers_from_env({"NONSTOP_LOCUST_EXTERNAL_WORKERS": "false"}) is None
    assert external_workers_from_env({"NONSTOP_LOCUST_EXTERNAL_WORKERS": "true"}) == ExternalWorkers(5557, 5558)
    env = {"NONSTOP_LOCUST_EXTERNAL_WORKERS": "True", "NONSTOP_LOCUST_MASTER_BIND_PORT": "6000"}
    assert external_workers_from_env(env) == ExternalWorkers(master_port=6000, sink_port=6001, bind_host="0.0.0.0")
    ipv6 = external_workers_from_env({**env, "NONSTOP_LOCUST_BIND_HOST": "::", "NONSTOP_LOCUST_SINK_PORT": "7000"})
    assert ipv6 == ExternalWorkers(master_port=6000, sink_port=7000, bind_host="::")
    with pytest.raises(InputError, match="NONSTOP_LOCUST_MASTER_BIND_PORT: 'x'"):
        external_workers_from_env({**env, "NONSTOP_LOCUST_MASTER_BIND_PORT": "x"})
    with pytest.raises(InputError, match="NONSTOP_LOCUST_SINK_PORT: 6000"):
        external_workers_from_env({**env, "NONSTOP_LOCUST_SINK_PORT": "6000"})
    with pytest.raises(InputError, match="NONSTOP_LOCUST_EXTERNAL_WORKERS: 'maybe'"):
        external_workers_from_env({"NONSTOP_LOCUST_EXTERNAL_WORKERS": "maybe"})


def test_the_rendered_worker_command_is_the_plain_locust_worker_line() -> None:
    """The worker pod passes nothing nonstop-specific: the master forwards it all."""
    script = _worker_template()["container"]["args"][0]
    (line,) = [line.strip() for line in script.splitlines() if "locust --worker" in line]
    assert line.startswith('locust --worker --master-host "$ip" --master-port "$LOCUST_MASTER_PORT" -f')
    assert "NONSTOP" not in script


def test_missing_workers_are_named_when_the_load_does_not_start(
    url: str, pods: tuple[WorkerPods, ExternalWorkers]
) -> None:
    """No worker pod ever connects: wait_ready says how many streams it has and where it listens."""
    _, external = pods
    runner = LoadRunner(host=url, load=spec(users=2, workers=2), external_workers=external)
    with (
        runner,
        pytest.raises(
            LoadFailed, match=rf"had 0 of 2 processes streaming records \(record sink port {external.sink_port}\)"
        ),
    ):
        runner.wait_ready(timeout=2)
    assert not any(alive(pid) for pid in runner.pids)


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_drill_run_as_the_workflow_runs_it_takes_its_load_from_the_worker_pods(
    sandbox: Any, namespace: str, tmp_path: Path, pods: tuple[WorkerPods, ExternalWorkers]
) -> None:
    """`nonstop drill` with the drill step's variables and two worker-pod scripts: a passing verdict."""
    workers, external = pods
    apply(sandbox, namespace, manifest("after"), tmp_path)
    argv, report_dir = drill_command(sandbox, drill_spec(namespace, load={"workers": 2}), tmp_path)
    env = {
        **os.environ,
        "NONSTOP_LOCUST_EXTERNAL_WORKERS": "true",
        "NONSTOP_LOCUST_MASTER_BIND_PORT": str(external.master_port),
        "NONSTOP_LOCUST_SINK_PORT": str(external.sink_port),
        "NONSTOP_LOCUST_BIND_HOST": "127.0.0.1",  # the pod default is 0.0.0.0; tests stay on loopback
    }
    workers.start(2)  # the workers step runs before the drill step
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240, check=False)
    workers.phase.write_text("Succeeded")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert (report["verdict"], report["requests"]["failed"]) == ("pass", 0)
    assert report["requests"]["total"] >= 100
    for i in range(2):
        log = (workers.cwd / f"worker-pod-{i}.log").read_text()
        assert f"nonstop_stream: streaming records to 127.0.0.1:{external.sink_port}" in log, log[-2000:]


def _idle(script_pid: int) -> bool:
    """The worker script waits on its idle `sleep WORKER_IDLE_SECONDS` once the drill pod has ended."""
    idle = f"sleep\0{WORKER_IDLE_SECONDS}\0".encode()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            parent = int(text[text.rfind(")") + 2 :].split()[1])
            if parent == script_pid and (stat.parent / "cmdline").read_bytes() == idle:
                return True
    return False
