"""The three PATCH formats: RFC 7386, RFC 6902 and strategic merge with Kubernetes' directives."""

from __future__ import annotations

import json

import pytest
from api_helpers import deployment
from kubernetes import client
from kubernetes.client.rest import ApiException

from nonstop.sandbox.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

POD_SPEC = {
    "spec": {
        "containers": [
            {
                "name": "a",
                "image": "a:1",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
            },
            {"name": "b", "image": "b:1"},
        ],
        "finalizers": ["f1"],
    }
}


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    out = merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None, "d": 3}, "l": [3]})
    assert out == {"a": {"c": 2, "d": 3}, "l": [3]}


def test_json_patch_applies_operations_in_order_and_fails_a_test() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "remove", "path": "/b/c"},
            {"op": "copy", "from": "/a/0", "path": "/b/x"},
            {"op": "move", "from": "/a/1", "path": "/m"},
        ],
    )
    assert out == {"a": [1, 3], "b": {"x": 1}, "m": 2}
    assert doc == {"a": [1, 2], "b": {"c": 1}}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/b/c", "value": 2}])


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    out = strategic_merge_patch(
        POD_SPEC, {"spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "3"}]}]}}
    )
    a, b = out["spec"]["containers"]
    assert (a["image"], b["image"]) == ("a:2", "b:1")
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]


def test_strategic_merge_directives_delete_replace_order_retain_and_primitive_delete() -> None:
    deleted = strategic_merge_patch(POD_SPEC, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["a"]
    replaced = strategic_merge_patch(
        POD_SPEC, {"spec": {"containers": [{"name": "z", "image": "z"}, {"$patch": "replace"}]}}
    )
    assert replaced["spec"]["containers"] == [{"name": "z", "image": "z"}]
    ordered = strategic_merge_patch(
        POD_SPEC,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "a:3"}],
            }
        },
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["b", "a"]
    strategy = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}
    retained = strategic_merge_patch(strategy, {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}})
    assert retained == {"strategy": {"type": "Recreate"}}
    union = strategic_merge_patch(POD_SPEC, {"spec": {"finalizers": ["f2"]}})
    assert union["spec"]["finalizers"] == ["f1", "f2"]
    pruned = strategic_merge_patch(POD_SPEC, {"spec": {"$deleteFromPrimitiveList/finalizers": ["f1"]}})
    assert pruned["spec"]["finalizers"] == []
    whole = strategic_merge_patch(POD_SPEC, {"spec": {"$patch": "replace", "containers": []}})
    assert whole["spec"] == {"containers": []}


@pytest.mark.sandbox
def test_every_patch_type_through_the_client(sandbox, namespace) -> None:
    apps = client.AppsV1Api(sandbox.api_client())
    apps.create_namespaced_deployment(namespace, deployment("web"))
    # a dict is sent as strategic merge: the container is merged by name, not replaced
    strategic = apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "img:2"}]}}}}
    )
    container = strategic.spec.template.spec.containers[0]
    assert (container.image, container.ports[0].container_port) == ("img:2", 8080)
    # a list is sent as JSON patch
    jp = apps.patch_namespaced_deployment("web", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    assert jp.spec.replicas == 4
    merged = apps.patch_namespaced_deployment(
        "web",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "img:3"}]}}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.spec.template.spec.containers[0].ports is None  # a merge patch replaces the list whole


@pytest.mark.sandbox
def test_failed_json_patch_test_is_422(sandbox, namespace) -> None:
    apps = client.AppsV1Api(sandbox.api_client())
    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", namespace, [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert err.value.status == 422


@pytest.mark.sandbox
def test_patch_with_stale_resource_version_precondition_is_409(sandbox, namespace) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map(
            "c", namespace, {"metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {"a": "3"}}
        )
    assert json.loads(err.value.body)["reason"] == "Conflict"
