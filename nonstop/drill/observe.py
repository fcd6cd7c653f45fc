"""The drill's eyes: pods, EndpointSlices and Events of the target, each change stamped when seen.

`Observer` runs three `ResilientWatch`es and folds what they deliver into one `checks.evidence.PodTimeline`
per pod (created → ready → deleting → left endpoints → exited, each moment with how long its watch
had been blind), plus a timeline and the events list. A pod's `PodTimeline` is replaced, never
changed, so a snapshot is the pods as they were. It calls `on_terminating` once per pod, when its
deletion is first seen, so the prober can start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from checks.evidence import PodTimeline
from nonstop.kube.api import Kube
from nonstop.kube.watching import Observed, ResilientWatch, WatchStats
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.times import to_epoch

__all__ = ["Observer", "TimelineEntry", "blind_note"]

SIDECAR_PROXIES = frozenset({"istio-proxy", "linkerd-proxy", "envoy", "envoy-sidecar"})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    source: str  # pod | endpointslice | event | load | action
    what: str


def _is_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _exit_severity(terminated: Obj) -> int:
    """How badly a container ended: killed (137, OOMKilled) > other non-zero > zero."""
    if terminated.get("reason") == "OOMKilled" or terminated.get("exitCode") == 137:
        return 2
    return 1 if terminated.get("exitCode") else 0


def _grace_period(pod: Obj) -> float | None:
    """The grace period of a pod's deletion: the one the DELETE asked for, else the spec's."""
    grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    if grace is None:
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return None if grace is None else float(grace)


def _has_sidecar_proxy(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    names = {c.get("name") for c in spec.get("containers") or []}
    names |= {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return bool(names & SIDECAR_PROXIES) or "sidecar.istio.io/status" in annotations


class Observer:
    """Watches a target's pods, its Service's EndpointSlices and the namespace's Events."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        pod_selector: str,
        service: str,
        related_names: tuple[str, ...],
        on_terminating: Callable[[PodTimeline], None],
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._service = service
        self._related = related_names
        self._on_terminating = on_terminating
        self._lock = threading.RLock()
        self.pods: dict[str, PodTimeline] = {}
        self.timeline: list[TimelineEntry] = []
        self.events: list[Obj] = []
        self._slices: dict[str, list[Obj]] = {}
        self._started = time.time()
        self._changed = threading.Condition(self._lock)
        self._changes = 0
        self._watches = [
            ResilientWatch(
                kube.core.list_namespaced_pod,
                what=f"pods {pod_selector} in {namespace}",
                namespace=namespace,
                label_selector=pod_selector,
                on_event=self._on_pod,
            ),
            ResilientWatch(
                kube.discovery.list_namespaced_endpoint_slice,
                what=f"EndpointSlices of Service {namespace}/{service}",
                namespace=namespace,
                label_selector=f"kubernetes.io/service-name={service}",
                on_event=self._on_slice,
            ),
            ResilientWatch(
                kube.core.list_namespaced_event,
                what=f"events in {namespace}",
                namespace=namespace,
                on_event=self._on_event,
            ),
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> None:
        """Start the watches and wait until each delivered its first list."""
        self._started = time.time()
        for w in self._watches:
            w.start()
        deadline = time.monotonic() + timeout
        for w in self._watches:
            while not w.synced.wait(0.1):
                if w.failed is not None:
                    raise w.failed
                if time.monotonic() > deadline:
                    from nonstop.errors import TransientError

                    raise TransientError(
                        f"the API did not answer the first list of the drill's watches in {timeout:.0f} s"
                    )

    def stop(self) -> None:
        for w in self._watches:
            w.stop()

    def lost(self) -> str | None:
        """Why observation was lost, or None while every watch is alive."""
        for w in self._watches:
            if w.failed is not None:
                return str(w.failed)
        return None

    def stats(self) -> list[WatchStats]:
        return [w.stats for w in self._watches]

    @property
    def changes(self) -> int:
        """How many changes were folded in so far; pass it to `wait_for_change` to miss none."""
        with self._lock:
            return self._changes

    def wait_for_change(self, timeout: float, *, since: int | None = None) -> None:
        """Wait for the next change or `timeout` seconds; with `since` (a `changes` value), return at
        once if something changed after it — a change that came while the caller was busy is not lost.
        """
        with self._changed:
            if since is None or self._changes == since:
                self._changed.wait(timeout)

    def _notify(self) -> None:
        """Count a change and wake the waiters (caller holds the lock)."""
        self._changes += 1
        self._changed.notify_all()

    # -- queries -------------------------------------------------------------------------------

    def snapshot(self) -> list[PodTimeline]:
        with self._lock:
            return list(self.pods.values())

    def ready_endpoints(self) -> list[PodTimeline]:
        """Pods the EndpointSlices currently list as ready."""
        with self._lock:
            return [p for p in self.pods.values() if p.endpoint_ready]

    def note(self, source: str, what: str, at: float | None = None) -> None:
        with self._lock:
            self.timeline.append(TimelineEntry(at if at is not None else time.time(), source, what))

    def record_routed(self, pod: str, at: float) -> None:
        with self._lock:
            record = self.pods.get(pod)
            if record is not None and (record.last_routed_at is None or at > record.last_routed_at):
                self._update(record, last_routed_at=at)

    def record_stop(self, pod: str, at: float, reason: str) -> None:
        with self._lock:
            record = self.pods.get(pod)
            if record is not None and record.stopped_accepting_at is None:
                # The prober started when the deletion was seen: it was at most that late too.
                self._update(record, stopped_accepting_at=at, stopped_accepting_uncertainty=record.deleted_uncertainty)
                self.timeline.append(TimelineEntry(at, "pod", f"{pod} stopped accepting connections ({reason})"))
                self._notify()

    # -- event handlers (watch threads) --------------------------------------------------------

    def _update(self, record: PodTimeline, **changes: Any) -> PodTimeline:
        """Replace a pod's timeline by one with `changes` (caller holds the lock)."""
        updated = replace(record, **changes)
        self.pods[record.name] = updated
        return updated

    def _record(self, pod: Obj) -> PodTimeline:
        meta = pod.get("metadata") or {}
        name = meta["name"]
        if name not in self.pods:
            created = to_epoch(meta.get("creationTimestamp"))
            created_at = created if created is not None and created < self._started else time.time()
            self.pods[name] = PodTimeline(name=name, created_at=created_at)
            self.timeline.append(TimelineEntry(created_at, "pod", f"{name} created"))
            self._apply_slices(time.time())
        return self._update(self.pods[name], labels=dict(meta.get("labels") or {}))

    def _on_pod(self, seen: Observed) -> None:
        pod = seen.obj
        start_prober: PodTimeline | None = None
        with self._lock:
            record = self._record(pod)
            status = pod.get("status") or {}
            changes: dict[str, Any] = {"ip": status.get("podIP") or record.ip}
            changes["measurable"] = not _has_sidecar_proxy(pod)
            if _is_ready(pod) and record.ready_at is None:
                changes["ready_at"] = seen.at
                self.timeline.append(TimelineEntry(seen.at, "pod", f"{record.name} ready"))
            deleting = (pod.get("metadata") or {}).get("deletionTimestamp") and record.deleted_at is None
            if deleting:
                # The first deletion's grace period: the kubelet's final DELETE sets it to 0.
                changes.update(deleted_at=seen.at, deleted_uncertainty=seen.uncertainty,
                               grace_period_seconds=_grace_period(pod))  # fmt: skip
                self.timeline.append(TimelineEntry(seen.at, "pod", f"{record.name} deleting (SIGTERM path started)"))
            record = self._update(record, **changes)
            if record.deleted_at is not None:
                record = self._fold_exits(record, pod, seen)
            if seen.type == "DELETED" and record.exited_at is None:
                record = self._update(record, exited_at=seen.at, exited_uncertainty=seen.uncertainty)
                self.timeline.append(TimelineEntry(seen.at, "pod", f"{record.name} removed"))
            if seen.type == "DELETED":
                self._leave_endpoints(record, seen.at, "pod removed", seen.uncertainty)
            if deleting:
                start_prober = self.pods[record.name]
            self._notify()
        if start_prober is not None:
            self._on_terminating(start_prober)

    def _fold_exits(self, record: PodTimeline, pod: Obj, seen: Observed) -> PodTimeline:
        """The first container exit of a deleting pod, and the worst one seen (caller holds the lock).

        Native sidecars (init containers with `restartPolicy: Always`) count; init containers that
        completed at start-up do not.
        """
        status = pod.get("status") or {}
        sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                    if c.get("restartPolicy") == "Always"}  # fmt: skip
        statuses = [
            *(status.get("containerStatuses") or []),
            *(cs for cs in status.get("initContainerStatuses") or [] if cs.get("name") in sidecars),
        ]
        ended = [state["terminated"] for cs in statuses if (state := cs.get("state") or {}).get("terminated")]
        if not ended:
            return record
        worst = max(ended, key=_exit_severity)
        changes: dict[str, Any] = {}
        if record.exited_at is None:
            changes.update(exited_at=seen.at, exited_uncertainty=seen.uncertainty)
            self.timeline.append(TimelineEntry(seen.at, "pod", f"{record.name} exited (code {worst.get('exitCode')})"))
        known = {"exitCode": record.exit_code, "reason": record.exit_reason}
        if record.exit_code is None or _exit_severity(worst) > _exit_severity(known):
            changes.update(exit_code=worst.get("exitCode"), exit_reason=worst.get("reason"))
        return self._update(record, **changes)

    def _leave_endpoints(self, record: PodTimeline, at: float, why: str, uncertainty: float = 0.0) -> None:
        if record.was_serving and record.endpoint_unready_at is None:
            self._update(record, endpoint_unready_at=at, endpoint_unready_uncertainty=uncertainty)
            self.timeline.append(TimelineEntry(at, "endpointslice", f"{record.name} left the endpoints ({why})"))

    def _on_slice(self, seen: Observed) -> None:
        with self._lock:
            name = (seen.obj.get("metadata") or {}).get("name", "")
            if seen.type == "DELETED":
                self._slices.pop(name, None)
            else:
                self._slices[name] = list(seen.obj.get("endpoints") or [])
            self._apply_slices(seen.at, seen.uncertainty)
            self._notify()

    def _apply_slices(self, at: float, uncertainty: float = 0.0) -> None:
        """Fold the union of the Service's slices into the pods' timelines (caller holds the lock)."""
        listed: dict[str, bool] = {}
        for endpoints in self._slices.values():
            for endpoint in endpoints:
                ref = endpoint.get("targetRef") or {}
                if ref.get("kind", "Pod") != "Pod" or not ref.get("name"):
                    continue
                ready = (endpoint.get("conditions") or {}).get("ready") is not False
                listed[ref["name"]] = listed.get(ref["name"], False) or ready
        for pod_name, ready in listed.items():
            record = self.pods.get(pod_name)
            if record is None:
                continue
            if ready and record.endpoint_ready_at is None and record.endpoint_unready_at is None:
                self._update(record, endpoint_ready_at=at, was_serving=True)
                self.timeline.append(TimelineEntry(at, "endpointslice", f"{pod_name} ready endpoint"))
            elif not ready and record.endpoint_ready:
                self._leave_endpoints(record, at, "ready=false", uncertainty)
        for record in list(self.pods.values()):
            if record.endpoint_ready and record.name not in listed:
                self._leave_endpoints(record, at, "removed from the slice", uncertainty)

    def _on_event(self, seen: Observed) -> None:
        event = seen.obj
        involved = event.get("involvedObject") or {}
        name = str(involved.get("name", ""))
        last = to_epoch(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp"))
        if last is not None and last < self._started - 1:
            return
        if name not in self.pods and not any(name == r or name.startswith(r + "-") for r in self._related):
            return
        entry = {
            "at": seen.at,
            "object": f"{involved.get('kind', '')}/{name}",
            "reason": str(event.get("reason", "")),
            "message": str(event.get("message", "")),
            "type": str(event.get("type", "Normal")),
            "count": int(event.get("count") or 1),
        }
        with self._lock:
            self.events.append(entry)
            self.timeline.append(
                TimelineEntry(seen.at, "event", f"{entry['object']} {entry['reason']}: {entry['message']}")
            )


def blind_note(stats: Iterable[WatchStats]) -> str | None:
    """A sentence for the report's notes when a watch was blind for a while, else None."""
    stats = list(stats)
    late = sum(s.late_events for s in stats)
    relists = sum(s.relists for s in stats)
    worst = max((s.max_uncertainty for s in stats), default=0.0)
    if not relists and not late:
        return None
    parts = [f"{late} change(s) were seen up to {worst:.2f} s late (a watch was reconnecting or stalled)"]
    if relists:
        parts.append(
            f"the watches re-listed {relists} time(s) after 410 Expired, so intermediate states may be missing"
        )
    return "; ".join(parts) + "; every pod's ordering was judged with that uncertainty counted against it"
