"""Cascading deletion through ownerReferences, finalizers, namespaces and eviction with PDBs."""

from __future__ import annotations

import json
import time

import pytest
from api_helpers import configmap, pod
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.sandbox


@pytest.fixture
def core(sandbox):
    return client.CoreV1Api(sandbox.api_client())


def _owned(core, namespace: str, name: str, owner) -> None:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(namespace, configmap(name, ownerReferences=[ref]))


def _names(core, namespace: str) -> list[str]:
    """The test's own ConfigMaps (every namespace also has kube-root-ca.crt)."""
    return sorted(
        c.metadata.name
        for c in core.list_namespaced_config_map(namespace).items
        if c.metadata.name != "kube-root-ca.crt"
    )


def _until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_background_delete_removes_dependents(core, namespace) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    _owned(core, namespace, "child", owner)
    core.delete_namespaced_config_map("owner", namespace)
    assert _until(lambda: _names(core, namespace) == [])


def test_orphan_delete_keeps_dependents_without_the_reference(core, namespace) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    _owned(core, namespace, "child", owner)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    assert _names(core, namespace) == ["child"]
    assert core.read_namespaced_config_map("child", namespace).metadata.owner_references is None


def test_orphan_delete_drops_the_references_before_the_owner_goes(core, namespace) -> None:
    """Else the garbage collector can see the child dangling first and delete it (a CI flake)."""
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    _owned(core, namespace, "child", owner)
    since = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Orphan")
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, namespace, resource_version=since, timeout_seconds=10):
        meta = event["object"].metadata
        seen.append((event["type"], meta.name, bool(meta.owner_references)))
        if (event["type"], meta.name) == ("DELETED", "owner"):
            stream.stop()
    assert ("MODIFIED", "child", False) in seen
    assert seen.index(("MODIFIED", "child", False)) < seen.index(("DELETED", "owner", False))
    assert ("DELETED", "child", False) not in seen


def test_foreground_delete_waits_for_dependents_with_a_finalizer(core, namespace) -> None:
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    blocker = core.create_namespaced_config_map(namespace, configmap("blocker", finalizers=["test/hold"]))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.patch_namespaced_config_map("blocker", namespace, {"metadata": {"ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Foreground")
    held = core.read_namespaced_config_map("owner", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in held.metadata.finalizers
    assert core.read_namespaced_config_map("blocker", namespace).metadata.deletion_timestamp is not None
    assert blocker.metadata.finalizers == ["test/hold"]
    core.patch_namespaced_config_map("blocker", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
    assert _until(lambda: _names(core, namespace) == [])


def test_delete_options_in_a_body_without_content_type(sandbox, core, namespace) -> None:
    """Python v37 sends DeleteOptions as a body with no Content-Type; the grace period must apply."""
    core.create_namespaced_pod(namespace, pod("p"))
    answered = core.delete_namespaced_pod("p", namespace, body=client.V1DeleteOptions(grace_period_seconds=7))
    assert answered.metadata.deletion_grace_period_seconds == 7
    answered = core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)
    assert _until(lambda: core.list_namespaced_pod(namespace).items == [])


def _ready_pod(core, namespace: str, name: str) -> None:
    core.create_namespaced_pod(namespace, pod(name, labels={"app": "web"}))
    core.patch_namespaced_pod_status(
        name, namespace, {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    )


def _evict(core, namespace: str, name: str) -> None:
    core.create_namespaced_pod_eviction(
        name, namespace, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    )


def test_eviction_refused_with_429_when_a_budget_would_break_else_graceful(sandbox, core, namespace) -> None:
    policy = client.PolicyV1Api(sandbox.api_client())
    for name in ("a", "b"):
        _ready_pod(core, namespace, name)
    policy.create_namespaced_pod_disruption_budget(
        namespace,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "pdb"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    status = policy.read_namespaced_pod_disruption_budget("pdb", namespace).status
    assert (status.current_healthy, status.desired_healthy, status.disruptions_allowed) == (2, 2, 0)
    with pytest.raises(ApiException) as err:
        _evict(core, namespace, "a")
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"]) == (429, "TooManyRequests")
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert core.read_namespaced_pod("a", namespace).metadata.deletion_timestamp is None
    policy.patch_namespaced_pod_disruption_budget("pdb", namespace, {"spec": {"minAvailable": 1}})
    _evict(core, namespace, "a")
    evicted = core.read_namespaced_pod("a", namespace)
    assert evicted.metadata.deletion_timestamp is not None
    assert evicted.metadata.deletion_grace_period_seconds == 30
    with pytest.raises(ApiException) as err:
        _evict(core, namespace, "b")  # a is terminating: b is the last healthy pod
    assert err.value.status == 429


def test_namespace_delete_removes_its_objects(sandbox, core) -> None:
    core.create_namespace({"metadata": {"name": "doomed-ns"}})
    core.create_namespaced_config_map("doomed-ns", configmap("c"))
    core.delete_namespace("doomed-ns")
    assert _until(lambda: "doomed-ns" not in [n.metadata.name for n in core.list_namespace().items])
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("c", "doomed-ns")
    assert err.value.status == 404
