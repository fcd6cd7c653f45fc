"""Defaults the API server fills in on every write, and the validation it does (K8S-SEMANTICS.md §1.1, §5).

Kept apart from the registry so the rules read as a list: what Kubernetes' `SetDefaults_*`
functions set for pods, pod templates, Deployments, ReplicaSets, Services and Namespaces, and the
validation messages nonstop's users meet (the both-zero rolling update, a selector that does not
match its template).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from nonstop.sandbox.apierrors import ApiError, invalid
from nonstop.sandbox.ipam import AddressRangeExhausted, IpAllocator
from nonstop.sandbox.kinds import Kind
from nonstop.toolkit.objects import Obj

__all__ = ["ClusterIPAllocator", "apply_defaults", "default_status", "validate"]


_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_PERCENT = re.compile(r"^(\d+)%$")
_RBAC = "rbac.authorization.k8s.io"


def _default_probe(probe: Obj | None) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in _PROBE_DEFAULTS.items():
        probe.setdefault(key, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _default_container(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest and "@" not in tag else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        _default_probe(container.get(probe))
    lifecycle = container.get("lifecycle") or {}
    for hook in ("preStop", "postStart"):
        http = (lifecycle.get(hook) or {}).get("httpGet")
        if isinstance(http, dict):
            http.setdefault("scheme", "HTTP")


def default_pod_spec(spec: Obj) -> None:
    """Pod spec defaults: restart policy, grace period 30 s, DNS, scheduler, per-container defaults."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _default_container(container)


def _default_template(obj: Obj) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}))


class ClusterIPAllocator:
    """Hands out Service ClusterIPs from a loopback range (the data plane listens there).

    Several sandboxes on one machine (parallel tests, a demo beside CI) share 127.0.0.0/8 and each
    data plane listens on its ClusterIPs, so addresses come from an `IpAllocator` whose machine-wide
    locks keep two live sandboxes off the same address (the kubelet does the same for pod IPs).
    """

    def __init__(self, cidr: str = "127.20.0.0/16", *, lock_dir: Path | None = None) -> None:
        self._network = ipaddress.IPv4Network(cidr)
        self._pool = IpAllocator(self._network, lock_dir=lock_dir, what="cluster")

    def reserve(self, ip: str) -> None:
        self._pool.claim(ip, owner=ip)

    def release(self, ip: str) -> None:
        self._pool.release(owner=ip)

    def allocate(self) -> str:
        try:
            return self._pool.allocate()
        except AddressRangeExhausted as exc:
            raise ApiError(500, "InternalError", f"no ClusterIP left in {self._network}") from exc

    def contains(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in self._network
        except ValueError:
            return False


def apply_defaults(kind: Kind, obj: Obj) -> None:
    """Fill in what the real API server defaults for this kind (in place); idempotent."""
    spec = obj.get("spec")
    if kind.resource == "pods":
        spec = obj.setdefault("spec", {})
        default_pod_spec(spec)
        # the ServiceAccount admission plugin's doing on a real server, for pods only (not templates)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", "BestEffort")
    elif kind.resource == "deployments":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _default_template(obj)
        obj.setdefault("status", {})
    elif kind.resource in ("replicasets", "statefulsets"):
        obj.setdefault("spec", {}).setdefault("replicas", 1)
        _default_template(obj)
        obj.setdefault("status", {}).setdefault("replicas", 0)
    elif kind.resource == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {}).setdefault("loadBalancer", {})
    elif kind.resource == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
    elif kind.resource == "endpointslices":
        obj.setdefault("addressType", "IPv4")
    elif kind.resource == "poddisruptionbudgets":
        obj.setdefault("spec", {})
    elif kind.resource == "events" and kind.group == "":
        obj.setdefault("involvedObject", {})
    elif kind.resource in ("rolebindings", "clusterrolebindings"):
        _default_binding(obj)


def _default_binding(obj: Obj) -> None:
    """rbac/v1 `SetDefaults_RoleBinding` and `SetDefaults_Subject`: the roleRef's and User/Group subjects' apiGroup."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = _RBAC
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = _RBAC


def default_status(kind: Kind, obj: Obj) -> None:
    """Status fields the official client's models require (K8S-SEMANTICS.md §6a), after a /status write."""
    status = obj.get("status")
    if not isinstance(status, dict):
        return
    if kind.resource in ("replicasets", "statefulsets"):
        status.setdefault("replicas", 0)
    elif kind.resource == "pods":
        for field in ("containerStatuses", "initContainerStatuses"):
            for cs in status.get(field) or []:
                if isinstance(cs, dict):
                    cs.setdefault("imageID", "")
                    cs.setdefault("ready", False)
                    cs.setdefault("restartCount", 0)


