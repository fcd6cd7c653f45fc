"""The OpenAPI documents: `/openapi/v2`, `/openapi/v3` (the index) and `/openapi/v3/<gv>`, paths and operations.

Each PATCH, PUT and POST operation lists the `fieldValidation` query parameter, so kubectl (1.27+)
leaves validation to the server (`fieldvalidation.py`) and sends `fieldValidation=Strict`, as
against a real API server. The documents are built once, on the first request.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from nonstop.sandbox.kinds import KINDS, Kind
from nonstop.sandbox.openapi.schemas import META, PATCH_TYPES, Obj, schemas_v3

__all__ = ["document_v2", "document_v3", "index_v3"]


def _gvk(kind: Kind, name: str | None = None) -> Obj:
    return {"group": kind.group, "version": kind.version, "kind": name or kind.kind}


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
