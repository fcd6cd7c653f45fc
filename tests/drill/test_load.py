"""LoadRunner: Locust in subprocesses, records streamed live, counters, master/worker, clean stops."""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from checks.evidence import RequestSample
from nonstop.drill.load import LoadRunner
from nonstop.drill.load.stream import LoadStats, RecordStream
from nonstop.errors import InputError, LoadFailed
from nonstop.spec import LoadSpec

SERVER = Path(__file__).with_name("load_server.py")


@pytest.fixture
def url() -> Iterator[str]:
    """A loopback HTTP server answering 200 with `X-Pod-Name: pod-a`."""
    proc = subprocess.Popen([sys.executable, str(SERVER), "ok"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening "), f"server did not start: {line!r}"
    yield f"http://127.0.0.1:{line.split()[1]}"
    proc.kill()
    proc.wait()
    proc.stdout.close()


class Collector:
    """Thread-safe sink for LoadRunner's callback."""

    def __init__(self) -> None:
        self.samples: list[RequestSample] = []
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[RequestSample]) -> None:
        with self._lock:
            self.samples.extend(batch)

    def count(self) -> int:
        with self._lock:
            return len(self.samples)

    def snapshot(self) -> list[RequestSample]:
        with self._lock:
            return list(self.samples)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def locust_counts(runner: LoadRunner) -> tuple[int, int]:
    """Requests and failures in Locust's own end-of-run statistics."""
    entries = json.loads(runner.stats_path.read_text())
    return sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)


def spec(**fields: object) -> LoadSpec:
    return LoadSpec.model_validate({"users": 2, "spawnRate": 50, "userRate": 20, **fields})


def test_records_arrive_live_and_feed_the_counters(url: str, tmp_path: Path) -> None:
    sink = Collector()
    runner = LoadRunner(host=url, load=spec(), on_samples=sink, log_dir=tmp_path)
    with runner:
        runner.wait_ready()
        assert runner.stats().users == 2  # ready means every user runs
        wait_until(lambda: sink.count() >= 10, what="10 records")
        assert runner.running
        # 2 users x 20 requests/s.
        wait_until(lambda: 25 <= runner.stats().rps <= 55, what="a request rate of about 40/s")
        live = runner.stats()
        assert live.requests >= 10
        assert live.failures == 0
        assert live.streaming == 1
    assert not runner.running
    assert {s.pod for s in sink.samples} == {"pod-a"}


def test_every_record_arrives_and_matches_locusts_own_count(url: str, tmp_path: Path) -> None:
    sink = Collector()
    runner = LoadRunner(host=url, load=spec(users=3), on_samples=sink, log_dir=tmp_path)
    with runner:
        runner.wait_ready()
        wait_until(lambda: sink.count() >= 60, what="60 records")
    assert runner.exit_code == 0
    requests, failures = locust_counts(runner)
    assert requests == sink.count() == runner.stats().requests
    assert failures == runner.stats().failures == 0


@pytest.mark.slow
def test_master_and_two_workers_both_stream_their_records(url: str, tmp_path: Path) -> None:
    sink = Collector()
    runner = LoadRunner(host=url, load=spec(users=4, workers=2), on_samples=sink, log_dir=tmp_path)
    with runner:
        runner.wait_ready()
        assert runner.stats().streaming == 2
        assert runner.stats().users == 4
        master, *workers = runner.pids
        wait_until(lambda: all(_records_of(runner.stats(), pid) >= 10 for pid in workers), what="both workers")
        assert master not in runner.stats().pids.values()
    assert not any(alive(pid) for pid in runner.pids)
    requests, _ = locust_counts(runner)
    assert requests == sink.count()


def _records_of(stats: LoadStats, pid: int) -> int:
    return sum(n for stream, n in stats.by_process.items() if stats.pids[stream] == pid)