def _is_zero(value: Any) -> bool:
    return value in (0, "0%", "0") and not isinstance(value, bool)


def _int_or_percent_error(value: Any) -> str | None:
    if isinstance(value, bool):
        return "must be an integer or percentage (e.g '5%')"
    if isinstance(value, int):
        return "must be greater than or equal to 0" if value < 0 else None
    if isinstance(value, str):
        return (
            None
            if _PERCENT.match(value)
            else "a valid percent string must be a numeric string followed by an ending '%'"
        )
    return "must be an integer or percentage (e.g '5%')"


def _binding_causes(kind: Kind, obj: Obj, old: Obj | None) -> list[tuple[str, str]]:
    """k/k `ValidateRoleBinding` / `ValidateClusterRoleBinding` for the roleRef, and its `...Update`."""
    found = obj.get("roleRef")
    ref: Obj = found if isinstance(found, dict) else {}
    kinds = ["ClusterRole"] if kind.kind == "ClusterRoleBinding" else ["Role", "ClusterRole"]
    causes: list[tuple[str, str]] = []
    if ref.get("apiGroup") != _RBAC:
        group = ref.get("apiGroup", "")
        causes.append(("roleRef.apiGroup", f'Unsupported value: "{group}": supported values: "{_RBAC}"'))
    if ref.get("kind") not in kinds:
        supported = ", ".join(f'"{k}"' for k in kinds)
        causes.append(("roleRef.kind", f'Unsupported value: "{ref.get("kind", "")}": supported values: {supported}'))
    if not ref.get("name"):
        causes.append(("roleRef.name", "Required value"))
    if old is not None and (old.get("roleRef") or {}) != ref:
        fields = (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
        shown = ", ".join(f'{go}:"{ref.get(key, "")}"' for go, key in fields)
        causes.append(("roleRef", f"Invalid value: rbac.RoleRef{{{shown}}}: cannot change roleRef"))
    return causes


def validate(kind: Kind, obj: Obj, old: Obj | None = None) -> None:  # noqa: C901, PLR0912 — one branch per validation rule users meet, as Kubernetes lists them
    """Raise 422 Invalid the way Kubernetes does for the rules nonstop's users meet (`old`: the object updated)."""
    name = obj.get("metadata", {}).get("name", "")
    causes: list[tuple[str, str]] = []
    if kind.resource in ("rolebindings", "clusterrolebindings"):
        causes += _binding_causes(kind, obj, old)
    if kind.resource in ("deployments", "replicasets", "statefulsets"):
        spec = obj.get("spec") or {}
        selector = spec.get("selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            causes.append(("spec.selector", "Required value"))
        else:
            wanted = selector.get("matchLabels") or {}
            if not wanted and not selector.get("matchExpressions"):
                causes.append(("spec.selector", 'Invalid value: "null": empty selector is invalid for deployment'))
            elif any(labels.get(k) != v for k, v in wanted.items()):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        f"Invalid value: {labels!r}: `selector` does not match template `labels`",
                    )
                )
        if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
            causes.append(("spec.template.spec.containers", "Required value"))
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
    if kind.resource == "deployments":
        spec = obj.get("spec") or {}
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
            causes.append(
                ("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")
            )
        rolling = strategy.get("rollingUpdate") or {}
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        for field, value in (("maxSurge", surge), ("maxUnavailable", unavailable)):
            if value is not None and (problem := _int_or_percent_error(value)):
                causes.append((f"spec.strategy.rollingUpdate.{field}", f"Invalid value: {value!r}: {problem}"))
        match = _PERCENT.match(str(unavailable)) if isinstance(unavailable, str) else None
        if match and int(match.group(1)) > 100:
            causes.append(
                (
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    f'Invalid value: "{unavailable}": must not be greater than 100%',
                )
            )
        if surge is not None and unavailable is not None and _is_zero(surge) and _is_zero(unavailable):
            shown = f'"{unavailable}"' if isinstance(unavailable, str) else str(unavailable)
            causes.append(
                (
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    f"Invalid value: {shown}: may not be 0 when `maxSurge` is 0",
                )
            )
        deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
        if isinstance(deadline, int) and deadline <= min_ready:
            causes.append(
                (
                    "spec.progressDeadlineSeconds",
                    f"Invalid value: {deadline}: must be greater than minReadySeconds",
                )
            )
    if kind.resource == "pods" and not (obj.get("spec") or {}).get("containers"):
        causes.append(("spec.containers", "Required value"))
    if kind.resource == "services":
        for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{i}].port", "Required value"))
    if causes:
        raise invalid(kind.kind, kind.group, name, causes)
