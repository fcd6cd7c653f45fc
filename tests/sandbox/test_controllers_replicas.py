"""ReplicaSets, revisions and garbage collection through the API (K8S-SEMANTICS.md §1.6, §1.7, §2)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from controllers_helpers import container, deployment, rollout_complete, until
from kubernetes import client

pytestmark = pytest.mark.sandbox

REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
def apps(sandbox: Any) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


@pytest.fixture
def core(sandbox: Any) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


def _replica_set(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"rs": name}},
            "template": {
                "metadata": {"labels": {"rs": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container()]},
            },
        },
    }


def _live_pods(core: client.CoreV1Api, namespace: str) -> list[Any]:
    return [p for p in core.list_namespaced_pod(namespace).items if p.metadata.deletion_timestamp is None]


def _ready_count(apps: client.AppsV1Api, namespace: str, name: str) -> int:
    return apps.read_namespaced_replica_set(name, namespace).status.ready_replicas or 0


def test_scale_down_deletes_the_lowest_deletion_cost_first(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """Rule 4 of the victim order through the API: pod-deletion-cost picks which pods go."""
    apps.create_namespaced_replica_set(namespace, _replica_set("rs", 4))
    until(lambda: _ready_count(apps, namespace, "rs") == 4, timeout=30)
    pods = sorted(p.metadata.name for p in _live_pods(core, namespace))
    costs = {pods[0]: "100", pods[1]: "-50", pods[2]: "7", pods[3]: "-3"}
    for name, cost in costs.items():
        body = {"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}}}
        core.patch_namespaced_pod(name, namespace, body)
    apps.patch_namespaced_replica_set_scale("rs", namespace, {"spec": {"replicas": 2}})
    until(lambda: len(_live_pods(core, namespace)) == 2, timeout=10)
    assert {p.metadata.name for p in _live_pods(core, namespace)} == {pods[0], pods[2]}
    messages = {(e.reason, e.message) for e in core.list_namespaced_event(namespace).items}
    assert ("SuccessfulDelete", f"Deleted pod: {pods[1]}") in messages
    assert ("SuccessfulDelete", f"Deleted pod: {pods[3]}") in messages


def test_a_deleted_pod_is_replaced_while_it_terminates(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """Terminating pods are not counted: the replacement exists before the old pod is gone."""
    rs = _replica_set("rs", 1)
    rs["spec"]["template"]["spec"] = {
        "terminationGracePeriodSeconds": 10,
        "containers": [container(["sh", "-c", "trap 'sleep 2; exit 0' TERM; while true; do sleep 0.1; done"])],
    }
    apps.create_namespaced_replica_set(namespace, rs)
    until(lambda: _ready_count(apps, namespace, "rs") == 1, timeout=30)
    [victim] = _live_pods(core, namespace)
    core.delete_namespaced_pod(victim.metadata.name, namespace)
    replacement = until(lambda: _live_pods(core, namespace), timeout=5)[0]
    assert replacement.metadata.name != victim.metadata.name
    names = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    assert victim.metadata.name in names  # still terminating
    raw = until(lambda: (s := _raw_rs_status(apps, namespace, "rs")).get("readyReplicas") == 1 and s, 20)
    assert raw["replicas"] == 1
    assert "terminatingReplicas" not in raw  # a v1.33+ field; the sandbox serves v1.32
    [owner] = replacement.metadata.owner_references
    assert (owner.kind, owner.name, owner.controller) == ("ReplicaSet", "rs", True)


def _raw_rs_status(apps: client.AppsV1Api, namespace: str, name: str) -> dict[str, Any]:
    response = apps.read_namespaced_replica_set(name, namespace, _preload_content=False)
    return dict(json.loads(response.data).get("status") or {})


def _template_env(apps: client.AppsV1Api, namespace: str, version: str) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "V", "value": version}]}]}}}}
    apps.patch_namespaced_deployment("web", namespace, body)


def _rs_by_revision(apps: client.AppsV1Api, namespace: str) -> dict[str, Any]:
    return {rs.metadata.annotations[REVISION]: rs for rs in apps.list_namespaced_replica_set(namespace).items}


def test_revisions_and_undo_as_kubectl_does_it(apps: client.AppsV1Api, namespace: str) -> None:
    """Each template gets revision max+1; undo (a JSON patch of the template) re-uses the old RS as revision 4."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=30)
    for version in ("2", "3"):
        _template_env(apps, namespace, version)
        until(lambda: rollout_complete(apps, namespace, "web"), timeout=30)
    revisions = _rs_by_revision(apps, namespace)
    assert sorted(revisions) == ["1", "2", "3"]
    assert apps.read_namespaced_deployment("web", namespace).metadata.annotations[REVISION] == "3"
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 3
    first = revisions["1"]
    template = client.ApiClient().sanitize_for_serialization(first.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = dict(apps.read_namespaced_deployment("web", namespace).metadata.annotations)
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    apps.patch_namespaced_deployment("web", namespace, patch)
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=30)
    revisions = _rs_by_revision(apps, namespace)
    assert sorted(revisions) == ["2", "3", "4"]
    reused = revisions["4"]
    assert reused.metadata.name == first.metadata.name
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert reused.spec.replicas == 2
    assert apps.read_namespaced_deployment("web", namespace).metadata.annotations[REVISION] == "4"


