"""The bundled locustfile, run by real Locust processes against loopback servers.

Locust never runs in the test process: LoadRunner starts it, and the records it streams back are what
these tests judge.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checks.evidence import RequestSample
from nonstop.drill.load import LoadRunner
from nonstop.spec import LoadSpec

SERVER = Path(__file__).with_name("load_server.py")
Server = Callable[..., str]


@pytest.fixture
def server() -> Iterator[Server]:
    """Starts `load_server.py MODE ARG` subprocesses; returns their base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(mode: str, arg: str = "", pod: str = "pod-a") -> str:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), mode, arg],
            stdout=subprocess.PIPE,
            text=True,
            env={"POD_NAME": pod, "PATH": "/usr/bin:/bin"},
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening "), f"server did not start: {line!r}"
        return f"http://127.0.0.1:{line.split()[1]}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


class Collector:
    """Thread-safe sink for LoadRunner's callback."""

    def __init__(self) -> None:
        self.samples: list[RequestSample] = []
        self._lock = threading.Lock()

    def __call__(self, batch: object) -> None:
        with self._lock:
            self.samples.extend(batch)  # type: ignore[arg-type]

    def count(self) -> int:
        with self._lock:
            return len(self.samples)

    def wait_for(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"only {self.count()} of {n} records arrived"
            time.sleep(0.02)


def run_load(host: str, n: int, *, close_share: float = 0.5, **load: object) -> tuple[list[RequestSample], LoadRunner]:
    """Run the bundled locustfile until n records arrived, then stop it."""
    sink = Collector()
    runner = LoadRunner(host=host, load=LoadSpec.model_validate(load), on_samples=sink, close_share=close_share)
    with runner:
        runner.wait_ready()
        sink.wait_for(n)
    return sink.samples, runner


def server_counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/__stats", timeout=5) as response:
        counts: dict[str, int] = json.load(response)
        return counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_successes_record_the_answering_pod_status_and_start_time(server: Server) -> None:
    url = server("ok", pod="web-abc12")
    before = time.time()
    samples, _ = run_load(url, 20, users=2, spawn_rate=10, user_rate=20)
    assert samples
    assert {s.pod for s in samples} == {"web-abc12"}
    assert {s.status for s in samples} == {200}
    assert all(s.failure is None for s in samples)
    assert all(before <= s.at <= time.time() for s in samples)
    assert all(0 < s.latency_ms < 1000 for s in samples)


@pytest.mark.slow
def test_users_are_paced_to_their_user_rate(server: Server) -> None:
    """4 users at 10 requests/s each: about 40 requests/s once spawned."""
    url = server("ok")
    samples, _ = run_load(url, 140, users=4, spawn_rate=100, user_rate=10)
    start = min(s.at for s in samples) + 0.5
    window = [s for s in samples if start <= s.at < start + 2.5]
    rate = len(window) / 2.5
    assert 28 <= rate <= 52, f"{rate:.1f} requests/s"


def test_a_share_of_users_opens_a_new_connection_per_request(server: Server) -> None:
    url = server("ok")
    samples, _ = run_load(url, 120, users=4, spawn_rate=100, user_rate=20, close_share=0.5)
    counts = server_counts(url)
    # 2 users on a new connection per request, 2 on one keep-alive connection each.
    closing_requests = counts["requests"] / 2
    assert counts["requests"] >= len(samples)
    assert 0.7 * closing_requests <= counts["connections"] <= closing_requests + 10, counts


def test_without_a_closing_share_every_user_keeps_its_connection(server: Server) -> None:
    url = server("ok")
    run_load(url, 80, users=4, spawn_rate=100, user_rate=20, close_share=0.0)
    counts = server_counts(url)
    assert counts["requests"] >= 80
    assert counts["connections"] <= 4 + 2, counts


@pytest.mark.parametrize(
    ("mode", "arg", "failure", "status"),
    [
        ("status", "503", "http-5xx", 503),
        ("status", "404", "http-4xx", 404),
        ("reset", "", "reset", None),
        ("sleep", "3", "timeout", None),
        ("trickle", "0.3", "timeout", 200),
    ],
)
def test_each_failure_class_is_classified(
    server: Server, mode: str, arg: str, failure: str, status: int | None
) -> None:
    """Timeouts are both a read that stalls past timeoutSeconds and a slow answer that trickles in."""
    url = server(mode, arg)
    samples, _ = run_load(url, 2, users=2, spawn_rate=10, user_rate=5, timeout_seconds=0.5, close_share=0.5)
    assert {s.failure for s in samples} == {failure}
    assert {s.status for s in samples} == {status}
    if failure == "timeout":
        assert all(s.latency_ms >= 450 for s in samples)


def test_nothing_listening_is_refused() -> None:
    samples, _ = run_load(f"http://127.0.0.1:{free_port()}", 4, users=2, spawn_rate=10, user_rate=5)
    assert {s.failure for s in samples} == {"refused"}
    assert {s.pod for s in samples} == {None}


@pytest.mark.slow
def test_the_sample_app_exiting_at_sigterm_turns_into_refused_requests() -> None:
    """Against the sandbox's sample app (no graceful shutdown): answers carry its pod name, then refusals."""
    ip = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    env = {**os.environ, "POD_IP": ip, "PORT": "8080", "POD_NAME": "web-7d9c-abcde", "GRACEFUL_SHUTDOWN": "false"}
    app = subprocess.Popen([sys.executable, "-m", "nonstop.sandbox.sample_app"], env=env, stderr=subprocess.PIPE)
    try:
        assert app.stderr is not None
        assert b'"listening"' in app.stderr.readline()
        sink = Collector()
        load = LoadSpec(users=4, spawn_rate=100, user_rate=20)
        with LoadRunner(host=f"http://{ip}:8080", load=load, on_samples=sink) as runner:
            runner.wait_ready()
            sink.wait_for(20)
            killed_at = time.time()
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=10)
            wait_until_refused = time.monotonic() + 20
            while not any(s.failure == "refused" for s in sink.samples[-20:]):
                assert time.monotonic() < wait_until_refused, "no refused request after the app exited"
                time.sleep(0.02)
    finally:
        app.kill()
        app.wait()
        if app.stderr is not None:
            app.stderr.close()
    before = [s for s in sink.samples if s.at + s.latency_ms / 1000 < killed_at]
    assert before
    assert all(s.failure is None and s.pod == "web-7d9c-abcde" for s in before)
    failures = {s.failure for s in sink.samples if s.failure is not None}
    assert "refused" in failures
    assert failures <= {"refused", "reset"}


