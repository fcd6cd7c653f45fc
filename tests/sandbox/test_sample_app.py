"""The sample app as a real process: every knob, and SIGTERM under keep-alive and new-connection load."""

from __future__ import annotations

import http.client
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_app_helpers import PORT, Apps, load

from nonstop.sandbox import sample_app


@pytest.fixture
def start_app() -> Iterator[object]:
    with Apps() as apps:
        yield apps.start


def test_root_answers_with_pod_name_version_and_header(start_app) -> None:
    app = start_app(POD_NAME="web-abc", VERSION="v7")
    response = app.conn()
    response.request("GET", "/")
    r = response.getresponse()
    body = r.read().decode()
    assert r.status == 200
    assert r.getheader("X-Pod-Name") == "web-abc"
    assert "web-abc" in body
    assert "v7" in body
    assert r.getheader("Connection") == "keep-alive"
    response.close()


def test_runs_as_a_lone_file_with_the_standard_library_only(start_app) -> None:
    """What the Dockerfile does: `python3 sample_app.py`, no site-packages (-S), no nonstop package."""
    path = Path(sample_app.__file__)
    app = start_app(argv=[sys.executable, "-S", str(path)], VERSION="lone")
    assert app.get("/").getheader("X-Version") == "lone"


def test_pod_name_defaults_to_the_hostname(start_app) -> None:
    app = start_app()
    assert app.get("/").getheader("X-Pod-Name") == socket.gethostname()


def test_health_and_unknown_paths(start_app) -> None:
    app = start_app()
    assert app.get("/healthz").status == 200
    assert app.get("/ready").status == 200
    assert app.get("/nope").status == 404


def test_binds_pod_ip_only(start_app) -> None:
    """With POD_IP set, another loopback address on the same port is not served."""
    app = start_app()
    other = app.ip.rsplit(".", 1)[0] + "." + ("2" if not app.ip.endswith(".2") else "3")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((other, PORT), timeout=2).close()


def test_ready_delay_answers_503_then_200(start_app) -> None:
    app = start_app(READY_DELAY_SECONDS="1.5")
    listening = app.event_at("listening")
    assert app.get("/ready").status == 503
    assert app.get("/healthz").status == 200
    deadline = time.monotonic() + 10
    while app.get("/ready").status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert time.time() - listening >= 1.4


def test_startup_delay_listens_late(start_app) -> None:
    app = start_app(wait_listening=False, STARTUP_DELAY_SECONDS="1.5")
    started = time.time()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((app.ip, PORT), timeout=1).close()
    assert app.event_at("listening") - started >= 1.3


def test_response_delay_applies_to_root_only(start_app) -> None:
    app = start_app(RESPONSE_DELAY_MS="400")
    t0 = time.monotonic()
    app.get("/healthz")
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    app.get("/")
    slow = time.monotonic() - t0
    assert slow >= 0.39
    assert fast < 0.3


def test_bad_setting_exits_with_one_line(start_app) -> None:
    app = start_app(wait_listening=False, PORT="eighty")
    assert app.exit_code() == 1
    deadline = time.monotonic() + 5
    while not any("PORT='eighty'" in str(line.get("text", "")) for line in app.lines):
        assert time.monotonic() < deadline, app.lines
        time.sleep(0.02)


