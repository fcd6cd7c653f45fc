"""The sample app's hazard knobs as a real process: ignored SIGTERM, a worker limit, delayed paths, draining
without `Connection: close`, idle connections closed at once, and POST.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sample_app_helpers import Apps


@pytest.fixture
def start_app() -> Iterator[object]:
    with Apps() as apps:
        yield apps.start


def test_ignore_sigterm_keeps_serving_and_ready_until_sigkill(start_app) -> None:
    """As a shell PID 1 that does not forward SIGTERM: nothing changes, only SIGKILL ends it."""
    app = start_app(IGNORE_SIGTERM="true", GRACEFUL_SHUTDOWN="true")
    conn = app.conn()
    conn.request("GET", "/")
    assert conn.getresponse().read()
    app.proc.send_signal(signal.SIGTERM)
    until = time.monotonic() + 1.5  # asserting that nothing happens: watch it for a while
    answers = 0
    while time.monotonic() < until:
        assert app.get("/ready").status == 200
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        assert (r.status, r.getheader("Connection")) == (200, "keep-alive")
        answers += 1
        time.sleep(0.05)
    assert answers > 5
    assert app.proc.poll() is None
    assert "sigterm" not in {line.get("event") for line in app.lines}
    conn.close()
    app.proc.send_signal(signal.SIGKILL)
    assert app.exit_code() == -signal.SIGKILL


@pytest.mark.parametrize("workers", [1, 0], ids=["one-worker", "unbounded"])
def test_worker_threads_makes_a_probe_wait_for_a_slow_request(start_app, workers: int) -> None:
    """WORKER_THREADS=1: a /ready probe sent while a 1.5 s request is handled waits for it; unbounded: it does not."""
    app = start_app(WORKER_THREADS=str(workers), RESPONSE_DELAY_MS="1500")
    slow_answered: list[float] = []

    def slow() -> None:
        assert app.get("/").status == 200
        slow_answered.append(time.monotonic())

    thread = threading.Thread(target=slow)
    thread.start()
    probes: list[tuple[float, float]] = []  # (sent, answered), one after the other until the slow one is back
    until = time.monotonic() + 10
    while not slow_answered and time.monotonic() < until:
        sent = time.monotonic()
        assert app.get("/ready").status == 200
        probes.append((sent, time.monotonic()))
    thread.join(timeout=10)
    longest = max(probes, key=lambda p: p[1] - p[0])
    if workers:
        assert longest[1] - longest[0] >= 1.0, probes  # it queued behind the slow request
        assert abs(longest[1] - slow_answered[0]) < 0.5  # and was answered when the worker came free
    else:
        assert longest[1] - longest[0] < 0.7, probes
        assert len(probes) > 5


def test_worker_threads_bounds_requests_at_once(start_app) -> None:
    """WORKER_THREADS=2 and three 1 s requests sent together: two at once, the third after them (≥ 2 s)."""
    app = start_app(WORKER_THREADS="2", RESPONSE_DELAY_MS="1000")
    done: list[float] = []

    def request() -> None:
        assert app.get("/").status == 200
        done.append(time.monotonic())

    t0 = time.monotonic()
    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    _first, second, third = sorted(d - t0 for d in done)
    assert second < 1.8  # two ran at once
    assert third >= 1.95  # the third waited for a worker


def test_response_delay_paths_choose_the_slow_paths(start_app) -> None:
    app = start_app(RESPONSE_DELAY_MS="400", RESPONSE_DELAY_PATHS="/ready, /healthz")
    took = {}
    for path in ("/ready", "/healthz", "/"):
        t0 = time.monotonic()
        assert app.get(path).status == 200
        took[path] = time.monotonic() - t0
    assert took["/ready"] >= 0.39
    assert took["/healthz"] >= 0.39
    assert took["/"] < 0.3


def test_drain_send_close_false_keeps_connections_alive_until_the_exit(start_app) -> None:
    """While draining, answers say keep-alive; the idle connection is cut when the drain timeout ends the process."""
    app = start_app(GRACEFUL_SHUTDOWN="true", DRAIN_TIMEOUT_SECONDS="1.5", DRAIN_SEND_CLOSE="false")
    conn = app.conn(timeout=10)
    conn.request("GET", "/")
    conn.getresponse().read()
    app.proc.send_signal(signal.SIGTERM)
    closed = app.event_at("listener-closed")
    conn.request("GET", "/")  # draining now: the default would answer this with Connection: close
    r = conn.getresponse()
    r.read()
    assert (r.status, r.getheader("Connection")) == (200, "keep-alive")
    assert conn.sock is not None
    assert conn.sock.recv(4096) == b""  # cut, as the process exits
    cut = time.time()
    conn.close()
    assert 1.3 <= cut - closed <= 2.5
    assert app.exit_code() == 0


def test_close_idle_on_sigterm_cuts_idle_connections_when_the_delay_is_over(start_app) -> None:
    """Idle keep-alive connections stay through the shutdown delay, then close at once (not at the drain timeout)."""
    app = start_app(
        GRACEFUL_SHUTDOWN="true", SHUTDOWN_DELAY_SECONDS="1", DRAIN_TIMEOUT_SECONDS="20", CLOSE_IDLE_ON_SIGTERM="true"
    )
    idle = socket.create_connection((app.ip, app.port), timeout=10)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in idle.recv(4096)
    app.proc.send_signal(signal.SIGTERM)
    sigterm = app.event_at("sigterm")
    assert idle.recv(4096) == b""  # EOF from the server
    cut = time.time()
    idle.close()
    closed = app.event_at("listener-closed")
    assert cut - sigterm >= 0.9  # kept through the delay
    assert -0.05 <= cut - closed < 0.5  # then closed at once
    assert app.exit_code(timeout=5) == 0  # long before the 20 s drain timeout


def test_root_answers_post_and_reads_the_body(start_app) -> None:
    """POST / is answered as GET; its body is consumed, so the kept-alive connection serves the next request."""
    app = start_app(POD_NAME="web-post")
    conn = app.conn()
    conn.request("POST", "/", body=b'{"amount": 42}' * 100, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert (r.status, r.getheader("X-Pod-Name")) == (200, "web-post")
    assert b"Hello from web-post" in r.read()
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b"ok\n"
    conn.request("POST", "/healthz", body=b"x")
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    conn.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_THREADS", "-1"),
        ("RESPONSE_DELAY_PATHS", "ready"),
        ("DRAIN_SEND_CLOSE", "maybe"),
        ("PROXY_UPSTREAM_PORT", "70000"),
    ],
)
def test_bad_knob_exits_1_with_one_line_naming_it(start_app, name: str, value: str) -> None:
    app = start_app(wait_listening=False, **{name: value})
    assert app.exit_code() == 1
    deadline = time.monotonic() + 5
    while not any(f"{name}={value!r}" in str(line.get("text", "")) for line in app.lines):
        assert time.monotonic() < deadline, app.lines
        time.sleep(0.02)
    assert len(app.lines) == 1
