"""The drill's load: Locust in its own processes, every request streamed back live.

Locust is never imported here (it monkey-patches sockets and threads): `LoadRunner` starts
``python -m locust --headless`` with this interpreter — one process, or a master and N workers in
Locust's own master/worker mode — and listens on a loopback socket that the ``nonstop_stream`` plugin
of every request-sending Locust process connects to (locustfiles/nonstop_stream.py has the protocol).
Records arrive in batches every 50 ms and reach the drill as `RequestSample` objects through the
``on_samples`` callback, called from the runner's own thread.

**External workers** (`ExternalWorkers`, the Argo workflow's worker pods): with ``load.workers > 0``
and ``external_workers`` given, the runner starts only the master, bound on
``ExternalWorkers.bind_host:master_port`` with ``--expect-workers N``, and listens for records on
``bind_host:sink_port``. Workers need nothing but ``locust --worker --master-host H --master-port P -f
<locustfile>,nonstop_stream.py``: the master's environment holds the sink as ``:<sink_port>`` (empty
host) and the token, the plugins turn them and the load settings into Locust options, and Locust's
master sends its options to every worker with the first spawn message; a worker then connects to the
sink port on the host of its master. The sink still drops any connection whose first line lacks the
run's token. Anyone who can reach the master port can join as a worker and so receive that token:
the token keeps strays and port scans out, and a NetworkPolicy is what keeps other pods out
(docs/gitops.md).

No child outlives the runner: each Locust process runs in its own process group with
PR_SET_PDEATHSIG = SIGKILL set before it execs Locust (so it dies with the thread that started it, which
lives until every child is reaped); `stop()` sends SIGTERM (Locust stops its users and flushes its
last records), then SIGKILLs each process group after the grace period.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import locustfiles
from checks.evidence import FAILURE_CLASSES, FailureClass, RequestSample
from nonstop.errors import InputError, LoadFailed
from nonstop.logs import get_logger
from nonstop.spec import LoadSpec
from nonstop.toolkit import children

__all__ = [
    "BUNDLED_LOCUSTFILE",
    "STREAM_PLUGIN",
    "ExternalWorkers",
    "LoadRunner",
    "LoadStats",
    "external_workers_from_env",
]

_LOCUSTFILES = Path(locustfiles.__file__).resolve().parent
BUNDLED_LOCUSTFILE = _LOCUSTFILES / "http_user.py"
"""The default load: constant-throughput users, a share of them on a new connection per request."""
STREAM_PLUGIN = _LOCUSTFILES / "nonstop_stream.py"
"""Loaded next to every locustfile: streams each request to the runner."""

SampleSink = Callable[[Sequence[RequestSample]], None]

# Runs in each child before it becomes Locust: die with the starting thread, optionally pin CPUs, exec.
# The child's path may not hold nonstop (another working directory, a bare environment): it is given.
_LAUNCHER = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(children.__file__).resolve().parents[2])!r})
from nonstop.toolkit.children import die_with_parent
if not die_with_parent(int(sys.argv[1]), signal.SIGKILL, orphan_exit=70):
    sys.exit("prctl(PR_SET_PDEATHSIG) failed")
if sys.argv[2]:
    os.sched_setaffinity(0, {{int(c) for c in sys.argv[2].split(",")}})
os.execv(sys.executable, [sys.executable, "-m", "locust", *sys.argv[3:]])
"""
_FAILURE_CLASSES = frozenset(FAILURE_CLASSES)
_BUCKET = 0.1  # seconds per bucket of the live request-rate counter
_REMOTE_DRAIN = 5.0  # seconds to wait for external workers' last records once the master exited
_RATE_LAG = 0.2  # records arrive up to ~2 flush intervals late: the rate covers [now-1.2 s, now-0.2 s)


