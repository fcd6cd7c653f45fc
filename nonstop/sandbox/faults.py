"""Fault-injection hooks of the API server (the reliability issue fills in richer plans).

A `FaultPlan` is plain data: added latency, an error answered to a share of matching requests,
watch streams dropped after some seconds, and a stall (requests hold for a while before being
served). The API server asks `Faults` at each request and each watch.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nonstop.sandbox.apierrors import ApiError

__all__ = ["FaultPlan", "Faults"]

_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
    409: "Conflict",
    403: "Forbidden",
}


@dataclass
class FaultPlan:
    """What to inject; every field off by default. `verbs`/`resources` empty means "any"."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_code: int = 500
    verbs: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    drop_watches_after_seconds: float | None = None
    stall_until: float = 0.0  # monotonic time until which requests hold

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultPlan:
        """Build from the admin endpoint's camelCase JSON (`latencyMs`, `errorRate`, …)."""
        stall = float(body.get("stallSeconds") or 0.0)
        return cls(
            latency_ms=float(body.get("latencyMs") or 0.0),
            error_rate=float(body.get("errorRate") or 0.0),
            error_code=int(body.get("errorCode") or 500),
            verbs=list(body.get("verbs") or []),
            resources=list(body.get("resources") or []),
            drop_watches_after_seconds=body.get("dropWatchesAfterSeconds"),
            stall_until=time.monotonic() + stall if stall else 0.0,
        )


class Faults:
    """The current plan and the hooks the server calls."""

    def __init__(self) -> None:
        self._plan = FaultPlan()
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by drop_watches(): open watches close

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan

    def clear(self) -> None:
        self.set(FaultPlan())

    def _applies(self, plan: FaultPlan, verb: str, resource: str) -> bool:
        return (not plan.verbs or verb in plan.verbs) and (not plan.resources or resource in plan.resources)

    def before_request(self, verb: str, resource: str) -> None:
        """Called before serving: may sleep (latency, stall) or raise the injected ApiError."""
        with self._lock:
            plan = self._plan
        if not self._applies(plan, verb, resource):
            return
        hold = plan.stall_until - time.monotonic()
        if hold > 0:
            time.sleep(hold)
        if plan.latency_ms:
            time.sleep(plan.latency_ms / 1000)
        if plan.error_rate and random.random() < plan.error_rate:
            code = plan.error_code
            raise ApiError(code, _REASONS.get(code, "InternalError"), f"injected fault: {code} on {verb} {resource}")

    def watch_epoch(self) -> int:
        with self._lock:
            return self._epoch

    def drop_watches(self) -> None:
        """Close every open watch stream (clients see the connection end and reconnect)."""
        with self._lock:
            self._epoch += 1

    def watch_limit(self, resource: str) -> float | None:
        """Seconds after which a new watch stream on `resource` is dropped, if the plan says so."""
        with self._lock:
            plan = self._plan
        if plan.drop_watches_after_seconds is None or not self._applies(plan, "watch", resource):
            return None
        return float(plan.drop_watches_after_seconds)
