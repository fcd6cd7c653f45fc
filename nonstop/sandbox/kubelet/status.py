"""A pod's status as the kubelet generates it (K8S-SEMANTICS.md §5 "Conditions"; k/k `status/generate.go`).

Conditions keep their `lastTransitionTime` unless their status flips. `Ready` is `ContainersReady`
and every `spec.readinessGates[].conditionType` condition True (conditions others write: the
sandbox's readiness-gate controller, or a test); when such a condition changes, the pod worker
publishes again so `Ready` follows (`ready_needs_update`). Phase follows the kubelet's
`getPhase`: Pending while a container has never run, Running while a container runs or may restart,
Succeeded/Failed once every container has stopped for good (a pod that was deleted is terminal).

Init containers (`initContainerStatuses`): a regular one is pending until it exited 0 (then `ready`),
a failed one fails the pod only under `restartPolicy: Never`; a native sidecar (`restartPolicy:
Always`) is pending until `started`, counts for `ContainersReady` like a main container (listed
first in the unready message) and never for the terminal phase. `Initialized` is False
(`ContainersNotInitialized`, "containers with incomplete status: [a b]") until every regular init
container succeeded and every sidecar started, and stays True once a main container has run
(k/k `GeneratePodInitializedCondition`, `getPhase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nonstop.sandbox.store import Obj, now_rfc3339
from nonstop.toolkit.times import rfc3339 as rfc3339_s
from nonstop.toolkit.times import rfc3339_milli as rfc3339_ms

__all__ = [
    "ANNOTATION_PREFIX",
    "conditions",
    "phase_of",
    "readiness_gate_messages",
    "ready_needs_update",
    "rfc3339_ms",
    "rfc3339_s",
]

ANNOTATION_PREFIX = "sandbox.nonstop.dev/"


def _regular_started(statuses: list[Obj]) -> bool:
    """Whether a main container has ever run (k/k `HasAnyRegularContainerStarted`)."""
    return any(
        "running" in (cs.get("state") or {})
        or "terminated" in (cs.get("state") or {})
        or (cs.get("lastState") or {}).get("terminated")
        for cs in statuses
    )


def phase_of(  # noqa: C901, PLR0912 — the pod phase rules of Kubernetes, case by case
    statuses: list[Obj],
    restart_policy: str,
    *,
    terminal: bool,
    init_statuses: Sequence[Obj] = (),
    sidecars: frozenset[str] = frozenset(),
) -> str:
    """The pod phase from its container statuses (init containers' first; `sidecars` names the native ones)."""
    pending_init = failed_init = 0
    waiting = running = stopped = succeeded = 0
    for cs in init_statuses:
        state = cs.get("state") or {}
        last_terminated = (cs.get("lastState") or {}).get("terminated")
        if cs.get("name") in sidecars:
            if "running" in state:
                running += 1
                pending_init += 0 if cs.get("started") else 1
            elif "waiting" in state and not last_terminated:
                pending_init += 1
                waiting += 1
            continue  # a stopped sidecar never decides the phase
        if "terminated" in state:
            failed_init += 1 if state["terminated"].get("exitCode") != 0 else 0
        elif "waiting" in state and last_terminated:
            failed_init += 1 if last_terminated.get("exitCode") != 0 else 0
        else:
            pending_init += 1
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
        initialized = (not failed_init and not pending_init) or _regular_started(statuses)
        return "Succeeded" if initialized and statuses and succeeded == len(statuses) else "Failed"
    if failed_init and restart_policy == "Never":
        return "Failed"
    if (pending_init and not _regular_started(statuses)) or waiting:
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


def readiness_gate_messages(conditions_by_type: dict[str, Obj], readiness_gates: list[Obj]) -> list[str]:
    """Why each readiness gate holds the pod unready, as the kubelet words it (none: every gate is True)."""
    out = []
    for gate in readiness_gates:
        ctype = str(gate.get("conditionType", ""))
        cond = conditions_by_type.get(ctype)
        if cond is None:
            out.append(f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
        elif cond.get("status") != "True":
            out.append(f'the status of pod readiness gate "{ctype}" is not "True", but {cond.get("status")}')
    return out


def ready_needs_update(pod: Obj) -> bool:
    """A readiness gate's condition changed under a pod whose containers are ready, and `Ready` does
    not follow yet (the kubelet's `NeedToReconcilePodReadiness`).
    """
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return False
    by_type = {c.get("type", ""): c for c in (pod.get("status") or {}).get("conditions") or []}
    if (by_type.get("ContainersReady") or {}).get("status") != "True":
        return False
    want = "False" if readiness_gate_messages(by_type, gates) else "True"
    return (by_type.get("Ready") or {}).get("status") != want


def _initialized(
    init_statuses: Sequence[Obj], sidecars: frozenset[str], statuses: list[Obj], phase: str
) -> tuple[bool, str | None, str | None]:
    if not init_statuses:
        return True, None, None
    incomplete = []
    for cs in init_statuses:
        if cs.get("name") in sidecars:
            done = bool(cs.get("started"))
        else:
            terminated = (cs.get("state") or {}).get("terminated") or {}
            done = bool(terminated) and terminated.get("exitCode") == 0
        if not done:
            incomplete.append(str(cs.get("name")))
    if phase == "Succeeded":
        return True, "PodCompleted", None
    if not incomplete or _regular_started(statuses):
        return True, None, None
    return False, "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]"


def conditions(
    previous_conditions: list[Obj],
    statuses: list[Obj],
    *,
    phase: str,
    sandbox_ready: bool,
    readiness_gates: list[Obj],
    init_statuses: Sequence[Obj] = (),
    sidecars: frozenset[str] = frozenset(),
) -> list[Obj]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled."""
    previous = {c.get("type", ""): c for c in previous_conditions}
    terminal_reason = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase)
    serving = [cs for cs in init_statuses if cs.get("name") in sidecars] + list(statuses)
    unready = [cs["name"] for cs in serving if not cs.get("ready")]
    if terminal_reason:
        containers_ready: tuple[bool, str | None, str | None] = (False, terminal_reason, None)
        ready = containers_ready
    else:
        message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        containers_ready = (not unready, "ContainersNotReady" if unready else None, message)
        ready = containers_ready
        gate_messages = readiness_gate_messages(previous, readiness_gates)
        if not unready and gate_messages:
            ready = (False, "ReadinessGatesNotReady", ", ".join(gate_messages))
    out = [
        _condition(previous, "PodReadyToStartContainers", sandbox_ready, None, None),
        _condition(previous, "Initialized", *_initialized(init_statuses, sidecars, statuses, phase)),
        _condition(previous, "Ready", *ready),
        _condition(previous, "ContainersReady", *containers_ready),
        _condition(previous, "PodScheduled", True, None, None),
    ]
    known = {c["type"] for c in out}
    out += [c for c in previous_conditions if c.get("type") not in known]  # e.g. DisruptionTarget, gates
    return out
