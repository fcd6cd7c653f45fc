"""Where a resource request goes: its path to kind, namespace, name and subresource, and its verb.

`/api/v1/...` and `/apis/<group>/<version>/...`, namespaced (`namespaces/<ns>/<resource>/…`) or
not, with at most one subresource; `namespaces/<name>/{status,finalize}` are the Namespace's own.
The verb is the one RBAC and the request log name: get, list, watch, create, update, patch,
delete, deletecollection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nonstop.sandbox.kinds import Kind, by_resource

__all__ = ["TRUE_VALUES", "Request", "describe", "route"]

TRUE_VALUES = ("true", "True", "1")  # what a boolean query parameter accepts as true


@dataclass
class Request:
    """What a resource path resolves to."""

    kind: Kind
    namespace: str | None = None
    name: str = ""
    subresource: str = ""


def route(path: str) -> Request | None:
    """Resolve `/api/v1/...` or `/apis/<g>/<v>/...`; None when no served kind has this path."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns_kind = by_resource("", "v1", "namespaces")
        if group == "" and ns_kind is not None and rest[2] in (*ns_kind.subresources, "finalize") and len(rest) == 3:
            return Request(ns_kind, name=rest[1], subresource=rest[2])
        namespace = rest[1]
        rest = rest[2:]
    kind = by_resource(group, version, rest[0])
    if kind is None or len(rest) > 3:
        return None
    return Request(
        kind,
        namespace=namespace,
        name=rest[1] if len(rest) >= 2 else "",
        subresource=rest[2] if len(rest) >= 3 else "",
    )


def describe(method: str, req: Request, query: dict[str, str]) -> dict[str, Any]:
    """The request as the request log records it: verb, group, resource, subresource, namespace, name."""
    if method == "GET":
        verb = "get" if req.name else ("watch" if query.get("watch") in TRUE_VALUES else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    else:
        verb = "delete" if req.name else "deletecollection"
    return {
        "verb": verb,
        "group": req.kind.group,
        "resource": req.kind.resource,
        "subresource": req.subresource,
        "namespace": req.namespace or "",
        "name": req.name,
    }
