"""`LoadRunner`: the drill's Locust load, launched, fed into the record sink, stopped.

Locust is never imported here (it monkey-patches sockets and threads): the runner starts
``python -m locust --headless`` with this interpreter — one process, or a master and N workers in
Locust's own master/worker mode, or only a master for external workers (workers.py) — and listens
on a socket that the ``nonstop_stream`` plugin of every request-sending process connects to
(stream.py). Its own thread spawns the processes (processes.py), serves the sink, and stops and
reaps them: `stop()` sends SIGTERM (Locust stops its users and flushes its last records), then
SIGKILLs each process group after the grace period.
"""

from __future__ import annotations

import math
import os
import secrets
import selectors
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import locustfiles
from nonstop.drill.load.processes import LocustProcesses, free_port, last_line
from nonstop.drill.load.stream import LoadStats, RecordStream, SampleSink
from nonstop.drill.load.workers import ExternalWorkers
from nonstop.errors import InputError, LoadFailed
from nonstop.logs import get_logger
from nonstop.spec import LoadSpec

__all__ = ["BUNDLED_LOCUSTFILE", "STREAM_PLUGIN", "LoadRunner"]

_LOCUSTFILES = Path(locustfiles.__file__).resolve().parent
BUNDLED_LOCUSTFILE = _LOCUSTFILES / "http_user.py"
"""The default load: constant-throughput users, a share of them on a new connection per request."""
STREAM_PLUGIN = _LOCUSTFILES / "nonstop_stream.py"
"""Loaded next to every locustfile: streams each request to the runner."""

_REMOTE_DRAIN = 5.0  # seconds to wait for external workers' last records once the master exited


