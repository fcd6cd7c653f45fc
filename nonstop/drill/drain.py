"""`rollout.strategy: drain`: what `kubectl drain <node>` does, limited to the target's pods.

- **Cordon**: `spec.unschedulable: true` on the node (the patch `kubectl cordon` sends), unless it
  was cordoned already — then it is left cordoned afterwards too.
- **Evict** every pod of the target on the node, all at once (one thread each, as kubectl drain's
  goroutines), through the Eviction API: a PodDisruptionBudget answering 429 is retried every
  `retry_every` seconds (kubectl drain's 5 s) until the drill's deadline or an interrupt. Only pods
  `controlled_by` the target (its ReplicaSet `<name>-<hash>`), in the target's namespace, are ever
  evicted — never another workload's pod on that node, never anything in another namespace (the
  namespace already passed the protected-namespace check). Other pods on the node are named in the
  report's notes and left running: a drill is not a node's maintenance.
- **Wait**: the window (run.py) closes once every eviction went through, every evicted pod exited
  and the Deployment is complete again; the replacements land on other nodes, the node being cordoned.
- **Uncordon** (`finish`): the node is made schedulable again on every way out — pass, fail,
  deadline, interrupt, lost observation — when the drill cordoned it. A SIGKILLed drill cannot: the
  node then carries the annotation `nonstop.dev/cordoned-by` naming the drill, for a human to
  `kubectl uncordon` it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from nonstop.drill.chaos import NO_RETRY
from nonstop.drill.observe import Observer
from nonstop.errors import ClusterError, NotFoundError, TransientError
from nonstop.kube.api import Kube
from nonstop.logs import get_logger
from nonstop.strategies.base import PodView
from nonstop.strategies.pods import pods_on_node

__all__ = ["CORDONED_BY", "Drain"]

log = get_logger("drain")
RETRY_EVERY = 5.0
"""Seconds between eviction attempts a PodDisruptionBudget refused (kubectl drain's)."""
CORDONED_BY = "nonstop.dev/cordoned-by"


class Drain:
    """Cordon `node`, evict the target's pods on it concurrently, and uncordon it in `finish()`."""

    def __init__(
        self,
        kube: Kube,
        observer: Observer,
        *,
        namespace: str,
        node: str,
        owner: str,
        drill: str,
        grace_seconds: int | None,
        retry_every: float = RETRY_EVERY,
    ) -> None:
        self._kube = kube
        self._observer = observer
        self._namespace = namespace
        self.node = node
        self._owner = owner
        self._drill = drill
        self._grace = grace_seconds
        self._retry_every = retry_every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.cordoned = False
        """The drill cordoned the node (and so uncordons it)."""
        self.victims: list[str] = []
        self.evicted: list[str] = []
        self.refusals: dict[str, int] = {}
        self.notes: list[str] = []
        self.done = threading.Event()
        """Every victim's eviction went through (or the victim was gone already)."""
        self._left = 0

    @property
    def note(self) -> str | None:
        """What the report should say about the drain, or None."""
        return "; ".join(self.notes) or None

    def start(self) -> None:
        """Cordon, pick the victims, start one eviction thread each (returns at once)."""
        node = self._kube.get_node(self.node)
        if (node.get("spec") or {}).get("unschedulable"):
            self.notes.append(f"node {self.node} was cordoned already; it stays cordoned")
        else:
            self._kube.set_unschedulable(self.node, True, annotations={CORDONED_BY: f"{self._namespace}/{self._drill}"})
            self.cordoned = True
            self._observer.note("action", f"cordoned node {self.node}")
        mine, others = pods_on_node(self._kube.list_pods(self._namespace), self.node, self._owner)
        self.victims = mine
        if others:
            self.notes.append(
                f"left {len(others)} other pod(s) on node {self.node} running (not the target's): {', '.join(others)}"
            )
        if not mine:
            self.notes.append(f"no pod of {self._owner} was left on node {self.node} to evict")
        self._left = len(mine)
        if not mine:
            self.done.set()
        for victim in mine:
            thread = threading.Thread(target=self._evict, args=(victim,), name=f"drain-{victim}", daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info("drain started", node=self.node, victims=mine, others=others, cordoned=self.cordoned)

    def over(self, pods: Iterable[PodView]) -> bool:
        """Every eviction went through and the observer saw every evicted pod exit (it may lag the API)."""
        exited = {p.name for p in pods if p.exited_at is not None}
        with self._lock:
            return self.done.is_set() and set(self.evicted) <= exited

    def _evict(self, victim: str) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._kube.evict_pod(self._namespace, victim, grace_seconds=self._grace, retry=NO_RETRY)
                except NotFoundError:
                    break  # gone already: nothing to evict
                except TransientError as exc:  # 429 from a PodDisruptionBudget: kubectl drain retries after 5 s
                    with self._lock:
                        self.refusals[victim] = self.refusals.get(victim, 0) + 1
                        first = self.refusals[victim] == 1
                    if first:
                        self._observer.note("action", f"eviction of {victim} refused, retried every "
                                            f"{self._retry_every:g} s: {exc}")  # fmt: skip
                    log.info("eviction refused; retrying", pod=victim, after=self._retry_every, error=str(exc))
                    self._stop.wait(self._retry_every)
                    continue
                else:
                    with self._lock:
                        self.evicted.append(victim)
                    self._observer.note("action", f"evicted {victim} (drain of node {self.node})")
                    break
            else:
                return  # stopped (deadline, interrupt, lost observation): not done
        except ClusterError as exc:
            with self._lock:
                self.notes.append(f"eviction of {victim} failed: {exc}")
            log.warning("eviction failed", pod=victim, error=str(exc))
            return
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self.done.set()

    def finish(self) -> None:
        """Stop evicting, then uncordon the node if the drill cordoned it (errors become a note, never raise)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        with self._lock:
            refused = {pod: n for pod, n in self.refusals.items() if pod not in self.evicted}
        if refused:
            self.notes.append(
                "evictions still refused at the end (PodDisruptionBudget): "
                + ", ".join(f"{pod} ×{n}" for pod, n in sorted(refused.items()))
            )
        if not self.cordoned:
            return
        try:
            self._kube.set_unschedulable(self.node, False, annotations={CORDONED_BY: None})
        except ClusterError as exc:
            self.notes.append(f"could not uncordon node {self.node} ({exc}): run `kubectl uncordon {self.node}`")
            log.warning("uncordon failed", node=self.node, error=str(exc))
            return
        self.cordoned = False
        self._observer.note("action", f"uncordoned node {self.node}")
        log.info("node uncordoned", node=self.node)
