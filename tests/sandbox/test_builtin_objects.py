"""What every cluster has: each namespace's `default` ServiceAccount and `kube-root-ca.crt`
ConfigMap, and `default/kubernetes` (Service, Endpoints, EndpointSlice) naming the API server —
through kubectl and the official client (docs/sandbox.md "What every cluster has").
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from kubernetes import client
from test_kubectl_api import kubectl

pytestmark = [pytest.mark.sandbox, pytest.mark.requires("kubectl")]


def test_a_new_namespace_has_its_default_service_account_and_root_ca(sandbox, namespace) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    # no wait: they exist as soon as the namespace does
    assert core.read_namespaced_service_account("default", namespace).metadata.name == "default"
    ca = core.read_namespaced_config_map("kube-root-ca.crt", namespace)
    assert ca.data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert "kube-apiserver" in ca.metadata.annotations["kubernetes.io/description"]
    assert kubectl(sandbox, "get", "sa", "-n", namespace, "-o", "name").stdout == "serviceaccount/default\n"
    shown = kubectl(sandbox, "get", "cm", "kube-root-ca.crt", "-n", namespace, "-o", "jsonpath={.data.ca\\.crt}")
    assert shown.stdout == ca.data["ca.crt"]
    # one CA for the whole cluster
    assert core.read_namespaced_config_map("kube-root-ca.crt", "kube-system").data == ca.data
    for system in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert core.read_namespaced_service_account("default", system).metadata.namespace == system


def test_the_kubernetes_service_points_at_the_api_server(sandbox) -> None:
    api_port = urlsplit(sandbox.url).port
    service = json.loads(kubectl(sandbox, "get", "svc", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert service["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["clusterIP"].startswith("127.20.")
    assert "selector" not in service["spec"]
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}]

    core = client.CoreV1Api(sandbox.api_client())
    endpoints = core.read_namespaced_endpoints("kubernetes", "default")
    assert endpoints.metadata.labels == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    [subset] = endpoints.subsets
    assert [a.ip for a in subset.addresses] == ["127.0.0.1"]
    assert [(p.name, p.port, p.protocol) for p in subset.ports] == [("https", api_port, "TCP")]
    slice_ = client.DiscoveryV1Api(sandbox.api_client()).read_namespaced_endpoint_slice("kubernetes", "default")
    assert slice_.metadata.labels["kubernetes.io/service-name"] == "kubernetes"
    assert [(e.addresses, e.conditions.ready) for e in slice_.endpoints] == [(["127.0.0.1"], True)]
    assert [(p.name, p.port) for p in slice_.ports] == [("https", api_port)]
    listed = kubectl(sandbox, "get", "endpointslices", "kubernetes", "-n", "default").stdout.splitlines()
    assert listed[1].split()[:4] == ["kubernetes", "IPv4", str(api_port), "127.0.0.1"]
