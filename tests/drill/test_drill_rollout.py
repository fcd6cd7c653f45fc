"""A drill run by an Argo Rollouts analysis step: the Rollout waits mid-canary, changing no pod.

The Rollout, its stable and canary ReplicaSets and its status are set up here as the Rollouts
controller leaves them at an `analysis` step (the embedded sandbox has no Rollouts controller; the
real one is exercised on the real control plane). The drill must open its window at once, take the
stable pods (`status.stableRS`) as old and the canary's (`status.currentPodHash`) as new, evict only
stable pods, and say in its report which step it ran under.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from nonstop.kube.api import Kube
from nonstop.kube.connection import connect
from tests.drill.drill_helpers import drill_spec, manifest, run_drill

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

STABLE, CANARY = "5f6d7c8b9a", "6a7b8c9d0e"
STEPS = [{"setWeight": 34}, {"analysis": {"templates": [{"templateName": "nonstop-drill"}]}}, {"setWeight": 100}]


def _mid_canary_rollout(sandbox: Any, namespace: str, *, broken: bool = False) -> Kube:
    """`broken`: the seed's before app (exits at once on SIGTERM, no preStop) in every pod."""
    kube = Kube(connect(kubeconfig=sandbox.kubeconfig))
    docs = manifest("before" if broken else "after")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    template = deployment["spec"]["template"]
    custom = client.CustomObjectsApi(kube.connection.api)
    rollout = custom.create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", namespace, "rollouts",
        {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template,
                "strategy": {"canary": {"maxUnavailable": 1, "steps": STEPS}},
            },
        },
    )  # fmt: skip
    custom.patch_namespaced_custom_object_status(
        "argoproj.io", "v1alpha1", namespace, "rollouts", "web",
        {"status": {"stableRS": STABLE, "currentPodHash": CANARY, "currentStepIndex": 1, "phase": "Paused"}},
    )  # fmt: skip
    apps = client.AppsV1Api(kube.connection.api)
    for template_hash, replicas, version in ((STABLE, 2, "v1"), (CANARY, 1, "v2")):
        pod_template = copy.deepcopy(template)
        pod_template["metadata"]["labels"]["rollouts-pod-template-hash"] = template_hash
        pod_template["spec"]["containers"][0]["image"] = f"nonstop/sample-app:{version}"
        owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web",
                 "uid": rollout["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip
        apps.create_namespaced_replica_set(
            namespace,
            {
                "metadata": {"name": f"web-{template_hash}", "labels": pod_template["metadata"]["labels"],
                             "ownerReferences": [owner]},
                "spec": {"replicas": replicas, "template": pod_template,
                         "selector": {"matchLabels": {"app": "web", "rollouts-pod-template-hash": template_hash}}},
            },
        )  # fmt: skip
    client.CoreV1Api(kube.connection.api).create_namespaced_service(namespace, service)
    return kube


def _wait_ready_pods(kube: Kube, namespace: str, count: int) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = kube.list_pods(namespace)
        ready = [
            p for p in pods
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in p["status"].get("conditions") or [])
        ]  # fmt: skip
        if len(ready) >= count:
            return pods
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} pods became Ready")


def _rollout_drill(namespace: str) -> dict[str, Any]:
    return drill_spec(
        namespace,
        target={"kind": "Rollout", "name": "web", "namespace": namespace, "service": "web", "port": 80},
        rollout={"strategy": "external"},
        decision={"onPass": "none", "onFail": "none"},
    )


def test_an_analysis_step_drill_evicts_only_stable_pods_and_names_its_step(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    kube = _mid_canary_rollout(sandbox, namespace)
    before = _wait_ready_pods(kube, namespace, 3)
    canary = {p["metadata"]["name"] for p in before if p["metadata"]["labels"]["rollouts-pod-template-hash"] == CANARY}
    stable = {p["metadata"]["name"] for p in before if p["metadata"]["labels"]["rollouts-pod-template-hash"] == STABLE}
    result = run_drill(sandbox, _rollout_drill(namespace), tmp_path, timeout=300)
    assert result.code == 0, result.stderr[-3000:]
    report = result.report
    roles = {pod["name"]: pod for pod in report["pods"]}
    assert {name for name, pod in roles.items() if pod["deletedAt"]} == stable  # both stable pods, nothing else
    assert all(roles[name]["role"] == "old" for name in stable)
    assert all(roles[name]["role"] == "new" and roles[name]["deletedAt"] is None for name in canary)
    # the stable ReplicaSet's replacements are stable too: old, never judged as terminated
    replacements = [p for p in report["pods"] if p["name"] not in stable | canary]
    assert replacements
    assert all(p["role"] == "old" for p in replacements)
    assert any("ran under Rollout web step 2 of 3 (analysis)" in note for note in report["notes"])
    assert report["requests"]["failed"] == 0


def test_a_broken_stable_version_fails_the_analysis_drill(sandbox: Any, namespace: str, tmp_path: Path) -> None:
    """The stable pods exit at once on SIGTERM with no preStop: the evictions lose requests, exit 1."""
    kube = _mid_canary_rollout(sandbox, namespace, broken=True)
    rollout = kube.get_rollout(namespace, "web")
    assert rollout["status"]["stableRS"] == STABLE
    _wait_ready_pods(kube, namespace, 3)
    spec = _rollout_drill(namespace)
    result = run_drill(sandbox, spec, tmp_path, timeout=300)
    assert result.code == 1, result.stderr[-3000:]
    assert result.check("endpoint-ordering") is False
