"""Label and field selectors on list, with Kubernetes' 400 for unknown field selectors."""

from __future__ import annotations

import json

import pytest
from api_helpers import configmap, pod
from kubernetes import client
from kubernetes.client.rest import ApiException

from nonstop.sandbox.kinds import by_resource
from nonstop.sandbox.selectors import parse_field_selector, parse_label_selector


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"a", "b"}),
        ("app==web,tier=front", {"a"}),
        ("app!=web", {"c", "d"}),
        ("tier in (front, back)", {"a", "b"}),
        ("tier notin (front)", {"b", "c", "d"}),
        ("tier", {"a", "b"}),
        ("!tier", {"c", "d"}),
        ("", {"a", "b", "c", "d"}),
    ],
)
def test_label_selector_operators(selector: str, expected: set[str]) -> None:
    objects = {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "tier": "back"},
        "c": {"app": "db"},
        "d": {},
    }
    parsed = parse_label_selector(selector)
    assert {name for name, labels in objects.items() if parsed.matches(labels)} == expected


def test_unknown_field_selector_is_400_with_kubernetes_message() -> None:
    kind = by_resource("apps", "v1", "deployments")
    assert kind is not None
    with pytest.raises(
        Exception,
        match=r'"spec.replicas" is not a known field selector: only "metadata.name", '
        r'"metadata.namespace"',
    ):
        parse_field_selector(kind, "spec.replicas=1")


@pytest.mark.sandbox
def test_selectors_through_the_client(sandbox, namespace) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    for name, labels in {"a": {"app": "web"}, "b": {"app": "db"}}.items():
        core.create_namespaced_pod(namespace, pod(name, labels=labels))
    core.create_namespaced_pod(namespace, pod("c", labels={"app": "web"}, node="other-node"))
    names = lambda items: sorted(i.metadata.name for i in items)  # noqa: E731
    assert names(core.list_namespaced_pod(namespace, label_selector="app=web").items) == ["a", "c"]
    assert names(core.list_namespaced_pod(namespace, label_selector="app in (db)").items) == ["b"]
    assert names(core.list_namespaced_pod(namespace, field_selector="spec.nodeName=other-node").items) == ["c"]
    assert names(core.list_namespaced_pod(namespace, field_selector="metadata.name!=a,status.phase=Pending").items) == [
        "b",
        "c",
    ]
    assert names(core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={namespace}").items) == [
        "a",
        "b",
        "c",
    ]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == (
        '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )
    core.create_namespaced_config_map(namespace, configmap("x"))
    assert names(core.list_namespaced_config_map(namespace, field_selector="metadata.name=x").items) == ["x"]
