"""The schemas of the served kinds, generated from the official `kubernetes` Python client's models.

The client's model classes give `openapi_types`, `attribute_map`, pydantic field descriptions and
`required`, and class docstrings: a source we ship, not Kubernetes' spec files. What the models do
not carry is restated here as facts from k8s.io/api's struct tags (`patchStrategy`,
`patchMergeKey`, `+listType=map`, `+listMapKey`): `_PATCH_META` — kubectl's client-side apply
computes its strategic merge patch from them. Definition names follow the real documents
(`io.k8s.api.apps.v1.Deployment`, `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`); a model's
package is the group of the first served kind that reaches it (core first), which is right for
every kind the sandbox serves. The Rollout (served as a custom resource without a CRD) has a schema
that keeps unknown fields in `spec` and `status` (`x-kubernetes-preserve-unknown-fields`).

Built once (importing the client's models takes ~0.7 s) and cached on disk, keyed by the client's
version and the sources of this module and kinds.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import threading
import typing
from pathlib import Path
from typing import Any

from nonstop.sandbox.kinds import KINDS, Kind
from nonstop.toolkit.objects import Obj

__all__ = ["META", "PATCH_TYPES", "Obj", "schemas_v3"]


META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_TIME = f"{META}.Time"
_META_MODELS = frozenset(
    {
        "ObjectMeta",
        "ListMeta",
        "LabelSelector",
        "LabelSelectorRequirement",
        "OwnerReference",
        "ManagedFieldsEntry",
        "Condition",
        "Status",
        "StatusDetails",
        "StatusCause",
        "DeleteOptions",
        "Preconditions",
    }
)
_GROUP_PACKAGE = {
    "": "core",
    "apps": "apps",
    "discovery.k8s.io": "discovery",
    "events.k8s.io": "events",
    "policy": "policy",
    "autoscaling": "autoscaling",
    "coordination.k8s.io": "coordination",
    "authorization.k8s.io": "authorization",
    "authentication.k8s.io": "authentication",
    "rbac.authorization.k8s.io": "rbac",
}
# Group prefixes of the client's class names (`CoreV1Event`) → the API package.
_PREFIX_PACKAGE = {"Core": "core", "Events": "events", "Discovery": "discovery", "Policy": "policy", "Rbac": "rbac"}

# (model, field) → (x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key, list-map keys), from
# k8s.io/api v0.33 struct tags; "" where the tag is absent. The client's models do not carry them.
_PATCH_META: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] = {
    ("ObjectMeta", "ownerReferences"): ("merge", "uid", ("uid",)),
    ("ObjectMeta", "finalizers"): ("merge", "", ()),
    ("PodSpec", "containers"): ("merge", "name", ("name",)),
    ("PodSpec", "initContainers"): ("merge", "name", ("name",)),
    ("PodSpec", "ephemeralContainers"): ("merge", "name", ("name",)),
    ("PodSpec", "volumes"): ("merge,retainKeys", "name", ("name",)),
    ("PodSpec", "imagePullSecrets"): ("merge", "name", ("name",)),
    ("PodSpec", "hostAliases"): ("merge", "ip", ("ip",)),
    ("PodSpec", "topologySpreadConstraints"): ("merge", "topologyKey", ("topologyKey", "whenUnsatisfiable")),
    ("PodSpec", "schedulingGates"): ("merge", "name", ("name",)),
    ("PodSpec", "resourceClaims"): ("merge,retainKeys", "name", ("name",)),
    ("Container", "ports"): ("merge", "containerPort", ("containerPort", "protocol")),
    ("Container", "env"): ("merge", "name", ("name",)),
    ("Container", "volumeMounts"): ("merge", "mountPath", ("mountPath",)),
    ("Container", "volumeDevices"): ("merge", "devicePath", ("devicePath",)),
    ("EphemeralContainer", "ports"): ("merge", "containerPort", ("containerPort", "protocol")),
    ("EphemeralContainer", "env"): ("merge", "name", ("name",)),
    ("EphemeralContainer", "volumeMounts"): ("merge", "mountPath", ("mountPath",)),
    ("EphemeralContainer", "volumeDevices"): ("merge", "devicePath", ("devicePath",)),
    ("ResourceRequirements", "claims"): ("", "", ("name",)),
    ("ContainerStatus", "volumeMounts"): ("merge", "mountPath", ("mountPath",)),
    ("ContainerStatus", "allocatedResourcesStatus"): ("merge", "name", ("name",)),
    ("PodStatus", "conditions"): ("merge", "type", ("type",)),
    ("PodStatus", "hostIPs"): ("merge", "ip", ()),
    ("PodStatus", "podIPs"): ("merge", "ip", ("ip",)),
    ("PodStatus", "resourceClaimStatuses"): ("merge,retainKeys", "name", ("name",)),
    ("ServiceSpec", "ports"): ("merge", "port", ("port", "protocol")),
    ("ServiceStatus", "conditions"): ("merge", "type", ("type",)),
    ("ServiceAccount", "secrets"): ("merge", "name", ("name",)),
    ("NodeSpec", "podCIDRs"): ("merge", "", ()),
    ("NodeStatus", "conditions"): ("merge", "type", ("type",)),
    ("NodeStatus", "addresses"): ("merge", "type", ("type",)),
    ("NamespaceStatus", "conditions"): ("merge", "type", ("type",)),
    ("DeploymentSpec", "strategy"): ("retainKeys", "", ()),
    ("DeploymentStatus", "conditions"): ("merge", "type", ("type",)),
    ("ReplicaSetStatus", "conditions"): ("merge", "type", ("type",)),
    ("StatefulSetStatus", "conditions"): ("merge", "type", ("type",)),
    ("PodDisruptionBudgetSpec", "selector"): ("replace", "", ()),
    ("PodDisruptionBudgetStatus", "conditions"): ("merge", "type", ("type",)),
    ("HorizontalPodAutoscalerStatus", "conditions"): ("merge", "type", ("type",)),
}
# The PATCH content types the sandbox accepts.
PATCH_TYPES: tuple[str, ...] = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_CLASS = re.compile(r"^([A-Z][a-z]+)?V(\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")
_PRIMITIVE: dict[str, Obj] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "bytes": {"type": "string", "format": "byte"},
}
_lock = threading.Lock()


def _models() -> Any:
    import kubernetes.client.models

    return kubernetes.client.models


def _root_class(kind: Kind) -> str:
    """The client's class for a served kind, e.g. `V1Deployment`, `CoreV1Event`, `EventsV1Event`."""
    models = _models()
    version = "V" + kind.version[1:]
    prefixed = {"": "CoreV", "events.k8s.io": "EventsV"}.get(kind.group)
    for name in ((prefixed + kind.version[1:] + kind.kind) if prefixed else "", version + kind.kind):
        if name and hasattr(models, name):
            return name
    raise LookupError(f"the kubernetes client has no model for {kind.api_version} {kind.kind}")


