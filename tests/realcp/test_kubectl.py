"""The kubectl commands an SRE reaches for first, against the real control plane (no node yet)."""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest

from nonstop.bundled import config_file

pytestmark = [pytest.mark.realcp, pytest.mark.slow]


def _until(what: str, probe: Any, timeout: float = 60.0) -> Any:
    """Poll `probe()` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.25)


def _get(kubectl: Any, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return out


def test_kubectl_version_dispatches_to_the_served_minor(kubectl) -> None:
    versions = json.loads(kubectl("version", "-o", "json").stdout)
    assert versions["serverVersion"]["gitVersion"] == "v1.33.13"
    assert versions["clientVersion"]["minor"].rstrip("+") == "33"


def test_get_raw_readyz(kubectl) -> None:
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_create_namespace_gets_root_ca_and_default_service_account(kubectl, realcp, namespace) -> None:
    configmap = _until(
        "kube-root-ca.crt ConfigMap",
        lambda: kubectl("get", "configmap", "kube-root-ca.crt", "-n", namespace, "-o", "json", check=False).stdout,
    )
    assert json.loads(configmap)["data"]["ca.crt"].strip() == realcp.ca_cert.read_text().strip()
    _until(
        "default ServiceAccount",
        lambda: kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0,
    )


def test_apply_without_flags_creates_objects_the_controllers_and_scheduler_act_on(kubectl, realcp, namespace) -> None:
    applied = kubectl("apply", "-n", namespace, "-f", str(config_file("examples/after.yaml"))).stdout
    assert "deployment.apps/web created" in applied
    assert "service/web created" in applied
    cluster_ip = _get(kubectl, "service", "web", "-n", namespace)["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(realcp.service_cidr)
    # kube-controller-manager: the Deployment controller made a ReplicaSet, the ReplicaSet controller a pod.
    replicasets = _until("ReplicaSet", lambda: _get(kubectl, "replicasets", "-n", namespace)["items"])
    assert replicasets[0]["metadata"]["ownerReferences"][0]["name"] == "web"
    pods = _until("pod", lambda: _get(kubectl, "pods", "-n", namespace)["items"])
    assert pods[0]["status"]["phase"] == "Pending"
    # kube-scheduler: there is no node, so it says so on the pod.
    event = _until(
        "FailedScheduling event",
        lambda: [
            e
            for e in _get(kubectl, "events", "-n", namespace)["items"]
            if e["reason"] == "FailedScheduling" and e["involvedObject"]["name"] == pods[0]["metadata"]["name"]
        ],
    )[0]
    assert event["message"] == "no nodes available to schedule pods"


def test_auth_can_i_follows_rbac(kubectl, namespace) -> None:
    assert kubectl("auth", "can-i", "create", "deployments", "-n", namespace).stdout.strip() == "yes"
    sa = f"system:serviceaccount:{namespace}:default"
    denied = kubectl("auth", "can-i", "create", "deployments", "-n", namespace, "--as", sa, check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")


def test_node_credentials_may_register_only_their_own_node(kubectl, realcp, tmp_path: Path) -> None:
    creds = realcp.node_credentials("node-a")
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", kubeconfig=creds.kubeconfig).stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:node:node-a"
    assert "system:nodes" in whoami["status"]["userInfo"]["groups"]
    for name, allowed in (("node-a", True), ("node-b", False)):
        manifest = tmp_path / f"{name}.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
        done = kubectl("create", "--dry-run=server", "-f", str(manifest), kubeconfig=creds.kubeconfig, check=False)
        assert (done.returncode == 0) is allowed, done.stderr
        if not allowed:
            assert "forbidden" in done.stderr.lower()


def test_loopback_is_a_valid_service_range_but_not_an_endpoint_address(kubectl, namespace, tmp_path: Path) -> None:
    """The finding the node must live with: ClusterIPs may be 127.x, EndpointSlice addresses may not."""
    kubectl("create", "service", "clusterip", "probe", "--tcp=80:8080", "-n", namespace)
    assert _get(kubectl, "service", "probe", "-n", namespace)["spec"]["clusterIP"].startswith("127.20.")
    for name, address, accepted in (("loop", "127.11.0.5", False), ("private", "10.244.0.5", True)):
        manifest = tmp_path / f"{name}.json"
        manifest.write_text(
            json.dumps(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "probe"}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [address]}],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                }
            )
        )
        done = kubectl("create", "--dry-run=server", "-n", namespace, "-f", str(manifest), check=False)
        assert (done.returncode == 0) is accepted, done.stderr
        if not accepted:
            assert "may not be in the loopback range" in done.stderr
