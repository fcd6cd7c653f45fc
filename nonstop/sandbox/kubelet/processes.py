"""Containers as local process groups that cannot outlive the sandbox.

Every pod process (and every exec probe or hook) is started by one long-lived spawner thread:
`prctl(PR_SET_PDEATHSIG, SIGKILL)` fires when the *thread* that forked the child ends, so forking
from short-lived worker threads would kill containers early. Each child leads its own process group
(`start_new_session`), so a stop can SIGKILL everything the container started; the PDEATHSIG makes
the kernel kill the direct child when the sandbox process dies, even by SIGKILL. On the node of
the real control plane the spawner also moves each child into the node's pod network namespace
(`Spawner(netns_fd=…)`, `nonstop.sandbox.podnet`), exec probes and hooks included, as a runtime
runs them inside the container. A container with `mounts` (its projected ServiceAccount volume,
`nonstop.sandbox.kubelet.incluster`) gets a mount namespace of its own: `unshare(CLONE_NEWNS)`,
every mount made private (nothing propagates back to the host), then one bind mount per folder
(read-only when asked) — so each pod sees its own files at the same standard path.

Such a container also gets a PID namespace of its own, as under a real runtime: the forked child
calls `unshare(CLONE_NEWPID)` and forks once more; the grandchild is PID 1 of the new namespace (a
fresh /proc mounted over its /proc) and execs the container's command, while the child stays behind
as a forwarder — every catchable signal the kubelet sends it goes on to PID 1, and it exits with
PID 1's status. So the kernel's PID-1 rule applies (a signal without a handler is not delivered to
PID 1, except SIGKILL), and a command that signals a stale pid, or `kill(-1)`, reaches only its
own container: argoexec's emissary keeps forwarding signals to its child's pid after that child
exited, and on the host's pid space (pids wrap at 32768 here) that pid can belong to anything.

When a container ends, or is SIGKILLed, everything left in its session goes too
(`kill_container`): a grandchild in a process group of its own — argoexec's emissary starts the
container's command in one — is still in the leader's session, as everything in a real
container's cgroup is. Known gap: a grandchild that called setsid() itself escapes, unless the
PDEATHSIG chain reaches it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nonstop.sandbox.podnet import enter_netns
from nonstop.toolkit.children import die_with_parent

__all__ = ["ContainerProcess", "ExecResult", "Spawner"]

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _die_with_parent(
    parent_pid: int, netns_fd: int | None = None, mounts: tuple[tuple[bytes, bytes, bool], ...] = ()
) -> Callable[[], None]:
    """A preexec_fn: SIGKILL this child when its forking thread ends; bail out if the parent is gone already.

    With `netns_fd`, the child also enters that network namespace (the node's pod network); with
    `mounts` ((source, target, read-only) as bytes, prepared before the fork), a private mount
    namespace with those bind mounts and a PID namespace of its own. Any failure ends the child
    with 126 before it runs anything.
    """

    def setup() -> None:
        die_with_parent(parent_pid, signal.SIGKILL, orphan_exit=137)
        if netns_fd is not None:
            enter_netns(netns_fd)
        if mounts:
            _bind_mounts(mounts)
            _become_pid_namespace_init()

    return setup


# What the forwarder passes on to PID 1 (SIGKILL and SIGSTOP cannot be caught; the kubelet's SIGKILL
# ends the whole session anyway), and SIGCHLD, which tells it PID 1 ended.
_FORWARDED = frozenset(
    {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGCONT,
        signal.SIGCHLD,
    }
)


def _become_pid_namespace_init() -> None:
    """In a forked child: return as PID 1 of a new PID namespace; the caller's process forwards signals.

    The second fork is libc's, not `os.fork`: Python's at-fork handlers take locks (logging's) that
    another thread of the kubelet may have held when the first fork happened.
    """
    if _libc is None or _libc.unshare(CLONE_NEWPID) != 0:
        os._exit(126)
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # none is lost before the loop waits for it
    child = _libc.fork()
    if child < 0:
        os._exit(126)
    if child == 0:
        die_with_parent(0, signal.SIGKILL)  # PID 1's parent is outside its namespace: getppid() is 0
        proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        if _libc.mount(b"proc", b"/proc", b"proc", proc_flags, None) != 0:
            os._exit(126)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)  # the mask would survive exec
        return
    _forward_until_exit(child)


def _forward_until_exit(child: int) -> None:
    """The forwarder's whole life: pass signals on to `child` (PID 1), then exit as it did.

    It closes every descriptor but the standard three first: subprocess's exec-error pipe among
    them, whose end of file tells the kubelet the command started (PID 1's exec closes its copy).
    """
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    while True:
        signo = signal.sigwaitinfo(_FORWARDED).si_signo
        if signo != signal.SIGCHLD:
            with contextlib.suppress(OSError):
                os.kill(child, signo)
            continue
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid == child:
                os._exit(exit_code_of(os.waitstatus_to_exitcode(status)))


def _bind_mounts(mounts: tuple[tuple[bytes, bytes, bool], ...]) -> None:
    """In a forked child: a private mount namespace with each source bound at its target (126 on failure).

    Every source is opened first and bound through /proc/self/fd: a mount over /tmp (Argo's `wait`
    container has an emptyDir there) would otherwise hide the sources that live under /tmp.
    """
    if _libc is None or _libc.unshare(CLONE_NEWNS) != 0:
        os._exit(126)
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        os._exit(126)
    try:
        fds = [os.open(source, os.O_PATH | os.O_DIRECTORY) for source, _, _ in mounts]
    except OSError:
        os._exit(126)
    for fd, (_source, target, read_only) in zip(fds, mounts, strict=True):
        if _libc.mount(b"/proc/self/fd/%d" % fd, target, None, MS_BIND, None) != 0:
            os._exit(126)
        if read_only and _libc.mount(b"none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None) != 0:
            os._exit(126)


def exit_code_of(returncode: int) -> int:
    """Popen's returncode as a container runtime reports it: death by signal N is 128+N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class _SpawnRequest:
    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    stdout: int | IO[Any] | None
    mounts: tuple[tuple[bytes, bytes, bool], ...] = ()
    future: concurrent.futures.Future[subprocess.Popen[bytes]] = field(default_factory=concurrent.futures.Future)


class Spawner:
    """The one thread that forks every child; `stop()` SIGKILLs every group it ever started.

    `netns_fd`: an open network namespace every child enters (`nonstop.sandbox.podnet`); None: the host's.
    """

    def __init__(self, netns_fd: int | None = None) -> None:
        self._netns_fd = netns_fd
        self._requests: queue.Queue[_SpawnRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._groups: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        with self._lock:
            self._closed = False
        self._thread = threading.Thread(target=self._run, name="kubelet-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        parent = os.getpid()
        while True:
            request = self._requests.get()
            if request is None:
                return
            if not request.future.set_running_or_notify_cancel():
                continue
            try:
                popen = subprocess.Popen(
                    request.argv,
                    env=request.env,
                    cwd=request.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=request.stdout,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(parent, self._netns_fd, request.mounts),  # noqa: PLW1509 - see the module docstring
                )
            except OSError as exc:
                request.future.set_exception(exc)
                continue
            with self._lock:
                self._groups.add(popen.pid)
                if self._closed:
                    os.killpg(popen.pid, signal.SIGKILL)
            request.future.set_result(popen)

    def spawn(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: str | None = None,
        stdout: int | IO[Any] | None = None,
        mounts: Sequence[tuple[str, str, bool]] = (),
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a new process group; raises OSError when it cannot be executed.

        `mounts`: (host folder, path in the container, read-only) bind mounts in a mount namespace
        of the child's own; each target must exist.
        """
        with self._lock:
            if self._closed or self._thread is None:
                raise OSError("the kubelet is stopping")
        prepared = tuple((os.fsencode(a), os.fsencode(b), ro) for a, b, ro in mounts)
        request = _SpawnRequest(argv, env, cwd, stdout, prepared)
        self._requests.put(request)
        return request.future.result()

    def forget(self, pgid: int) -> None:
        """The group is known to be empty (its leader exited and the group was killed)."""
        with self._lock:
            self._groups.discard(pgid)

    def stop(self) -> None:
        """SIGKILL every process group started here, then end the spawner thread."""
        with self._lock:
            self._closed = True
            groups = list(self._groups)
            self._groups.clear()
        for pgid in groups:
            kill_container(pgid)
        self._requests.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def run(self, argv: list[str], *, env: dict[str, str], timeout: float) -> ExecResult:
        """Run a short command (exec probe or hook) with a timeout; its whole group dies on timeout."""
        try:
            popen = self.spawn(argv, env=env, stdout=subprocess.PIPE)
        except OSError as exc:
            return ExecResult(None, str(exc), timed_out=False, failed_to_start=True)
        try:
            out, _ = popen.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(popen.pid)
            out, _ = popen.communicate()
            timed_out = True
        kill_group(popen.pid)
        self.forget(popen.pid)
        return ExecResult(
            None if timed_out else exit_code_of(popen.returncode),
            (out or b"").decode(errors="replace"),
            timed_out=timed_out,
        )


@dataclass(frozen=True)
class ExecResult:
    """What an exec probe or hook did: its exit code (None on timeout or start failure) and output."""

    exit_code: int | None
    output: str
    timed_out: bool
    failed_to_start: bool = False


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_container(leader: int) -> None:
    """SIGKILL all a container started: the leader's group, then every process left in its session.

    The leader was started with `start_new_session`, so its pid is its session's id; a session id is
    not reused while any process is in it, so nothing outside the container can match.
    """
    kill_group(leader)
    for pid in session_members(leader):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def session_members(sid: int) -> list[int]:
    """The pids whose session is `sid` (from /proc/<pid>/stat; a process that ends meanwhile is skipped)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path("/proc", entry.name, "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp session …
        if len(fields) > 3 and int(fields[3]) == sid and int(entry.name) != os.getpid():
            members.append(int(entry.name))
    return members


class ContainerProcess:
    """One running container: its leader process, when it started, and when and how it ended."""

    def __init__(
        self, spawner: Spawner, popen: subprocess.Popen[bytes], *, on_exit: Callable[[ContainerProcess], None]
    ) -> None:
        self._spawner = spawner
        self.popen = popen
        self.pid = popen.pid
        self.started_at = time.time()
        self.exited = threading.Event()
        self.exit_code: int | None = None
        self.exited_at: float | None = None
        self.sigterm_at: float | None = None
        self.sigkill_at: float | None = None
        self._on_exit = on_exit
        self._waiter = threading.Thread(target=self._wait, name=f"wait-{popen.pid}", daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        returncode = self.popen.wait()
        self.exited_at = time.time()
        self.exit_code = exit_code_of(returncode)
        kill_container(self.pid)  # the container is gone: so is everything it started
        self._spawner.forget(self.pid)
        self.exited.set()
        self._on_exit(self)

    def send(self, sig: signal.Signals) -> None:
        """Send `sig` to the container's main process (SIGKILL goes to the whole group, as a runtime does)."""
        if self.exited.is_set():
            return
        now = time.time()
        if sig == signal.SIGKILL:
            self.sigkill_at = self.sigkill_at or now
            kill_container(self.pid)
            return
        if sig == signal.SIGTERM and self.sigterm_at is None:
            self.sigterm_at = now
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
