"""EndpointSlices and v1 Endpoints through the API (K8S-SEMANTICS.md §4): conditions, ports, removal, placeholder."""

from __future__ import annotations

from typing import Any

import pytest
from controllers_helpers import SLOW_EXIT_COMMAND, container, deployment, service, until
from kubernetes import client

pytestmark = pytest.mark.sandbox


@pytest.fixture
def apps(sandbox: Any) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


@pytest.fixture
def core(sandbox: Any) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


@pytest.fixture
def discovery(sandbox: Any) -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(sandbox.api_client())


def _slices(discovery: client.DiscoveryV1Api, namespace: str, name: str) -> list[Any]:
    return discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={name}"
    ).items


def _endpoints(discovery: client.DiscoveryV1Api, namespace: str, name: str) -> dict[str, Any]:
    """targetRef name → endpoint, over every slice of the Service."""
    return {ep.target_ref.name: ep for s in _slices(discovery, namespace, name) for ep in s.endpoints or []}


def _pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [container(command)], **spec},
    }


def test_slice_shape_labels_owner_and_named_port(
    core: client.CoreV1Api, discovery: client.DiscoveryV1Api, namespace: str
) -> None:
    """One IPv4 slice named `<svc>-…`, labelled and owned by the Service; the named targetPort resolved."""
    svc = core.create_namespaced_service(namespace, service("web", target_port="http"))
    core.create_namespaced_pod(namespace, _pod("p1", ["sleep", "3600"]))
    endpoint = until(lambda: (e := _endpoints(discovery, namespace, "web").get("p1")) and e.conditions.ready and e, 20)
    pod = core.read_namespaced_pod("p1", namespace)
    [slice_] = _slices(discovery, namespace, "web")
    assert slice_.metadata.name.startswith("web-")
    assert slice_.metadata.generate_name == "web-"
    assert slice_.address_type == "IPv4"
    assert slice_.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    [owner] = slice_.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Service", "web", svc.metadata.uid, True)
    assert [(p.name, p.port, p.protocol) for p in slice_.ports] == [("", 8080, "TCP")]
    assert endpoint.addresses == [pod.status.pod_ip]
    assert (endpoint.conditions.ready, endpoint.conditions.serving, endpoint.conditions.terminating) == (
        True,
        True,
        False,
    )
    assert (endpoint.target_ref.kind, endpoint.target_ref.uid) == ("Pod", pod.metadata.uid)
    assert endpoint.node_name == pod.spec.node_name
    legacy = until(lambda: core.read_namespaced_endpoints("web", namespace).subsets, timeout=10)
    assert [a.ip for a in legacy[0].addresses] == [pod.status.pod_ip]
    assert legacy[0].ports[0].port == 8080


def test_terminating_ready_pod_is_serving_not_ready_then_removed(
    sandbox: Any, core: client.CoreV1Api, discovery: client.DiscoveryV1Api, namespace: str
) -> None:
    """A Ready pod being deleted shows ready:false, serving:true, terminating:true; it goes once it has exited."""
    core.create_namespaced_service(namespace, service("web"))
    core.create_namespaced_pod(namespace, _pod("slow", SLOW_EXIT_COMMAND, terminationGracePeriodSeconds=10))
    until(lambda: (ep := _endpoints(discovery, namespace, "web").get("slow")) and ep.conditions.ready, timeout=20)
    core.delete_namespaced_pod("slow", namespace)
    ep = until(
        lambda: (e := _endpoints(discovery, namespace, "web").get("slow")) and e.conditions.terminating and e,
        timeout=10,
    )
    assert (ep.conditions.ready, ep.conditions.serving, ep.conditions.terminating) == (False, True, True)
    legacy = core.read_namespaced_endpoints("web", namespace)
    assert not legacy.subsets  # the legacy Endpoints drop a terminating pod at once
    until(lambda: "slow" not in _endpoints(discovery, namespace, "web"), timeout=20)
    # the Service keeps one empty placeholder slice, sent as `"endpoints": null`
    [placeholder] = _slices(discovery, namespace, "web")
    assert placeholder.endpoints is None
    raw = sandbox._call("GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices")
    assert [item["endpoints"] for item in raw["items"]] == [None]


