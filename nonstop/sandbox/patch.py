"""The three PATCH formats the API server accepts (K8S-SEMANTICS.md §6 "PATCH content types").

- JSON merge patch (RFC 7386): maps merge recursively, `null` deletes, anything else replaces.
- JSON patch (RFC 6902): add/remove/replace/move/copy/test with JSON pointers.
- Strategic merge patch: like merge patch, but lists of objects merge by Kubernetes' merge keys
  (containers/env/volumes by name, container ports by containerPort, Service ports by port,
  conditions by type, …) and the directives kubectl sends: `$patch` (merge/replace/delete),
  `$setElementOrder/<list>`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`.

Errors raise `PatchError`; the registry answers them with 422 (or 400 for a malformed document).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(Exception):
    """The patch cannot be applied to the object (a failed `test`, a missing path, a bad directive)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: the result of applying `patch` to `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 ----------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    idx = int(token)
    limit = len(container) if for_add else len(container) - 1
    if idx > limit:
        raise PatchError(f"array index {idx} out of bounds")
    return idx


def _parent(doc: Any, parts: list[str]) -> Any:
    current = doc
    for token in parts[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchError(f"path element {token!r} does not exist")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, for_add=False)]
        else:
            raise PatchError(f"path element {token!r} is not a container")
    return current


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path element {last!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchError(f"path element {last!r} is not a container")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f"cannot add {last!r} to a non-container")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, for_add=False)]
    else:
        raise PatchError(f"cannot remove {last!r} from a non-container")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply the operation list to a copy of `target`."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid operation {op!r}")
        kind = op["op"]
        parts = _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


# -- strategic merge ---------------------------------------------------------------------------

# Merge keys of Kubernetes' built-in types, by list field name (and, for `ports`, by context).
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "containerStatuses": "",  # replaced, not merged (no patch strategy)
}
# Lists of scalars that strategic merge unions instead of replacing.
_MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})


def _merge_key(path: tuple[str, ...], field: str) -> str | None:
    if field == "ports":
        return "port" if path[-1:] == ("spec",) else "containerPort"
    key = _MERGE_KEYS.get(field)
    return key or None


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to a copy of `target` (a built-in kind's object)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch, ())


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:  # noqa: C901, PLR0912 — strategic merge patch's directives, each a case of the same merge
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch type {directive!r} in map")
    retain = body.pop("$retainKeys", None)
    orders = {k[len("$setElementOrder/") :]: body.pop(k) for k in list(body) if k.startswith("$setElementOrder/")}
    deletes = {
        k[len("$deleteFromPrimitiveList/") :]: body.pop(k)
        for k in list(body)
        if k.startswith("$deleteFromPrimitiveList/")
    }
    result = original
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, (*path, key), key)
        else:
            result[key] = value
    for key, values in deletes.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _apply_order(result[key], order, _merge_key(path, key))
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list")
        for key in list(result):
            if key not in retain:
                del result[key]
    return result


def _merge_list(original: Any, patch: list[Any], path: tuple[str, ...], field: str) -> list[Any]:
    parent_path = path[:-1]
    key = _merge_key(parent_path, field)
    if field in _MERGED_PRIMITIVE_LISTS and all(not isinstance(v, dict) for v in patch):
        merged = list(original) if isinstance(original, list) else []
        merged.extend(v for v in patch if v not in merged)
        return merged
    if key is None or not all(isinstance(v, dict) for v in patch):
        replace = [v for v in patch if not (isinstance(v, dict) and v.get("$patch") == "replace")]
        return [_strip_directives(v) for v in replace]
    if any(v.get("$patch") == "replace" for v in patch):
        return [_strip_directives(v) for v in patch if v.get("$patch") != "replace"]
    result: list[Any] = [copy.deepcopy(v) for v in original] if isinstance(original, list) else []
    for item in patch:
        if key not in item:
            raise PatchError(f"map in list {field!r} is missing its merge key {key!r}")
        idx = next((i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[idx], item, path)
            if merged is None:
                del result[idx]
            else:
                result[idx] = merged
    return result


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = {value: i for i, value in enumerate(wanted)}
    listed = sorted((it for it in items if ident(it) in ranked), key=lambda it: ranked[ident(it)])
    others = [it for it in items if ident(it) not in ranked]
    return listed + others


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and not (v is None and k)  # nulls in new content mean "absent"
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
