"""Argo Rollouts as custom objects: CRUD, /status, /scale, merge patch, 415 for strategic merge."""

from __future__ import annotations

import json

import pytest
from api_helpers import rollout
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.sandbox

G, V, P = "argoproj.io", "v1alpha1", "rollouts"


@pytest.fixture
def custom(sandbox):
    return client.CustomObjectsApi(sandbox.api_client())


def test_rollout_crud_and_list(custom, namespace) -> None:
    created = custom.create_namespaced_custom_object(G, V, namespace, P, rollout("web"))
    assert (created["kind"], created["metadata"]["generation"]) == ("Rollout", 1)
    listed = custom.list_namespaced_custom_object(G, V, namespace, P)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]
    assert listed["items"][0]["apiVersion"] == "argoproj.io/v1alpha1"
    custom.delete_namespaced_custom_object(G, V, namespace, P, "web")
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(G, V, namespace, P, "web")
    assert json.loads(err.value.body)["message"] == 'rollouts.argoproj.io "web" not found'


def test_promote_and_abort_patches_land_on_status(custom, namespace) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, P, rollout("web"))
    custom.patch_namespaced_custom_object_status(
        G, V, namespace, P, "web", {"status": {"pauseConditions": [{"reason": "CanaryPauseStep"}], "phase": "Paused"}}
    )
    unpaused = custom.patch_namespaced_custom_object(G, V, namespace, P, "web", {"spec": {"paused": False}})
    assert unpaused["status"]["phase"] == "Paused"  # main-resource writes keep status
    promoted = custom.patch_namespaced_custom_object_status(
        G, V, namespace, P, "web", {"status": {"pauseConditions": None}}
    )
    assert "pauseConditions" not in promoted["status"]
    assert promoted["spec"]["paused"] is False
    aborted = custom.patch_namespaced_custom_object_status(
        G, V, namespace, P, "web", {"status": {"abort": True}, "spec": {"replicas": 99}}
    )
    assert aborted["status"]["abort"] is True
    assert aborted["spec"]["replicas"] == 2  # status writes keep spec


def test_rollout_scale_subresource(custom, namespace) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, P, rollout("web", replicas=2))
    custom.patch_namespaced_custom_object_status(
        G, V, namespace, P, "web", {"status": {"HPAReplicas": 2, "selector": "app=web"}}
    )
    scale = custom.get_namespaced_custom_object_scale(G, V, namespace, P, "web")
    assert (scale["spec"]["replicas"], scale["status"]["replicas"], scale["status"]["selector"]) == (2, 2, "app=web")
    custom.patch_namespaced_custom_object_scale(G, V, namespace, P, "web", {"spec": {"replicas": 3}})
    assert custom.get_namespaced_custom_object(G, V, namespace, P, "web")["spec"]["replicas"] == 3


def test_strategic_merge_on_a_custom_object_is_415(custom, namespace) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, P, rollout("web"))
    with pytest.raises(ApiException) as err:
        custom.patch_namespaced_custom_object(
            G,
            V,
            namespace,
            P,
            "web",
            {"spec": {"paused": True}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert err.value.status == 415
    assert json.loads(err.value.body)["reason"] == "UnsupportedMediaType"
