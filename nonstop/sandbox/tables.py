"""Server-side `meta.k8s.io/v1 Table` for `kubectl get`: the columns a real API server prints.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io`; the columns and cells of each
kind are `printcolumns.py`'s (priority 1 shows only with `-o wide`). Each row carries the object
(as PartialObjectMetadata by default, whole with `includeObject=Object`, none with
`includeObject=None`).
"""

from __future__ import annotations

from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.printcolumns import DEFAULT_LAYOUT, LAYOUTS
from nonstop.toolkit.objects import Obj

__all__ = ["table"]


def _partial(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(kind: Kind, items: list[Obj], *, resource_version: str | None, include: str = "Metadata") -> Obj:
    """A `meta.k8s.io/v1 Table` of `items` with the kind's columns."""
    layout = LAYOUTS.get(kind.resource) if not (kind.resource == "events" and kind.group) else None
    columns, row = layout or DEFAULT_LAYOUT
    meta: Obj = {"resourceVersion": resource_version} if resource_version is not None else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, typ, priority in columns
        ],
        "rows": [{"cells": row(item), "object": _partial(item, include)} for item in items],
    }
