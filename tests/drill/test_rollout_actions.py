"""Argo Rollouts promote/abort: the same patches the Argo Rollouts CLI sends, on a stored Rollout."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from nonstop.kube import actions
from nonstop.kube.api import Kube
from nonstop.kube.connection import connect
from nonstop.spec import parse_drill
from nonstop.strategies import Strategy, strategy_for

pytestmark = pytest.mark.sandbox


def _rollout(sandbox: Any, namespace: str, *, paused: bool, pause_conditions: bool, step: int = 1) -> Kube:
    kube = Kube(connect(kubeconfig=sandbox.kubeconfig))
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "paused": paused,
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "x"}]},
            },
        },
    }
    custom = client.CustomObjectsApi(kube.connection.api)
    custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "rollouts", body)
    status: dict[str, Any] = {"currentStepIndex": step, "phase": "Paused"}
    if pause_conditions:
        status["pauseConditions"] = [{"reason": "CanaryPauseStep", "startTime": "2026-11-27T10:00:00Z"}]
    custom.patch_namespaced_custom_object_status(
        "argoproj.io", "v1alpha1", namespace, "rollouts", "web", {"status": status}
    )
    return kube


def test_promote_of_a_paused_canary_unpauses_and_clears_pause_conditions(sandbox: Any, namespace: str) -> None:
    kube = _rollout(sandbox, namespace, paused=True, pause_conditions=True)
    done = actions.rollout_promote(kube, namespace, "web")
    assert done == ["spec.paused=false", "status.pauseConditions=null"]
    live = kube.get_rollout(namespace, "web")
    assert live["spec"]["paused"] is False
    assert "pauseConditions" not in live["status"]
    assert live["status"]["currentStepIndex"] == 1


def test_promote_without_pause_conditions_moves_the_canary_one_step(sandbox: Any, namespace: str) -> None:
    kube = _rollout(sandbox, namespace, paused=False, pause_conditions=False, step=1)
    assert actions.rollout_promote(kube, namespace, "web") == ["status.currentStepIndex=2"]
    assert kube.get_rollout(namespace, "web")["status"]["currentStepIndex"] == 2


def test_abort_sets_status_abort_on_the_status_subresource(sandbox: Any, namespace: str) -> None:
    kube = _rollout(sandbox, namespace, paused=True, pause_conditions=True)
    mark = sandbox.mark()
    actions.rollout_abort(kube, namespace, "web")
    assert kube.get_rollout(namespace, "web")["status"]["abort"] is True
    patches = [e for e in sandbox.requests(since=mark) if e["verb"] == "patch"]
    assert [(e["resource"], e.get("subresource")) for e in patches] == [("rollouts", "status")]


def _external_on_rollout(namespace: str) -> Strategy:
    drill = parse_drill(
        {"apiVersion": "nonstop.dev/v1alpha1", "kind": "Drill", "metadata": {"name": "observe"},
         "spec": {"target": {"kind": "Rollout", "name": "web", "namespace": namespace, "service": "web"},
                  "rollout": {"strategy": "external"}}},
        source="test",
    )  # fmt: skip
    return strategy_for(drill.spec)


def test_a_failed_drill_of_an_argo_rollout_is_decided_with_the_abort_patch(sandbox: Any, namespace: str) -> None:
    kube = _rollout(sandbox, namespace, paused=True, pause_conditions=True)
    decision = _external_on_rollout(namespace).decide(
        kube, namespace=namespace, decision="rollback", dry_run=False, interrupted=lambda: False, replicas_before=2
    )
    assert (decision.decision, decision.action, decision.note) == ("rollback", "aborted", "abort patch on /status")
    assert kube.get_rollout(namespace, "web")["status"]["abort"] is True


def test_a_passed_drill_of_an_argo_rollout_is_decided_with_the_promote_patches(sandbox: Any, namespace: str) -> None:
    kube = _rollout(sandbox, namespace, paused=True, pause_conditions=True)
    decision = _external_on_rollout(namespace).decide(
        kube, namespace=namespace, decision="promote", dry_run=False, interrupted=lambda: False, replicas_before=2
    )
    assert decision.action == "promoted"
    assert decision.note == "promote patches: spec.paused=false, status.pauseConditions=null"
    assert kube.get_rollout(namespace, "web")["spec"]["paused"] is False
