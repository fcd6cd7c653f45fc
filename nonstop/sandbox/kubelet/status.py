"""A pod's status as the kubelet generates it (K8S-SEMANTICS.md §5 "Conditions"; k/k `status/generate.go`).

Conditions keep their `lastTransitionTime` unless their status flips. Phase follows the kubelet's
`getPhase`: Pending while a container has never run, Running while a container runs or may restart,
Succeeded/Failed once every container has stopped for good (a pod that was deleted is terminal).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nonstop.sandbox.store import Obj, now_rfc3339

__all__ = ["ANNOTATION_PREFIX", "conditions", "phase_of", "rfc3339_ms", "rfc3339_s"]

ANNOTATION_PREFIX = "sandbox.nonstop.dev/"


def rfc3339_s(ts: float) -> str:
    """Kubernetes' timestamp: whole seconds, UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ms(ts: float) -> str:
    """A measurement timestamp: milliseconds, UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def phase_of(statuses: list[Obj], restart_policy: str, *, terminal: bool) -> str:
    """The pod phase from its container statuses."""
    waiting = running = stopped = succeeded = 0
    for cs in statuses:
        state = cs.get("state", {})
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif cs.get("lastState", {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if terminal:
        return "Succeeded" if statuses and succeeded == len(statuses) else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(previous: dict[str, Obj], ctype: str, status: bool, reason: str | None, message: str | None) -> Obj:
    value = "True" if status else "False"
    old = previous.get(ctype)
    transition = old.get("lastTransitionTime") if old and old.get("status") == value else now_rfc3339()
    cond: dict[str, Any] = {"type": ctype, "status": value, "lastProbeTime": None, "lastTransitionTime": transition}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def conditions(
    previous_conditions: list[Obj],
    statuses: list[Obj],
    *,
    phase: str,
    sandbox_ready: bool,
    readiness_gates: list[Obj],
) -> list[Obj]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled."""
    previous = {c.get("type", ""): c for c in previous_conditions}
    terminal_reason = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase)
    unready = [cs["name"] for cs in statuses if not cs.get("ready")]
    if terminal_reason:
        containers_ready: tuple[bool, str | None, str | None] = (False, terminal_reason, None)
        ready = containers_ready
    else:
        message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        containers_ready = (not unready, "ContainersNotReady" if unready else None, message)
        ready = containers_ready
        gates_failing = [
            g.get("conditionType", "")
            for g in readiness_gates
            if previous.get(g.get("conditionType", ""), {}).get("status") != "True"
        ]
        if not unready and gates_failing:
            ready = (
                False,
                "ReadinessGatesNotReady",
                f'corresponding condition of pod readiness gate "{gates_failing[0]}" does not exist.',
            )
    out = [
        _condition(previous, "PodReadyToStartContainers", sandbox_ready, None, None),
        _condition(previous, "Initialized", True, None, None),
        _condition(previous, "Ready", *ready),
        _condition(previous, "ContainersReady", *containers_ready),
        _condition(previous, "PodScheduled", True, None, None),
    ]
    known = {c["type"] for c in out}
    out += [c for c in previous_conditions if c.get("type") not in known]  # e.g. DisruptionTarget, gates
    return out