def _roundtrip(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/")
    return conn.getresponse().read()


def test_non_graceful_exits_143_at_once_and_cuts_open_connections(start_app) -> None:
    app = start_app()
    conn = app.conn()
    conn.request("GET", "/")
    conn.getresponse().read()
    sent = time.time()
    app.proc.send_signal(signal.SIGTERM)
    assert app.exit_code() == 143
    assert app.event_at("listener-closed") - sent < 0.5
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _roundtrip(conn)
    conn.close()


def test_graceful_keepalive_client_gets_connection_close_after_the_delay(start_app) -> None:
    """During SHUTDOWN_DELAY it keeps serving (ready 503); then one answer with Connection: close; exit 0."""
    app = start_app(GRACEFUL_SHUTDOWN="true", SHUTDOWN_DELAY_SECONDS="1", DRAIN_TIMEOUT_SECONDS="5")
    conn = app.conn()
    conn.request("GET", "/")
    assert conn.getresponse().read()
    app.proc.send_signal(signal.SIGTERM)
    sigterm = app.event_at("sigterm")
    assert app.get("/ready").status == 503  # new connections still accepted during the delay
    answers: list[tuple[float, int, str | None]] = []
    while True:
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        answers.append((time.time(), r.status, r.getheader("Connection")))
        if r.getheader("Connection") == "close":
            break
        time.sleep(0.02)
    closed = app.event_at("listener-closed")
    assert 0.9 <= closed - sigterm <= 1.5
    assert all(status == 200 for _, status, _ in answers)
    assert [c for _, _, c in answers[:-1]] == ["keep-alive"] * (len(answers) - 1)
    conn.close()
    assert app.exit_code() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((app.ip, PORT), timeout=1).close()


def test_graceful_idle_connection_is_cut_only_at_the_drain_timeout(start_app) -> None:
    app = start_app(GRACEFUL_SHUTDOWN="true", DRAIN_TIMEOUT_SECONDS="1.5")
    idle = socket.create_connection((app.ip, PORT), timeout=10)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in idle.recv(4096)
    app.proc.send_signal(signal.SIGTERM)
    closed = app.event_at("listener-closed")
    assert idle.recv(4096) == b""  # EOF, once the drain timeout ran out
    cut = time.time()
    idle.close()
    assert 1.3 <= cut - closed <= 2.5
    assert app.exit_code() == 0


def test_graceful_answers_a_request_in_flight_past_the_drain_timeout(start_app) -> None:
    """A request it accepted is never cut: a slow one finishes with Connection: close, then exit 0."""
    app = start_app(GRACEFUL_SHUTDOWN="true", DRAIN_TIMEOUT_SECONDS="0.2", RESPONSE_DELAY_MS="1500")
    sock = socket.create_connection((app.ip, PORT), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    app.proc.send_signal(signal.SIGTERM)
    response = b""
    while chunk := sock.recv(4096):
        response += chunk
    sock.close()
    assert response.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in response
    assert response.endswith(b"\n")
    assert b"Hello from" in response
    assert app.exit_code() == 0


@pytest.mark.skipif(sys.platform != "linux", reason="the handshake filter is Linux's (SO_ATTACH_FILTER)")
def test_a_closing_listener_drops_new_handshakes_and_completes_the_ones_it_answered() -> None:
    """The filter drops a first SYN and nothing else.

    A handshake the listener answered before the filter still completes after it: TCP_DEFER_ACCEPT
    holds the listener's half of it open until the client's first bytes, which arrive only after the
    filter is on. (A filter dropping every packet left such a connection half-open, and reset once
    the listener closed.)
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
    listener.settimeout(5)
    addr = listener.getsockname()
    early = socket.create_connection(addr, timeout=5)  # the client's side is established; the listener's not
    sample_app._refuse_new_handshakes(listener)
    try:
        with pytest.raises(TimeoutError):
            socket.create_connection(addr, timeout=0.5)  # its SYN is dropped: no SYN-ACK, no refusal
        early.sendall(b"GET / HTTP/1.1\r\n\r\n")
        conn, _ = listener.accept()
        assert conn.recv(64) == b"GET / HTTP/1.1\r\n\r\n"
        conn.close()
    finally:
        early.close()
        listener.close()


@pytest.mark.slow
@pytest.mark.parametrize("keepalive", [True, False], ids=["keep-alive", "new-connections"])
def test_graceful_shutdown_under_load_fails_no_request(start_app, keepalive: bool) -> None:
    """Under load, every request is answered 200 until the listener closes; after it only refusals."""
    app = start_app(GRACEFUL_SHUTDOWN="true", SHUTDOWN_DELAY_SECONDS="1", DRAIN_TIMEOUT_SECONDS="2")
    stop = threading.Event()
    outcomes: list[tuple[float, str]] = []
    threads = [threading.Thread(target=load, args=(app, stop, keepalive, outcomes)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    app.proc.send_signal(signal.SIGTERM)
    assert app.exit_code(timeout=15) == 0
    stop.set()
    for t in threads:
        t.join(timeout=10)
    closed = app.event_at("listener-closed")
    before = [o for at, o in outcomes if at < closed]
    assert len(before) > 50
    assert set(before) == {"ok"}
    assert {o for _, o in outcomes} <= {"ok", "refused"}


@pytest.mark.slow
def test_serves_about_a_thousand_requests_per_second(start_app) -> None:
    """Throughput with keep-alive clients (the drill's load is ~1000 req/s); generous for a shared machine."""
    app = start_app()
    stop = threading.Event()
    outcomes: list[tuple[float, str]] = []
    threads = [threading.Thread(target=load, args=(app, stop, True, outcomes)) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    rate = len(outcomes) / (time.monotonic() - t0)
    assert {o for _, o in outcomes} == {"ok"}
    print(f"sample app: {rate:.0f} req/s over 4 keep-alive connections")
    assert rate > 500, f"{rate:.0f} req/s"
