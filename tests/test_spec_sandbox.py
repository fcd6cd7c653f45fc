"""The drill spec's `sandbox:` block: per-direction lags, data-plane modes, ingress retries, and the schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from nonstop.errors import SpecError
from nonstop.spec import parse_drill


def drill(sandbox: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "nonstop.dev/v1alpha1",
        "kind": "Drill",
        "metadata": {"name": "d"},
        "spec": {"target": {"name": "web", "service": "web"}, "sandbox": sandbox},
    }


@pytest.mark.parametrize(
    ("sandbox", "add", "remove"),
    [
        ({}, 1.0, 1.0),
        ({"proxyLagSeconds": 3}, 3.0, 3.0),
        ({"addLagSeconds": 8}, 8.0, 1.0),
        ({"proxyLagSeconds": 3, "removeLagSeconds": 0.2}, 3.0, 0.2),  # the per-direction one wins
        ({"proxyLagSeconds": 3, "addLagSeconds": 10, "removeLagSeconds": 0}, 10.0, 0.0),
    ],
)
def test_proxy_lag_is_the_shorthand_and_a_per_direction_lag_wins(
    sandbox: dict[str, Any], add: float, remove: float
) -> None:
    spec = parse_drill(drill(sandbox), source="d.yaml").spec.sandbox
    assert (spec.add_lag, spec.remove_lag) == (add, remove)


def test_defaults_of_the_new_fields() -> None:
    spec = parse_drill(drill({}), source="d.yaml").spec.sandbox
    assert (spec.add_lag_seconds, spec.remove_lag_seconds) == (None, None)
    assert spec.ingress.retry_stale_connections is True
    assert parse_drill(drill({"dataPlane": "ipvs"}), source="d.yaml").spec.sandbox.data_plane == "ipvs"


@pytest.mark.parametrize(
    ("sandbox", "field"),
    [
        ({"addLagSeconds": -1}, "spec.sandbox.addLagSeconds"),
        ({"removeLagSeconds": -0.5}, "spec.sandbox.removeLagSeconds"),
        ({"removeLagSeconds": 601}, "spec.sandbox.removeLagSeconds"),
        ({"dataPlane": "iptables"}, "spec.sandbox.dataPlane"),
        ({"ingress": {"retryStaleConnections": "maybe"}}, "spec.sandbox.ingress.retryStaleConnections"),
        ({"networkDelayMs": -1}, "spec.sandbox.networkDelayMs"),
        ({"networkDelayMs": 1001}, "spec.sandbox.networkDelayMs"),
    ],
)
def test_bad_values_name_the_field(sandbox: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(f"d.yaml: field {field}:")):
        parse_drill(drill(sandbox), source="d.yaml")


def test_network_delay_defaults_to_zero_and_needs_a_connection_proxy() -> None:
    assert parse_drill(drill({}), source="d.yaml").spec.sandbox.network_delay_ms == 0
    ipvs = parse_drill(drill({"networkDelayMs": 10, "dataPlane": "ipvs"}), source="d.yaml").spec.sandbox
    assert ipvs.network_delay_ms == 10
    with pytest.raises(SpecError, match=r"^d\.yaml: field spec\.sandbox: networkDelayMs works with the kube-proxy"):
        parse_drill(drill({"networkDelayMs": 10, "dataPlane": "ingress"}), source="d.yaml")


def test_schema_documents_the_new_fields() -> None:
    out = subprocess.run([sys.executable, "-m", "nonstop", "schema"], check=True, capture_output=True, text=True).stdout
    defs = json.loads(out)["$defs"]
    props = defs["SandboxSpec"]["properties"]
    assert "register" in props["addLagSeconds"]["description"]
    assert "readinessGates" in props["addLagSeconds"]["description"]
    assert "deregister" in props["removeLagSeconds"]["description"]
    assert "wins" in props["proxyLagSeconds"]["description"]
    assert props["dataPlane"]["enum"] == ["kube-proxy", "ingress", "ipvs"]
    assert "123116" in props["dataPlane"]["description"]
    assert "23829" in props["networkDelayMs"]["description"]
    retry = defs["SandboxIngressSpec"]["properties"]["retryStaleConnections"]
    assert retry["default"] is True
    assert "502" in retry["description"]


def test_nodes_default_to_one_and_are_bounded() -> None:
    assert parse_drill(drill({}), source="d.yaml").spec.sandbox.nodes == 1
    assert parse_drill(drill({"nodes": 3}), source="d.yaml").spec.sandbox.nodes == 3
    for bad in (0, 101, "many"):
        with pytest.raises(SpecError, match=re.escape("d.yaml: field spec.sandbox.nodes:")):
            parse_drill(drill({"nodes": bad}), source="d.yaml")


def test_drain_needs_a_node_and_asks_for_node_and_eviction_permissions() -> None:
    from nonstop.permissions import Permission
    from nonstop.strategies import required_permissions

    body = drill({})
    body["spec"]["rollout"] = {"strategy": "drain"}
    with pytest.raises(SpecError, match=re.escape("rollout.node (the Node to drain) is required by strategy 'drain'")):
        parse_drill(body, source="d.yaml")
    body["spec"]["rollout"]["node"] = "sandbox-2"
    assert parse_drill(body, source="d.yaml").spec.rollout.node == "sandbox-2"
    needed = required_permissions(
        kind="Deployment", strategy="drain", on_pass="none", on_fail="rollback", terminate_old_pods=True
    )
    assert {Permission("", "nodes", "get"), Permission("", "nodes", "patch"),
            Permission("", "pods", "create", "eviction")} <= set(needed)  # fmt: skip
    assert not any(p.group == "apps" and p.verb == "patch" for p in needed)  # nothing to undo after a drain
