"""The EndpointSlice controller, and the legacy v1 Endpoints beside it (K8S-SEMANTICS.md §4).

Restated from kubernetes/endpointslice (`reconciler.go`, `utils.go`) and the endpoints controller:
per Service with a selector, every matching pod that is not terminal and has an IPv4 address is an
endpoint with `serving = Ready`, `terminating = deletionTimestamp set` and
`ready = publishNotReadyAddresses or (serving and not terminating)`. Endpoints are grouped into
slices by their resolved ports (a named targetPort can resolve differently per pod), at most 100 per
slice; a slice that loses its last endpoint is deleted, and a Service with no endpoint keeps one
placeholder slice (no ports, `endpoints: null` on the wire). Pods follow their **Ready** condition,
not a Deployment's availability: minReadySeconds never delays an endpoint.

Every terminating pod is published as `terminating` before its endpoint goes. The real controller
syncs a Service from its informer cache each time a pod update is queued, within milliseconds, and
a real kubelet deletes a pod only once its sandbox is torn down and the terminal phase it wrote has
come back through its pod watch (status manager `canBeDeleted`). This controller reads the store's
changes in batches, and on a busy sandbox one batch could hold a pod's deletion *and* its removal,
which one sync from the final state would fold into "gone" (no `terminating` ever). `sync_before`
syncs the Service at the pod's last terminating state before taking in the change that ends its
endpoint.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.controllers.loop import Controller, Key
from nonstop.sandbox.controllers.objects import (
    ENDPOINTS,
    ENDPOINTSLICES,
    PODS,
    SERVICES,
    controller_ref_to,
    is_pod_ready,
    is_terminal,
    namespace_open,
    random_suffix,
)
from nonstop.sandbox.store import Change, Obj

__all__ = [
    "MANAGED_BY",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME",
    "EndpointSliceController",
    "endpoint_ports",
    "pod_to_endpoint",
]

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"
MAX_ENDPOINTS_PER_SLICE = 100

PortKey = tuple[tuple[str, int, str, str], ...]


def _ipv4(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    candidates = [status.get("podIP")] + [entry.get("ip") for entry in status.get("podIPs") or []]
    for ip in candidates:
        if not ip:
            continue
        try:
            if isinstance(ipaddress.ip_address(ip), ipaddress.IPv4Address):
                return str(ip)
        except ValueError:
            continue
    return None


def _find_port(pod: Obj, service_port: Obj) -> int | None:
    """`FindPort`: a numeric targetPort as is; a name looked up among the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or []), *sidecars]:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                value = port.get("containerPort")
                return int(value) if value is not None else None
    return None


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """`getEndpointPorts`: the Service's ports resolved for this pod (unresolvable ones left out)."""
    ports: list[Obj] = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = _find_port(pod, service_port)
        if number is None:
            continue
        entry: Obj = {
            "name": service_port.get("name") or "",
            "port": number,
            "protocol": service_port.get("protocol") or "TCP",
        }
        if service_port.get("appProtocol"):
            entry["appProtocol"] = service_port["appProtocol"]
        ports.append(entry)
    return ports


def pod_to_endpoint(service: Obj, pod: Obj, ip: str) -> Obj:
    """`podToEndpoint`: addresses, conditions (ready/serving/terminating), targetRef, nodeName, hostname."""
    serving = is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Obj = {
        "addresses": [ip],
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": pod["metadata"].get("namespace"),
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"].get("uid"),
        },
    }
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        endpoint["hostname"] = spec["hostname"]
    return endpoint


