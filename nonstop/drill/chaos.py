"""Chaos for `canary` and `external`: evict the old pods one at a time while the Service stays whole.

Rules (CONTRACT.md "Chaos"): Eviction API only (PodDisruptionBudgets hold); one pod at a time,
waiting for each to exit; only while the Service keeps at least the workload's replica count of
ready endpoints that have been ready longer than the data-plane lag; never more than
maxUnavailable pods away at once (one at a time already bounds it; with maxUnavailable 0 an
eviction waits for the replacement to settle). Only pods the drill selected from the target, in
the target's namespace, are ever evicted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from nonstop.drill.observe import Observer
from nonstop.errors import ClusterError
from nonstop.kube.api import Kube
from nonstop.logs import get_logger

__all__ = ["Chaos"]

log = get_logger("chaos")


class Chaos:
    """Evicts `victims` (old pods named at window start) one at a time under the gating rules."""

    def __init__(
        self,
        kube: Kube,
        observer: Observer,
        *,
        namespace: str,
        victims: list[str],
        min_ready: int,
        settle_seconds: float,
        grace_seconds: int | None,
        stalled_after: float = 60.0,
        interrupted: Callable[[], bool],
    ) -> None:
        self._kube = kube
        self._observer = observer
        self._namespace = namespace
        self._victims = list(victims)
        self._min_ready = min_ready
        self._settle = settle_seconds
        self._grace = grace_seconds
        self._stalled_after = stalled_after
        self._interrupted = interrupted
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self.evicted: list[str] = []
        self.note: str | None = None
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def _settled_ready(self, exclude: str) -> int:
        now = time.time()
        return sum(
            1
            for p in self._observer.ready_endpoints()
            if p.name != exclude
            and p.ready_at is not None
            and now - p.ready_at >= self._settle
            and p.deleted_at is None
        )

    def _run(self) -> None:
        try:
            for victim in self._victims:
                if not self._evict_when_safe(victim):
                    return
                self._wait_exit(victim)
        except ClusterError as exc:
            self.note = f"chaos stopped: {exc}"
            log.warning("chaos stopped", error=str(exc))
        finally:
            self.done.set()

    def _evict_when_safe(self, victim: str) -> bool:
        blocked_since = time.monotonic()
        while not self._interrupted():
            pods = {p.name: p for p in self._observer.snapshot()}
            record = pods.get(victim)
            if record is None or record.deleted_at is not None:
                return True  # gone or already terminating: nothing to do for this one
            if self._settled_ready(exclude=victim) >= self._min_ready:
                try:
                    self._kube.evict_pod(self._namespace, victim, grace_seconds=self._grace)
                except ClusterError as exc:
                    if exc.status != 429:  # a PodDisruptionBudget says not now: wait like kubectl drain
                        raise
                else:
                    self.evicted.append(victim)
                    self._observer.note("action", f"evicted {victim} (chaos)")
                    return True
            if time.monotonic() - blocked_since > self._stalled_after:
                self.note = (
                    f"chaos stopped before {victim}: evicting it would leave fewer than {self._min_ready} "
                    f"settled ready endpoints for {self._stalled_after:.0f} s"
                )
                return False
            self._observer.wait_for_change(0.2)
        return False

    def _wait_exit(self, victim: str) -> None:
        while not self._interrupted():
            record = {p.name: p for p in self._observer.snapshot()}.get(victim)
            if record is None or record.exited_at is not None:
                return
            self._observer.wait_for_change(0.2)