def test_revision_history_limit_deletes_the_oldest_empty_replica_sets(apps: client.AppsV1Api, namespace: str) -> None:
    """With revisionHistoryLimit 1, only the newest old RS is kept once the rollout completes."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1, revisionHistoryLimit=1))
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=30)
    for version in ("2", "3"):
        _template_env(apps, namespace, version)
        until(lambda: rollout_complete(apps, namespace, "web"), timeout=30)
    assert until(lambda: sorted(_rs_by_revision(apps, namespace)) == ["2", "3"], timeout=10)


def test_orphan_with_a_dangling_owner_is_collected(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """An object whose only owner does not exist is garbage-collected (pods gracefully)."""
    rs = _replica_set("orphan", 1)
    rs["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone", "uid": "00000000-0000-0000-0000-000000000000"}
    ]
    apps.create_namespaced_replica_set(namespace, rs)
    until(lambda: not apps.list_namespaced_replica_set(namespace).items, timeout=10)
    until(lambda: not _live_pods(core, namespace), timeout=10)


@pytest.mark.requires("kubectl")
def test_kubectl_rollout_restart_status_history_undo(sandbox: Any, apps: client.AppsV1Api, namespace: str) -> None:
    """The real kubectl: restart, status returns once complete, history lists revisions, undo rolls back."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))

    def kubectl(*args: str) -> str:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", sandbox.kubeconfig, "-n", namespace, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    kubectl("rollout", "restart", "deployment/web")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert rollout_complete(apps, namespace, "web")
    history = kubectl("rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines() if line[:1].isdigit()] == ["1", "2"]
    kubectl("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    d = apps.read_namespaced_deployment("web", namespace)
    assert d.metadata.annotations[REVISION] == "3"
    assert "kubectl.kubernetes.io/restartedAt" not in (d.spec.template.metadata.annotations or {})


def test_scaling_mid_rollout_is_spread_proportionally(apps: client.AppsV1Api, namespace: str) -> None:
    """A replicas change during a stuck rollout is shared by the RSs' max-replicas proportions (§1.3)."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=10))
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    never_ready = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "readinessProbe": never_ready}]}}}}
    apps.patch_namespaced_deployment("web", namespace, body)

    def sizes() -> list[int]:
        """spec.replicas of revision 1 (old) and 2 (new)."""
        return [rs.spec.replicas for _, rs in sorted(_rs_by_revision(apps, namespace).items())]

    # 10 replicas, 25 %/25 %: surge 3, unavailable 2 → the new RS stalls at 5, the old one at 8
    until(lambda: sizes() == [8, 5], timeout=30)
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 20}})
    # allowed 20+5 = 25, 12 to add: old 8·25/13 → 15 (+7), new 5·25/13 → 10 (+5)
    until(lambda: sizes() == [15, 10], timeout=30)
    for rs in apps.list_namespaced_replica_set(namespace).items:
        assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "20"
        assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "25"
