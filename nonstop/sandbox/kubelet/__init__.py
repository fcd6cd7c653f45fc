"""The sandbox's kubelet: runs every pod bound to the node `sandbox` as real local processes.

It acts as the scheduler too (a pod without `spec.nodeName` is bound to `sandbox` with a
`Scheduled` event). It lives in the API server's process and works on the shared in-process
`Store`: one watch loop hands every pod change to that pod's `PodWorker`
(`nonstop.sandbox.kubelet.pods`), which runs the containers, probes and termination.

Measurement annotations written on each pod (RFC 3339, milliseconds, UTC; the DELETED event of the
pod carries all of them): `sandbox.nonstop.dev/deletion-observed-at` (the kubelet saw the
deletionTimestamp), `…/prestop-started-at` and `…/prestop-finished-at` (with a preStop hook),
`…/sigterm-at` (first SIGTERM sent), `…/sigkill-at` (only if SIGKILL was
needed), `…/exited-at.<container>` and `…/exited-at` (the last container exited).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import structlog

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.ipam import IpAllocator
from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.kubelet.context import HOST_IP, NODE_NAME, KubeletContext
from nonstop.sandbox.kubelet.pods import PodWorker
from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.kubelet.status import ANNOTATION_PREFIX
from nonstop.sandbox.store import Obj, Store

__all__ = ["ANNOTATION_PREFIX", "HOST_IP", "NODE_NAME", "Kubelet"]

PODS = by_resource("", "v1", "pods")


class Kubelet:
    """Watches pods in the store and runs them; `stop()` reaps every process it started.

    `crash_backoff` is the restart back-off (initial, maximum) in seconds: Kubernetes' 10 s and 300 s.
    """

    def __init__(
        self,
        store: Store,
        recorder: EventRecorder,
        *,
        log: structlog.typing.FilteringBoundLogger,
        crash_backoff: tuple[float, float] = (10.0, 300.0),
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._log = log
        self._crash_backoff = crash_backoff
        self._workers: dict[str, PodWorker] = {}
        self._ctx: KubeletContext | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start the spawner and the watch loop (returns at once)."""
        if self._thread is not None:
            return
        spawner = Spawner()
        spawner.start()
        self._stopping = threading.Event()
        self._ctx = KubeletContext(
            store=self._store,
            recorder=self._recorder,
            log=self._log,
            spawner=spawner,
            ipam=IpAllocator(),
            workdir=Path(tempfile.mkdtemp(prefix="nonstop-kubelet-")),
            backoff_initial=self._crash_backoff[0],
            backoff_max=self._crash_backoff[1],
            stopping=self._stopping,
        )
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)
        self._thread.start()
        self._log.info("kubelet.started", node=NODE_NAME, workdir=str(self._ctx.workdir))

    def stop(self) -> None:
        """SIGKILL every pod process group, end every thread, remove the work directory."""
        ctx = self._ctx
        if ctx is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for worker in list(self._workers.values()):
            worker.shutdown()
        ctx.spawner.stop()
        deadline = time.monotonic() + 3.0  # threads still waiting on a preStop hook are daemons: leave them
        for worker in list(self._workers.values()):
            worker.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        ctx.ipam.release_all()
        shutil.rmtree(ctx.workdir, ignore_errors=True)
        self._ctx = None
        self._log.info("kubelet.stopped")

    def log_path(self, namespace: str, name: str, container: str) -> Path | None:
        """The file holding a running pod's container output (restarts append), or None."""
        for worker in list(self._workers.values()):
            if (worker.namespace, worker.name) == (namespace, name) and not worker.finished.is_set():
                path = worker.log_dir / f"{container}.log"
                return path if path.exists() else None
        return None

    def oom_kill(self, namespace: str, name: str) -> bool:
        """SIGKILL a running pod's containers as an OOM kill (fault injection); False if none runs."""
        killed = False
        for worker in list(self._workers.values()):
            if (worker.namespace, worker.name) == (namespace, name) and not worker.finished.is_set():
                killed = any([runner.oom_kill() for runner in worker.runners]) or killed  # noqa: C419 (kill every one)
        return killed

    def pod_ips(self) -> dict[str, str]:
        """pod IP -> pod uid, for every address in use."""
        return self._ctx.ipam.in_use() if self._ctx is not None else {}

    # -- the watch loop ------------------------------------------------------------------------

    def _run(self) -> None:
        assert PODS is not None
        items, rv = self._store.list(PODS)
        for pod in items:
            self._observe("ADDED", pod)
        while not self._stopping.is_set():
            current = self._store.resource_version
            try:
                changes = self._store.wait_for_changes(rv, 0.5, [PODS])
            except ApiError:  # 410: our place in the history is gone; start over from a list
                items, rv = self._store.list(PODS)
                present = {pod["metadata"]["uid"] for pod in items}
                for uid, worker in list(self._workers.items()):
                    if uid not in present:
                        worker.removed()
                for pod in items:
                    self._observe("MODIFIED", pod)
                continue
            if not changes:
                rv = max(rv, current)  # no pod changed up to `current`: later waits scan less history
            for change in changes:
                rv = change.rv
                if not self._stopping.is_set():
                    self._observe(change.type, change.obj)
            for uid, worker in list(self._workers.items()):
                if worker.finished.is_set() and worker.deleted.is_set():
                    del self._workers[uid]

    def _observe(self, change_type: str, pod: Obj) -> None:
        uid = pod["metadata"].get("uid")
        if not uid:
            return
        worker = self._workers.get(uid)
        if change_type == "DELETED":
            if worker is not None:
                worker.removed()
            return
        if worker is not None:
            worker.update(pod)
            return
        node = pod.get("spec", {}).get("nodeName")
        if node not in (None, "", NODE_NAME):
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        assert self._ctx is not None
        worker = PodWorker(self._ctx, pod)
        self._workers[uid] = worker
        worker.start()
        worker.update(pod)
