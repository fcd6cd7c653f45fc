"""Server-side apply and managedFields through the official Python client (typed, raw and dynamic)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from api_helpers import deployment
from kubernetes import client, utils
from kubernetes.dynamic import DynamicClient

pytestmark = pytest.mark.sandbox

APPLY = "application/apply-patch+yaml"


def _apply(api: Any, namespace: str, body: Any, manager: str | None, **query: str) -> tuple[int, dict[str, Any]]:
    """PATCH an apply configuration as the client's raw call does; (status, JSON body) also for errors."""
    name = (body if isinstance(body, dict) else yaml.safe_load(body))["metadata"]["name"]
    params = [("fieldManager", manager)] if manager else []
    params += list(query.items())
    request = api.param_serialize(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        query_params=params,
        header_params={"Content-Type": APPLY, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    return response.status, json.loads(response.data)


def _owners(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
        for e in obj["metadata"].get("managedFields", [])
    }


def test_apply_creates_then_a_second_manager_conflicts_and_force_takes_ownership(sandbox, namespace) -> None:
    api = sandbox.api_client()
    code, created = _apply(api, namespace, yaml.safe_dump(deployment("web", replicas=2)), "alice")
    assert code == 201
    assert created["spec"]["replicas"] == 2
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted as any create
    alice = _owners(created)[("alice", "Apply", "")]
    assert alice["f:spec"]["f:replicas"] == {}
    assert 'k:{"name":"web"}' in alice["f:spec"]["f:template"]["f:spec"]["f:containers"]

    code, same = _apply(api, namespace, deployment("web", replicas=2), "bob")  # same values: shared, no conflict
    assert code == 200
    assert _owners(same)[("bob", "Apply", "")]["f:spec"]["f:replicas"] == {}

    code, status = _apply(api, namespace, deployment("web", replicas=3), "carol")
    assert code == 409
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\nconflicts with "bob":\n'
        "- .spec.replicas"
    )
    assert status["details"] == {
        "causes": [
            {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"},
            {"reason": "FieldManagerConflict", "message": 'conflict with "bob"', "field": ".spec.replicas"},
        ]
    }
    assert client.AppsV1Api(api).read_namespaced_deployment("web", namespace).spec.replicas == 2

    code, forced = _apply(api, namespace, deployment("web", replicas=3), "carol", force="true")
    assert code == 200
    assert forced["spec"]["replicas"] == 3
    owners = _owners(forced)
    assert "f:replicas" not in owners[("alice", "Apply", "")]["f:spec"]
    assert "f:replicas" not in owners[("bob", "Apply", "")]["f:spec"]


def test_an_update_takes_a_field_from_its_applier_and_apply_then_conflicts_with_it(sandbox, namespace) -> None:
    api = sandbox.api_client()
    apps = client.AppsV1Api(api)
    _apply(api, namespace, deployment("web"), "kubectl")
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}}, field_manager="hpa-like")
    edited = apps.patch_namespaced_deployment(
        "web", namespace, {"metadata": {"labels": {"team": "x"}}}, _preload_content=False
    )
    owners = _owners(json.loads(edited.data))
    assert owners[("hpa-like", "Update", "scale")] == {"f:spec": {"f:replicas": {}}}
    assert owners[("OpenAPI-Generator", "Update", "")] == {"f:metadata": {"f:labels": {"f:team": {}}}}
    assert "f:replicas" not in owners[("kubectl", "Apply", "")]["f:spec"]

    code, status = _apply(api, namespace, deployment("web"), "kubectl")
    assert code == 409
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "hpa-like" with subresource "scale" using apps/v1: .spec.replicas'
    )


def test_a_field_its_only_applier_drops_is_removed_a_co_owned_one_stays(sandbox, namespace) -> None:
    api = sandbox.api_client()
    full = deployment("web")
    container = full["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    _apply(api, namespace, full, "alice")
    other = deployment("web")
    other["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "2"}]
    _apply(api, namespace, other, "bob")  # co-owns env B (and the rest), not env A
    code, after = _apply(api, namespace, deployment("web"), "alice")
    assert code == 200
    env = after["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "B", "value": "2"}]


def test_lists_merge_by_their_keys_ports_by_port_and_protocol(sandbox, namespace) -> None:
    api = sandbox.api_client()
    _apply(api, namespace, deployment("web"), "alice")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 8080, "protocol": "UDP"}]},
                        {"name": "proxy", "image": "nonstop/sample-app:v1"},
                    ]
                }
            }
        },
    }
    code, merged = _apply(api, namespace, sidecar, "mesh")
    assert code == 200
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "proxy"]
    assert containers[0]["image"] == "nonstop/sample-app:v1"  # alice's, untouched
    assert [(p["containerPort"], p["protocol"]) for p in containers[0]["ports"]] == [(8080, "TCP"), (8080, "UDP")]


def test_apply_needs_a_field_manager_and_force_is_for_apply_only(sandbox, namespace) -> None:
    api = sandbox.api_client()
    code, status = _apply(api, namespace, deployment("web"), None)
    assert (code, status["reason"]) == (422, "Invalid")
    assert (
        status["message"]
        == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: is required for apply patch",
            "field": "fieldManager",
        }
    ]
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}}, force=True)
    assert err.value.status == 422
    assert "force: Forbidden: may not be specified for non-apply patch" in json.loads(err.value.body)["message"]
    wrong = deployment("web")
    wrong["apiVersion"] = "apps/v1beta1"
    code, status = _apply(api, namespace, wrong, "alice")
    assert (code, status["message"]) == (400, "invalid object type: apps/v1beta1, Kind=Deployment")


def test_controllers_and_the_kubelet_are_managers_of_what_they_write(sandbox, namespace) -> None:
    api = sandbox.api_client()
    _apply(api, namespace, deployment("web"), "alice")
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 60
    owners: dict[tuple[str, str, str], Any] = {}
    while time.monotonic() < deadline:
        pods = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
        owners = _owners(pods[0]) if pods else {}
        if ("kubelet", "Update", "status") in owners:
            break
        time.sleep(0.2)
    assert owners[("kube-controller-manager", "Update", "")]["f:metadata"]["f:ownerReferences"]
    assert "f:containerStatuses" in owners[("kubelet", "Update", "status")]["f:status"]
    d = json.loads(client.AppsV1Api(api).read_namespaced_deployment("web", namespace, _preload_content=False).data)
    assert "f:observedGeneration" in _owners(d)[("kube-controller-manager", "Update", "status")]["f:status"]


def test_the_dynamic_client_and_create_from_yaml_apply(sandbox, namespace) -> None:
    api = sandbox.api_client()
    utils.create_from_yaml(api, yaml_objects=[deployment("web")], namespace=namespace, apply=True)
    dyn = DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert _owners(deployments.get(name="web", namespace=namespace).to_dict())[("python-client", "Apply", "")]
    with pytest.raises(client.ApiException) as err:
        deployments.server_side_apply(
            body=deployment("web", replicas=5), namespace=namespace, field_manager="other", force_conflicts=False
        )
    assert err.value.status == 409
    applied = deployments.server_side_apply(
        body=deployment("web", replicas=5), namespace=namespace, field_manager="other", force_conflicts=True
    )
    assert applied.spec.replicas == 5
