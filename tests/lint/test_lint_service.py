"""Service rules: service-selector-mismatch and service-publishes-not-ready."""

from __future__ import annotations

from typing import Any

from lint_helpers import findings, good, load, rule_ids


def _service(selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"port": 80, "targetPort": "http"}], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": body}


def test_service_selecting_the_workload_is_fine() -> None:
    assert rule_ids([good(), _service({"app": "web"})]) == []


def test_service_selecting_no_workload_is_an_error() -> None:
    [finding] = findings([good(), _service({"app": "frontend"})])
    assert (finding.rule, finding.severity, finding.kind, finding.index) == (
        "service-selector-mismatch",
        "error",
        "Service",
        1,
    )
    assert "app=frontend" in finding.message
    assert "Deployment/web has app=web,tier=frontend" in finding.message


def test_selector_must_match_every_key() -> None:
    assert rule_ids([good(), _service({"app": "web", "tier": "backend"})]) == ["service-selector-mismatch"]


def test_service_alone_is_not_judged_against_nothing() -> None:
    assert rule_ids([_service({"app": "elsewhere"})]) == []


def test_service_is_compared_only_with_workloads_of_its_namespace() -> None:
    other = good()
    other["metadata"]["namespace"] = "billing"
    assert rule_ids([other, _service({"app": "frontend"})]) == []


def test_services_without_selector_or_external_name_are_not_judged() -> None:
    external = _service({"app": "nothing"}, type="ExternalName", externalName="db.example.com")
    assert rule_ids([good(), _service(None), external]) == []


def test_service_may_select_daemonset_or_statefulset_pods() -> None:
    [daemonset] = load(
        """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: shop}
spec:
  template:
    metadata: {labels: {app: node-exporter}}
    spec: {containers: [{name: e, image: e:1}]}
"""
    )
    assert "service-selector-mismatch" not in rule_ids([good(), daemonset, _service({"app": "node-exporter"})])


def test_controller_hash_labels_in_live_selectors_are_ignored() -> None:
    live = _service({"app": "web", "rollouts-pod-template-hash": "6d4f8c"})
    assert rule_ids([good(), live]) == []


def test_publish_not_ready_addresses_is_a_warning() -> None:
    [finding] = findings([good(), _service({"app": "web"}, publishNotReadyAddresses=True)])
    assert (finding.rule, finding.severity, finding.container) == ("service-publishes-not-ready", "warning", None)
