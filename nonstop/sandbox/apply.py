"""Server-side apply: `PATCH` with `application/apply-patch+yaml` (K8S-SEMANTICS.md §6).

The request flow around `managedfields.apply_config`: the patch options (`fieldManager` required,
`force` only for apply), the applied object's checks (its apiVersion and kind those of the URL, no
`managedFields`, the URL's name and namespace), creation when the object does not exist (201),
an update through the registry's own write path otherwise (defaults, validation, generation;
a `metadata.resourceVersion` in the configuration is a precondition). Errors are the apiserver's.
"""

from __future__ import annotations

from typing import Any

from nonstop.sandbox.apierrors import ApiError, bad_request, not_found
from nonstop.sandbox.apiroute import TRUE_VALUES
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.managedfields import apply_config
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.writeretry import retry_races, unless_raced

__all__ = ["APPLY_YAML", "is_apply", "patch_options", "server_side_apply"]

APPLY_YAML = "application/apply-patch+yaml"
_FALSE = ("false", "False", "0")


def is_apply(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == APPLY_YAML


def _invalid_options(field: str, reason: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'PatchOptions.meta.k8s.io "" is invalid: {field}: {message}',
        details={
            "group": "meta.k8s.io",
            "kind": "PatchOptions",
            "causes": [{"reason": reason, "message": message, "field": field}],
        },
    )


def patch_options(content_type: str, query: dict[str, str]) -> bool:
    """Check a PATCH's `fieldManager` and `force` as the apiserver does; returns `force`."""
    manager, force = query.get("fieldManager"), query.get("force")
    if force is not None and force not in (*TRUE_VALUES, *_FALSE):
        raise bad_request(f'invalid boolean value for "force": {force!r}')
    if not is_apply(content_type):
        if force is not None:
            raise _invalid_options(
                "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"
            )
    elif not manager:
        raise _invalid_options("fieldManager", "FieldValueRequired", "Required value: is required for apply patch")
    if manager is not None and len(manager) > 128:
        raise _invalid_options("fieldManager", "FieldValueTooLong", "Too long: may not be more than 128 bytes")
    return force in TRUE_VALUES


def _gvk(obj: dict[str, Any]) -> str:
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={obj.get('kind') or ''}"


def server_side_apply(
    registry: Registry,
    kind: Kind,
    namespace: str | None,
    name: str,
    config: Any,
    *,
    manager: str,
    force: bool,
    subresource: str = "",
    dry_run: bool = False,
) -> tuple[int, dict[str, Any]]:
    """Apply `config` as `manager`; (201, created) or (200, updated)."""
    if not isinstance(config, dict):
        raise bad_request("error decoding YAML: the applied configuration is not an object")
    if subresource not in ("", "status"):
        raise ApiError(415, "UnsupportedMediaType", f"the sandbox does not serve apply on /{subresource}")
    if config.get("apiVersion") != kind.api_version or config.get("kind") != kind.kind:
        raise bad_request(f"invalid object type: {_gvk(config)}")
    meta = config.get("metadata") or {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    if meta.get("name") and meta["name"] != name:
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    if kind.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    precondition = meta.get("resourceVersion") or None

    def attempt() -> tuple[int, dict[str, Any]] | None:
        """One read-apply-write; None when another writer came first."""
        live = registry.store.find(kind, namespace, name)
        if live is None:
            if subresource:
                raise not_found(kind.resource, kind.group, name)
            created = apply_config(kind, None, config, manager, force=force)
            created_meta = created.setdefault("metadata", {})
            created_meta.update({"name": name, **({"namespace": namespace} if kind.namespaced else {})})
            created_meta.pop("resourceVersion", None)
            try:
                return 201, registry.create(kind, namespace, created, dry_run=dry_run)
            except ApiError as exc:
                if exc.reason == "AlreadyExists":
                    return None  # created meanwhile: apply to it
                raise
        merged = apply_config(kind, live, config, manager, force=force, subresource=subresource)
        expect_rv = precondition or live["metadata"]["resourceVersion"]
        written = unless_raced(
            precondition,
            lambda: registry.write(kind, live, merged, subresource=subresource, expect_rv=expect_rv, dry_run=dry_run),
        )
        return None if written is None else (200, written)

    return retry_races(kind, name, attempt)