def _doc(cls: type) -> str:
    text = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(text.split())


def _is_int_or_string(annotation: Any) -> bool:
    args = {a for arg in typing.get_args(annotation) for a in (typing.get_args(arg)[:1] or (arg,))}
    return int in args and str in args


class _Builder:
    """Walks the client's models from the served kinds and names each one as the real documents do."""

    def __init__(self) -> None:
        self.models = _models()
        self.names: dict[str, str] = {}  # client class name → definition name
        self.schemas: dict[str, Obj] = {}  # definition name → schema (v3 refs)
        self.kinds_of: dict[str, list[Obj]] = {}

    def name_of(self, cls_name: str, package: str) -> str:
        if cls_name in self.names:
            return self.names[cls_name]
        match = _CLASS.match(cls_name)
        if match is None:
            raise LookupError(f"unexpected model class name {cls_name}")
        prefix, version, short = match.groups()
        if short in _META_MODELS:
            name = f"{META}.{short}"
        else:
            pkg = _PREFIX_PACKAGE.get(prefix or "", package)
            name = f"io.k8s.api.{pkg}.v{version}.{short}"
        self.names[cls_name] = name
        return name

    def add(self, cls_name: str, package: str) -> str:
        name = self.name_of(cls_name, package)
        if name in self.schemas:
            return name
        cls = getattr(self.models, cls_name)
        schema: Obj = {"type": "object", "properties": {}}
        self.schemas[name] = schema  # before the fields: models refer to themselves (JSONSchemaProps)
        if description := _doc(cls):
            schema["description"] = description
        short = name.rsplit(".", 1)[1]
        required: list[str] = []
        fields = {f.alias or n: f for n, f in cls.model_fields.items()} | dict(cls.model_fields)
        for attr, type_name in cls.openapi_types.items():
            field_name = cls.attribute_map[attr]
            info = fields[attr]
            prop = self.property(type_name, info.annotation, package)
            if info.description:
                prop["description"] = info.description
            strategy, merge_key, map_keys = _PATCH_META.get((short, field_name), ("", "", ()))
            if strategy:
                prop["x-kubernetes-patch-strategy"] = strategy
            if merge_key:
                prop["x-kubernetes-patch-merge-key"] = merge_key
            if map_keys:
                prop["x-kubernetes-list-type"] = "map"
                prop["x-kubernetes-list-map-keys"] = list(map_keys)
            if "$ref" in prop and len(prop) > 1:  # siblings of a $ref go beside an allOf, as in the real documents
                prop = {"allOf": [{"$ref": prop.pop("$ref")}], **prop}
            schema["properties"][field_name] = prop
            if info.is_required():
                required.append(field_name)
        if required:
            schema["required"] = required
        return name

    def property(self, type_name: str, annotation: Any, package: str) -> Obj:
        if (found := _LIST.match(type_name)) is not None:
            return {"type": "array", "items": self.property(found.group(1), None, package)}
        if (found := _DICT.match(type_name)) is not None:
            return {"type": "object", "additionalProperties": self.property(found.group(1), None, package)}
        if type_name in _PRIMITIVE:
            return dict(_PRIMITIVE[type_name])
        if type_name == "datetime":
            self.schemas.setdefault(_TIME, {"type": "string", "format": "date-time"})
            return {"$ref": f"#/components/schemas/{_TIME}"}
        if type_name == "object":
            if annotation is not None and _is_int_or_string(annotation):
                self.schemas.setdefault(_INT_OR_STRING, {"type": "string", "format": "int-or-string"})
                return {"$ref": f"#/components/schemas/{_INT_OR_STRING}"}
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"$ref": f"#/components/schemas/{self.add(type_name, package)}"}