def test_streams_are_counted_per_connection_even_when_two_processes_greet_with_one_pid() -> None:
    """Two worker pods, each in a PID namespace of its own, can both be pid 20: each still counts."""
    stream = RecordStream(token="t", on_samples=None)
    selector = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(2)]
    try:
        for client in clients:
            client.sendall(b'{"token": "t", "pid": 20}\n{"users": 4}\n')
        deadline = time.monotonic() + 10
        while stream.stats().users < 8 and time.monotonic() < deadline:
            stream.accept(selector, listener)
            for key, _ in selector.select(timeout=0.05):
                stream.receive(selector, key.data)
        stats = stream.stats()
        assert (stats.streaming, stats.users, stats.pids) == (2, 8, {1: 20, 2: 20})
        clients[0].close()  # one of them leaves: its users go, the other's stay
        deadline = time.monotonic() + 10
        while stream.stats().streaming > 1 and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.05):
                stream.receive(selector, key.data)
        assert (stream.stats().streaming, stream.stats().users) == (1, 4)
    finally:
        for client in clients:
            client.close()
        RecordStream.close(selector)
        listener.close()


def test_a_run_time_bound_ends_the_load_by_itself(url: str) -> None:
    sink = Collector()
    runner = LoadRunner(host=url, load=spec(), on_samples=sink, max_seconds=1)
    runner.start()
    try:
        assert runner.wait(timeout=30) == 0
    finally:
        runner.stop()
    assert not runner.running
    assert 10 <= sink.count() <= 60
    assert not any(alive(pid) for pid in runner.pids)


def test_a_custom_locustfile_is_streamed_and_a_locust_deaf_to_sigterm_is_killed(url: str, tmp_path: Path) -> None:
    """An HttpUser locustfile whose quitting hook hangs: records still stream; stop() SIGKILLs it."""
    locustfile = tmp_path / "custom.py"
    locustfile.write_text(
        textwrap.dedent(
            """
            import time
            from locust import HttpUser, constant, events, task

            class Custom(HttpUser):
                wait_time = constant(0.05)

                @task
                def teapot(self):
                    self.client.get("/")

            @events.quitting.add_listener
            def hang(**_kwargs):
                time.sleep(3600)
            """
        )
    )
    sink = Collector()
    runner = LoadRunner(
        host=url, load=spec(locustfile=str(locustfile)), on_samples=sink, stop_timeout=1.0, log_dir=tmp_path
    )
    runner.start()
    try:
        runner.wait_ready()
        wait_until(lambda: sink.count() >= 5, what="5 records")
    finally:
        started = time.monotonic()
        runner.stop()
    assert time.monotonic() - started < 8
    assert runner.exit_code == -signal.SIGKILL
    assert not any(alive(pid) for pid in runner.pids)
    assert {s.pod for s in sink.samples} == {"pod-a"}


@pytest.mark.slow
def test_locust_dies_with_the_process_that_started_it(url: str, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a drill killed with SIGKILL leaves no Locust behind."""
    script = tmp_path / "drill.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from pathlib import Path
            from nonstop.drill.load import LoadRunner
            from nonstop.spec import LoadSpec
            logs = Path({str(tmp_path / "logs")!r})
            runner = LoadRunner(host={url!r}, load=LoadSpec(users=2, workers=1), log_dir=logs)
            runner.start()
            print("PIDS", *runner.pids, flush=True)
            time.sleep(3600)
            """
        )
    )
    drill = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert drill.stdout is not None
        line = next(line for line in drill.stdout if line.startswith("PIDS ") or not line)
        pids = [int(pid) for pid in line.split()[1:]]
        assert len(pids) == 2
        wait_until(lambda: all(alive(pid) for pid in pids), what="locust to run")
    finally:
        drill.kill()
        drill.wait()
        if drill.stdout is not None:
            drill.stdout.close()
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=10, what="locust to die with its parent")


def test_a_missing_custom_locustfile_is_an_input_error(url: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"load\.locustfile: .*nope\.py"):
        LoadRunner(host=url, load=spec(locustfile=str(tmp_path / "nope.py")))


def test_a_broken_locustfile_fails_with_its_error(url: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "broken.py"
    locustfile.write_text("raise RuntimeError('no such backend: kaboom')\n")
    runner = LoadRunner(host=url, load=spec(locustfile=str(locustfile)), log_dir=tmp_path)
    with runner, pytest.raises(LoadFailed, match="kaboom"):
        runner.wait_ready(timeout=30)
    assert not any(alive(pid) for pid in runner.pids)
