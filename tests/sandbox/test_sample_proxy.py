"""The sample app's sidecar proxy mode as real processes: an app and a proxy in front of it on one pod address."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_app_helpers import App, Apps

from nonstop.sandbox import sample_app

APP_PORT = "8081"


@pytest.fixture
def start_app() -> Iterator[object]:
    with Apps() as apps:
        yield apps.start


def _pod(start_app, app_env: dict[str, str] | None = None, **proxy_env: str) -> tuple[App, App]:
    """The two containers of one pod: the app on 8081, the proxy on 8080 in front of it."""
    app = start_app(PORT=APP_PORT, POD_NAME="web-1", VERSION="app-v2", **(app_env or {}))
    proxy = start_app(
        ip=app.ip, PROXY_UPSTREAM_PORT=APP_PORT, POD_NAME="web-1-sidecar", VERSION="proxy-v1", **proxy_env
    )
    return app, proxy


@pytest.mark.parametrize("lone_file", [False, True], ids=["module", "lone-file"])
def test_proxy_forwards_every_request_and_keeps_the_apps_headers(start_app, lone_file: bool) -> None:
    """GET, POST with a body, and unknown paths go to the app; its X-Pod-Name and X-Version come back."""
    _app, proxy = _pod(start_app, argv=[sys.executable, "-S", str(Path(sample_app.__file__))] if lone_file else None)
    conn = proxy.conn()
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.read() == b"Hello from web-1 (version app-v2)\n"
    assert (r.status, r.getheader("X-Pod-Name"), r.getheader("X-Version")) == (200, "web-1", "app-v2")
    conn.request("POST", "/", body=b"payment=42" * 50)
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"Hello from web-1 (version app-v2)\n")
    conn.request("POST", "/ready", body=b"x")  # the app's own answer, not the proxy's
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    conn.request("GET", "/nope")
    r = conn.getresponse()
    r.read()
    assert r.status == 404
    conn.close()


def test_app_gone_behind_the_proxy_gives_502_in_flight_and_503_after(start_app) -> None:
    """SIGTERM to the app alone (it exits at once): the request it held → 502; new ones → 503; the proxy lives on."""
    app, proxy = _pod(start_app, {"RESPONSE_DELAY_MS": "3000"})
    conn = proxy.conn(timeout=10)
    conn.request("GET", "/healthz")  # opens the proxy's upstream connection (not delayed)
    assert conn.getresponse().read() == b"ok\n"
    statuses: list[int] = []

    def in_flight() -> None:
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.5)  # no event says the app has read the request; 0.5 s of its 3 s delay does
    app.proc.send_signal(signal.SIGTERM)
    assert app.exit_code() == 143
    thread.join(timeout=10)
    assert statuses == [502]
    for path in ("/", "/ready"):
        assert proxy.get(path).status == 503
    assert proxy.proc.poll() is None
    conn.close()


def test_proxy_honours_its_own_graceful_settings(start_app) -> None:
    """SIGTERM to the proxy: /ready 503 from the proxy, forwarding through the delay, then exit 0; the app stays."""
    app, proxy = _pod(start_app, GRACEFUL_SHUTDOWN="true", SHUTDOWN_DELAY_SECONDS="1")
    assert proxy.get("/ready").status == 200  # the app's readiness, forwarded
    proxy.proc.send_signal(signal.SIGTERM)
    sigterm = proxy.event_at("sigterm")
    assert proxy.get("/ready").status == 503
    r = proxy.get("/")
    assert (r.status, r.getheader("X-Pod-Name")) == (200, "web-1")
    assert proxy.exit_code() == 0
    assert 0.9 <= proxy.event_at("listener-closed") - sigterm <= 1.5
    assert app.proc.poll() is None
    assert app.get("/ready").status == 200
