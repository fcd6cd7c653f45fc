"""Chaos for `canary` and `external`: evict the old pods one at a time while the Service stays whole.

Rules (CONTRACT.md "Chaos"): Eviction API only (PodDisruptionBudgets hold); one pod at a time,
waiting for each to exit; only while the Service keeps at least the workload's replica count of
ready endpoints that have been ready endpoints (in the EndpointSlices, not merely Ready pods) for
longer than the data-plane lag, so the data plane routes to them before the next pod goes; never more than
maxUnavailable pods away at once (one at a time already bounds it; with maxUnavailable 0 an
eviction waits for the replacement to settle). Only pods the drill selected from the target, in
the target's namespace, are ever evicted: a victim must be controlled by the ReplicaSet
`<owner>-<pod-template-hash>` (another workload's pods can carry the target's labels; an Argo
Rollout's pods carry `rollouts-pod-template-hash`).
A refused eviction (429 from a PodDisruptionBudget, or any transient error) is not retried
blindly: every attempt re-checks the gates first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from nonstop.drill.observe import Observer
from nonstop.errors import ClusterError, NotFoundError, TransientError
from nonstop.kube.api import Kube
from nonstop.kube.calls import RetryPolicy
from nonstop.logs import get_logger
from nonstop.strategies.pods import controlled_by

__all__ = ["Chaos"]

log = get_logger("chaos")
NO_RETRY = RetryPolicy(deadline=0)
"""One attempt per eviction: the chaos loop re-checks its gates before the next."""
REFUSED_PAUSE = 1.0
"""Seconds between eviction attempts after a refusal (kubectl drain waits 5 s)."""


class Chaos:
    """Evicts `victims` (old pods named at window start) one at a time under the gating rules."""

    def __init__(
        self,
        kube: Kube,
        observer: Observer,
        *,
        namespace: str,
        victims: list[str],
        owner: str,
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
        self._owner = owner
        self._min_ready = min_ready
        self._settle = settle_seconds
        self._grace = grace_seconds
        self._stalled_after = stalled_after
        self._interrupted = interrupted
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self.evicted: list[str] = []
        self.notes: list[str] = []
        self.skipped: list[str] = []
        """Victims named at window start that another workload controls: never evicted."""
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    @property
    def note(self) -> str | None:
        """What the report should say about the chaos (skipped pods, why it stopped), or None."""
        return "; ".join(self.notes) or None

    def _settled_ready(self, exclude: str) -> int:
        now = time.time()
        return sum(
            1
            for p in self._observer.ready_endpoints()
            if p.name != exclude
            and p.endpoint_ready_at is not None
            and now - p.endpoint_ready_at >= self._settle
            and p.deleted_at is None
        )

    def _run(self) -> None:
        try:
            owned = self._owned_by_target()
            strangers = [v for v in self._victims if v not in owned]
            if strangers:
                self.skipped = strangers
                self.notes.append(
                    f"chaos left {len(strangers)} pod(s) alone that match the target's selector but belong to "
                    f"another workload: {', '.join(strangers)}"
                )
                log.warning("chaos leaves pods of other workloads alone", pods=strangers, owner=self._owner)
            for victim in (v for v in self._victims if v in owned):
                if not self._evict_when_safe(victim):
                    return
                self._wait_exit(victim)
        except ClusterError as exc:
            self.notes.append(f"chaos stopped: {exc}")
            log.warning("chaos stopped", error=str(exc))
        finally:
            self.done.set()

    def _owned_by_target(self) -> set[str]:
        """Pods in the namespace that `controlled_by` says belong to the target."""
        pods = self._kube.list_pods(self._namespace)
        return {str(p["metadata"]["name"]) for p in pods if controlled_by(p, self._owner)}

    def _evict_when_safe(self, victim: str) -> bool:
        blocked_since = time.monotonic()
        refused: str | None = None
        next_try = 0.0
        while not self._interrupted():
            pods = {p.name: p for p in self._observer.snapshot()}
            record = pods.get(victim)
            if record is None or record.deleted_at is not None:
                return True  # gone or already terminating: nothing to do for this one
            if time.monotonic() >= next_try and self._settled_ready(exclude=victim) >= self._min_ready:
                try:
                    self._kube.evict_pod(self._namespace, victim, grace_seconds=self._grace, retry=NO_RETRY)
                except NotFoundError:
                    return True  # gone between the look and the eviction: nothing to do for this one
                except TransientError as exc:  # 429: a PodDisruptionBudget says not now: wait like kubectl drain
                    refused = str(exc)
                    next_try = time.monotonic() + REFUSED_PAUSE
                    log.info("eviction refused for now; the gates are checked again first", pod=victim, error=str(exc))
                else:
                    self.evicted.append(victim)
                    self._observer.note("action", f"evicted {victim} (chaos)")
                    return True
            if time.monotonic() - blocked_since > self._stalled_after:
                why = (
                    f"the eviction was refused ({refused})"
                    if refused
                    else f"evicting it would leave fewer than {self._min_ready} settled ready endpoints"
                )
                self.notes.append(f"chaos stopped before {victim}: {why} for {self._stalled_after:.0f} s")
                return False
            self._observer.wait_for_change(0.2)
        return False

    def _wait_exit(self, victim: str) -> None:
        while not self._interrupted():
            record = {p.name: p for p in self._observer.snapshot()}.get(victim)
            if record is None or record.exited_at is not None:
                return
            self._observer.wait_for_change(0.2)
