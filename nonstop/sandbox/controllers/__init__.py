"""The sandbox's controllers: Deployment, ReplicaSet, EndpointSlice and garbage collection.

They run in the API server's process, on the shared in-process `Store`, each in its own thread,
level-triggered: a change of a kind a controller cares about wakes it, and it reconciles the
affected objects again from the store's current state (K8S-SEMANTICS.md §1, §2, §4).
"""

from __future__ import annotations

import threading
from typing import Any

from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Store

__all__ = ["ControllerManager"]


class ControllerManager:
    """Starts and stops every controller of the sandbox; `stop()` joins their threads."""

    def __init__(self, store: Store, recorder: EventRecorder, *, log: Any) -> None:
        self._store = store
        self._recorder = recorder
        self._log = log
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the controller threads (idempotent)."""
        if self._threads:
            return
        self._stopping.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every controller to stop and join their threads."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
