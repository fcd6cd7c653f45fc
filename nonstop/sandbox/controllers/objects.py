"""What every controller reads from objects: kinds, pod readiness and availability, owner references."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from nonstop.sandbox.kinds import Kind, by_resource
from nonstop.sandbox.store import Obj, Store
from nonstop.toolkit.selectors import matches_label_selector
from nonstop.toolkit.times import try_parse_time

__all__ = [
    "DEPLOYMENTS",
    "ENDPOINTS",
    "ENDPOINTSLICES",
    "NAMESPACES",
    "PODS",
    "REPLICASETS",
    "SERVICES",
    "controller_ref",
    "controller_ref_to",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "is_terminal",
    "namespace_open",
    "owner_keys",
    "random_suffix",
    "ready_since",
    "selects",
]


def _kind(group: str, version: str, resource: str) -> Kind:
    kind = by_resource(group, version, resource)
    if kind is None:  # pragma: no cover - kinds.py lists every one of these
        raise LookupError(resource)
    return kind


PODS = _kind("", "v1", "pods")
SERVICES = _kind("", "v1", "services")
ENDPOINTS = _kind("", "v1", "endpoints")
NAMESPACES = _kind("", "v1", "namespaces")
DEPLOYMENTS = _kind("apps", "v1", "deployments")
REPLICASETS = _kind("apps", "v1", "replicasets")
ENDPOINTSLICES = _kind("discovery.k8s.io", "v1", "endpointslices")

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet (no vowels)


def random_suffix(length: int = 5) -> str:
    """The random tail the API server appends to a `generateName`."""
    return "".join(random.choice(_NAME_CHARS) for _ in range(length))


def _ready_condition(pod: Obj) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            cond: Obj = condition
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    """`IsPodReady`: the pod's Ready condition is True."""
    condition = _ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Obj) -> datetime | None:
    """When the Ready condition last became True (None when not ready or unknown)."""
    condition = _ready_condition(pod)
    if condition is None or condition.get("status") != "True":
        return None
    return try_parse_time(condition.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """`IsPodAvailable`: Ready, and Ready for at least minReadySeconds (K8S-SEMANTICS.md §1.4)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def is_terminal(pod: Obj) -> bool:
    """Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_pod_active(pod: Obj) -> bool:
    """`IsPodActive`: neither terminal nor terminating."""
    return not is_terminal(pod) and not pod["metadata"].get("deletionTimestamp")


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            found: Obj = ref
            return found
    return None


def controller_ref_to(owner: Obj) -> Obj:
    """A controller ownerReference pointing at `owner` (`metav1.NewControllerRef`)."""
    return {
        "apiVersion": owner.get("apiVersion"),
        "kind": owner.get("kind"),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selects(selector: Any, labels: dict[str, str] | None) -> bool:
    """Whether a `metav1.LabelSelector` selects `labels`; an empty or missing one selects nothing here.

    (Workload controllers refuse empty selectors, so treating them as "nothing" avoids adopting the world.)
    """
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return matches_label_selector(selector, labels)


def owner_keys(
    store: Store, dependent: Obj, prev: Obj | None, owner: Kind, *, orphans_while_terminating: bool = True
) -> set[tuple[str, str]]:
    """The (namespace, name) of each `owner`-kind object a dependent's change concerns.

    Both versions of the dependent count (an owner it left must look again): its controller
    reference when it has one, else every owner whose selector picks it (an orphan to adopt).
    """
    namespace = dependent["metadata"].get("namespace", "")
    keys: set[tuple[str, str]] = set()
    for version in (dependent, prev):
        if version is None:
            continue
        ref = controller_ref(version)
        if ref is not None:
            if ref.get("kind") == owner.kind:
                keys.add((namespace, ref["name"]))
        elif orphans_while_terminating or not version["metadata"].get("deletionTimestamp"):
            labels = version["metadata"].get("labels")
            items, _ = store.list(owner, namespace)
            keys.update(
                (namespace, o["metadata"]["name"])
                for o in items
                if selects((o.get("spec") or {}).get("selector"), labels)
            )
    return keys


def namespace_open(store: Store, namespace: str) -> bool:
    """Whether new objects may be created in the namespace (it exists and is not terminating)."""
    ns = store.find(NAMESPACES, None, namespace)
    return ns is not None and not ns["metadata"].get("deletionTimestamp")
