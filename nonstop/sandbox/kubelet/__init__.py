"""The sandbox's kubelet: runs every pod bound to its node as real local processes.

It talks to its API server through a `NodeApi` (`nonstop.sandbox.kubelet.nodeapi`): inside the
embedded sandbox that is the shared in-process `Store`, and the kubelet is every node of the
sandbox at once (it registers their `Node` objects: `sandbox`, or `sandbox-1` … `sandbox-N`; the
sandbox's scheduler, `nonstop.sandbox.controllers.scheduler`, binds pods to them); as the node of
any other API server it is `HttpNodeApi` (`nonstop.sandbox.kubelet.remote`, see `nonstop sandbox
node`). One loop hands every pod change to that pod's `PodWorker` (`nonstop.sandbox.kubelet.pods`),
which runs the containers, probes and termination — the same workers over either API.

Measurement annotations written on each pod (RFC 3339, milliseconds, UTC; the DELETED event of the
pod carries all of them): `sandbox.nonstop.dev/deletion-observed-at` (the kubelet saw the
deletionTimestamp), `…/prestop-started-at` and `…/prestop-finished-at` (with a preStop hook),
`…/sigterm-at` (first SIGTERM sent) and `…/sigterm-at.<container>`, `…/sigkill-at` (only if SIGKILL
was needed), `…/exited-at.<container>` and `…/exited-at` (the last container exited). Init
containers and native sidecars run as `nonstop.sandbox.kubelet.pods` describes.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.ipam import IpAllocator
from nonstop.sandbox.kubelet.containers import ContainerRunner
from nonstop.sandbox.kubelet.context import HOST_IP, NODE_NAME, KubeletContext
from nonstop.sandbox.kubelet.incluster import InCluster
from nonstop.sandbox.kubelet.logs import LogError, LogInstance, pick_container_id
from nonstop.sandbox.kubelet.nodeapi import NodeApi, StoreNodeApi, node_names
from nonstop.sandbox.kubelet.pods import PodWorker
from nonstop.sandbox.kubelet.processes import Spawner
from nonstop.sandbox.kubelet.status import ANNOTATION_PREFIX
from nonstop.sandbox.podnet import PodNetwork
from nonstop.sandbox.store import Obj, Store

__all__ = ["ANNOTATION_PREFIX", "HOST_IP", "NODE_NAME", "Kubelet"]


class Kubelet:
    """Watches its node's pods and runs them; `stop()` reaps every process it started.

    `api` is a `NodeApi`, or the embedded sandbox's `Store` (with its `EventRecorder`); then it is
    the sandbox's `nodes` nodes (`node_names`), registered on `start()`.
    `crash_backoff` is the restart back-off (initial, maximum) in seconds: Kubernetes' 10 s and 300 s.
    `pod_network`: a started `PodNetwork` (pods run in its namespace, on its 198.18.x addresses);
    None: pods share the host's network on 127.10.x, as in the embedded sandbox.
    `in_cluster`: what pods need to reach the API server as pods (`incluster.InCluster`); it may
    also be set after construction, before `start()`.
    """

    def __init__(
        self,
        api: NodeApi | Store,
        recorder: EventRecorder | None = None,
        *,
        log: structlog.typing.FilteringBoundLogger,
        crash_backoff: tuple[float, float] = (10.0, 300.0),
        nodes: int = 1,
        pod_network: PodNetwork | None = None,
        in_cluster: InCluster | None = None,
    ) -> None:
        if isinstance(api, Store):
            assert recorder is not None, "the in-process kubelet records events through the sandbox's recorder"
            api = StoreNodeApi(api, recorder, nodes=node_names(nodes))
        self.api: NodeApi = api
        self._log = log
        self._crash_backoff = crash_backoff
        self._pod_network = pod_network
        self.in_cluster = in_cluster
        self._workers: dict[str, PodWorker] = {}
        self._ctx: KubeletContext | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start the spawner and the watch loop (returns at once)."""
        if self._thread is not None:
            return
        if isinstance(self.api, StoreNodeApi):
            self.api.register_nodes()
        network = self._pod_network
        spawner = Spawner(netns_fd=network.netns_fd if network is not None else None)
        spawner.start()
        self._stopping = threading.Event()
        self._ctx = KubeletContext(
            api=self.api,
            log=self._log,
            spawner=spawner,
            ipam=IpAllocator(network.pod_cidr) if network is not None else IpAllocator(),
            workdir=Path(tempfile.mkdtemp(prefix="nonstop-kubelet-")),
            backoff_initial=self._crash_backoff[0],
            backoff_max=self._crash_backoff[1],
            stopping=self._stopping,
            in_cluster=self.in_cluster,
        )
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)
        self._thread.start()
        self._log.info("kubelet.started", nodes=sorted(self.api.node_names), workdir=str(self._ctx.workdir))

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

    def container_log(
        self, namespace: str, name: str, container: str, *, previous: bool = False
    ) -> tuple[LogInstance, Callable[[], bool]] | None:
        """The log a `kubectl logs` of this container reads, and whether its instance still runs (for `follow`).

        None: that instance left no log (it never started a process). LogError (the kubelet's
        message) when the pod or container is not here, or the container has no such instance.
        """
        for worker in list(self._workers.values()):
            if (worker.namespace, worker.name) != (namespace, name) or worker.deleted.is_set():
                continue
            runner = next((r for r in worker.all_runners if r.name == container), None)
            if runner is None:
                raise LogError(404, f'container "{container}" not found in pod "{name}"')
            container_id = pick_container_id(runner.status(), container=container, pod=name, previous=previous)
            instance = runner.logs.get(container_id)
            if instance is None:
                return None

            def running(runner: ContainerRunner = runner, container_id: str = container_id) -> bool:
                proc = runner.process
                return (
                    runner.container_id == container_id
                    and proc is not None
                    and not proc.exited.is_set()
                    and not runner.pod.ctx.stopping.is_set()
                )

            return instance, running
        raise LogError(404, f'pod "{name}" does not exist')

    def oom_kill(self, namespace: str, name: str) -> bool:
        """SIGKILL a running pod's containers as an OOM kill (fault injection); False if none runs."""
        killed = False
        for worker in list(self._workers.values()):
            if (worker.namespace, worker.name) == (namespace, name) and not worker.finished.is_set():
                killed = any([runner.oom_kill() for runner in worker.all_runners]) or killed  # noqa: C419 (kill every one)
        return killed

    def pod_ips(self) -> dict[str, str]:
        """pod IP -> pod uid, for every address in use."""
        return self._ctx.ipam.in_use() if self._ctx is not None else {}

    # -- the watch loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for batch in self.api.pod_changes(self._stopping):
                for change_type, pod in batch:
                    if self._stopping.is_set():
                        break
                    self._observe(change_type, pod)
                for uid, worker in list(self._workers.items()):
                    if worker.finished.is_set() and worker.deleted.is_set():
                        del self._workers[uid]
                if self._stopping.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 — the node would silently stop running pods: say so loudly
            self._log.exception("kubelet.pod_feed_failed", error=str(exc))

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
        if pod.get("spec", {}).get("nodeName") not in self.api.node_names:
            return  # not bound yet (the scheduler's to do), or bound to another node
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        assert self._ctx is not None
        worker = PodWorker(self._ctx, pod)
        self._workers[uid] = worker
        worker.start()
        worker.update(pod)
