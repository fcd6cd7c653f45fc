"""Helpers for the sample-app tests: the app as a real subprocess on its own loopback address, read from its log."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

PORT = 8080


@dataclass
class App:
    proc: subprocess.Popen[str]
    ip: str
    port: int = PORT
    lines: list[dict[str, object]] = field(default_factory=list)

    def event_at(self, name: str, timeout: float = 10.0) -> float:
        """Wall-clock time of the app's first `name` log line (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.get("event") == name:
                    return datetime.fromisoformat(str(line["at"])).timestamp()
            time.sleep(0.01)
        raise AssertionError(f"no {name!r} line from the app; got {self.lines}")

    def conn(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.ip, self.port, timeout=timeout)

    def get(self, path: str = "/") -> http.client.HTTPResponse:
        c = self.conn()
        c.request("GET", path)
        response = c.getresponse()
        response.read()
        c.close()
        return response

    def exit_code(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)


def free_ip() -> str:
    return f"127.20.{random.randint(0, 254)}.{random.randint(1, 254)}"


class Apps:
    """Starts sample apps (`start`) and kills what is still running on exit; a test's `start_app` fixture."""

    def __init__(self) -> None:
        self.started: list[App] = []

    def start(
        self, wait_listening: bool = True, argv: list[str] | None = None, ip: str | None = None, **env: str
    ) -> App:
        """Run the app with `env` on `ip` (a fresh loopback address unless given) and `PORT` (8080 unless in env)."""
        ip = ip or free_ip()
        full_env = {"PATH": os.environ.get("PATH", ""), "POD_IP": ip, "PORT": str(PORT), **env}
        proc = subprocess.Popen(
            argv or [sys.executable, "-m", "nonstop.sandbox.sample_app"],
            env=full_env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        app = App(proc, ip, int(full_env["PORT"]) if full_env["PORT"].isdigit() else PORT)

        def read() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                try:
                    app.lines.append(json.loads(raw))
                except ValueError:
                    app.lines.append({"event": "text", "text": raw})

        threading.Thread(target=read, daemon=True).start()
        self.started.append(app)
        if wait_listening:
            app.event_at("listening")
        return app

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        for app in self.started:
            if app.proc.poll() is None:
                app.proc.kill()
            app.proc.wait(timeout=5)
            if app.proc.stderr is not None:
                app.proc.stderr.close()


def load(app: App, stop: threading.Event, keepalive: bool, outcomes: list[tuple[float, str]]) -> None:
    """Send GET / until `stop`, recording (time, outcome): ok, http-<status>, refused, broken:<error>."""
    conn: http.client.HTTPConnection | None = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = app.conn(timeout=5)
            conn.request("GET", "/")
            r = conn.getresponse()
            r.read()
            outcomes.append((time.time(), "ok" if r.status == 200 else f"http-{r.status}"))
            if not keepalive or r.getheader("Connection") == "close":
                conn.close()
                conn = None
        except ConnectionRefusedError:
            outcomes.append((time.time(), "refused"))
            conn = None
            time.sleep(0.01)
        except (OSError, http.client.HTTPException) as exc:
            outcomes.append((time.time(), f"broken:{type(exc).__name__}"))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
