"""One container on the sandbox node: start, wait, restart with back-off, stop; and its probes' view of it.

A `ContainerRunner` thread owns the container's process; its in-memory state (state, lastState,
ready, started, restartCount) is the truth the pod worker publishes as `containerStatuses` or
`initContainerStatuses`. Its `kind` says which: a main container (`regular`) restarts per the pod's
`restartPolicy`; an `init` container runs to completion and is retried only on failure (never
under `restartPolicy: Never`), has no probes, and is `ready` once it exited 0; a native `sidecar`
(an init container with `restartPolicy: Always`) is restarted whenever it exits, has probes like a
main container, and stops only after the main containers (its `stop_turn`, from the pod worker).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from typing import Any, Literal

from nonstop.sandbox.kubelet.context import HOST_IP
from nonstop.sandbox.kubelet.incluster import Mount, ensure_mount_points
from nonstop.sandbox.kubelet.logs import LogInstance, copy_stamped
from nonstop.sandbox.kubelet.podview import PodView
from nonstop.sandbox.kubelet.probes import (
    ContainerView,
    Outcome,
    ProbeResult,
    ProbeSpec,
    ProbeType,
    ProbeWorker,
    run_handler,
)
from nonstop.sandbox.kubelet.processes import ContainerProcess
from nonstop.sandbox.kubelet.runconfig import (
    ContainerConfigError,
    ImageNotRunnable,
    container_argv,
    container_env,
    is_sample_app,
)
from nonstop.sandbox.kubelet.status import rfc3339_ms, rfc3339_s
from nonstop.sandbox.kubelet.termination import TurnWaiter, stop_container
from nonstop.sandbox.store import Obj

__all__ = ["Backoff", "ContainerKind", "ContainerRunner"]

ContainerKind = Literal["regular", "init", "sidecar"]


class Backoff:
    """The kubelet's per-container restart back-off: first restart at once, then 10 s doubling to 300 s."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum
        self.delay: float | None = None
        self.last_update = 0.0

    def wait_for(self, finished_at: float, now: float) -> float:
        """Seconds still to wait before restarting a container that finished at `finished_at`."""
        if self.delay is None or finished_at - self.last_update > 2 * self.maximum:
            self.delay = None
            return 0.0
        return max(0.0, finished_at + self.delay - now)

    def next(self, now: float) -> None:
        self.delay = self.initial if self.delay is None else min(self.delay * 2, self.maximum)
        self.last_update = now