def test_min_ready_seconds_does_not_keep_a_probeless_pod_out_of_endpoints(
    apps: client.AppsV1Api, core: client.CoreV1Api, discovery: client.DiscoveryV1Api, namespace: str
) -> None:
    """Endpoints follow the pod's Ready condition: a pod with no probe is ready:true while still unavailable."""
    core.create_namespaced_service(namespace, service("web"))
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1, minReadySeconds=60))
    endpoint = until(lambda: next(iter(_endpoints(discovery, namespace, "web").values()), None), timeout=20)
    until(lambda: _endpoints(discovery, namespace, "web")[endpoint.target_ref.name].conditions.ready, timeout=20)
    d = apps.read_namespaced_deployment("web", namespace)
    assert (d.status.ready_replicas, d.status.available_replicas or 0) == (1, 0)
    conditions = {c.type: c for c in d.status.conditions}
    # …while the Deployment counts it unavailable (1 replica, maxUnavailable 25% → 0)
    assert (conditions["Available"].status, conditions["Available"].reason) == ("False", "MinimumReplicasUnavailable")
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert (rs.status.ready_replicas, rs.status.available_replicas or 0) == (1, 0)


def test_min_ready_seconds_makes_the_pod_available_later(apps: client.AppsV1Api, namespace: str) -> None:
    """The controllers re-check availability after minReadySeconds without another change to wake them."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1, minReadySeconds=2))
    until(lambda: apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 1, timeout=20)
    assert until(lambda: apps.read_namespaced_deployment("web", namespace).status.available_replicas == 1, timeout=10)


def test_unready_and_publish_not_ready_addresses(
    core: client.CoreV1Api, discovery: client.DiscoveryV1Api, namespace: str
) -> None:
    """An unready pod is ready:false/serving:false; publishNotReadyAddresses makes it ready:true."""
    never_ready = container(["sleep", "3600"], readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unready", "labels": {"app": "web"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [never_ready]},
    }
    core.create_namespaced_pod(namespace, pod)
    core.create_namespaced_service(namespace, service("web"))
    published = service("pub", publishNotReadyAddresses=True)
    published["spec"]["selector"] = {"app": "web"}
    core.create_namespaced_service(namespace, published)
    ep = until(lambda: _endpoints(discovery, namespace, "web").get("unready"), timeout=20)
    assert (ep.conditions.ready, ep.conditions.serving, ep.conditions.terminating) == (False, False, False)
    pub = until(lambda: _endpoints(discovery, namespace, "pub").get("unready"), timeout=20)
    assert (pub.conditions.ready, pub.conditions.serving) == (True, False)
    legacy = until(lambda: core.read_namespaced_endpoints("web", namespace).subsets, timeout=10)
    assert legacy[0].addresses is None
    assert [a.target_ref.name for a in legacy[0].not_ready_addresses] == ["unready"]


def test_pod_leaving_the_selector_is_removed(
    core: client.CoreV1Api, discovery: client.DiscoveryV1Api, namespace: str
) -> None:
    """Relabelling a pod out of the selector removes its endpoint (it is not terminating: it no longer matches)."""
    core.create_namespaced_service(namespace, service("web"))
    core.create_namespaced_pod(namespace, _pod("a", ["sleep", "3600"]))
    core.create_namespaced_pod(namespace, _pod("b", ["sleep", "3600"]))
    until(lambda: set(_endpoints(discovery, namespace, "web")) == {"a", "b"}, timeout=20)
    core.patch_namespaced_pod("a", namespace, {"metadata": {"labels": {"app": "other"}}})
    until(lambda: set(_endpoints(discovery, namespace, "web")) == {"b"}, timeout=10)
    assert len(_slices(discovery, namespace, "web")) == 1
