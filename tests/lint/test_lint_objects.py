"""lint_objects as a whole: other kinds ignored, order, and the rule table."""

from __future__ import annotations

from lint_helpers import container, findings, good

from checks.lint import RULES, lint_objects


def test_other_kinds_and_non_objects_are_ignored_silently() -> None:
    others = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"}, "spec": {}},
        {"kind": "Deployment"},  # no spec at all: nothing to read, nothing to crash on
    ]
    assert [f.rule for f in lint_objects(others)] == ["single-replica"]


def test_malformed_fields_do_not_crash() -> None:
    obj = good()
    obj["spec"]["replicas"] = "three"
    obj["spec"]["strategy"] = "fast"
    container(obj)["ports"] = "8080"
    container(obj)["lifecycle"] = {"preStop": {"exec": {"command": "sleep 5"}}}
    found = lint_objects([obj, None, "text", 3])  # type: ignore[list-item]
    # the non-objects are skipped; the malformed Deployment is still judged on what it does say:
    # "three" is no replica count (so 1), and a probe on port 'http' with `ports` not a list names no port
    assert [(f.rule, f.name) for f in found] == [("readiness-probe-port-mismatch", "web"), ("single-replica", "web")]


def test_findings_are_ordered_by_object_then_rule_table_order() -> None:
    first = good()
    first["spec"]["replicas"] = 1
    del container(first)["readinessProbe"]
    second = good()
    del container(second)["lifecycle"]
    found = findings([first, second])
    assert [(f.index, f.rule) for f in found] == [
        (0, "readiness-probe-missing"),
        (0, "single-replica"),
        (1, "prestop-hook-missing"),
    ]


def test_rule_table_matches_the_contract() -> None:
    assert {rule_id: rule.severity for rule_id, rule in RULES.items()} == {
        "readiness-probe-missing": "error",
        "readiness-probe-port-mismatch": "error",
        "liveness-same-as-readiness": "warning",
        "prestop-hook-missing": "warning",
        "prestop-exceeds-grace-period": "error",
        "grace-period-too-short": "warning",
        "rolling-update-zero-surge-and-unavailable": "error",
        "rolling-update-all-unavailable": "error",
        "recreate-strategy": "error",
        "single-replica": "warning",
        "pod-disruption-budget-missing": "warning",
        "service-selector-mismatch": "error",
        "service-publishes-not-ready": "warning",
        "pdb-no-policy": "warning",
        "pdb-blocks-eviction": "warning",
        "readiness-probe-protocol-mismatch": "error",
        "startup-probe-port-mismatch": "error",
        "no-anti-affinity": "warning",
        "hpa-with-replicas": "warning",
        "daemonset-rolling-update": "warning",
        "liveness-without-startup-probe": "warning",
        "shell-pid1-no-exec": "warning",
        "prestop-shorter-than-deregistration": "warning",
    }