def _cache_file() -> Path:
    """Where the built schemas are kept: keyed by the client's version and this module and kinds.py."""
    from importlib.metadata import version

    from nonstop.sandbox import kinds
    from nonstop.sandbox.real.build import cache_dir

    digest = hashlib.sha256(version("kubernetes").encode())
    for source in (__file__, kinds.__file__):
        digest.update(Path(source).read_bytes())
    return cache_dir() / "openapi" / f"schemas-{digest.hexdigest()[:16]}.json"


@functools.cache
def _built() -> tuple[dict[str, Obj], dict[tuple[str, str], str]]:
    """All schemas (v3 refs) and each served kind's (api_version, kind) → definition name."""
    with _lock:
        path = _cache_file()
        with contextlib.suppress(OSError, ValueError, KeyError):
            cached = json.loads(path.read_text())
            return cached["schemas"], {(a, k): n for a, k, n in cached["roots"]}
        schemas, roots = _build()
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({"schemas": schemas, "roots": [[a, k, n] for (a, k), n in roots.items()]}))
            partial.replace(path)
        return schemas, roots


def _build() -> tuple[dict[str, Obj], dict[tuple[str, str], str]]:
    builder = _Builder()
    for core in ("V1PodTemplate", "V1PersistentVolumeClaim"):  # PodTemplateSpec, the pod and PVC types: core
        builder.add(core, "core")
    roots: dict[tuple[str, str], str] = {}
    for kind in sorted(KINDS, key=lambda k: k.group != ""):
        if kind.custom:
            continue
        package = _GROUP_PACKAGE[kind.group]
        roots[(kind.api_version, kind.kind)] = builder.add(_root_class(kind), package)
        list_class = _root_class(kind) + "List"
        if hasattr(builder.models, list_class):
            roots[(kind.api_version, kind.list_kind)] = builder.add(list_class, package)
    for cls_name, package, api_version, kind_name in (
        ("V1Scale", "autoscaling", "autoscaling/v1", "Scale"),
        ("V1Eviction", "policy", "policy/v1", "Eviction"),
        ("V1Status", "", "v1", "Status"),
        ("V1DeleteOptions", "", "v1", "DeleteOptions"),
    ):
        roots[(api_version, kind_name)] = builder.add(cls_name, package)
    schemas = builder.schemas
    schemas[f"{META}.Patch"] = {
        "type": "object",
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
    }
    for kind in KINDS:
        if kind.custom:
            name = ".".join(reversed(kind.group.split("."))) + f".{kind.version}.{kind.kind}"
            schemas[name] = _custom_schema()
            roots[(kind.api_version, kind.kind)] = name
    for (api_version, kind_name), name in roots.items():
        group, _, version = api_version.rpartition("/")
        gvks = schemas[name].setdefault("x-kubernetes-group-version-kind", [])
        gvks.append({"group": group, "kind": kind_name, "version": version})
    return schemas, roots


def _custom_schema() -> Obj:
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": f"#/components/schemas/{META}.ObjectMeta"},
            "spec": dict(free),
            "status": dict(free),
        },
    }


def schemas_v3() -> tuple[dict[str, Obj], dict[tuple[str, str], str]]:
    """Every schema by definition name, and the definition name of each (apiVersion, kind) served."""
    return _built()
