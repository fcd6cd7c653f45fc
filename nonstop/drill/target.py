"""The target of a drill, resolved against the cluster: workload, Service, selector, ports, limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nonstop.errors import InputError, NotFoundError
from nonstop.kube.api import Kube
from nonstop.spec import DrillSpec

__all__ = ["Target", "resolve_target"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    namespace: str
    workload: Obj
    service: Obj
    service_port: int
    target_port: int | str
    container_port: int | None
    """The container port the Service forwards to, when the template declares it (else target_port)."""
    pod_selector: str
    replicas: int
    max_unavailable: int

    @property
    def cluster_ip(self) -> str | None:
        ip = self.service.get("spec", {}).get("clusterIP")
        return None if ip in (None, "", "None") else str(ip)

    def pod_port(self, pod: Obj | None = None) -> int | None:
        """The port to probe a pod on: the resolved container port, or the numeric targetPort."""
        if isinstance(self.target_port, int):
            return self.target_port
        if pod is not None:
            for container in _serving_containers(pod.get("spec") or {}):
                for port in container.get("ports") or []:
                    if port.get("name") == self.target_port:
                        return int(port["containerPort"])
        return self.container_port


def _serving_containers(pod_spec: Obj) -> list[Obj]:
    """Where a Service's named targetPort is looked up: the containers, then the native sidecars
    (init containers with `restartPolicy: Always`), as Kubernetes' `FindPort` does.
    """
    sidecars = [c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return [*(pod_spec.get("containers") or []), *sidecars]


def _resolve_percent(value: Any, replicas: int, *, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * replicas / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def _max_unavailable(workload: Obj, replicas: int) -> int:
    spec = workload.get("spec", {})
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or strategy.get("canary") or {}
    if strategy.get("type") == "Recreate":
        return replicas
    surge = _resolve_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _resolve_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return min(unavailable, replicas)


def resolve_target(kube: Kube, spec: DrillSpec, namespace: str) -> Target:
    """Read the workload and Service; check the Service selects the pods and its port maps to a container."""
    t = spec.target
    try:
        workload = (
            kube.get_deployment(namespace, t.name) if t.kind == "Deployment" else kube.get_rollout(namespace, t.name)
        )
    except NotFoundError as exc:
        raise NotFoundError(
            f"{t.kind} {namespace}/{t.name} not found (spec.target.name); check the name, namespace and context"
        ) from exc
    try:
        service = kube.get_service(namespace, t.service)
    except NotFoundError as exc:
        raise NotFoundError(f"Service {namespace}/{t.service} not found (spec.target.service)") from exc
    template_labels: dict[str, str] = (
        workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
    )
    selector: dict[str, str] = service.get("spec", {}).get("selector") or {}
    if not selector:
        raise InputError(f"Service {namespace}/{t.service} has no selector, so it does not route to {t.kind} {t.name}")
    mismatched = {k: v for k, v in selector.items() if template_labels.get(k) != v}
    if mismatched:
        wanted = ",".join(f"{k}={v}" for k, v in mismatched.items())
        raise InputError(
            f"Service {namespace}/{t.service} selects {wanted}, which the pods of {t.kind} {t.name} do not carry"
        )
    ports = service.get("spec", {}).get("ports") or []
    port = next((p for p in ports if int(p.get("port", 0)) == t.port), None)
    if port is None:
        have = ", ".join(str(p.get("port")) for p in ports) or "none"
        raise InputError(f"Service {namespace}/{t.service} has no port {t.port} (spec.target.port; it has {have})")
    target_port: int | str = port.get("targetPort", port["port"])
    if isinstance(target_port, str) and target_port.isdigit():
        target_port = int(target_port)
    containers = _serving_containers(workload.get("spec", {}).get("template", {}).get("spec") or {})
    container_port: int | None = None
    for container in containers:
        for cp in container.get("ports") or []:
            if container_port is None and (cp.get("name") == target_port or cp.get("containerPort") == target_port):
                container_port = int(cp["containerPort"])
    if isinstance(target_port, str) and container_port is None:
        raise InputError(
            f"Service {namespace}/{t.service} port {t.port} targets the port named {target_port!r}, "
            f"which no container or native sidecar of {t.kind} {t.name} declares"
        )
    match_labels = workload.get("spec", {}).get("selector", {}).get("matchLabels") or template_labels
    replicas = int(workload.get("spec", {}).get("replicas", 1) or 0)
    return Target(
        kind=t.kind,
        name=t.name,
        namespace=namespace,
        workload=workload,
        service=service,
        service_port=t.port,
        target_port=target_port,
        container_port=container_port,
        pod_selector=",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        replicas=replicas,
        max_unavailable=_max_unavailable(workload, replicas),
    )
