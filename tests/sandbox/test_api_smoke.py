"""The shared sandbox fixture serves the Kubernetes API and isolates tests by namespace."""

from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.sandbox


def test_namespace_fixture_gives_an_empty_namespace(sandbox, namespace) -> None:
    api = client.CoreV1Api(sandbox.api_client())
    assert api.read_namespace(namespace).status.phase == "Active"
    assert api.list_namespaced_pod(namespace).items == []


def test_request_log_records_what_a_client_did(sandbox, namespace) -> None:
    mark = sandbox.mark()
    api = client.CoreV1Api(sandbox.api_client())
    api.list_namespaced_config_map(namespace)
    entries = sandbox.requests(since=mark)
    assert [(e["verb"], e["resource"], e["namespace"], e["code"]) for e in entries] == [
        ("list", "configmaps", namespace, 200)
    ]