class LoadRunner:
    """Runs the drill's Locust load and hands every request to `on_samples`, live.

    ``start()`` returns once the processes are launched, ``wait_ready()`` once every request-sending
    process streams and every user runs, ``stop()`` ends the load gracefully and returns after the
    last record was delivered; ``wait()`` waits for a run bounded by ``max_seconds`` to end by itself.
    The callback runs on the runner's thread: keep it short (append to a list, put on a queue).

    With ``external_workers`` (and ``load.workers > 0``) no worker is started here: the master waits
    for that many remote workers (module docstring); with ``load.workers == 0`` it is ignored.

    Locust's output goes to ``log_dir`` (one log per process, and its end-of-run statistics); without
    a ``log_dir`` a temporary one is used and removed after a clean exit, kept when Locust failed.
    """

    def __init__(
        self,
        *,
        host: str,
        load: LoadSpec,
        on_samples: SampleSink | None = None,
        max_seconds: float | None = None,
        close_share: float = 0.5,
        stop_timeout: float = 10.0,
        log_dir: Path | None = None,
        cpus: Sequence[int] | None = None,
        sink_host: str = "127.0.0.1",
        external_workers: ExternalWorkers | None = None,
    ) -> None:
        self.host = host
        self.load = load
        self._max_seconds = max_seconds
        self._close_share = close_share
        self._stop_timeout = stop_timeout
        self._sink_host = sink_host
        self.external_workers = external_workers if load.workers else None
        self._log = get_logger("load")
        self._locustfile = self._resolve_locustfile(load.locustfile)
        self._own_log_dir = log_dir is None
        self.log_dir = (
            Path(tempfile.gettempdir(), f"nonstop-load-{secrets.token_hex(6)}") if log_dir is None else log_dir
        )
        self._token = secrets.token_hex(16)
        self._stream = RecordStream(token=self._token, on_samples=on_samples)
        self._processes = LocustProcesses(log_dir=self.log_dir, cpus=cpus or ())
        self._thread: threading.Thread | None = None
        self._launched = threading.Event()
        self._stop_requested = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None

    # -- public API -------------------------------------------------------------------------------------

    @property
    def expected_streams(self) -> int:
        """How many Locust processes send requests: the workers, or the single local process."""
        return self.load.workers or 1

    @property
    def stats_path(self) -> Path:
        """Locust's own end-of-run statistics (``--json-file``), written when it stops."""
        return self.log_dir / "locust-stats.json"

    @property
    def pids(self) -> list[int]:
        """Process ids of the Locust processes started (master first)."""
        return [child.popen.pid for child in self._processes.children]

    @property
    def exit_code(self) -> int | None:
        """Exit code of the Locust master (or single process) once it ended, else None."""
        return self._processes.exit_code

    def start(self) -> None:
        """Launch Locust; raises LoadFailed when a process cannot be started."""
        if self._thread is not None:
            raise RuntimeError("LoadRunner.start() called twice")
        external = self.external_workers
        address = (self._sink_host, 0) if external is None else (external.bind_host, external.sink_port)
        try:
            listener = socket.create_server(address, backlog=256)
        except OSError as exc:
            raise LoadFailed(f"cannot listen for load records on {address[0]}:{address[1]}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, args=(listener,), name="nonstop-load", daemon=True)
        self._thread.start()
        self._launched.wait()
        if self._error is not None:
            self._thread.join()
            raise LoadFailed(f"Locust could not be started: {self._error}") from self._error

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until every Locust process streams and all users run; LoadFailed if Locust ended first.

        The default timeout is 30 s plus the ramp-up (users / spawnRate), plus the wait for external
        workers to connect.
        """
        if timeout is None:
            timeout = 30.0 + self.load.users / self.load.spawn_rate
            if self.external_workers is not None:
                timeout += self.external_workers.wait_seconds
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._done.is_set() or self._processes.exit_code is not None:
                raise LoadFailed(self._failure_message("stopped before the load started"))
            stats = self.stats()
            if stats.streaming >= self.expected_streams and stats.users >= self.load.users:
                return
            time.sleep(0.02)
        stats = self.stats()
        if stats.streaming < self.expected_streams:
            where = "" if self.external_workers is None else f" (record sink port {self.external_workers.sink_port})"
            raise LoadFailed(
                self._failure_message(
                    f"had {stats.streaming} of {self.expected_streams} processes streaming records{where} "
                    f"after {timeout:.0f} s"
                )
            )
        raise LoadFailed(self._failure_message(f"did not start all {self.load.users} users within {timeout:.0f} s"))

    def stats(self) -> LoadStats:
        """The live counters (thread-safe)."""
        return self._stream.stats()

    @property
    def running(self) -> bool:
        """True from start() until every process exited and every record was delivered."""
        return self._thread is not None and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for Locust to end by itself; returns its exit code, or None if still running."""
        if self._thread is None:
            raise RuntimeError("LoadRunner.wait() before start()")
        if not self._done.wait(timeout):
            return None
        self._thread.join()
        self._cleanup()
        return self._processes.exit_code

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop gracefully (SIGTERM, then SIGKILL after `stop_timeout`); returns once no child is left."""
        if self._thread is None:
            return None
        self._stop_requested.set()
        self._done.wait(timeout)
        return self.wait(0)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- launching ----------------------------------------------------------------------------------------

    @staticmethod
    def _resolve_locustfile(locustfile: str | None) -> Path:
        if locustfile is None:
            return BUNDLED_LOCUSTFILE
        path = Path(locustfile).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"load.locustfile: {locustfile!r} is not a file; give a path to a Locust file or null.")
        return path

    def _environment(self, sink: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            NONSTOP_LOAD_SINK=sink,
            NONSTOP_LOAD_TOKEN=self._token,
            NONSTOP_LOAD_PATH=self.load.path,
            NONSTOP_LOAD_METHOD=self.load.method,
            NONSTOP_LOAD_USER_RATE=repr(self.load.user_rate),
            NONSTOP_LOAD_TIMEOUT=repr(self.load.timeout_seconds),
            NONSTOP_LOAD_CLOSE_SHARE=repr(self._close_share),
        )
        return env

    def _commands(self) -> list[tuple[str, list[str]]]:
        files = f"{self._locustfile},{STREAM_PLUGIN}"
        common = ["-f", files, "--host", self.host, "--loglevel", "INFO", "--exit-code-on-error", "0"]
        lead = [
            *common,
            "--headless",
            "--only-summary",
            "--users",
            str(self.load.users),
            "--spawn-rate",
            repr(self.load.spawn_rate),
            "--json-file",
            str(self.log_dir / "locust-stats"),
        ]
        if self._max_seconds is not None:
            lead += ["--run-time", f"{max(1, math.ceil(self._max_seconds))}s"]
        if not self.load.workers:
            return [("locust", lead)]
        if self.external_workers is not None:
            external = self.external_workers
            master = [
                *lead,
                "--master",
                "--master-bind-host",
                external.bind_host,
                "--master-bind-port",
                str(external.master_port),
                "--expect-workers",
                str(self.load.workers),
                "--expect-workers-max-wait",
                str(max(1, math.ceil(external.wait_seconds))),
            ]
            return [("master", master)]
        port = free_port()
        master = [
            *lead,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(self.load.workers),
            "--expect-workers-max-wait",
            "60",
        ]
        worker = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        return [("master", master)] + [(f"worker-{i}", worker) for i in range(self.load.workers)]

    # -- the runner's thread: spawn, stream, stop, reap --------------------------------------------------

    def _run(self, listener: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        try:
            try:
                self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=not self._own_log_dir)
                host, port = listener.getsockname()[:2]
                # External workers connect to the sink port on the host they know their master by.
                env = self._environment(f"{'' if self.external_workers else host}:{port}")
                for role, args in self._commands():
                    self._processes.spawn(role, args, env)
            except OSError as exc:
                self._error = exc
                self._processes.kill_all()
                return
            finally:
                self._launched.set()
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ)
            self._serve(selector, listener)
        except BaseException as exc:  # the thread must never leave children behind
            self._log.error("load runner failed", error=repr(exc))
            self._error = exc
            self._processes.kill_all()
            raise
        finally:
            self._processes.reap_all()
            self._stream.close(selector)
            selector.close()
            listener.close()
            self._done.set()

    def _serve(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        stopping_since: float | None = None
        drain_until: float | None = None
        while True:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    self._stream.accept(selector, listener)
                else:
                    self._stream.receive(selector, key.data)
            self._processes.poll(stopping=self._stop_requested.is_set())
            now = time.monotonic()
            lead_exited = self._processes.children[0].exited
            if stopping_since is None and (self._stop_requested.is_set() or lead_exited):
                stopping_since = now
                self._processes.terminate_lead()
            if stopping_since is not None and drain_until is None:
                if all(child.exited for child in self._processes.children):
                    # Remote workers close their streams after their master told them to quit.
                    drain_until = now + (2.0 if self.external_workers is None else _REMOTE_DRAIN)
                elif now - stopping_since > self._stop_timeout:
                    self._log.warning("locust did not stop in time; killing it", seconds=self._stop_timeout)
                    self._processes.kill_all()
                elif lead_exited and now - stopping_since > 2.0:
                    self._processes.terminate_all()  # workers whose master is gone
            if drain_until is not None and (len(selector.get_map()) <= 1 or now > drain_until):
                self._stream.accept(selector, listener)  # connections still in the backlog of exited processes
                if len(selector.get_map()) <= 1 or now > drain_until:
                    return

    def _failure_message(self, when: str) -> str:
        lead = self._processes.lead
        tail = last_line(lead.log) if lead is not None else ""
        exit_code = self._processes.exit_code
        code = "" if exit_code is None else f" (exit code {exit_code})"
        log = f" (log: {lead.log})" if lead is not None else ""
        return f"Locust {when}{code}: {tail or 'no output'}{log}"

    def _cleanup(self) -> None:
        if self._own_log_dir and self._processes.exit_code == 0 and self._error is None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
