"""How server-side apply sees the lists and maps of the kinds the sandbox serves.

A list is *atomic* (replaced whole, owned as one field) unless Kubernetes' types say otherwise:
`+listType=map` with `+listMapKey`s (items merged and owned by their keys, `k:{...}` in
FieldsV1), `+listType=set` (primitive items owned one by one, `v:...`), or the older
`patchStrategy=merge` (with `patchMergeKey`: a map keyed by it; without: a set), which the
apiserver's schema conversion reads the same way. A map is granular (each key its own field)
unless marked `+mapType=atomic` / `+structType=atomic` (label selectors, Service and pod
`selector`s). These are facts of Kubernetes v1.33's `k8s.io/api` types, restated here for the
fields the sandbox serves; anything not listed is what the apiserver does for a field without
markers (lists atomic, maps granular), which is also what it does for a custom resource whose
schema says nothing.

Key fields may be missing from an item when the schema defaults them (a container port's
`protocol` is `TCP`): the item's key then uses the default, as the apiserver does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nonstop.sandbox.kinds import Kind

__all__ = ["ATOMIC", "GRANULAR", "Rule", "Rules", "rules_for", "zero_object"]


@dataclass(frozen=True)
class Rule:
    """`atomic`, `set`, `map` (lists keyed by `keys`) or `granular` (a map owned key by key)."""

    type: str
    keys: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)


ATOMIC = Rule("atomic")
GRANULAR = Rule("granular")
_SET = Rule("set")


def _keyed(*keys: str, **defaults: Any) -> Rule:
    return Rule("map", tuple(sorted(keys)), defaults)


Path = tuple[str, ...]
Rules = dict[Path, Rule]

_BY_NAME = _keyed("name")
_BY_TYPE = _keyed("type")

_CONTAINER: Rules = {
    ("ports",): _keyed("containerPort", "protocol", protocol="TCP"),
    ("env",): _BY_NAME,
    ("volumeMounts",): _keyed("mountPath"),
    ("volumeDevices",): _keyed("devicePath"),
    ("resources", "claims"): _BY_NAME,
}

_POD_SPEC: Rules = {
    ("volumes",): _BY_NAME,
    ("imagePullSecrets",): _BY_NAME,
    ("hostAliases",): _keyed("ip"),
    ("topologySpreadConstraints",): _keyed("topologyKey", "whenUnsatisfiable"),
    ("topologySpreadConstraints", "labelSelector"): ATOMIC,
    ("resourceClaims",): _BY_NAME,
    ("schedulingGates",): _BY_NAME,
    ("nodeSelector",): ATOMIC,
}
for _containers in ("containers", "initContainers", "ephemeralContainers"):
    _POD_SPEC[(_containers,)] = _BY_NAME
    _POD_SPEC.update({(_containers, *path): rule for path, rule in _CONTAINER.items()})

_METADATA: Rules = {
    ("metadata", "finalizers"): _SET,
    ("metadata", "ownerReferences"): _keyed("uid"),
}

_CONDITIONS: Rules = {("status", "conditions"): _BY_TYPE}


def _under(prefix: Path, rules: Rules) -> Rules:
    return {(*prefix, *path): rule for path, rule in rules.items()}


_WORKLOAD: Rules = {
    **_METADATA,
    **_CONDITIONS,
    ("spec", "selector"): ATOMIC,
    **_under(("spec", "template", "metadata"), {("finalizers",): _SET, ("ownerReferences",): _keyed("uid")}),
    **_under(("spec", "template", "spec"), _POD_SPEC),
}

_BY_KIND: dict[str, Rules] = {
    "Pod": {
        **_METADATA,
        **_CONDITIONS,
        **_under(("spec",), _POD_SPEC),
        ("status", "podIPs"): _keyed("ip"),  # hostIPs: atomic
    },
    "Service": {
        **_METADATA,
        **_CONDITIONS,
        ("spec", "ports"): _keyed("port", "protocol", protocol="TCP"),
        ("spec", "selector"): ATOMIC,
    },
    "Node": {
        **_METADATA,
        **_CONDITIONS,
        ("spec", "podCIDRs"): _SET,
        ("status", "addresses"): _BY_TYPE,
    },
    "Namespace": {**_METADATA, **_CONDITIONS},
    "ServiceAccount": {**_METADATA, ("secrets",): _BY_NAME},
    "PodDisruptionBudget": {**_METADATA, **_CONDITIONS, ("spec", "selector"): ATOMIC},
    "HorizontalPodAutoscaler": {**_METADATA, **_CONDITIONS},
    # rbac/v1: `rules`, `subjects` and `clusterRoleSelectors` are `+listType=atomic`, RoleRef `+structType=atomic`
    "Role": {**_METADATA, ("rules",): ATOMIC},
    "ClusterRole": {**_METADATA, ("rules",): ATOMIC, ("aggregationRule", "clusterRoleSelectors"): ATOMIC},
    "RoleBinding": {**_METADATA, ("subjects",): ATOMIC, ("roleRef",): ATOMIC},
    "ClusterRoleBinding": {**_METADATA, ("subjects",): ATOMIC, ("roleRef",): ATOMIC},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "Rollout": _WORKLOAD,  # Argo's CRD schema is generated from the same core/v1 pod types
}


def rules_for(kind: Kind) -> Rules:
    """The list and map rules of one kind's fields (paths of field names; list items add nothing)."""
    return _BY_KIND.get(kind.kind, _METADATA)


def zero_object(kind: Kind) -> dict[str, Any]:
    """What the apiserver compares a created object with: the kind's Go zero value.

    Structs that are not pointers exist (empty) in it, so creating an object does not own them
    as a whole (no `.` under `f:spec` of a Deployment); pointers, maps and lists do not exist.
    Custom objects start from nothing.
    """
    if kind.custom:
        return {}
    zero: dict[str, Any] = {"metadata": {}}
    if kind.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        zero["spec"] = {"template": {"metadata": {}, "spec": {}}}
        if kind.kind == "Deployment":
            zero["spec"]["strategy"] = {}
        elif kind.kind == "StatefulSet":
            zero["spec"]["updateStrategy"] = {}
    elif kind.kind == "HorizontalPodAutoscaler":
        zero["spec"] = {"scaleTargetRef": {}}
    elif kind.kind in ("Pod", "Service", "Node", "Namespace", "PodDisruptionBudget", "Lease"):
        zero["spec"] = {}
    return zero
