"""Strategy and replica rules: zero surge and unavailability, all unavailable, Recreate, single replica."""

from __future__ import annotations

from typing import Any

import pytest
from lint_helpers import findings, good, load, rule_ids

from checks.lint import resolve_int_or_percent


def _rolling(surge: Any, unavailable: Any, replicas: int | None = 3) -> dict[str, Any]:
    obj = good()
    obj["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    if replicas is None:
        del obj["spec"]["replicas"]
    else:
        obj["spec"]["replicas"] = replicas
    return obj


HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
"""


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        ("25%", 1, True, 1),
        ("25%", 1, False, 0),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("100%", 4, False, 4),
        (0, 5, True, 0),
        ("0%", 5, True, 0),
        (2, 5, False, 2),
        ("bogus", 5, False, None),
        (True, 5, False, None),
    ],
)
def test_int_or_percent_rounds_like_kubernetes(value: Any, total: int, round_up: bool, expected: int | None) -> None:
    assert resolve_int_or_percent(value, total, round_up=round_up) == expected


def test_defaults_with_one_replica_resolve_to_surge_one_unavailable_zero() -> None:
    obj = good()
    del obj["spec"]["strategy"]
    obj["spec"]["replicas"] = 1
    assert rule_ids([obj]) == ["single-replica"]


def test_literal_zero_surge_and_unavailable_is_an_error_the_api_rejects() -> None:
    [finding] = findings([_rolling(0, 0)], "rolling-update-zero-surge-and-unavailable")
    assert finding.severity == "error"
    assert "rejects" in finding.message


def test_percentages_that_round_to_zero_fall_back_to_one_unavailable() -> None:
    [finding] = findings([_rolling("0%", "10%", replicas=3)], "rolling-update-zero-surge-and-unavailable")
    assert "falls back to maxUnavailable 1" in finding.message


def test_zero_surge_with_one_unavailable_pod_is_fine_with_enough_replicas() -> None:
    assert rule_ids([_rolling(0, "25%", replicas=4)]) == []


def test_max_unavailable_covering_the_only_replica_is_an_error() -> None:
    [finding] = findings([_rolling(1, 1, replicas=1)], "rolling-update-all-unavailable")
    assert finding.severity == "error"
    assert "every replica" in finding.message


def test_max_unavailable_of_100_percent_is_an_error() -> None:
    assert "rolling-update-all-unavailable" in rule_ids([_rolling("25%", "100%", replicas=4)])


def test_half_unavailable_is_allowed() -> None:
    assert rule_ids([_rolling("25%", "50%", replicas=4)]) == []


def test_zero_replicas_are_not_judged() -> None:
    assert rule_ids([_rolling(0, 0, replicas=0)]) == []


def test_hpa_minimum_is_the_replica_count_the_strategy_is_judged_at() -> None:
    low = _rolling(1, 1, replicas=None)
    assert "rolling-update-all-unavailable" in rule_ids([low, *load(HPA)])
    hpa = load(HPA)[0]
    hpa["spec"]["minReplicas"] = 2
    assert rule_ids([_rolling(1, 1, replicas=None), hpa]) == []


def test_recreate_strategy_is_an_error() -> None:
    obj = good()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    [finding] = findings([obj])
    assert (finding.rule, finding.severity) == ("recreate-strategy", "error")


def test_single_replica_is_a_warning_and_unset_replicas_count_as_one() -> None:
    explicit = good()
    explicit["spec"]["replicas"] = 1
    implicit = good()
    del implicit["spec"]["replicas"]
    found = findings([explicit, implicit], "single-replica")
    assert [(f.index, f.severity) for f in found] == [(0, "warning"), (1, "warning")]
    assert "unset" in found[1].message


def test_hpa_targeting_the_workload_silences_single_replica() -> None:
    obj = good()
    del obj["spec"]["replicas"]
    [hpa] = load(HPA)
    hpa["spec"]["minReplicas"] = 2
    assert findings([obj, hpa], "single-replica") == []


def test_hpa_with_a_minimum_of_one_is_single_replica() -> None:
    """kube-score, kube-linter and Polaris flag it too: at low load the HPA keeps one pod."""
    obj = good()
    del obj["spec"]["replicas"]
    [finding] = findings([obj, *load(HPA)], "single-replica")  # minReplicas defaults to 1
    assert "HorizontalPodAutoscaler/web scales Deployment/web down to 1 replica" in finding.message
    [hpa] = load(HPA)
    hpa["spec"]["minReplicas"] = 1
    assert len(findings([obj, hpa], "single-replica")) == 1


def test_hpa_with_replicas_set_in_the_manifest_is_a_warning() -> None:
    obj = good()  # replicas: 3
    [hpa] = load(HPA)
    hpa["spec"]["minReplicas"] = 2
    [finding] = findings([obj, hpa], "hpa-with-replicas")
    assert finding.severity == "warning"
    assert "replicas: 3" in finding.message
    assert "remove spec.replicas" in finding.message
    del obj["spec"]["replicas"]
    assert findings([obj, hpa], "hpa-with-replicas") == []
    assert findings([good()], "hpa-with-replicas") == []  # no autoscaler: replicas is the count


def test_hpa_for_another_workload_or_namespace_does_not_count() -> None:
    obj = good()
    obj["spec"]["replicas"] = 1
    other_name = load(HPA)[0]
    other_name["spec"]["scaleTargetRef"]["name"] = "api"
    other_namespace = load(HPA)[0]
    other_namespace["metadata"]["namespace"] = "staging"
    assert len(findings([obj, other_name, other_namespace], "single-replica")) == 1


def test_keda_scaled_object_counts_as_an_autoscaler() -> None:
    obj = good()
    del obj["spec"]["replicas"]
    scaled = load(
        """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  minReplicaCount: 2
"""
    )
    assert rule_ids([obj, *scaled]) == []


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule}]
      containers:
        - name: db
          image: db:1
          ports: [{name: sql, containerPort: 5432}]
          readinessProbe: {tcpSocket: {port: sql}}
          lifecycle: {preStop: {exec: {command: [sh, -c, "sleep 5"]}}}
"""


def test_single_replica_statefulset_goes_fully_unavailable_on_rollout() -> None:
    [finding] = findings(load(STATEFULSET), "rolling-update-all-unavailable")
    assert "no maxSurge" in finding.message
    assert rule_ids(load(STATEFULSET)) == ["rolling-update-all-unavailable", "single-replica"]


def test_statefulset_with_replicas_and_default_max_unavailable_is_fine() -> None:
    [sts] = load(STATEFULSET)
    sts["spec"]["replicas"] = 3
    assert rule_ids([sts]) == []


def test_statefulset_max_unavailable_percentage_rounds_up() -> None:
    [sts] = load(STATEFULSET)
    sts["spec"]["replicas"] = 3
    sts["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "67%"}}
    [finding] = findings([sts])
    assert finding.rule == "rolling-update-all-unavailable"  # ceil(2.01) = 3
    assert "MaxUnavailableStatefulSet" in finding.message


def test_statefulset_on_delete_is_not_rolled_automatically() -> None:
    [sts] = load(STATEFULSET)
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert rule_ids([sts]) == ["single-replica"]


ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  strategy:
    canary:
      maxSurge: 0
      maxUnavailable: 0
      steps: [{setWeight: 20}, {pause: {}}]
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule}]
      containers:
        - name: web
          image: web:2
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: 8080}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
"""


def test_argo_canary_surge_and_unavailable_are_checked() -> None:
    assert rule_ids(load(ROLLOUT)) == ["rolling-update-zero-surge-and-unavailable"]


def test_argo_canary_with_traffic_routing_ignores_surge_settings() -> None:
    [rollout] = load(ROLLOUT)
    rollout["spec"]["strategy"]["canary"]["trafficRouting"] = {"nginx": {"stableIngress": "web"}}
    assert rule_ids([rollout]) == []


def test_argo_blue_green_has_no_surge_rules_but_pod_rules_apply() -> None:
    [rollout] = load(ROLLOUT)
    rollout["spec"]["strategy"] = {"blueGreen": {"activeService": "web", "previewService": "web-preview"}}
    del rollout["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert rule_ids([rollout]) == ["readiness-probe-missing"]


def test_argo_workload_ref_takes_the_pod_template_from_the_referenced_deployment() -> None:
    [rollout] = load(ROLLOUT)
    del rollout["spec"]["template"]
    rollout["spec"]["strategy"] = {"blueGreen": {"activeService": "web"}}
    rollout["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    deployment = good()
    del deployment["metadata"]["namespace"]
    deployment["spec"]["replicas"] = 0
    del deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    found = findings([rollout, deployment], "readiness-probe-missing")
    assert [f.kind for f in found] == ["Rollout", "Deployment"]
