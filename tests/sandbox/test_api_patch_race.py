"""A PATCH without a resourceVersion precondition survives a concurrent write (the server re-reads and re-applies),
the `/scale` subresource included — what `kubectl scale` sends while the controllers write the Deployment.
"""

from __future__ import annotations

from typing import Any

import pytest

from nonstop.sandbox.apierrors import ApiError
from nonstop.sandbox.kinds import Kind, by_resource
from nonstop.sandbox.registry import Registry
from nonstop.sandbox.store import Obj, Store

DEPLOYMENTS = by_resource("apps", "v1", "deployments")
MERGE = "application/merge-patch+json"


class RacingStore(Store):
    """A real store where, once armed, another writer changes the object right after the next read of it."""

    armed = 0

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        obj = super().get(kind, namespace, name)
        if self.armed:
            self.armed -= 1
            self.mutate(kind, namespace, name, lambda o: o.setdefault("status", {}).update(observedGeneration=1))
        return obj


def _registry() -> tuple[RacingStore, Registry]:
    assert DEPLOYMENTS is not None
    store = RacingStore()
    store.create(
        DEPLOYMENTS,
        {
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nonstop/sample-app:v1"}]},
                },
            },
        },
    )
    return store, Registry(store)


@pytest.mark.parametrize("subresource", ["", "scale"])
def test_a_patch_without_precondition_is_reapplied_after_a_concurrent_write(subresource: str) -> None:
    store, registry = _registry()
    assert DEPLOYMENTS is not None
    store.armed = 1
    registry.patch(DEPLOYMENTS, "ns", "web", MERGE, {"spec": {"replicas": 3}}, subresource=subresource)
    written: dict[str, Any] = store.get(DEPLOYMENTS, "ns", "web")
    assert written["spec"]["replicas"] == 3
    assert written["status"]["observedGeneration"] == 1  # the other writer's change is kept


@pytest.mark.parametrize("subresource", ["", "scale"])
def test_a_patch_with_a_stale_resource_version_is_still_a_conflict(subresource: str) -> None:
    store, registry = _registry()
    assert DEPLOYMENTS is not None
    stale = store.get(DEPLOYMENTS, "ns", "web")["metadata"]["resourceVersion"]
    store.armed = 1
    body = {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 3}}
    with pytest.raises(ApiError) as caught:
        registry.patch(DEPLOYMENTS, "ns", "web", MERGE, body, subresource=subresource)
    assert caught.value.reason == "Conflict"
    assert store.get(DEPLOYMENTS, "ns", "web")["spec"]["replicas"] == 1