EXTERNAL_WORKERS_VARIABLE = "NONSTOP_LOCUST_EXTERNAL_WORKERS"
MASTER_BIND_PORT_VARIABLE = "NONSTOP_LOCUST_MASTER_BIND_PORT"
SINK_PORT_VARIABLE = "NONSTOP_LOCUST_SINK_PORT"
BIND_HOST_VARIABLE = "NONSTOP_LOCUST_BIND_HOST"
_ALL_INTERFACES = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class ExternalWorkers:
    """Locust workers run elsewhere (other pods) and connect to this runner's master.

    The runner then starts no worker of its own: it binds the master on ``bind_host:master_port``,
    waits up to ``wait_seconds`` for ``load.workers`` workers, and receives their records on
    ``bind_host:sink_port`` (token-checked).
    """

    master_port: int = 5557
    sink_port: int = 5558
    bind_host: str = _ALL_INTERFACES  # remote workers must reach the master and the sink
    wait_seconds: float = 120.0


def external_workers_from_env(env: Mapping[str, str]) -> ExternalWorkers | None:
    """`ExternalWorkers` from the drill pod's environment, or None when the variable is unset/false.

    ``NONSTOP_LOCUST_EXTERNAL_WORKERS`` (true/false), ``NONSTOP_LOCUST_MASTER_BIND_PORT`` (default
    5557), ``NONSTOP_LOCUST_SINK_PORT`` (default: the master port + 1) and
    ``NONSTOP_LOCUST_BIND_HOST`` (default 0.0.0.0; ``::`` for IPv6 pods); InputError on a bad value.
    """
    flag = env.get(EXTERNAL_WORKERS_VARIABLE, "").strip().lower()
    if flag in ("", "0", "false", "no"):
        return None
    if flag not in ("1", "true", "yes"):
        raise InputError(f"{EXTERNAL_WORKERS_VARIABLE}: {flag!r} is not a boolean; give true or false.")
    master_port = _port_from_env(env, MASTER_BIND_PORT_VARIABLE, 5557)
    sink_port = _port_from_env(env, SINK_PORT_VARIABLE, master_port + 1)
    if sink_port == master_port:
        raise InputError(f"{SINK_PORT_VARIABLE}: {sink_port} is the Locust master's port; give another port.")
    bind_host = env.get(BIND_HOST_VARIABLE, "").strip() or _ALL_INTERFACES
    return ExternalWorkers(master_port=master_port, sink_port=sink_port, bind_host=bind_host)


def _port_from_env(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"{name}: {text!r} is not a TCP port; give a number from 1 to 65535.")
    return int(text)


@dataclass(frozen=True, slots=True)
class LoadStats:
    """Live figures of the load so far."""

    requests: int
    failures: int
    failures_by_class: Mapping[FailureClass, int]
    rps: float
    """Requests that completed in one second ending 0.2 s ago (records arrive in 50 ms batches)."""
    streaming: int
    """Locust processes connected and streaming (1, or the number of workers)."""
    by_process: Mapping[int, int]
    """Records received from each Locust process, by its pid."""
    users: int
    """Users running, as the Locust processes last reported (every 50 ms while it changes)."""


@dataclass
class _Child:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    exited: bool = False