def _port_key(ports: list[Obj] | None) -> PortKey:
    return tuple(
        sorted(
            (p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP", p.get("appProtocol") or "")
            for p in ports or []
        )
    )


def _selector(service: Obj) -> dict[str, str] | None:
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return None
    return dict(selector)


def _matches(selector: dict[str, str], pod: Obj | None) -> bool:
    if pod is None:
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _member(pod: Obj) -> bool:
    """`ShouldPodBeInEndpoints` with terminating pods included: an IPv4 address and not terminal."""
    return _ipv4(pod) is not None and not is_terminal(pod)


def _relevant(prev: Obj | None, obj: Obj) -> bool:
    """Whether a pod change can change an endpoint (status noise like restart counts cannot)."""
    if prev is None:
        return True

    def view(pod: Obj) -> Any:
        status = pod.get("status") or {}
        spec = pod.get("spec") or {}
        return (
            pod["metadata"].get("labels"),
            pod["metadata"].get("deletionTimestamp"),
            status.get("podIP"),
            status.get("podIPs"),
            status.get("phase"),
            is_pod_ready(pod),
            spec.get("nodeName"),
            spec.get("hostname"),
            spec.get("subdomain"),
            [c.get("ports") for c in spec.get("containers") or []],
        )

    return bool(view(prev) != view(obj))


class EndpointSliceController(Controller[Key]):
    """Keeps each selector Service's EndpointSlices (and v1 Endpoints) equal to its matching pods."""

    name = "endpointslice-controller"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._selectors: dict[Key, dict[str, str]] = {}
        self._own_rvs: set[str] = set()
        # namespace → name → pod, kept from the change stream like an informer's cache (the objects
        # are the store's change records: read, never modified), so a sync copies nothing
        self._pods: dict[str, dict[str, Obj]] = {}
        # Service → uids of the pods its last sync published as terminating
        self._terminating: dict[Key, set[str]] = {}

    def all_keys(self) -> Iterable[Key]:
        self._pods = {}
        for pod in self.store.list(PODS)[0]:
            self._pods.setdefault(pod["metadata"]["namespace"], {})[pod["metadata"]["name"]] = pod
        items, _ = self.store.list(SERVICES)
        self._selectors = {}
        for svc in items:
            key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
            selector = _selector(svc)
            if selector is not None:
                self._selectors[key] = selector
        return [(svc["metadata"]["namespace"], svc["metadata"]["name"]) for svc in items]

    def keys_for(self, change: Change) -> Iterable[Key]:
        obj = change.obj
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if change.kind is SERVICES:
            key = (namespace, meta["name"])
            selector = _selector(obj) if change.type != "DELETED" else None
            if selector is None:
                self._selectors.pop(key, None)
            else:
                self._selectors[key] = selector
            return [key]
        if change.kind is PODS:
            cached = self._pods.setdefault(namespace, {})
            if change.type == "DELETED":
                cached.pop(meta["name"], None)
            else:
                cached[meta["name"]] = obj
            if change.type != "DELETED" and not _relevant(change.prev, obj):
                return []
            return [
                key
                for key, selector in self._selectors.items()
                if key[0] == namespace and (_matches(selector, obj) or _matches(selector, change.prev))
            ]
        if change.kind is ENDPOINTSLICES or change.kind is ENDPOINTS:
            if meta.get("resourceVersion") in self._own_rvs:
                self._own_rvs.discard(meta["resourceVersion"])
                return []
            labels = meta.get("labels") or {}
            if change.kind is ENDPOINTSLICES:
                if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME):
                    return []
                return [(namespace, labels[SERVICE_NAME])]
            return [(namespace, meta["name"])]
        return []

    def sync_before(self, change: Change) -> Iterable[Key]:
        """The Services of a terminating pod whose endpoint this change ends (deleted, terminal, no
        address, out of the selector) and that never published it terminating: synced first, from
        the cache as it stands before the change.
        """
        if change.kind is not PODS:
            return []
        meta = change.obj["metadata"]
        namespace = meta.get("namespace", "")
        before = self._pods.get(namespace, {}).get(meta["name"])
        if before is None or not before["metadata"].get("deletionTimestamp") or not _member(before):
            return []
        after = None if change.type == "DELETED" or not _member(change.obj) else change.obj
        uid = str(before["metadata"].get("uid"))
        return [
            key
            for key, selector in self._selectors.items()
            if key[0] == namespace
            and _matches(selector, before)
            and not _matches(selector, after)
            and uid not in self._terminating.get(key, ())
        ]

    def _remember(self, obj: Obj) -> None:
        self._own_rvs.add(obj["metadata"]["resourceVersion"])
        if len(self._own_rvs) > 10_000:
            self._own_rvs.clear()

    # -- one Service ------------------------------------------------------------------------------

    def sync(self, key: Key) -> float | None:
        namespace, name = key
        service = self.store.find(SERVICES, namespace, name)
        selector = _selector(service) if service is not None else None
        if service is None or selector is None:
            self._terminating.pop(key, None)
            if service is None:
                self._delete_legacy(namespace, name)
            return None  # slices of a deleted Service go with it (ownerReferences); selector-less ones are the user's
        pods = [p for p in self._pods.get(namespace, {}).values() if _matches(selector, p)]
        members: list[tuple[Obj, str]] = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            ip = _ipv4(pod)
            if ip is None or is_terminal(pod):
                continue
            members.append((pod, ip))
        self._reconcile_slices(service, members)
        self._reconcile_legacy(service, members)
        self._terminating[key] = {
            str(pod["metadata"].get("uid")) for pod, _ in members if pod["metadata"].get("deletionTimestamp")
        }
        return None

    def _reconcile_slices(self, service: Obj, members: list[tuple[Obj, str]]) -> None:  # noqa: C901, PLR0912 — restates the EndpointSlice reconciler's cases
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        desired: dict[PortKey, tuple[list[Obj], dict[str, Obj]]] = {}
        for pod, ip in members:
            ports = endpoint_ports(service, pod)
            bucket = desired.setdefault(_port_key(ports), (ports, {}))
            bucket[1][str(pod["metadata"].get("uid"))] = pod_to_endpoint(service, pod, ip)
        existing = [
            s
            for s in self.store.list(ENDPOINTSLICES, namespace)[0]
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]
        by_ports: dict[PortKey, list[Obj]] = {}
        for slice_ in sorted(existing, key=lambda s: s["metadata"]["name"]):
            by_ports.setdefault(_port_key(slice_.get("ports")), []).append(slice_)
        labels = self._labels(service)
        to_delete = [s for key, slices in by_ports.items() if key not in desired for s in slices]
        to_write: list[Obj] = []
        to_create: list[Obj] = []
        for key, (ports, wanted) in desired.items():
            placed: set[str] = set()
            kept: list[Obj] = []
            for slice_ in by_ports.get(key, []):
                endpoints = []
                for endpoint in slice_.get("endpoints") or []:
                    uid = str((endpoint.get("targetRef") or {}).get("uid"))
                    if uid in wanted and uid not in placed:
                        endpoints.append(wanted[uid])
                        placed.add(uid)
                kept.append({**slice_, "endpoints": endpoints})
            leftovers = [ep for uid, ep in wanted.items() if uid not in placed]
            for slice_ in kept:
                room = MAX_ENDPOINTS_PER_SLICE - len(slice_["endpoints"])
                if leftovers and room > 0 and slice_["endpoints"]:
                    slice_["endpoints"] = slice_["endpoints"] + leftovers[:room]
                    leftovers = leftovers[room:]
            for slice_ in kept:
                if slice_["endpoints"]:
                    to_write.append(slice_)
                else:
                    to_delete.append(slice_)
            while leftovers:
                to_create.append(self._new_slice(service, labels, ports, leftovers[:MAX_ENDPOINTS_PER_SLICE]))
                leftovers = leftovers[MAX_ENDPOINTS_PER_SLICE:]
        if not to_write and not to_create:  # nothing left: one placeholder slice keeps existing
            placeholder = next((s for s in to_delete if not s.get("ports") and not s.get("endpoints")), None)
            if placeholder is not None:
                to_delete = [s for s in to_delete if s is not placeholder]
                to_write.append({**placeholder, "endpoints": []})
            else:
                to_create.append(self._new_slice(service, labels, None, []))
        for slice_ in to_write:
            self._write_slice(slice_, labels)
        for slice_ in to_create:
            self._create_slice(slice_)
        for slice_ in to_delete:
            try:
                self._remember(self.store.remove(ENDPOINTSLICES, namespace, slice_["metadata"]["name"]))
            except ApiError as exc:
                if exc.code != 404:
                    raise

    @staticmethod
    def _labels(service: Obj) -> dict[str, str]:
        labels = dict(service["metadata"].get("labels") or {})
        labels[SERVICE_NAME] = service["metadata"]["name"]
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        return labels

    @staticmethod
    def _new_slice(service: Obj, labels: dict[str, str], ports: list[Obj] | None, endpoints: list[Obj]) -> Obj:
        name = service["metadata"]["name"]
        return {
            "metadata": {
                "generateName": f"{name}-",
                "namespace": service["metadata"]["namespace"],
                "labels": dict(labels),
                "ownerReferences": [controller_ref_to(service)],
            },
            "addressType": "IPv4",
            "ports": copy.deepcopy(ports),
            "endpoints": endpoints,
        }

    def _write_slice(self, slice_: Obj, labels: dict[str, str]) -> None:
        endpoints = slice_["endpoints"]

        def update(obj: Obj) -> None:
            obj["endpoints"] = endpoints
            obj["metadata"]["labels"] = dict(labels)

        meta = slice_["metadata"]
        current = self.store.find(ENDPOINTSLICES, meta["namespace"], meta["name"])
        if current is None:
            return
        before = current["metadata"]["resourceVersion"]
        written = self.store.mutate(ENDPOINTSLICES, meta["namespace"], meta["name"], update)
        if written["metadata"]["resourceVersion"] != before:
            self._remember(written)

    def _create_slice(self, slice_: Obj) -> None:
        if not namespace_open(self.store, slice_["metadata"]["namespace"]):
            return
        prefix = slice_["metadata"]["generateName"]
        for _ in range(10):
            slice_["metadata"]["name"] = prefix + random_suffix()
            try:
                self._remember(self.store.create(ENDPOINTSLICES, slice_))
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
            else:
                return

    # -- legacy v1 Endpoints ----------------------------------------------------------------------

    def _reconcile_legacy(self, service: Obj, members: list[tuple[Obj, str]]) -> None:  # noqa: C901 — restates the endpoints controller's cases
        """The endpoints controller: ready pods in `addresses`, unready in `notReadyAddresses`,
        terminating pods dropped (all pods in `addresses` with publishNotReadyAddresses).
        """
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        subsets: dict[PortKey, Obj] = {}
        for pod, ip in members:
            if pod["metadata"].get("deletionTimestamp") and not publish:
                continue
            ports = endpoint_ports(service, pod)
            subset = subsets.setdefault(_port_key(ports), {"ports": ports})
            address: Obj = {
                "ip": ip,
                "targetRef": {
                    "kind": "Pod",
                    "namespace": namespace,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"].get("uid"),
                },
            }
            if (pod.get("spec") or {}).get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            field = "addresses" if publish or is_pod_ready(pod) else "notReadyAddresses"
            subset.setdefault(field, []).append(address)
        ordered = []
        for key in sorted(subsets):
            subset = subsets[key]
            for field in ("addresses", "notReadyAddresses"):
                if field in subset:
                    subset[field].sort(key=lambda a: a["ip"])
            ordered.append({k: subset[k] for k in ("addresses", "notReadyAddresses", "ports") if k in subset})
        labels = dict(service["metadata"].get("labels") or {})
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        current = self.store.find(ENDPOINTS, namespace, name)
        if current is None and not namespace_open(self.store, namespace):
            return
        if current is None:
            body: Obj = {"metadata": {"name": name, "namespace": namespace}}
            if labels:
                body["metadata"]["labels"] = labels
            if ordered:
                body["subsets"] = ordered
            try:
                self._remember(self.store.create(ENDPOINTS, body))
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
            return

        def update(obj: Obj) -> None:
            if ordered:
                obj["subsets"] = ordered
            else:
                obj.pop("subsets", None)
            if labels:
                obj["metadata"]["labels"] = labels
            else:
                obj["metadata"].pop("labels", None)

        before = current["metadata"]["resourceVersion"]
        written = self.store.mutate(ENDPOINTS, namespace, name, update)
        if written["metadata"]["resourceVersion"] != before:
            self._remember(written)

    def _delete_legacy(self, namespace: str, name: str) -> None:
        try:
            self._remember(self.store.remove(ENDPOINTS, namespace, name))
        except ApiError as exc:
            if exc.code != 404:
                raise
