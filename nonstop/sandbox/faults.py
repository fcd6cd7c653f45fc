"""Fault injection in the sandbox's API server: what a flaky control plane does to a drill.

A `FaultPlan` is plain data, read from the admin endpoint's JSON or a `--faults FILE` YAML
(camelCase keys, every field optional, `FaultPlan.parse` refuses a bad plan with one sentence):

    latencyMs: 50                # added to every matching request
    errorRate: 0.2               # share of matching requests answered with errorCode
    errorCode: 429               # 429, 500, 502, 503 or 504
    retryAfterSeconds: 1         # Retry-After header (and Status details) on those errors
    verbs: [get, list]           # which requests the latency/errors/stall apply to (empty: any)
    resources: [pods]
    callers: [nonstop/]          # User-Agent prefixes (nonstop/: the drill; nonstop-sandbox-dataplane: the data plane)
    startAfterSeconds: 2         # the plan's window: from this long after it was set …
    forSeconds: 5                # … for this long (absent: until cleared)
    stallSeconds: 3              # matching requests hold until the stall is over (window start + this)
    dropWatchesEverySeconds: 2   # a watch stream lasts at most this long, then the connection ends
    dropWatches: true            # end every open watch stream now (once)
    expireResumes: true          # when a watch stream ends, that client's next resume gets the 410
                                 # Expired ERROR event (as after a compaction), so it must re-list
    oomKill: [{namespace: ns, pod: web-abc}]   # SIGKILL the pod's containers now, recorded as OOMKilled
    dataPlaneLagSeconds: 2       # `sandbox up --faults` only: the data plane sees endpoint changes this much later

The API server asks `Faults` at each request and each watch; `Faults.on_oom_kill` is set by the
cluster (the kubelet does the killing).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from nonstop.sandbox.apierrors import ApiError

__all__ = ["FaultPlan", "FaultPlanError", "Faults", "InjectedError"]

_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_NUMBERS = ("latencyMs", "errorRate", "retryAfterSeconds", "startAfterSeconds", "forSeconds", "stallSeconds",
            "dropWatchesEverySeconds", "dropWatchesAfterSeconds", "dataPlaneLagSeconds")  # fmt: skip
_FIELDS = frozenset(
    {*_NUMBERS, "errorCode", "verbs", "resources", "callers", "dropWatches", "expireResumes", "oomKill"}
)


class FaultPlanError(ValueError):
    """A fault plan that cannot be applied; the message is one sentence naming the field."""


class InjectedError(ApiError):
    """An injected API error; `retry_after` becomes the Retry-After header."""

    def __init__(self, code: int, message: str, retry_after: float | None) -> None:
        details = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
        super().__init__(code, _REASONS[code], message, details=details)
        self.retry_after = retry_after


@dataclass
class FaultPlan:
    """What to inject; every field off by default. `verbs`/`resources` empty means "any"."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_code: int = 500
    retry_after_seconds: float | None = None
    verbs: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    start_after_seconds: float = 0.0
    for_seconds: float | None = None
    stall_seconds: float = 0.0
    drop_watches_after_seconds: float | None = None
    drop_watches: bool = False
    expire_resumes: bool = False
    oom_kill: list[tuple[str, str]] = field(default_factory=list)
    data_plane_lag_seconds: float = 0.0
    set_at: float = field(default_factory=time.monotonic)

    @classmethod
    def parse(cls, body: Any, *, source: str = "the fault plan") -> FaultPlan:  # noqa: C901, PLR0912 — one branch per field of the plan, each with its own sentence
        """Validate and build a plan from camelCase data; a bad plan raises `FaultPlanError`."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise FaultPlanError(f"{source} must be a mapping of fault settings, not {type(body).__name__}")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise FaultPlanError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_FIELDS))})")
        numbers: dict[str, float] = {}
        for key in _NUMBERS:
            value = body.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FaultPlanError(f"{source}: {key} must be a number, not {value!r}")
            if value < 0:
                raise FaultPlanError(f"{source}: {key} must be ≥ 0, not {value}")
            numbers[key] = float(value)
        rate = numbers.get("errorRate", 0.0)
        if rate > 1:
            raise FaultPlanError(f"{source}: errorRate is a share of requests between 0 and 1, not {rate:g}")
        code = body.get("errorCode", 500)
        if isinstance(code, bool) or code not in _REASONS:
            raise FaultPlanError(f"{source}: errorCode must be one of {sorted(_REASONS)}, not {code!r}")
        every = numbers.get("dropWatchesEverySeconds", numbers.get("dropWatchesAfterSeconds"))
        if every is not None and every <= 0:
            raise FaultPlanError(f"{source}: dropWatchesEverySeconds must be > 0, not {every:g}")
        lists: dict[str, list[str]] = {}
        for key in ("verbs", "resources", "callers"):
            value = body.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise FaultPlanError(f"{source}: {key} must be a list of names, not {value!r}")
            lists[key] = value
        for key in ("dropWatches", "expireResumes"):
            if not isinstance(body.get(key, False), bool):
                raise FaultPlanError(f"{source}: {key} must be true or false, not {body[key]!r}")
        kills: list[tuple[str, str]] = []
        for entry in body.get("oomKill") or []:
            shape_ok = isinstance(entry, dict) and isinstance(entry.get("pod"), str)
            if not shape_ok or set(entry) - {"namespace", "pod"}:
                raise FaultPlanError(f"{source}: each oomKill entry is {{namespace: NS, pod: NAME}}, not {entry!r}")
            kills.append((str(entry.get("namespace") or "default"), entry["pod"]))
        return cls(
            latency_ms=numbers.get("latencyMs", 0.0),
            error_rate=rate,
            error_code=int(code),
            retry_after_seconds=numbers.get("retryAfterSeconds"),
            verbs=lists["verbs"],
            resources=lists["resources"],
            callers=lists["callers"],
            start_after_seconds=numbers.get("startAfterSeconds", 0.0),
            for_seconds=numbers.get("forSeconds"),
            stall_seconds=numbers.get("stallSeconds", 0.0),
            drop_watches_after_seconds=every,
            drop_watches=bool(body.get("dropWatches", False)),
            expire_resumes=bool(body.get("expireResumes", False)),
            oom_kill=kills,
            data_plane_lag_seconds=numbers.get("dataPlaneLagSeconds", 0.0),
        )

    def active(self, now: float) -> bool:
        """Whether `now` (monotonic) is inside the plan's window."""
        start = self.set_at + self.start_after_seconds
        return now >= start and (self.for_seconds is None or now < start + self.for_seconds)

    def stall_until(self) -> float:
        return self.set_at + self.start_after_seconds + self.stall_seconds if self.stall_seconds else 0.0