def test_a_request_retried_on_a_stale_connection_names_the_pod_that_connection_had(server: Server) -> None:
    """geventhttpclient silently sends a GET again when its kept-alive connection closes before any answer:
    the record carries the retry and the pod that last answered on the failed connection.
    """
    url = server("stale", "2", pod="web")
    samples, _ = run_load(url, 12, users=1, spawn_rate=10, user_rate=20, close_share=0.0)
    retried = [s for s in samples if s.retries]
    assert retried, "no request was retried"
    for sample in retried:
        assert sample.failure is None  # the retry hid it: only the record tells
        assert sample.retries == 1
        assert sample.retried_pod is not None
        assert sample.pod is not None
        assert sample.retried_pod != sample.pod  # the failed connection's pod, not the answering one
        assert int(sample.pod.rsplit("-", 1)[1]) == int(sample.retried_pod.rsplit("-", 1)[1]) + 1
    assert all(not s.retries for s in samples if s not in retried)


def test_a_post_is_never_retried_so_the_stale_connection_is_a_reset(server: Server) -> None:
    url = server("stale", "2", pod="web")
    samples, _ = run_load(url, 12, users=1, spawn_rate=10, user_rate=20, close_share=0.0, method="POST")
    assert {s.retries for s in samples} == {0}
    assert "reset" in {s.failure for s in samples}
    assert {s.status for s in samples if s.failure is None} == {200}
