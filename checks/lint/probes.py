"""Probe rules: readiness gates the endpoints, and liveness must not be a copy of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_list, as_map, is_map

__all__ = ["check_probes", "container_ports", "is_serving", "normalized_probe"]

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
    """A *serving container* declares at least one containerPort (CONTRACT.md)."""
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
        f"container {name} serves on port {_ports_text(container)} but has no readinessProbe: {why}{note}. "
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


def check_probes(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """readiness-probe-missing, readiness-probe-port-mismatch, liveness-same-as-readiness."""
    del ctx
    for container, _sidecar in workload.containers:
        name = str(container.get("name", "<unnamed>"))
        readiness = container.get("readinessProbe")
        if not is_map(readiness):
            if is_serving(container):
                yield _missing_readiness(workload, container, name)
            continue
        port = _probe_port(readiness)
        if isinstance(port, str) and not any(p.get("name") == port for p in container_ports(container)):
            yield _port_mismatch(workload, container, name, port)
        liveness = container.get("livenessProbe")
        if is_map(liveness) and normalized_probe(liveness, container) == normalized_probe(readiness, container):
            yield _same_probes(workload, name)