class Faults:
    """The current plan and the hooks the server calls."""

    def __init__(self) -> None:
        self._plan = FaultPlan()
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by drop_watches(): open watches close
        self.on_oom_kill: Callable[[str, str], bool] | None = None
        """Set by the cluster: SIGKILL pod `namespace`/`name`'s containers as an OOM kill; False if unknown."""
        self.injected = 0
        """How many errors were injected so far (for tests and benches)."""
        self.expired_resumes = 0
        """How many resumes were answered 410 by the fault."""
        self._expired: set[Hashable] = set()

    def set(self, plan: FaultPlan) -> None:
        """Apply `plan` (its window starts now); `dropWatches` and `oomKill` act once, at once."""
        with self._lock:
            self._plan = plan
        if plan.drop_watches:
            self.drop_watches()
        for namespace, pod in plan.oom_kill:
            if self.on_oom_kill is None or not self.on_oom_kill(namespace, pod):
                raise ApiError(404, "NotFound", f"oomKill: no running pod {namespace}/{pod} on the sandbox kubelet")

    def clear(self) -> None:
        self.set(FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    def _applies(self, plan: FaultPlan, verb: str, resource: str, caller: str) -> bool:
        return (
            (not plan.verbs or verb in plan.verbs)
            and (not plan.resources or resource in plan.resources)
            and (not plan.callers or any(caller.startswith(prefix) for prefix in plan.callers))
        )

    def before_request(self, verb: str, resource: str, caller: str = "") -> None:
        """Called before serving: may sleep (latency, stall) or raise the injected error."""
        plan = self.plan
        if not self._applies(plan, verb, resource, caller):
            return
        now = time.monotonic()
        hold = plan.stall_until() - now
        if hold > 0 and now >= plan.set_at + plan.start_after_seconds:
            time.sleep(hold)
        if not plan.active(time.monotonic()):
            return
        if plan.latency_ms:
            time.sleep(plan.latency_ms / 1000)
        if plan.error_rate and random.random() < plan.error_rate:
            code = plan.error_code
            with self._lock:
                self.injected += 1
            raise InjectedError(code, f"injected fault: {code} on {verb} {resource}", plan.retry_after_seconds)

    def watch_epoch(self) -> int:
        with self._lock:
            return self._epoch

    def drop_watches(self) -> None:
        """Close every open watch stream (clients see the connection end and reconnect)."""
        with self._lock:
            self._epoch += 1

    def watch_limit(self, resource: str, caller: str = "") -> float | None:
        """Seconds after which a new watch stream on `resource` is dropped, if the plan says so."""
        plan = self.plan
        if plan.drop_watches_after_seconds is None or not self._applies(plan, "watch", resource, caller):
            return None
        return float(plan.drop_watches_after_seconds)

    def expires_resumes(self, resource: str, caller: str = "") -> bool:
        """Whether a watch stream on `resource` that just ended leaves its position expired (410 on resume)."""
        plan = self.plan
        return plan.expire_resumes and self._applies(plan, "watch", resource, caller)

    def expire_next_resume(self, watcher: Hashable) -> None:
        """The next resume of `watcher` (caller, resource, namespace, selectors) gets the 410 ERROR event."""
        with self._lock:
            self._expired.add(watcher)

    def take_expired_resume(self, watcher: Hashable) -> bool:
        """Whether this resume must be answered 410 (once: after that the watcher re-lists and goes on)."""
        with self._lock:
            if watcher in self._expired and self._plan.expire_resumes:
                self._expired.discard(watcher)
                self.expired_resumes += 1
                return True
            self._expired.discard(watcher)
            return False
