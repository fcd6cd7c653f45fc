"""The sandbox's controllers: Deployment, ReplicaSet, EndpointSlice, garbage collection, readiness gates.

They run in the API server's process, on the shared in-process `Store`, each in its own thread,
level-triggered: a change of an object a controller cares about wakes it at once, and it
reconciles the affected keys from the store's current state (K8S-SEMANTICS.md §1, §2, §4).
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from nonstop.sandbox.controllers.deployment import DeploymentController
from nonstop.sandbox.controllers.endpointslice import EndpointSliceController
from nonstop.sandbox.controllers.garbage import GarbageCollector
from nonstop.sandbox.controllers.loop import Controller
from nonstop.sandbox.controllers.readinessgates import ReadinessGateController
from nonstop.sandbox.controllers.replicaset import ReplicaSetController
from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Store

__all__ = [
    "ControllerManager",
    "DeploymentController",
    "EndpointSliceController",
    "GarbageCollector",
    "ReadinessGateController",
    "ReplicaSetController",
]


class ControllerManager:
    """Starts and stops every controller of the sandbox, one thread each; `stop()` joins them.

    `readiness_gate_delay`: seconds between a gated pod's containers being ready and its readiness
    gates being set (the sandbox's `addLagSeconds`).
    """

    def __init__(
        self,
        store: Store,
        recorder: EventRecorder,
        *,
        log: structlog.typing.FilteringBoundLogger,
        readiness_gate_delay: float = 1.0,
    ) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.controllers: tuple[Controller[Any], ...] = (
            EndpointSliceController(store, recorder, log=log),
            ReplicaSetController(store, recorder, log=log),
            DeploymentController(store, recorder, log=log),
            GarbageCollector(store, recorder, log=log),
            ReadinessGateController(store, recorder, log=log, delay=readiness_gate_delay),
        )

    def start(self) -> None:
        """Start one thread per controller (idempotent)."""
        if self._threads:
            return
        self._stopping.clear()
        for controller in self.controllers:
            thread = threading.Thread(
                target=controller.run, args=(self._stopping,), name=f"sandbox-{controller.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every controller to stop and join their threads (each notices within a quarter second)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
