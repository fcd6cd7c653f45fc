"""The evidence a drill hands to the checks: plain data, no I/O.

Times are seconds since the epoch on the drill's clock (`time.time()` when nonstop observed
the change); None means "not observed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FAILURE_CLASSES", "DrillWindow", "FailureClass", "PodRole", "PodTimeline", "RequestSample"]

FailureClass = Literal["refused", "reset", "timeout", "http-5xx", "http-4xx", "other"]
FAILURE_CLASSES: tuple[FailureClass, ...] = ("refused", "reset", "timeout", "http-5xx", "http-4xx", "other")
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


@dataclass(frozen=True, slots=True)
class PodTimeline:
    """What the drill observed of one pod of the target (CONTRACT.md's `pods` entries)."""

    name: str
    role: PodRole
    created_at: float | None = None
    ready_at: float | None = None
    was_serving: bool = False
    """The pod was a ready endpoint of the Service at some point in the drill."""
    deleted_at: float | None = None
    """deletionTimestamp first seen (the moment termination began)."""
    endpoint_unready_at: float | None = None
    """First time the EndpointSlice showed it ready=false/terminating, or it was removed from it."""
    last_routed_at: float | None = None
    """Last request of the load answered by this pod."""
    stopped_accepting_at: float | None = None
    """First failed direct probe of podIP:port (refused, reset, connect timeout or 5xx)."""
    exited_at: float | None = None
    """The container was seen terminated (or the pod deleted)."""
    exit_code: int | None = None
    measurable: bool = True
    """False when the direct prober could not measure the pod (e.g. a sidecar proxy answers for it)."""


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
