"""The data plane's view of the cluster: Services and EndpointSlices folded into routes.

A *route* is one TCP port of one Service's ClusterIP and the endpoints behind it, with their
EndpointSlice conditions. Pure data, no I/O: the watcher feeds raw API objects in (late, see
`endpoints.py`), the listeners read routes out (`kubeproxy.py`, `ingress.py`).

Kubernetes facts this follows (K8S-SEMANTICS.md §4):

- a nil `ready` or `serving` condition means true, a nil `terminating` means false;
- an EndpointSlice port is named after the Service port and carries the resolved target port,
  so a Service port finds its backend port by name in the slices; a numeric `targetPort` (or
  a slice port named after a named `targetPort`) is the fallback;
- consumers use an endpoint's first address; the same address in two slices counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Backend", "Change", "EndpointTable", "Route", "RouteKey"]

RouteKey = tuple[str, int]
"""(ClusterIP, Service port): where a listener sits."""

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Backend:
    """One endpoint of a Service port: the pod's address and its EndpointSlice conditions."""

    ip: str
    port: int
    pod: str | None = None
    ready: bool = True
    serving: bool = True
    terminating: bool = False


@dataclass(frozen=True)
class Route:
    """One Service port on its ClusterIP and the endpoints behind it."""

    namespace: str
    service: str
    cluster_ip: str
    port: int
    port_name: str = ""
    backends: tuple[Backend, ...] = ()
    ready: tuple[Backend, ...] = field(init=False, repr=False, compare=False)
    fallback: tuple[Backend, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ready", tuple(b for b in self.backends if b.ready))
        object.__setattr__(self, "fallback", tuple(b for b in self.backends if b.serving and b.terminating))

    @property
    def key(self) -> RouteKey:
        return (self.cluster_ip, self.port)

    def kube_proxy_candidates(self) -> tuple[Backend, ...]:
        """Ready endpoints; when there are none, the serving-and-terminating ones (as kube-proxy)."""
        return self.ready or self.fallback


ChangeType = Literal["ADDED", "MODIFIED", "DELETED", "RESYNC"]
ChangeKind = Literal["Service", "EndpointSlice", "Pod"]


@dataclass(frozen=True)
class Change:
    """One watch event (or, for `RESYNC`, a fresh list replacing every object of the kind)."""

    kind: ChangeKind
    type: ChangeType
    objects: tuple[Mapping[str, Any], ...]


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@dataclass(frozen=True)
class _ServicePort:
    name: str
    port: int
    target: int | str | None


@dataclass(frozen=True)
class _Service:
    cluster_ip: str
    ports: tuple[_ServicePort, ...]


@dataclass(frozen=True)
class _Endpoint:
    ip: str
    pod: str | None
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True)
class _Slice:
    service: tuple[str, str]
    ports: Mapping[str, int]
    endpoints: tuple[_Endpoint, ...]


def _parse_service(obj: Mapping[str, Any]) -> _Service | None:
    spec = obj.get("spec") or {}
    ip = spec.get("clusterIP")
    if not isinstance(ip, str) or not ip or ip == "None":
        return None
    ports = []
    for p in spec.get("ports") or ():
        if (p.get("protocol") or "TCP") != "TCP" or not isinstance(p.get("port"), int):
            continue
        target = p.get("targetPort")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        ports.append(_ServicePort(str(p.get("name") or ""), int(p["port"]), target))
    return _Service(ip, tuple(ports))


def _condition(conditions: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = conditions.get(name)
    return default if value is None else bool(value)


def _parse_slice(obj: Mapping[str, Any]) -> _Slice | None:
    meta = obj.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service or obj.get("addressType", "IPv4") != "IPv4":
        return None
    ports = {
        str(p.get("name") or ""): int(p["port"])
        for p in obj.get("ports") or ()
        if isinstance(p.get("port"), int) and (p.get("protocol") or "TCP") == "TCP"
    }
    endpoints = []
    for e in obj.get("endpoints") or ():
        addresses = e.get("addresses") or ()
        if not addresses:
            continue
        cond = e.get("conditions") or {}
        ref = e.get("targetRef") or {}
        endpoints.append(
            _Endpoint(
                ip=str(addresses[0]),
                pod=ref.get("name"),
                ready=_condition(cond, "ready", default=True),
                serving=_condition(cond, "serving", default=True),
                terminating=_condition(cond, "terminating", default=False),
            )
        )
    return _Slice((str(meta.get("namespace") or ""), str(service)), ports, tuple(endpoints))


def _parse_gated(obj: Mapping[str, Any]) -> bool | None:
    return True if (obj.get("spec") or {}).get("readinessGates") else None


def _backend_port(sp: _ServicePort, sl: _Slice) -> int | None:
    if sp.name in sl.ports:
        return sl.ports[sp.name]
    if isinstance(sp.target, str) and sp.target in sl.ports:
        return sl.ports[sp.target]
    if isinstance(sp.target, int):
        return sp.target
    if sp.target is None and not sl.ports:
        return sp.port
    return None


class EndpointTable:
    """Services and EndpointSlices as last applied, and the routes they make."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, str], _Service] = {}
        self._slices: dict[tuple[str, str], _Slice] = {}
        self._gated: dict[tuple[str, str], bool] = {}

    def gated(self, namespace: str, pod: str | None) -> bool:
        """Does the pod list `spec.readinessGates`? Only known when Pods are fed in."""
        return pod is not None and (namespace, pod) in self._gated

    def apply(self, change: Change) -> None:
        """Fold one change in; objects the data plane cannot use are dropped."""
        if change.kind == "Service":
            self._fold(self._services, change, _parse_service)
        elif change.kind == "Pod":
            self._fold(self._gated, change, _parse_gated)
        else:
            self._fold(self._slices, change, _parse_slice)

    @staticmethod
    def _fold(store: dict[tuple[str, str], Any], change: Change, parse: Any) -> None:
        if change.type == "RESYNC":
            store.clear()
        for obj in change.objects:
            key = _key(obj)
            parsed = None if change.type == "DELETED" else parse(obj)
            if parsed is None:
                store.pop(key, None)
            else:
                store[key] = parsed

    def routes(self) -> dict[RouteKey, Route]:
        """Every (ClusterIP, port) with its endpoints, from the state applied so far."""
        by_service: dict[tuple[str, str], list[_Slice]] = {}
        for sl in self._slices.values():
            by_service.setdefault(sl.service, []).append(sl)
        routes: dict[RouteKey, Route] = {}
        for (ns, name), svc in self._services.items():
            slices = by_service.get((ns, name), [])
            for sp in svc.ports:
                route = Route(ns, name, svc.cluster_ip, sp.port, sp.name, tuple(_backends(sp, slices)))
                routes.setdefault(route.key, route)
        return routes


def _backends(sp: _ServicePort, slices: Iterable[_Slice]) -> Iterable[Backend]:
    seen: set[tuple[str, int]] = set()
    for sl in slices:
        port = _backend_port(sp, sl)
        if port is None:
            continue
        for e in sl.endpoints:
            if (e.ip, port) in seen:
                continue
            seen.add((e.ip, port))
            yield Backend(e.ip, port, e.pod, e.ready, e.serving, e.terminating)