@dataclass
class _Peer:
    sock: socket.socket
    pending: bytearray = field(default_factory=bytearray)
    greeted: bool = False
    pid: int = 0


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
        self._on_samples = on_samples
        self._max_seconds = max_seconds
        self._close_share = close_share
        self._stop_timeout = stop_timeout
        self._cpus = tuple(cpus or ())
        self._sink_host = sink_host
        self.external_workers = external_workers if load.workers else None
        self._log = get_logger("load")
        self._locustfile = self._resolve_locustfile(load.locustfile)
        self._own_log_dir = log_dir is None
        self.log_dir = (
            Path(tempfile.gettempdir(), f"nonstop-load-{secrets.token_hex(6)}") if log_dir is None else log_dir
        )
        self._token = secrets.token_hex(16)
        self._lock = threading.Lock()
        self._requests = 0
        self._failures = 0
        self._by_class: collections.Counter[FailureClass] = collections.Counter()
        self._buckets: dict[int, int] = {}
        self._streaming = 0
        self._by_process: collections.Counter[int] = collections.Counter()
        self._users: dict[int, int] = {}
        self._children: list[_Child] = []
        self._thread: threading.Thread | None = None
        self._launched = threading.Event()
        self._stop_requested = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._exit_code: int | None = None

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
        return [child.popen.pid for child in self._children]

    @property
    def exit_code(self) -> int | None:
        """Exit code of the Locust master (or single process) once it ended, else None."""
        return self._exit_code

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
            if self._done.is_set() or self._exit_code is not None:
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
        now = time.time()
        first, last = int((now - 1.0 - _RATE_LAG) / _BUCKET), int((now - _RATE_LAG) / _BUCKET)
        with self._lock:
            rate = sum(self._buckets.get(b, 0) for b in range(first, last))
            return LoadStats(
                requests=self._requests,
                failures=self._failures,
                failures_by_class=dict(self._by_class),
                rps=rate * 1.0 / ((last - first) * _BUCKET) if last > first else 0.0,
                streaming=self._streaming,
                by_process=dict(self._by_process),
                users=sum(self._users.values()),
            )

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
        return self._exit_code

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop gracefully (SIGTERM, then SIGKILL after `stop_timeout`); returns once no child is left."""
        if self._thread is None:
            return None
        self._stop_requested.set()
        self._done.wait(timeout)
        return self.wait(0)

    def __enter__(self) -> LoadRunner:
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
        port = _free_port()
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

    def _spawn(self, role: str, args: list[str], env: dict[str, str]) -> _Child:
        log = self.log_dir / f"{role}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), ",".join(map(str, self._cpus)), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.log_dir,
                env=env,
                start_new_session=True,
            )
        self._log.debug("locust started", role=role, pid=popen.pid)
        return _Child(role, popen, log)

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
                    self._children.append(self._spawn(role, args, env))
            except OSError as exc:
                self._error = exc
                self._kill_all()
                return
            finally:
                self._launched.set()
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ)
            self._serve(selector, listener)
        except BaseException as exc:  # the thread must never leave children behind
            self._log.error("load runner failed", error=repr(exc))
            self._error = exc
            self._kill_all()
            raise
        finally:
            self._reap_all()
            for key in list(selector.get_map().values()):
                if isinstance(key.data, _Peer):
                    key.data.sock.close()
            selector.close()
            listener.close()
            self._done.set()

    def _serve(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        stopping_since: float | None = None
        drain_until: float | None = None
        while True:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    self._accept(selector, listener)
                else:
                    self._receive(selector, key.data)
            self._poll_children()
            now = time.monotonic()
            lead_exited = self._children[0].exited
            if stopping_since is None and (self._stop_requested.is_set() or lead_exited):
                stopping_since = now
                self._terminate_lead()
            if stopping_since is not None and drain_until is None:
                if all(child.exited for child in self._children):
                    # Remote workers close their streams after their master told them to quit.
                    drain_until = now + (2.0 if self.external_workers is None else _REMOTE_DRAIN)
                elif now - stopping_since > self._stop_timeout:
                    self._log.warning("locust did not stop in time; killing it", seconds=self._stop_timeout)
                    self._kill_all()
                elif lead_exited and now - stopping_since > 2.0:
                    self._terminate_all()  # workers whose master is gone
            if drain_until is not None and (len(selector.get_map()) <= 1 or now > drain_until):
                self._accept(selector, listener)  # connections still in the backlog of exited processes
                if len(selector.get_map()) <= 1 or now > drain_until:
                    return

    def _accept(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, _Peer(sock))

    def _receive(self, selector: selectors.BaseSelector, peer: _Peer) -> None:
        try:
            data = peer.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            peer.pending += data
            end = peer.pending.rfind(b"\n")
            if end < 0:
                return
            lines = bytes(peer.pending[:end]).split(b"\n")
            del peer.pending[: end + 1]
            if self._take(peer, lines):
                return
        selector.unregister(peer.sock)
        peer.sock.close()
        if peer.greeted:
            with self._lock:
                self._streaming -= 1
                self._users.pop(peer.pid, None)

    def _take(self, peer: _Peer, lines: list[bytes]) -> bool:
        """Handle complete lines; False drops the connection."""
        if not peer.greeted:
            try:
                hello = json.loads(lines.pop(0))
                token, pid = str(hello["token"]), int(hello["pid"])
            except (ValueError, KeyError, TypeError):
                token, pid = "", 0
            if not hmac.compare_digest(token, self._token):
                self._log.warning("dropped a load-stream connection without the right token")
                return False
            peer.greeted, peer.pid = True, pid
            with self._lock:
                self._streaming += 1
        samples: list[RequestSample] = []
        for line in lines:
            try:
                batch = json.loads(line)
                if isinstance(batch, dict):
                    with self._lock:
                        self._users[peer.pid] = int(batch["users"])
                else:
                    samples.extend(_sample(record) for record in batch)
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                self._log.warning("dropped a malformed load record batch", error=str(exc))
        if samples:
            self._count(peer.pid, samples)
            if self._on_samples is not None:
                try:
                    self._on_samples(samples)
                except Exception as exc:
                    self._log.exception("the load's sample callback failed", error=repr(exc))
        return True

    def _count(self, pid: int, samples: list[RequestSample]) -> None:
        failures = [s.failure for s in samples if s.failure is not None]
        with self._lock:
            self._requests += len(samples)
            self._by_process[pid] += len(samples)
            self._failures += len(failures)
            self._by_class.update(failures)
            buckets = self._buckets
            for sample in samples:
                bucket = int((sample.at + sample.latency_ms / 1000.0) / _BUCKET)
                buckets[bucket] = buckets.get(bucket, 0) + 1
            if len(buckets) > 100:
                horizon = int(time.time() / _BUCKET) - 50
                for bucket in [b for b in buckets if b < horizon]:
                    del buckets[bucket]

    # -- processes ----------------------------------------------------------------------------------------

    def _poll_children(self) -> None:
        for child in self._children:
            if not child.exited and _has_exited(child.popen.pid):
                child.exited = True
                _killpg(child.popen.pid)  # anything it left in its group; it stays a zombie until reaped
                code = child.popen.wait()
                if child is self._children[0]:
                    self._exit_code = code
                log = self._log.info if code == 0 or self._stop_requested.is_set() else self._log.warning
                log("locust exited", role=child.role, pid=child.popen.pid, code=code)

    def _terminate_lead(self) -> None:
        lead = self._children[0]
        if not lead.exited:
            with contextlib.suppress(ProcessLookupError):
                lead.popen.send_signal(signal.SIGTERM)

    def _terminate_all(self) -> None:
        for child in self._children:
            if not child.exited:
                with contextlib.suppress(ProcessLookupError):
                    child.popen.send_signal(signal.SIGTERM)

    def _kill_all(self) -> None:
        for child in self._children:
            if not child.exited:
                _killpg(child.popen.pid)

    def _reap_all(self) -> None:
        self._kill_all()
        for child in self._children:
            if not child.exited:
                code = child.popen.wait()
                child.exited = True
                if child is self._children[0]:
                    self._exit_code = code

    def _failure_message(self, when: str) -> str:
        lead = self._children[0] if self._children else None
        tail = _last_line(lead.log) if lead is not None else ""
        code = "" if self._exit_code is None else f" (exit code {self._exit_code})"
        log = f" (log: {lead.log})" if lead is not None else ""
        return f"Locust {when}{code}: {tail or 'no output'}{log}"

    def _cleanup(self) -> None:
        if self._own_log_dir and self._exit_code == 0 and self._error is None:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def _sample(record: Any) -> RequestSample:
    at, latency, failure, status, pod, *retried = record
    if failure is not None and failure not in _FAILURE_CLASSES:
        failure = "other"
    retries, retried_pod = retried if len(retried) == 2 else (0, None)
    return RequestSample(at, latency, failure, pod, status, int(retries), retried_pod)


def _has_exited(pid: int) -> bool:
    """True once the child exited, without reaping it (so its process group id stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _last_line(log: Path) -> str:
    """The last meaningful line of a Locust log: usually the error that stopped it."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")) and "Shutting down" not in text:
            return text[:300]
    return ""
