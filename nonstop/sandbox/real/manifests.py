"""`--apply`: read multi-document YAML (both control planes), server-side apply each object (the real one).

`read_manifests` is the one manifest reader: the embedded sandbox's `load_manifests` passes the
kinds it does not serve as `refuse`; on the real control plane any kind the apiserver serves is
accepted (the apiserver is the judge), and a namespaced object without a namespace goes to
`default`, as `kubectl apply` does. Reading problems are one InputError naming the file; an object
the API refuses is one naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from nonstop.errors import ClusterError, InputError
from nonstop.toolkit.objects import Obj
from nonstop.toolkit.yamldocs import documents, error_line

__all__ = ["apply_manifests", "read_manifests"]


def _accept(_obj: Obj) -> str | None:
    return None


def read_manifests(paths: list[Path], *, refuse: Callable[[Obj], str | None] = _accept) -> list[tuple[Path, Obj]]:
    """Every object of the files (List kinds unpacked), each with the file it came from.

    `refuse(obj)` says why the caller cannot take an object with an apiVersion and kind (checked
    before its name), or None.
    """
    out: list[tuple[Path, Obj]] = []
    for path in paths:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
        try:
            docs = [document.data for document in documents(text)]
        except yaml.YAMLError as exc:
            line = error_line(exc)
            where = f" at line {line}" if line is not None else ""
            raise InputError(f"manifest {path} is not valid YAML{where}") from exc
        for index, doc in enumerate(docs):
            if doc is None:
                continue
            is_list = isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List")
            for obj in (doc.get("items") or []) if is_list else [doc]:
                if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
                    raise InputError(f"manifest {path}, document {index + 1}: an object needs apiVersion and kind")
                if (refused := refuse(obj)) is not None:
                    raise InputError(f"manifest {path}, document {index + 1}: {refused}")
                if not (obj.get("metadata") or {}).get("name"):
                    raise InputError(f"manifest {path}, document {index + 1}: {obj['kind']} needs metadata.name")
                out.append((path, obj))
    return out


def apply_manifests(kubeconfig: Path, objects: list[tuple[Path, Obj]], *, field_manager: str = "nonstop") -> None:
    """Server-side apply each object, in file order, through the official client's dynamic API."""
    from kubernetes import config, dynamic
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

    client = dynamic.DynamicClient(config.new_client_from_config(config_file=str(kubeconfig)))
    for path, obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            resource = client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError as exc:
            raise InputError(f"manifest {path}: the API serves no {obj['apiVersion']} {obj['kind']} ({name})") from exc
        namespace = None
        if resource.namespaced:
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        try:
            resource.server_side_apply(body=obj, namespace=namespace, field_manager=field_manager, force_conflicts=True)
        except (DynamicApiError, ApiException) as exc:
            status = getattr(exc, "status", None)
            summary = getattr(exc, "summary", None)
            detail = summary() if callable(summary) else str(exc).splitlines()[0]
            if status in (400, 404, 409, 422):
                raise InputError(f"manifest {path}: the API refused {name}: {detail}") from exc
            raise ClusterError(f"manifest {path}: applying {name} failed: {detail}", status=status) from exc
