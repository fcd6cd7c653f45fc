"""kubectl's columns of a pod (k/k printers `printPod`): READY, STATUS and RESTARTS.

STATUS is the pod's reason or phase, overridden by `Init:…` while init containers run (sidecars,
`restartPolicy: Always`, count as started), by a container's waiting or terminated reason, and by
`Terminating` once it is being deleted; READY and RESTARTS count the sidecars with the containers.
"""

from __future__ import annotations

from typing import Any

from nonstop.sandbox.ages import age
from nonstop.toolkit.objects import Obj

__all__ = ["pod_row", "pod_status_column"]


def _init_reason(pod: Obj) -> tuple[str | None, int, int]:
    """kubectl's `Init:…` status while initialising (None once done), and the sidecars' ready and restart counts."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecars = {c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    total = len(spec.get("initContainers") or [])
    ready = restarts = 0
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        restarts += int(cs.get("restartCount") or 0) if cs.get("name") in sidecars else 0
        if term is not None and term.get("exitCode") == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        waiting = (state.get("waiting") or {}).get("reason")
        if term is not None:
            code = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            return f"Init:{term.get('reason') or code}", ready, restarts
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}", ready, restarts
        return f"Init:{index}/{total}", ready, restarts
    return None, ready, restarts


def _initializing(pod: Obj) -> str | None:
    """The `Init:…` status of a pod still initialising (not `Initialized`), else None."""
    status = pod.get("status") or {}
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return None if initialized else _init_reason(pod)[0]


def pod_status_column(pod: Obj) -> str:
    """kubectl's STATUS column of a pod (k/k `printPod`)."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    initializing = _initializing(pod)
    if initializing is not None:
        reason = initializing
    else:
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                term = state["terminated"] or {}
                reason = term.get("reason") or (
                    f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
                )
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def pod_row(pod: Obj) -> list[Any]:
    """A pod's cells: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node, Readiness Gates."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    sidecars = sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    total = len(spec.get("containers") or []) + sidecars
    _, sidecars_ready, sidecar_restarts = _init_reason(pod)
    ready = sum(1 for cs in statuses if cs.get("ready")) + sidecars_ready
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses) + sidecar_restarts
    if _initializing(pod) is not None:  # kubectl counts every init container's restarts until initialised
        restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("initContainerStatuses") or [])
    gates = spec.get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        pod_status_column(pod),
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"{len(gates)}" if gates else "<none>",
    ]
