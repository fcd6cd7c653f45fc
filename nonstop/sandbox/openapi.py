"""OpenAPI v2 (`/openapi/v2`) and v3 (`/openapi/v3`, `/openapi/v3/<gv>`) documents for the served kinds.

The schemas are generated from the official `kubernetes` Python client's model classes
(`openapi_types`, `attribute_map`, pydantic field descriptions and `required`, class docstrings):
a source we ship, not Kubernetes' spec files. What the models do not carry is restated here as
facts from k8s.io/api's struct tags (`patchStrategy`, `patchMergeKey`, `+listType=map`,
`+listMapKey`): `_PATCH_META` — kubectl's client-side apply computes its strategic merge patch
from them. Definition names follow the real documents (`io.k8s.api.apps.v1.Deployment`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`); a model's package is the group of the first
served kind that reaches it (core first), which is right for every kind the sandbox serves.

Each PATCH, PUT and POST operation lists the `fieldValidation` query parameter, so kubectl (1.27+)
leaves validation to the server (`fieldvalidation.py`) and sends `fieldValidation=Strict`, as
against a real API server. The Rollout (served as a custom resource without a CRD) has a schema
that keeps unknown fields in `spec` and `status` (`x-kubernetes-preserve-unknown-fields`).

The documents are built once, on the first request (importing the client's models takes ~0.7 s).
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

__all__ = ["PATCH_TYPES", "document_v2", "document_v3", "index_v3", "schemas_v3"]


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
    """The client's class for a served kind: `V1Deployment`, `CoreV1Event`, `EventsV1Event`, …"""
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


def _gvk(kind: Kind, name: str | None = None) -> Obj:
    return {"group": kind.group, "version": kind.version, "kind": name or kind.kind}


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
            schemas[name] = _custom_schema(kind)
            roots[(kind.api_version, kind.kind)] = name
    for (api_version, kind_name), name in roots.items():
        group, _, version = api_version.rpartition("/")
        gvks = schemas[name].setdefault("x-kubernetes-group-version-kind", [])
        gvks.append({"group": group, "kind": kind_name, "version": version})
    return schemas, roots


def _custom_schema(kind: Kind) -> Obj:
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


def _reachable(schemas: dict[str, Obj], names: list[str]) -> dict[str, Obj]:
    seen: dict[str, Obj] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = schemas[name]
        todo.extend(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schemas[name])))
    return dict(sorted(seen.items()))


# -- paths ------------------------------------------------------------------------------------


def _param(name: str, where: str = "query", *, kind: str = "string", required: bool = False) -> Obj:
    param: Obj = {"name": name, "in": where, "schema": {"type": kind}}
    if required:
        param["required"] = True
    return param


_WRITE_PARAMS = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
_LIST_PARAMS = [
    _param(n) for n in ("labelSelector", "fieldSelector", "resourceVersion", "resourceVersionMatch", "continue")
] + [_param(n, kind="boolean") for n in ("watch", "allowWatchBookmarks", "sendInitialEvents")]


def _op_id(verb: str, kind: Kind, *, namespaced: bool, sub: str = "", all_ns: bool = False) -> str:
    group = "".join(p.capitalize() for p in (kind.group.split(".")[0] or "core").split("-"))
    scope = "Namespaced" if namespaced else ""
    suffix = "ForAllNamespaces" if all_ns else ""
    sub_part = sub.capitalize()
    return f"{verb}{group}{kind.version.capitalize()}{scope}{kind.kind}{sub_part}{suffix}"


