"""One pod's life on a sandbox node once it is bound: IP, containers, status, termination, removal.

A `PodWorker` thread owns the pod; each container has a `ContainerRunner` thread
(`nonstop.sandbox.kubelet.containers`) and one `ProbeWorker` per probe. The runners' in-memory state
is the truth; `PodWorker.publish()` writes the whole status from it through the kubelet's `NodeApi`.

Start-up follows the kubelet's init sequence: `spec.initContainers` one at a time, in order — a
regular one must exit 0 before the next starts (retried with back-off on failure, except under
`restartPolicy: Never`, which fails the pod), a native sidecar (`restartPolicy: Always`) must have
*started* (running, and its startupProbe succeeded if it has one) and keeps running — then every
main container at once. At termination all containers stop in parallel except the sidecars: each
runs its preStop hook at once but gets SIGTERM only after every main container and every sidecar
after it has exited (reverse order), all within the one grace period (`_turn_waiter`). When every
main container has finished for good without a deletion (`restartPolicy` Never/OnFailure, or a
failed initialisation under Never), the sidecars are stopped the same way and the pod's phase
becomes terminal.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.events import EventNote
from nonstop.sandbox.kubelet.containers import ContainerKind, ContainerRunner
from nonstop.sandbox.kubelet.context import DEFAULT_GRACE_SECONDS, HOST_IP, KubeletContext
from nonstop.sandbox.kubelet.podview import HookedContainer
from nonstop.sandbox.kubelet.probes import run_handler
from nonstop.sandbox.kubelet.status import (
    ANNOTATION_PREFIX,
    conditions,
    phase_of,
    ready_needs_update,
    rfc3339_ms,
    rfc3339_s,
)
from nonstop.sandbox.kubelet.termination import StopTimeline, TurnWaiter
from nonstop.sandbox.store import Obj

__all__ = ["PodWorker"]


def _init_kind(spec: Obj) -> ContainerKind:
    return "sidecar" if spec.get("restartPolicy") == "Always" else "init"


class PodWorker:
    """Owns one pod from binding to removal."""

    def __init__(self, ctx: KubeletContext, pod: Obj) -> None:
        self.ctx = ctx
        meta = pod["metadata"]
        self.uid = str(meta["uid"])
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta["name"])
        self.key = f"{self.namespace}/{self.name}"
        self._pod = pod
        self._lock = threading.RLock()
        self.pod_ip = ""
        self.restart_policy = str(pod.get("spec", {}).get("restartPolicy") or "Always")
        self.terminating = threading.Event()
        self.deleted = threading.Event()  # gone from the API (removed by us, or force-deleted)
        self.wake = threading.Event()
        self.finished = threading.Event()
        self.start_time = time.time()
        self.deletion_seen_at: float | None = None
        self.deletion_seen_mono: float | None = None
        self.annotations: dict[str, str] = {}
        self.runners: list[ContainerRunner] = []
        """The main containers (`spec.containers`)."""
        self.init_runners: list[ContainerRunner] = []
        """`spec.initContainers`, in order: regular init containers and native sidecars."""
        self.log_dir = ctx.workdir / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)

    # -- inputs ----------------------------------------------------------------------------------

    def snapshot(self) -> Obj:
        with self._lock:
            return self._pod

    def update(self, pod: Obj) -> None:
        """The latest object from the API (every ADDED/MODIFIED)."""
        with self._lock:
            self._pod = pod
        if pod["metadata"].get("deletionTimestamp") and not self.terminating.is_set():
            self.deletion_seen_mono = time.monotonic()
            self.deletion_seen_at = time.time()
            self.annotations[ANNOTATION_PREFIX + "deletion-observed-at"] = rfc3339_ms(self.deletion_seen_at)
            self.ctx.log.info("kubelet.pod_terminating", pod=self.key, grace=self.grace_seconds())
            self.terminating.set()
            self._wake_all()
            if self.all_runners:
                self.publish()  # the deletion-observed-at annotation, at once
        elif self.all_runners and not self.finished.is_set() and ready_needs_update(pod):
            self.publish()  # a readiness gate's condition changed: Ready follows

    def removed(self) -> None:
        """The pod left the API (DELETED): force deletion if we did not remove it ourselves."""
        if self.deleted.is_set():
            return
        self.deleted.set()
        if not self.terminating.is_set():
            with self._lock:
                self._pod["metadata"]["deletionGracePeriodSeconds"] = 0
            self.deletion_seen_mono = time.monotonic()
            self.deletion_seen_at = time.time()
            self.terminating.set()
        self._wake_all()

    @property
    def all_runners(self) -> list[ContainerRunner]:
        """Init containers (sidecars included) first, then the main containers."""
        return [*self.init_runners, *self.runners]

    def _wake_all(self) -> None:
        self.wake.set()
        for runner in self.all_runners:
            runner.wake.set()

    def grace_seconds(self) -> int:
        pod = self.snapshot()
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod.get("spec", {}).get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE_SECONDS if grace is None else max(0, int(grace))

    # -- outputs ---------------------------------------------------------------------------------

    def event(self, reason: str, message: str, field_path: str | None = None, *, warning: bool = False) -> None:
        if self.ctx.stopping.is_set():
            return
        with contextlib.suppress(ApiError):
            self.ctx.api.record_event(
                self.snapshot(), EventNote(reason, message, "kubelet", "Warning" if warning else "Normal", field_path)
            )

    def note_sigterm(self, container: str, at: float) -> None:
        key = ANNOTATION_PREFIX + "sigterm-at"
        with self._lock:
            if key not in self.annotations:
                self.annotations[key] = rfc3339_ms(at)
        self.publish()

    def note_stop(self, container: str, timeline: StopTimeline) -> None:
        with self._lock:
            for key, at in (
                ("prestop-started-at", timeline.prestop_started_at),
                ("prestop-finished-at", timeline.prestop_finished_at),
                ("sigkill-at", timeline.sigkill_at),
            ):
                if at is not None:
                    self.annotations.setdefault(ANNOTATION_PREFIX + key, rfc3339_ms(at))
            if timeline.sigterm_at is not None:
                self.annotations[ANNOTATION_PREFIX + "sigterm-at." + container] = rfc3339_ms(timeline.sigterm_at)
            if timeline.exited_at is not None:
                self.annotations[ANNOTATION_PREFIX + "exited-at." + container] = rfc3339_ms(timeline.exited_at)

    def publish(self, *, terminal: bool = False) -> None:
        """Write the whole status (and measurement annotations) from the runners' state."""
        if self.ctx.stopping.is_set() or self.deleted.is_set():
            return
        with self._lock:
            statuses = [r.status() for r in self.runners]
            init_statuses = [r.status() for r in self.init_runners]
            sidecars = frozenset(r.name for r in self.init_runners if r.kind == "sidecar")
            annotations = dict(self.annotations)

            def change(pod: Obj) -> None:
                status = pod.setdefault("status", {})
                phase = phase_of(
                    statuses, self.restart_policy, terminal=terminal, init_statuses=init_statuses, sidecars=sidecars
                )
                status["phase"] = phase
                status["conditions"] = conditions(
                    status.get("conditions") or [],
                    statuses,
                    phase=phase,
                    sandbox_ready=bool(self.pod_ip) and not terminal,
                    readiness_gates=pod.get("spec", {}).get("readinessGates") or [],
                    init_statuses=init_statuses,
                    sidecars=sidecars,
                )
                status["hostIP"] = HOST_IP
                status["hostIPs"] = [{"ip": HOST_IP}]
                if self.pod_ip:
                    status["podIP"] = self.pod_ip
                    status["podIPs"] = [{"ip": self.pod_ip}]
                status["startTime"] = rfc3339_s(self.start_time)
                if init_statuses:
                    status["initContainerStatuses"] = init_statuses
                status["containerStatuses"] = statuses
                status.setdefault("qosClass", "BestEffort")  # set at creation by a real API server, immutable
                if annotations:
                    pod["metadata"].setdefault("annotations", {}).update(annotations)

            try:
                self._pod = self.ctx.api.write_pod_status(self._pod, change)
            except ApiError as exc:
                if exc.code == 404:
                    self.deleted.set()

    # -- the pod's life --------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self._live()
        except Exception as exc:
            self.ctx.log.exception("kubelet.pod_worker_crashed", pod=self.key, error=str(exc))
        finally:
            self.ctx.ipam.release(self.uid)
            self.finished.set()

    def _live(self) -> None:  # noqa: C901, PLR0912 — the kubelet's sync of one pod, case by case as Kubernetes does it
        self.pod_ip = self.ctx.ipam.allocate(self.uid)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        spec = self.snapshot().get("spec", {})
        init_specs = spec.get("initContainers") or []
        self.init_runners = [ContainerRunner(self, c, kind=_init_kind(c), initializing=True) for c in init_specs]
        for index, runner in enumerate(self.init_runners):
            if runner.kind == "sidecar":
                runner.stop_turn = self._turn_waiter(index)
        self.runners = [ContainerRunner(self, c, initializing=bool(init_specs)) for c in spec.get("containers") or []]
        self.publish()
        if self._initialize():
            for runner in self.runners:
                runner.launch()
        for runner in self.all_runners:
            if not runner.launched:
                runner.stopped.set()  # never ran: no sidecar waits for it
        for runner in self.runners:
            if runner.launched:
                runner.done.wait()
        if not (self.terminating.is_set() or self.ctx.stopping.is_set()):
            for runner in self.init_runners:  # every main container finished for good: the sidecars go too
                if runner.kind == "sidecar":
                    runner.retiring.set()
                    runner.wake.set()
        for runner in self.all_runners:
            if runner.launched:
                runner.done.wait()
        for runner in self.all_runners:
            for worker in runner.probes.values():
                worker.stop()
        if self.ctx.stopping.is_set():
            return
        if not self.terminating.is_set():
            for runner in self.init_runners:
                if runner.retiring.is_set() and "waiting" in runner.state and "terminated" in runner.last_state:
                    runner.state, runner.last_state = runner.last_state, {}  # retired while backing off
            self.publish()  # every container stopped for good (restartPolicy Never/OnFailure)
            while not (self.terminating.is_set() or self.ctx.stopping.is_set()):
                self.wake.wait(1.0)
                self.wake.clear()
        if self.ctx.stopping.is_set():
            return
        for runner in self.all_runners:
            if "terminated" in runner.state or not runner.launched:  # never run: stays waiting, as in Kubernetes
                continue
            if "terminated" in runner.last_state:  # stopped while backing off: its last exit is final
                runner.state, runner.last_state = runner.last_state, {}
                continue
            runner.state = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "finishedAt": rfc3339_s(time.time()),
                }
            }
        exits = [v for k, v in self.annotations.items() if k.startswith(ANNOTATION_PREFIX + "exited-at.")]
        if exits:
            self.annotations[ANNOTATION_PREFIX + "exited-at"] = max(exits)
        self.publish(terminal=True)
        if not self.deleted.is_set():
            with contextlib.suppress(ApiError):
                self.ctx.api.remove_pod(self.snapshot())
            self.deleted.set()
        self.ctx.log.info("kubelet.pod_removed", pod=self.key)

    def _initialize(self) -> bool:
        """Run the init containers in order; True once every regular one succeeded and every sidecar started."""
        for runner in self.init_runners:
            runner.launch()
            while not (runner.started if runner.kind == "sidecar" else runner.done.is_set() and runner.succeeded()):
                if self.terminating.is_set() or self.ctx.stopping.is_set():
                    return False
                if runner.kind == "init" and runner.done.is_set():
                    return False  # failed for good (restartPolicy Never): the pod fails
                self.wake.wait()
                self.wake.clear()
        return not (self.terminating.is_set() or self.ctx.stopping.is_set())

    def _turn_waiter(self, index: int) -> TurnWaiter:
        """When the sidecar `init_runners[index]` may get SIGTERM: every main container, then the next
        sidecar after it, has stopped (k/k `terminationOrdering`); returns the seconds it waited.
        """

        def wait(budget: float) -> float:
            later = next((r for r in self.init_runners[index + 1 :] if r.kind == "sidecar"), None)
            prerequisites = [r.stopped for r in self.runners] + ([later.stopped] if later else [])
            started = time.monotonic()
            deadline = started + budget
            for event in prerequisites:
                if not event.wait(max(0.0, deadline - time.monotonic())):
                    break  # the grace period ran out: stop it now
            return time.monotonic() - started

        return wait

    def hook_runner(self, runner: HookedContainer) -> Any:
        """A HookRunner for `runner`'s preStop: exec and httpGet through the probe handlers."""

        def run(hook: Obj, budget: float) -> str | None:
            result = run_handler(
                hook, pod_ip=self.pod_ip, ports=runner.ports, env=runner.env, spawner=self.ctx.spawner, timeout=budget
            )
            if result.outcome == "error":
                return result.output
            if "httpGet" in hook:  # only transport errors fail an httpGet hook, not the status code
                return result.output if result.output.startswith("Get ") else None
            return None if result.outcome == "success" else (result.output or "hook failed")

        return run

    def shutdown(self) -> None:
        """The kubelet is stopping: wake everything so the threads end (processes die with the spawner)."""
        self._wake_all()
        for runner in self.all_runners:
            for worker in runner.probes.values():
                worker.stop()
