"""The evidence a drill hands to the checks: plain data, no I/O.

Times are seconds since the epoch on the drill's clock (`time.time()` when nonstop observed
the change); None means "not observed".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = ["FAILURE_CLASSES", "DrillWindow", "FailureClass", "PodRole", "PodTimeline", "RequestSample"]

FailureClass = Literal["refused", "reset", "timeout", "http-5xx", "http-4xx", "retried", "other"]
FAILURE_CLASSES: tuple[FailureClass, ...] = ("refused", "reset", "timeout", "http-5xx", "http-4xx", "retried", "other")
"""CONTRACT.md's classes, plus `retried`: the request got an answer only because the load generator
retried it after its connection failed (counted as failed unless `budget.countRetries` is false)."""
PodRole = Literal["old", "new"]


@dataclass(frozen=True, slots=True)
class RequestSample:
    """One request of the load: when it started, how long it took, how it ended, who answered."""

    at: float
    """Start time of the request."""
    latency_ms: float
    """Time to the response (or to the failure), in milliseconds."""
    failure: FailureClass | None = None
    """None for a success; otherwise the failure class of CONTRACT.md."""
    pod: str | None = None
    """The answering pod (`X-Pod-Name` header), when known."""
    status: int | None = None
    """HTTP status code, when a response arrived."""
    retries: int = 0
    """How often the client silently sent the request again after its connection failed before any answer
    (geventhttpclient retries an idempotent request once on a stale kept-alive connection)."""
    retried_pod: str | None = None
    """The pod that last answered on the connection that failed, when known: the one the retry hid."""

    def counted(self, *, count_retries: bool) -> RequestSample:
        """The request as the budget counts it: a retried success is a `retried` failure of `retried_pod`."""
        if not count_retries or not self.retries or self.failure is not None:
            return self
        return replace(self, failure="retried", pod=self.retried_pod)


@dataclass(frozen=True, slots=True)
class PodTimeline:
    """The one model of a pod's timeline: what the drill observed of it, each moment with its uncertainty.

    The drill's observer keeps one per pod and replaces it as changes arrive; the checks judge it;
    the report renders it (CONTRACT.md's `pods` entries, with the checks' verdicts beside it).

    A moment seen through a watch that had been blind (a reconnect, a stall, a re-list) really
    happened somewhere in [seen − uncertainty, seen]; the `*_uncertainty` fields say how wide that
    is for the moments the checks time (0: delivered live).
    """

    name: str
    role: PodRole = "new"
    """`old` when the rollout replaces it; the drill decides it when it judges (until then `new`)."""
    ip: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    created_at: float | None = None
    ready_at: float | None = None
    was_serving: bool = False
    """The pod was a ready endpoint of the Service at some point in the drill."""
    endpoint_ready_at: float | None = None
    """When the EndpointSlices first listed it as a ready endpoint (what chaos's settling is measured from)."""
    deleted_at: float | None = None
    """deletionTimestamp first seen (the moment termination began)."""
    deleted_uncertainty: float = 0.0
    endpoint_unready_at: float | None = None
    """First time the EndpointSlice showed it ready=false/terminating, or it was removed from it."""
    endpoint_unready_uncertainty: float = 0.0
    last_routed_at: float | None = None
    """Last request of the load answered by this pod."""
    stopped_accepting_at: float | None = None
    """First failed direct probe of podIP:port (refused, reset, connect timeout or 5xx)."""
    stopped_accepting_uncertainty: float = 0.0
    """The prober starts when the deletion is seen, so this is the deletion's uncertainty."""
    exited_at: float | None = None
    """The container was seen terminated (or the pod deleted)."""
    exited_uncertainty: float = 0.0
    exit_code: int | None = None
    """The exit code of the container that ended worst (137 or OOMKilled before any other non-zero code)."""
    exit_reason: str | None = None
    """That container's `state.terminated.reason` (`Completed`, `Error`, `OOMKilled`, …), when seen."""
    grace_period_seconds: float | None = None
    """The grace period the pod was deleted with (`metadata.deletionGracePeriodSeconds`, else the spec's
    `terminationGracePeriodSeconds`): when the kubelet sends SIGKILL, counted from `deleted_at`."""
    measurable: bool = True
    """False when the direct prober could not measure the pod (e.g. a sidecar proxy answers for it)."""

    @property
    def endpoint_ready(self) -> bool:
        """The EndpointSlices list it as a ready endpoint now (a pod that left them never comes back)."""
        return self.endpoint_ready_at is not None and self.endpoint_unready_at is None

    @property
    def terminated(self) -> bool:
        """Its deletion or its exit was seen."""
        return self.deleted_at is not None or self.exited_at is not None


@dataclass(frozen=True, slots=True)
class DrillWindow:
    """CONTRACT.md's drill window: from the rollout action until the rollout is complete and every old pod exited."""

    start: float
    """When the rollout action was taken (`external`: first old pod deleting, or a new ReplicaSet seen)."""
    end: float | None = None
    """When the window closed; None when it never closed (interrupted, deadline passed): open-ended."""

    def contains(self, at: float) -> bool:
        """True when `at` lies in the window, both ends included."""
        return self.start <= at and (self.end is None or at <= self.end)