def _operations(kind: Kind, roots: dict[tuple[str, str], str]) -> dict[str, Obj]:
    """The paths of one kind: collection, item, every subresource, and the all-namespaces list."""

    def ref(api_version: str, kind_name: str) -> Obj:
        return {"$ref": f"#/components/schemas/{roots[(api_version, kind_name)]}"}

    def answer(schema: Obj, code: str = "200") -> Obj:
        content = {t: {"schema": schema} for t in ("application/json", "application/yaml")}
        return {code: {"description": "OK", "content": content}}

    def op(verb: str, action: str, schema: Obj, *, sub: str = "", params: list[Obj], body: Obj | None = None) -> Obj:
        operation: Obj = {
            "operationId": _op_id(verb, kind, namespaced=kind.namespaced, sub=sub),
            "tags": [kind.api_version.replace("/", "_").replace(".", "")],
            "parameters": params,
            "responses": answer(schema),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(kind),
        }
        if body is not None:
            operation["requestBody"] = {"content": body, "required": True}
        return operation

    base = kind.prefix
    ns_param = [_param("namespace", "path", required=True)] if kind.namespaced else []
    collection = f"{base}/namespaces/{{namespace}}/{kind.resource}" if kind.namespaced else f"{base}/{kind.resource}"
    obj = ref(kind.api_version, kind.kind)
    body = {"application/json": {"schema": obj}, "application/yaml": {"schema": obj}}
    patch_types = PATCH_TYPES if not kind.custom else tuple(t for t in PATCH_TYPES if "strategic" not in t)
    patch_body = {t: {"schema": {"$ref": f"#/components/schemas/{META}.Patch"}} for t in patch_types}
    name = _param("name", "path", required=True)
    paths: dict[str, Obj] = {}
    if kind.verbs == ("create",):
        paths[collection] = {"post": op("create", "post", obj, params=_WRITE_PARAMS, body=body)}
        return paths
    list_schema = ref(kind.api_version, kind.list_kind) if (kind.api_version, kind.list_kind) in roots else obj
    paths[collection] = {
        "get": op("list", "list", list_schema, params=ns_param + _LIST_PARAMS),
        "post": op("create", "post", obj, params=ns_param + _WRITE_PARAMS, body=body),
        "delete": op("deletecollection", "deletecollection", ref("v1", "Status"), params=ns_param + _LIST_PARAMS),
    }
    item_params = [name, *ns_param]
    paths[f"{collection}/{{name}}"] = {
        "get": op("read", "get", obj, params=item_params),
        "put": op("replace", "put", obj, params=item_params + _WRITE_PARAMS, body=body),
        "patch": op("patch", "patch", obj, params=[*item_params, *_WRITE_PARAMS, _param("force")], body=patch_body),
        "delete": op("delete", "delete", ref("v1", "Status"), params=[*item_params, _param("gracePeriodSeconds")]),
    }
    for sub in kind.subresources:
        if sub == "eviction":
            evict = ref("policy/v1", "Eviction")
            evict_body = {"application/json": {"schema": evict}}
            paths[f"{collection}/{{name}}/eviction"] = {
                "post": op("create", "post", evict, sub=sub, params=item_params + _WRITE_PARAMS, body=evict_body)
            }
            continue
        schema = ref("autoscaling/v1", "Scale") if sub == "scale" else obj
        sub_body = {"application/json": {"schema": schema}}
        paths[f"{collection}/{{name}}/{sub}"] = {
            "get": op("read", "get", schema, sub=sub, params=item_params),
            "put": op("replace", "put", schema, sub=sub, params=item_params + _WRITE_PARAMS, body=sub_body),
            "patch": op("patch", "patch", schema, sub=sub, params=item_params + _WRITE_PARAMS, body=patch_body),
        }
    if kind.namespaced:
        all_ns = op("list", "list", list_schema, params=_LIST_PARAMS)
        all_ns["operationId"] = _op_id("list", kind, namespaced=False, all_ns=True)
        paths[f"{base}/{kind.resource}"] = {"get": all_ns}
    return paths


# -- documents --------------------------------------------------------------------------------


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@functools.cache
def _v3_documents() -> dict[str, bytes]:
    schemas, roots = schemas_v3()
    docs: dict[str, bytes] = {}
    gvs = sorted({(k.group, k.version) for k in KINDS})
    for group, version in gvs:
        kinds = [k for k in KINDS if (k.group, k.version) == (group, version)]
        paths: dict[str, Obj] = {}
        for kind in kinds:
            paths.update(_operations(kind, roots))
        refs = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(paths))
        doc = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": _reachable(schemas, sorted(set(refs)))},
        }
        docs[_gv_path(group, version)] = json.dumps(doc, separators=(",", ":")).encode()
    return docs


def index_v3() -> Obj:
    """`/openapi/v3`: each group version's document, with a content hash in its URL (as the real one)."""
    paths = {}
    for gv, data in _v3_documents().items():
        digest = hashlib.sha512(data).hexdigest().upper()
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}


def document_v3(gv: str) -> bytes | None:
    """`/openapi/v3/<gv>` (`api/v1`, `apis/apps/v1`, …) as JSON, or None when the sandbox serves no such version."""
    return _v3_documents().get(gv)


@functools.cache
def document_v2() -> bytes:
    """`/openapi/v2`: the same schemas and operations as Swagger 2.0 JSON."""
    schemas, roots = schemas_v3()
    paths: dict[str, Obj] = {}
    for kind in KINDS:
        for path, item in _operations(kind, roots).items():
            paths[path] = {verb: _v2_operation(op) for verb, op in item.items()}
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "definitions": schemas,
    }
    text = json.dumps(doc, separators=(",", ":"))
    text = text.replace('"#/components/schemas/', '"#/definitions/')
    return text.encode()


def _v2_operation(op: Obj) -> Obj:
    out = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
    params = [{k: v for k, v in p.items() if k != "schema"} | {"type": p["schema"]["type"]} for p in op["parameters"]]
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        out["consumes"] = list(content)
        body = next(iter(content.values()))["schema"]
        params.append({"name": "body", "in": "body", "required": True, "schema": body})
    out["parameters"] = params
    out["produces"] = ["application/json", "application/yaml"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    out["responses"] = {"200": {"description": "OK", "schema": schema}}
    return out