class ContainerRunner:
    """One container: its process, restarts, probe results and the status Kubernetes reports for it."""

    def __init__(
        self,
        pod: PodView,
        spec: Obj,
        *,
        kind: ContainerKind = "regular",
        initializing: bool = False,
        stop_turn: TurnWaiter | None = None,
    ) -> None:
        self.pod = pod
        self.spec = spec
        self.kind: ContainerKind = kind
        self.stop_turn = stop_turn
        """A sidecar's wait for its turn to get SIGTERM at termination (None: no wait)."""
        self.name = str(spec["name"])
        self.image = str(spec.get("image", ""))
        self.field_path = f"spec.{'containers' if kind == 'regular' else 'initContainers'}{{{self.name}}}"
        self.ports = {str(p["name"]): int(p["containerPort"]) for p in spec.get("ports") or [] if p.get("name")}
        self.restart_count = 0
        self.state: Obj = {"waiting": {"reason": "PodInitializing" if initializing else "ContainerCreating"}}
        self.last_state: Obj = {}
        self.container_id: str | None = None
        self.logs: dict[str, LogInstance] = {}
        """containerID -> its log: the current (or last) instance and the one before it."""
        self.process: ContainerProcess | None = None
        self.running_since = 0.0
        self.ready = False
        self.started = False
        self.env: dict[str, str] = {}
        self.mounts: list[Mount] = []
        self.kill_reason: str | None = None
        self.oom_killed = False
        """Set by `oom_kill()`: the next exit is reported as OOMKilled (fault injection)."""
        self.kill_grace: int | None = None
        self.wake = threading.Event()
        self.launched = False
        """Its thread was started (a container after a failed or interrupted initialisation never is)."""
        self.retiring = threading.Event()
        """Stop for good without a deletion: a sidecar once every main container has finished."""
        self.stopped = threading.Event()
        """It will not run again: its process exited for good, or it never started (a sidecar's turn waits on this)."""
        self.done = threading.Event()
        self.probes: dict[ProbeType, ProbeWorker] = {}
        probe_keys: tuple[tuple[ProbeType, str], ...] = (
            ("Startup", "startupProbe"),
            ("Readiness", "readinessProbe"),
            ("Liveness", "livenessProbe"),
        )
        for probe_type, key in probe_keys:
            if spec.get(key) and kind != "init":  # the API refuses probes on init containers; ignore them
                self.probes[probe_type] = ProbeWorker(probe_type, ProbeSpec.from_obj(spec[key]), _Target(self))
        self.backoff = Backoff(pod.ctx.backoff_initial, pod.ctx.backoff_max)
        self.thread = threading.Thread(target=self._run, name=f"container-{self.name}", daemon=True)

    # -- status ----------------------------------------------------------------------------------

    @property
    def restart_policy(self) -> str:
        """Its own: a sidecar always restarts; an init container is retried only when it failed."""
        if self.kind == "sidecar":
            return "Always"
        if self.kind == "init":
            return "Never" if self.pod.restart_policy == "Never" else "OnFailure"
        return self.pod.restart_policy

    def succeeded(self) -> bool:
        """It exited 0 (an init container's completion)."""
        return (self.state.get("terminated") or {}).get("exitCode") == 0

    def launch(self) -> None:
        """Start its thread and its probe workers."""
        self.launched = True
        self.thread.start()
        for worker in self.probes.values():
            worker.start()

    def status(self) -> Obj:
        cs: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.succeeded() if self.kind == "init" else self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            cs["containerID"] = self.container_id
        return cs

    # -- the loop --------------------------------------------------------------------------------

    def _stop_requested(self) -> bool:
        return self.pod.terminating.is_set() or self.pod.ctx.stopping.is_set() or self.retiring.is_set()

    def ending(self) -> bool:
        """The pod is going away, or this container is retired: stop the process, do not restart it."""
        return self.pod.terminating.is_set() or self.retiring.is_set()

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless the pod starts terminating; True if it did."""
        deadline = time.monotonic() + seconds
        while not self._stop_requested():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.wake.wait(remaining)
            self.wake.clear()
        return True

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug here must not leave the pod stuck without a trace
            self.pod.ctx.log.exception(
                "kubelet.container_crashed", pod=self.pod.key, container=self.name, error=str(exc)
            )
        finally:
            self.stopped.set()
            self.done.set()
            self.pod.wake.set()

    def _loop(self) -> None:
        pull_backoff = Backoff(self.pod.ctx.backoff_initial, self.pod.ctx.backoff_max)
        while not self._stop_requested():
            try:
                self.env = container_env(
                    self.pod.ctx.api, self.pod.snapshot(), self.spec, pod_ip=self.pod.pod_ip, host_ip=HOST_IP
                )
                in_cluster = self.pod.ctx.in_cluster
                if in_cluster is not None:
                    self.env = in_cluster.image_env(self.image, {**in_cluster.env(), **self.env})
                    self.mounts = in_cluster.mounts(self.pod.snapshot(), self.spec, self.pod.log_dir)
                    ensure_mount_points(self.mounts)
                argv = container_argv(self.spec, self.env)
            except ImageNotRunnable as exc:
                if self._image_pull_failed(str(exc), pull_backoff):
                    return
                continue
            except ContainerConfigError as exc:
                self.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
                self.pod.event("Failed", f"Error: {exc}", warning=True, field_path=self.field_path)
                self.pod.publish()
                if self._wait(2.0):
                    return
                continue
            if is_sample_app(self.image):
                self.pod.event("Pulled", f'Container image "{self.image}" already present on machine', self.field_path)
            if not self._start(argv):
                if self._restart_after_exit():
                    continue
                return
            proc = self.process
            assert proc is not None
            while not (proc.exited.is_set() or self.kill_reason or self._stop_requested()):
                self.wake.wait()
                self.wake.clear()
            if self.pod.ctx.stopping.is_set():
                return
            if self.ending():
                self._terminate(proc)
                return
            if self.kill_reason and not proc.exited.is_set():
                t0 = time.monotonic()
                self.pod.event("Killing", self.kill_reason, self.field_path)
                grace = self.kill_grace if self.kill_grace is not None else self.pod.grace_seconds()
                stop_container(
                    proc,
                    grace=grace,
                    t0=t0,
                    prestop=(self.spec.get("lifecycle") or {}).get("preStop"),
                    run_hook=self.pod.hook_runner(self),
                    on_hook_failed=lambda: self.pod.event(
                        "FailedPreStopHook", "PreStopHook failed", self.field_path, warning=True
                    ),
                )
            proc.exited.wait()
            self._record_exit(proc)
            if self.ending() or not self._restart_after_exit():
                return

    def _image_pull_failed(self, why: str, backoff: Backoff) -> bool:
        """ErrImagePull, then ImagePullBackOff until the next attempt; True when the pod terminates meanwhile."""
        self.pod.event("Pulling", f'Pulling image "{self.image}"', self.field_path)
        message = f'Failed to pull image "{self.image}": {why}'
        self.pod.event("Failed", message, self.field_path, warning=True)
        self.pod.event("Failed", "Error: ErrImagePull", self.field_path, warning=True)
        self.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
        self.pod.publish()
        now = time.time()
        backoff.next(now)
        if self._wait(1.0):
            return True
        self.pod.event("BackOff", f'Back-off pulling image "{self.image}"', self.field_path)
        self.pod.event("Failed", "Error: ImagePullBackOff", self.field_path, warning=True)
        self.state = {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{self.image}": ErrImagePull: {why}',
            }
        }
        self.pod.publish()
        return self._wait(max(0.0, (backoff.delay or 0) - 1.0))

    def _start(self, argv: list[str]) -> bool:
        self.container_id = f"sandbox://{uuid.uuid4().hex}"
        self.kill_reason = None
        self.kill_grace = None
        mounts = [(m.source, m.target, m.read_only) for m in self.mounts]
        try:
            popen = self.pod.ctx.spawner.spawn(
                argv, env=self.env, cwd=str(self.pod.log_dir), stdout=subprocess.PIPE, mounts=mounts
            )
            assert popen.stdout is not None
            instance = LogInstance(self.pod.log_dir / f"{self.name}.{self.restart_count}.log")
            instance.path.touch()
            self._keep_log(self.container_id, instance)
            threading.Thread(
                target=copy_stamped, args=(popen.stdout, instance), name=f"log-{self.name}", daemon=True
            ).start()
        except OSError as exc:
            now = time.time()
            message = f"failed to start container {self.name!r}: {exc}"
            self.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": message,
                    "startedAt": rfc3339_s(now),
                    "finishedAt": rfc3339_s(now),
                    "containerID": self.container_id,
                }
            }
            self.ready = self.started = False
            self.pod.event("Failed", f"Error: {message}", self.field_path, warning=True)
            self.pod.publish()
            return False
        self.process = ContainerProcess(self.pod.ctx.spawner, popen, on_exit=lambda _p: self._on_exit())
        self.running_since = time.monotonic()
        self.state = {"running": {"startedAt": rfc3339_s(self.process.started_at)}}
        self.started = "Startup" not in self.probes
        self.ready = self.started and "Readiness" not in self.probes
        self.pod.event("Created", f"Created container: {self.name}", self.field_path)
        self.pod.event("Started", f"Started container {self.name}", self.field_path)
        self.pod.ctx.log.info("kubelet.container_started", pod=self.pod.key, container=self.name, pid=popen.pid)
        self.pod.publish()
        if self.started:
            self.pod.wake.set()  # the next init container may start
        if "Readiness" in self.probes and self.started:
            self.probes["Readiness"].trigger()
        return True

    def _keep_log(self, container_id: str, instance: LogInstance) -> None:
        """Remember the new instance's log; forget (and remove) every one but it and `lastState`'s."""
        keep = {container_id, str((self.last_state.get("terminated") or {}).get("containerID"))}
        for old_id in [cid for cid in self.logs if cid not in keep]:
            self.logs.pop(old_id).path.unlink(missing_ok=True)
        self.logs[container_id] = instance

    def _on_exit(self) -> None:
        self.wake.set()
        for worker in self.probes.values():
            worker.trigger()

    def _record_exit(self, proc: ContainerProcess) -> None:
        code = proc.exit_code if proc.exit_code is not None else 137
        self.state = {
            "terminated": {
                "exitCode": code,
                "reason": "OOMKilled" if self.oom_killed else "Completed" if code == 0 else "Error",
                "startedAt": rfc3339_s(proc.started_at),
                "finishedAt": rfc3339_s(proc.exited_at or time.time()),
                "containerID": self.container_id,
            }
        }
        self.oom_killed = False
        self.ready = False
        self.started = False
        self.pod.ctx.log.info("kubelet.container_exited", pod=self.pod.key, container=self.name, exit_code=code)
        self.pod.publish()

    def _restart_after_exit(self) -> bool:
        """Restart per restartPolicy, after the back-off; False when the container stays terminated."""
        terminated = self.state.get("terminated", {})
        policy = self.restart_policy
        if policy == "Never" or (policy == "OnFailure" and terminated.get("exitCode") == 0):
            return False
        now = time.time()
        delay = self.backoff.wait_for(now, now)
        if delay > 0:
            pod = self.pod
            self.last_state = {"terminated": terminated}
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {int(delay)}s restarting failed container={self.name} "
                    f"pod={pod.name}_{pod.namespace}({pod.uid})",
                }
            }
            pod.event(
                "BackOff",
                f"Back-off restarting failed container {self.name} in pod {pod.name}_{pod.namespace}({pod.uid})",
                self.field_path,
                warning=True,
            )
            pod.publish()
            if self._wait(delay):
                return False
        self.backoff.next(time.time())
        self.last_state = {"terminated": terminated}
        self.restart_count += 1
        return not self._stop_requested()

    def _terminate(self, proc: ContainerProcess) -> None:
        pod = self.pod
        t0 = (pod.deletion_seen_mono if pod.terminating.is_set() else None) or time.monotonic()
        pod.event("Killing", f"Stopping container {self.name}", self.field_path)
        grace = pod.grace_seconds()
        timeline = stop_container(
            proc,
            grace=grace,
            t0=t0,
            prestop=(self.spec.get("lifecycle") or {}).get("preStop"),
            run_hook=pod.hook_runner(self),
            on_hook_failed=lambda: pod.event("FailedPreStopHook", "PreStopHook failed", self.field_path, warning=True),
            on_sigterm=lambda at: pod.note_sigterm(self.name, at),
            wait_turn=self.stop_turn,
        )
        self.stopped.set()
        pod.ctx.log.info(
            "kubelet.container_stopped",
            pod=pod.key,
            container=self.name,
            grace=grace,
            sigterm_at=timeline.sigterm_at and rfc3339_ms(timeline.sigterm_at),
            sigkill_at=timeline.sigkill_at and rfc3339_ms(timeline.sigkill_at),
            exited_at=timeline.exited_at and rfc3339_ms(timeline.exited_at),
        )
        pod.note_stop(self.name, timeline)
        self._record_exit(proc)

    def oom_kill(self) -> bool:
        """SIGKILL the running process as the kernel's OOM killer would (exit 137, reason OOMKilled)."""
        proc = self.process
        if proc is None or proc.exited.is_set():
            return False
        self.oom_killed = True
        proc.send(signal.SIGKILL)
        return True

    def request_kill(self, reason: str, grace: int | None) -> None:
        self.kill_reason = reason
        self.kill_grace = grace
        self.wake.set()


