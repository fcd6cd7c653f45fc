"""The official Python client against the real control plane."""

from __future__ import annotations

import pytest
from kubernetes import client, config

pytestmark = pytest.mark.realcp


def test_official_client_lists_namespaces(realcp, namespace) -> None:
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(realcp.admin_kubeconfig)))
    names = {ns.metadata.name for ns in api.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease", namespace} <= names
