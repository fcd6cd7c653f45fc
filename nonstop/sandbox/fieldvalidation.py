r"""Server-side field validation: the `fieldValidation` query parameter (Strict, Warn, Ignore).

kubectl 1.27+ finds `fieldValidation` among the PATCH parameters of `/openapi/v3/<gv>` and then
sends `fieldValidation=Strict` with create, replace, apply and edit instead of validating by
itself. As the real API server (k8s.io/apiserver `handlers/create.go`, `update.go`, `patch.go`):

- create/update, Strict: 400 BadRequest `Deployment in version "v1" cannot be handled as a
  Deployment: strict decoding error: unknown field "spec.foo"`;
- patch, Strict: 422 Invalid ` "" is invalid: patch: Invalid value: "…": strict decoding error: …`,
  judged on the patched object;
- Warn: the request succeeds with one `Warning: 299 - "unknown field \"spec.foo\""` header each.

Unknown means: not among the properties of the kind's schema (`openapi/schemas.py`), at any depth; maps
(`additionalProperties`) and free-form objects (`x-kubernetes-preserve-unknown-fields`) take any
key. Without the parameter nothing is checked (a real server defaults to Warn; the sandbox saves
building the schemas for clients that never ask). Unknown fields are kept, not dropped.
"""

from __future__ import annotations

import json
from typing import Any

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import Kind

__all__ = ["check_object", "check_patched", "directive", "unknown_fields", "warning_headers"]

_DIRECTIVES = {"strict": "Strict", "warn": "Warn", "ignore": "Ignore"}


def directive(query: dict[str, str]) -> str:
    """Strict, Warn, Ignore, or "" when absent; 400 for anything else (as the real server)."""
    value = query.get("fieldValidation")
    if not value:
        return ""
    found = _DIRECTIVES.get(value.lower())
    if found is None:
        raise ApiError(
            400,
            "BadRequest",
            f'fieldValidation parameter unsupported: {value}, supported values are: "Ignore", "Warn", "Strict"',
        )
    return found


def unknown_fields(kind: Kind, obj: Any, *, sub: str = "") -> list[str]:
    """The dotted paths (`spec.template.spec.containers[0].foo`) of fields the kind's schema does not have."""
    from nonstop.sandbox import openapi

    schemas, roots = openapi.schemas_v3()
    api_version, kind_name = (kind.api_version, kind.kind)
    if sub == "scale":
        api_version, kind_name = "autoscaling/v1", "Scale"
    elif sub == "eviction":
        api_version, kind_name = "policy/v1", "Eviction"
    root = roots.get((api_version, kind_name))
    if root is None:
        return []
    found: list[str] = []
    _walk(schemas, schemas[root], obj, "", found)
    return found


def _resolve(schemas: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "allOf" in schema:
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        else:
            return schema


def _walk(schemas: dict[str, Any], schema: dict[str, Any], value: Any, path: str, found: list[str]) -> None:
    schema = _resolve(schemas, schema)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if props is not None and key in props:
                _walk(schemas, props[key], item, child, found)
            elif isinstance(extra, dict):
                _walk(schemas, extra, item, child, found)
            elif props is not None:
                found.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(schemas, schema["items"], item, f"{path}[{index}]", found)


def _strict_error(fields: list[str]) -> str:
    return "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in fields)


def warning_headers(fields: list[str]) -> dict[str, str]:
    """The `Warning` header values of Warn (one per field; the caller sends each)."""
    return {f"Warning#{i}": f'299 - "unknown field \\"{f}\\""' for i, f in enumerate(fields)}


def check_object(kind: Kind, body: Any, mode: str, *, sub: str = "") -> list[str]:
    """Create/update: raise 400 under Strict; the unknown fields (for Warn's headers) otherwise."""
    if mode not in ("Strict", "Warn") or not isinstance(body, dict):
        return []
    fields = unknown_fields(kind, body, sub=sub)
    if fields and mode == "Strict":
        api_version = body.get("apiVersion") or kind.api_version
        version = str(api_version).rpartition("/")[2]
        sent_kind = body.get("kind") or kind.kind
        raise ApiError(
            400,
            "BadRequest",
            f'{sent_kind} in version "{version}" cannot be handled as a {kind.kind}: {_strict_error(fields)}',
        )
    return fields


def check_patched(kind: Kind, patched: Any, patch: Any, ctype: str, mode: str, *, sub: str = "") -> list[str]:
    """Patch: judged on the patched object; raise 422 under Strict, else the unknown fields."""
    if mode not in ("Strict", "Warn") or not isinstance(patched, dict):
        return []
    fields = unknown_fields(kind, patched, sub=sub)
    if fields and mode == "Strict":
        shown = _go_format(patch) if "strategic" in ctype else json.dumps(patched, separators=(",", ":"))
        message = f"Invalid value: {json.dumps(shown)}: {_strict_error(fields)}"
        raise ApiError(
            422,
            "Invalid",
            f' "" is invalid: patch: {message}',
            details={"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]},
        )
    return fields


def _go_format(value: Any) -> str:
    """A decoded JSON value as Go's `%+v` prints a map[string]interface{} (the real message shows the patch so)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_format(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_format(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def preview_patch(current: Any, ctype: str, patch: Any) -> Any:
    """What a patch would produce, for judging it; None when the patch itself fails (the registry answers that)."""
    from nonstop.sandbox.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

    media = ctype.split(";", maxsplit=1)[0].strip().lower()
    try:
        if media == "application/json-patch+json":
            return json_patch(current, patch)
        if media == "application/merge-patch+json":
            return merge_patch(current, patch)
        if media == "application/strategic-merge-patch+json":
            return strategic_merge_patch(current, patch)
    except PatchError:
        return None
    return None