class _Target:
    """The probe workers' view of a ContainerRunner."""

    def __init__(self, runner: ContainerRunner) -> None:
        self.runner = runner

    def view(self) -> ContainerView:
        r = self.runner
        return ContainerView(
            container_id=r.container_id,
            running="running" in r.state and r.process is not None and not r.process.exited.is_set(),
            running_since=r.running_since,
            started=r.started,
            pod_terminating=r.ending(),
            pod_done=r.done.is_set() or r.pod.ctx.stopping.is_set(),
        )

    def set_probe_result(self, probe_type: ProbeType, container_id: str, success: bool) -> None:
        r = self.runner
        if container_id != r.container_id:
            return
        if probe_type == "Readiness":
            ready = success and r.started and "running" in r.state
            if ready != r.ready:
                r.ready = ready
                r.pod.publish()
        elif probe_type == "Startup":
            if success and not r.started:
                r.started = True
                r.ready = "Readiness" not in r.probes
                r.pod.publish()
                r.pod.wake.set()  # the next init container may start
                if "Readiness" in r.probes:
                    r.probes["Readiness"].trigger()
                if "Liveness" in r.probes:
                    r.probes["Liveness"].trigger()
            elif not success and not r.pod.terminating.is_set():
                spec = r.probes["Startup"].spec
                r.request_kill(f"Container {r.name} failed startup probe, will be restarted", spec.termination_grace)
        elif not success and not r.pod.terminating.is_set():
            spec = r.probes["Liveness"].spec
            r.request_kill(f"Container {r.name} failed liveness probe, will be restarted", spec.termination_grace)

    def probe_event(self, probe_type: ProbeType, outcome: Outcome, output: str) -> None:
        r = self.runner
        if outcome == "warning":
            r.pod.event("ProbeWarning", f"{probe_type} probe warning: {output}", r.field_path, warning=True)
        else:
            r.pod.event("Unhealthy", f"{probe_type} probe failed: {output.strip()}", r.field_path, warning=True)

    def run_probe(self, spec: ProbeSpec) -> ProbeResult:
        r = self.runner
        return run_handler(
            spec.handler,
            pod_ip=r.pod.pod_ip,
            ports=r.ports,
            env=r.env,
            spawner=r.pod.ctx.spawner,
            timeout=float(spec.timeout),
        )
