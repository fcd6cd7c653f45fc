"""Probe rules: readiness gates the endpoints on a port it can reach, startup and liveness must not kill a
starting container, and liveness must not be a copy of readiness.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_list, as_map, is_map

__all__ = ["LIVENESS_FLOOR_SECONDS", "check_probes", "container_ports", "is_serving", "normalized_probe"]

LIVENESS_FLOOR_SECONDS = 30
"""A liveness initialDelaySeconds at or above this, without a startupProbe, is a guess at the start time."""

PROBE_DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
"""Kubernetes' probe defaults (pkg/apis/core/v1/defaults.go)."""


def container_ports(container: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The container's declared ports."""
    return [as_map(p) for p in as_list(container.get("ports")) if is_map(p)]


def is_serving(container: Mapping[str, Any]) -> bool:
    """Whether the container declares at least one containerPort (a Service selecting its pod also makes
    it serving: `Workload.is_serving` knows both).
    """
    return bool(container_ports(container))


def _resolve_port(port: object, container: Mapping[str, Any]) -> object:
    """A named port becomes the number the container declares for it, so `http` and `8080` compare equal."""
    if isinstance(port, str):
        for declared in container_ports(container):
            if declared.get("name") == port:
                return declared.get("containerPort")
    return port


def normalized_probe(probe: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, object]:
    """The probe with Kubernetes' defaults filled in and named ports resolved, for comparing two probes.

    Probe-level terminationGracePeriodSeconds is left out: it changes what a failure does, not what is checked.
    """
    out: dict[str, object] = {key: probe.get(key, default) for key, default in PROBE_DEFAULTS.items()}
    if "httpGet" in probe:
        action = as_map(probe["httpGet"])
        headers = [
            (str(as_map(h).get("name", "")).lower(), str(as_map(h).get("value", "")))
            for h in as_list(action.get("httpHeaders"))
        ]
        out["httpGet"] = (
            action.get("host") or "",
            action.get("path") or "/",
            action.get("scheme") or "HTTP",
            _resolve_port(action.get("port"), container),
            tuple(sorted(headers)),
        )
    elif "tcpSocket" in probe:
        action = as_map(probe["tcpSocket"])
        out["tcpSocket"] = (action.get("host") or "", _resolve_port(action.get("port"), container))
    elif "grpc" in probe:
        action = as_map(probe["grpc"])
        out["grpc"] = (action.get("port"), action.get("service") or "")
    elif "exec" in probe:
        out["exec"] = tuple(str(arg) for arg in as_list(as_map(probe["exec"]).get("command")))
    return out


def _probe_port(probe: Mapping[str, Any]) -> object:
    for action in ("httpGet", "tcpSocket"):
        if action in probe:
            return as_map(probe[action]).get("port")
    return None


def _ports_text(container: Mapping[str, Any]) -> str:
    parts = []
    for port in container_ports(container):
        number = port.get("containerPort")
        parts.append(f"{port['name']} ({number})" if port.get("name") else str(number))
    return ", ".join(parts)


def _serves_text(workload: Workload, container: Mapping[str, Any], name: str) -> str:
    if container_ports(container):
        return f"container {name} serves on port {_ports_text(container)}"
    services = ", ".join(f"Service/{s.get('metadata', {}).get('name', '?')}" for s in workload.services[:2])
    return f"container {name} serves the traffic of {services} (it declares no port, but a Service reaches it anyway)"


def _missing_readiness(workload: Workload, container: Mapping[str, Any], name: str) -> Finding:
    why = (
        "the kubelet marks a container without one Ready as soon as it starts, and EndpointSlices follow "
        "the pod's Ready condition, so a new pod gets traffic before the app listens and those requests fail"
    )
    if "startupProbe" in container:
        why = (
            "its startupProbe gates only the first start; without a readinessProbe the pod stays in the "
            "endpoints whenever the app cannot answer (overloaded, a dependency down, draining after SIGTERM)"
        )
    min_ready = workload.spec.get("minReadySeconds")
    note = (
        f"; minReadySeconds: {min_ready} does not replace it — it only delays when the rollout counts the pod "
        "as available, while the endpoints already send it traffic"
        if min_ready
        else "; minReadySeconds does not replace it (endpoints follow readiness, not availability)"
    )
    message = (
        f"{_serves_text(workload, container, name)} but has no readinessProbe: {why}{note}. "
        "Fix: add a readinessProbe (httpGet on a health path, or tcpSocket) on the port it serves."
    )
    return workload.finding("readiness-probe-missing", message, container=name)


def _port_mismatch(workload: Workload, container: Mapping[str, Any], name: str, port: str) -> Finding:
    declared = [str(p.get("name")) for p in container_ports(container) if p.get("name")]
    elsewhere = [
        other.get("name")
        for other, _ in workload.containers
        if other is not container and any(p.get("name") == port for p in container_ports(other))
    ]
    where = (
        f" (container {elsewhere[0]} declares it, but a named port resolves only among the probed container's "
        "own ports)"
        if elsewhere
        else ""
    )
    names = ", ".join(declared) if declared else "none"
    message = (
        f"container {name}'s readinessProbe uses port {port!r}, which the container does not declare "
        f"(its named ports: {names}){where}: the kubelet cannot resolve it, the probe errors on every try and "
        "the pod never becomes Ready, so the rollout stalls or, once old pods are gone, the Service has no "
        f"endpoints. Fix: name the port in the container's ports, or use its number."
    )
    return workload.finding("readiness-probe-port-mismatch", message, container=name)


def _same_probes(workload: Workload, name: str) -> Finding:
    message = (
        f"container {name}'s livenessProbe is identical to its readinessProbe: when the app is slow or a "
        "dependency is down, the same failures that take the pod out of the endpoints also make the kubelet "
        "restart it, cutting its in-flight requests and shrinking capacity just when it is short, which can "
        "cascade to every replica. Fix: let liveness check only that the process is alive (a cheaper endpoint, "
        "or a higher failureThreshold than readiness)."
    )
    return workload.finding("liveness-same-as-readiness", message, container=name)


def _declared_port(container: Mapping[str, Any], port: object) -> list[Mapping[str, Any]]:
    """The declared ports a probe's port refers to (by name, or by number)."""
    if isinstance(port, str):
        return [p for p in container_ports(container) if p.get("name") == port]
    return [p for p in container_ports(container) if p.get("containerPort") == port]


def _protocol_mismatch(
    workload: Workload, container: Mapping[str, Any], name: str, probe: Mapping[str, Any]
) -> Finding | None:
    port = as_map(probe["grpc"]).get("port") if "grpc" in probe else _probe_port(probe)
    declared = _declared_port(container, port)
    protocols = sorted({str(p.get("protocol") or "TCP").upper() for p in declared})
    # The same number may be declared twice (TCP and UDP, as DNS servers do): only no-TCP-at-all is wrong.
    if not declared or "TCP" in protocols:
        return None
    action = next(a for a in ("httpGet", "tcpSocket", "grpc") if a in probe)
    number = declared[0].get("containerPort")
    shown = f"{port!r} ({number})" if isinstance(port, str) else str(port)
    message = (
        f"container {name}'s readinessProbe ({action}) checks port {shown}, which the container declares as "
        f"{'/'.join(protocols)} only: the kubelet's {action} probe always connects over TCP, so it fails unless "
        "something also listens on that TCP port; the pod never becomes Ready, the rollout stalls and, once old "
        "pods are gone, the Service has no endpoints. Fix: probe a TCP port the app serves (and declare it), or "
        "use an exec probe for a UDP-only server."
    )
    return workload.finding("readiness-probe-protocol-mismatch", message, container=name)


def _startup_mismatch(workload: Workload, container: Mapping[str, Any], name: str, port: str) -> Finding:
    declared = [str(p.get("name")) for p in container_ports(container) if p.get("name")]
    message = (
        f"container {name}'s startupProbe uses port {port!r}, which the container does not declare (its named "
        f"ports: {', '.join(declared) or 'none'}): the kubelet cannot resolve the name, so the probe fails on "
        "every try, the container is killed after failureThreshold × periodSeconds and restarted, forever "
        "(CrashLoopBackOff); readiness and liveness are not even checked until it passes, so the pod never "
        "becomes Ready. Fix: name the port in the container's ports, or use its number."
    )
    return workload.finding("startup-probe-port-mismatch", message, container=name)


def _probe_number(probe: Mapping[str, Any], key: str) -> int:
    value = probe.get(key, PROBE_DEFAULTS[key])
    return value if isinstance(value, int) and not isinstance(value, bool) else PROBE_DEFAULTS[key]


def _liveness_without_startup(workload: Workload, container: Mapping[str, Any], name: str) -> Finding | None:
    """A liveness probe that may kill the container before the app has started.

    Fires without a startupProbe when the liveness budget (initialDelaySeconds + periodSeconds ×
    failureThreshold: how long a container that is not up yet survives) is no longer than the
    readinessProbe's initialDelaySeconds (the manifest itself says the app takes that long to start),
    or when liveness relies on a long initialDelaySeconds (≥ 30 s) as a guess of the start time.
    """
    liveness = as_map(container.get("livenessProbe"))
    delay = _probe_number(liveness, "initialDelaySeconds")
    budget = delay + _probe_number(liveness, "periodSeconds") * _probe_number(liveness, "failureThreshold")
    readiness = container.get("readinessProbe")
    ready_delay = _probe_number(readiness, "initialDelaySeconds") if is_map(readiness) else 0
    if budget <= ready_delay:
        why = (
            f"its liveness budget ({delay} s initial delay + {_probe_number(liveness, 'periodSeconds')} s × "
            f"{_probe_number(liveness, 'failureThreshold')} failures = {budget} s) runs out before the readinessProbe "
            f"even starts ({ready_delay} s), the time this manifest gives the app to start"
        )
    elif delay >= LIVENESS_FLOOR_SECONDS:
        why = (
            f"liveness waits a fixed initialDelaySeconds: {delay} as a guess of the start time; a start slower than "
            f"{budget} s (a cold node, CPU throttling under a limit, a slow dependency) gets the container killed"
        )
    else:
        return None
    message = (
        f"container {name} has a livenessProbe and no startupProbe, and {why}, so the kubelet restarts it before "
        "it serves and the pod ends in CrashLoopBackOff with fewer replicas serving, or a rollout that never "
        "finishes. Fix: add a startupProbe (same check, failureThreshold × periodSeconds above the slowest start) "
        "and drop liveness' initialDelaySeconds."
    )
    return workload.finding("liveness-without-startup-probe", message, container=name)


def check_probes(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """readiness-probe-missing, readiness-probe-port-mismatch, readiness-probe-protocol-mismatch,
    startup-probe-port-mismatch, liveness-same-as-readiness, liveness-without-startup-probe.
    """
    del ctx
    for container, _sidecar in workload.containers:
        name = str(container.get("name", "<unnamed>"))
        startup = container.get("startupProbe")
        if is_map(startup):
            port = _probe_port(startup)
            if isinstance(port, str) and not _declared_port(container, port):
                yield _startup_mismatch(workload, container, name, port)
        elif is_map(container.get("livenessProbe")):
            found = _liveness_without_startup(workload, container, name)
            if found is not None:
                yield found
        readiness = container.get("readinessProbe")
        if not is_map(readiness):
            if workload.is_serving(container):
                yield _missing_readiness(workload, container, name)
            continue
        port = _probe_port(readiness)
        if isinstance(port, str) and not _declared_port(container, port):
            yield _port_mismatch(workload, container, name, port)
        elif any(action in readiness for action in ("httpGet", "tcpSocket", "grpc")):
            mismatch = _protocol_mismatch(workload, container, name, readiness)
            if mismatch is not None:
                yield mismatch
        liveness = container.get("livenessProbe")
        if is_map(liveness) and normalized_probe(liveness, container) == normalized_probe(readiness, container):
            yield _same_probes(workload, name)
