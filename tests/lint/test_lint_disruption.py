"""pod-disruption-budget-missing: only when the input has PDBs, or with require_pdb."""

from __future__ import annotations

from typing import Any

from lint_helpers import findings, good, rule_ids


def _pdb(selector: Any, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "pdb", "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": selector},
    }


def test_no_pdb_in_input_means_no_finding() -> None:
    assert rule_ids([good()]) == []


def test_require_pdb_reports_uncovered_workloads() -> None:
    [finding] = findings([good()], require_pdb=True)
    assert (finding.rule, finding.severity, finding.container) == ("pod-disruption-budget-missing", "warning", None)


def test_pdb_selecting_the_pods_covers_them() -> None:
    assert rule_ids([good(), _pdb({"matchLabels": {"app": "web"}})], require_pdb=True) == []


def test_pdb_match_expressions_are_evaluated() -> None:
    covering = _pdb({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]})
    excluding = _pdb({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]})
    assert rule_ids([good(), covering]) == []
    assert rule_ids([good(), excluding]) == ["pod-disruption-budget-missing"]


def test_pdb_in_input_for_other_pods_reports_the_uncovered_workload() -> None:
    assert rule_ids([good(), _pdb({"matchLabels": {"app": "api"}})]) == ["pod-disruption-budget-missing"]


def test_pdb_in_another_namespace_does_not_cover() -> None:
    assert rule_ids([good(), _pdb({"matchLabels": {"app": "web"}}, namespace="other")]) == [
        "pod-disruption-budget-missing"
    ]


def test_empty_selector_selects_every_pod_and_null_selects_none() -> None:
    assert rule_ids([good(), _pdb({})]) == []
    assert rule_ids([good(), _pdb(None)]) == ["pod-disruption-budget-missing"]
