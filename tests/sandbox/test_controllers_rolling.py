"""Rolling updates, Recreate and pausing through the API (K8S-SEMANTICS.md §1), observed with a pod watch."""

from __future__ import annotations

from typing import Any

import pytest
from controllers_helpers import (
    SLOW_EXIT_COMMAND,
    WEB_COMMAND,
    PodWatch,
    container,
    deployment,
    is_ready,
    live,
    restart,
    rollout_complete,
    summary,
    until,
)
from kubernetes import client

from nonstop.sandbox.controllers.fenceposts import resolve_fenceposts

pytestmark = pytest.mark.sandbox


@pytest.fixture
def apps(sandbox: Any) -> client.AppsV1Api:
    return client.AppsV1Api(sandbox.api_client())


@pytest.fixture
def core(sandbox: Any) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [
        (1, 1, 0),
        (1, "25%", "25%"),
        (3, 0, 1),
        (3, "25%", "25%"),
        (4, "50%", 0),
        (4, 1, "50%"),
        (10, "25%", "25%"),
        (10, 0, "1%"),  # rounds to 0/0: one pod down at a time
    ],
)
def test_rolling_update_stays_within_surge_and_unavailable(
    sandbox: Any, apps: client.AppsV1Api, namespace: str, replicas: int, surge: Any, unavailable: Any
) -> None:
    """Never more than replicas+maxSurge live pods, never fewer than replicas−maxUnavailable ready ones; completes."""
    limits = resolve_fenceposts(surge, unavailable, replicas)
    max_unavailable = min(limits.unavailable, replicas)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    pod_spec = {"terminationGracePeriodSeconds": 5, "containers": [container(WEB_COMMAND, probe=True)]}
    apps.create_namespaced_deployment(
        namespace, deployment("web", replicas=replicas, strategy=strategy, pod_spec=pod_spec)
    )
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    seen = {"max_live": 0, "min_ready": replicas}

    def check(pods: dict[str, Any]) -> None:
        running = live(pods)
        ready = [p for p in running if is_ready(p)]
        seen["max_live"] = max(seen["max_live"], len(running))
        seen["min_ready"] = min(seen["min_ready"], len(ready))
        assert len(running) <= replicas + limits.surge, f"{len(running)} live pods > {replicas}+{limits.surge}"
        assert len(ready) >= replicas - max_unavailable, (
            f"{len(ready)} ready pods < {replicas}-{max_unavailable}: {summary(pods)}"
        )

    with PodWatch(sandbox, namespace) as observed:  # start from a steady state: every pod ready
        until(lambda: len([p for p in live(observed.pods) if is_ready(p)]) == replicas, timeout=30)
    with PodWatch(sandbox, namespace, check) as observed:
        before = {name for name, pod in observed.pods.items() if pod.metadata.deletion_timestamp is None}
        old_hashes = {pod.metadata.labels["pod-template-hash"] for pod in observed.pods.values()}
        restart(apps, namespace, "web", "2026-01-01T00:00:00Z")
        until(lambda: rollout_complete(apps, namespace, "web"), timeout=90)
        until(lambda: not (set(observed.pods) & before), timeout=30)  # every old pod has exited
        until(
            lambda: len([p for p in live(observed.pods) if is_ready(p)]) == replicas, timeout=10
        )  # the watch caught up
    assert observed.failures == []
    assert not [e for e in observed.events if e[0] == "ADDED" and e[2] in old_hashes]  # old RSs only shrink
    assert seen["max_live"] > replicas or seen["min_ready"] < replicas  # the rollout really overlapped or dipped


def test_recreate_terminates_every_old_pod_before_creating_new_ones(
    sandbox: Any, apps: client.AppsV1Api, namespace: str
) -> None:
    """Recreate: the first new pod appears only after the last old pod is gone (not just terminating)."""
    pod_spec = {"terminationGracePeriodSeconds": 10, "containers": [container(SLOW_EXIT_COMMAND)]}
    apps.create_namespaced_deployment(
        namespace, deployment("web", replicas=3, strategy={"type": "Recreate"}, pod_spec=pod_spec)
    )
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    with PodWatch(sandbox, namespace) as observed:
        old_hash = next(iter(observed.pods.values())).metadata.labels["pod-template-hash"]
        restart(apps, namespace, "web", "2026-01-01T00:00:00Z")
        until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    events = observed.events
    first_new = next(i for i, e in enumerate(events) if e[0] == "ADDED" and e[2] != old_hash)
    old_gone = [i for i, e in enumerate(events) if e[0] == "DELETED" and e[2] == old_hash]
    assert len(old_gone) == 3
    assert max(old_gone) < first_new
    # the old pods were terminating for a while (their SIGTERM handler takes a second) before they went
    assert any(e[3] and e[2] == old_hash and e[0] == "MODIFIED" for e in events[: max(old_gone)])


def test_paused_deployment_scales_but_does_not_roll(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """A paused Deployment keeps its pods through a template change, still scales, and rolls once resumed."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": True}})
    restart(apps, namespace, "web", "2026-01-01T00:00:00Z")
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})

    def paused_and_scaled() -> bool:
        d = apps.read_namespaced_deployment("web", namespace)
        progressing = {c.type: c for c in d.status.conditions or []}.get("Progressing")
        return (
            d.status.observed_generation == d.metadata.generation
            and progressing is not None
            and progressing.reason == "DeploymentPaused"
            and progressing.status == "Unknown"
            and (d.status.available_replicas or 0) == 3
        )

    until(paused_and_scaled, timeout=30)
    rss = apps.list_namespaced_replica_set(namespace).items
    assert len(rss) == 1  # no new ReplicaSet while paused
    assert rss[0].spec.replicas == 3
    assert (apps.read_namespaced_deployment("web", namespace).status.updated_replicas or 0) == 0
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": False}})
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    rss = apps.list_namespaced_replica_set(namespace).items
    assert sorted(rs.spec.replicas for rs in rss) == [0, 3]


def test_progress_deadline_is_reported_not_enforced(apps: client.AppsV1Api, namespace: str) -> None:
    """A rollout that cannot progress gets Progressing=False ProgressDeadlineExceeded, and keeps its pods."""
    never_ready = container(["sleep", "3600"], readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1})
    pod_spec = {"terminationGracePeriodSeconds": 1, "containers": [never_ready]}
    apps.create_namespaced_deployment(namespace, deployment("stuck", pod_spec=pod_spec, progressDeadlineSeconds=2))

    def timed_out() -> Any:
        d = apps.read_namespaced_deployment("stuck", namespace)
        return {c.type: c for c in d.status.conditions or []}.get("Progressing")

    condition = until(lambda: (c := timed_out()) is not None and c.reason == "ProgressDeadlineExceeded" and c, 20)
    assert condition.status == "False"
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert condition.message == f'ReplicaSet "{rs.metadata.name}" has timed out progressing.'
    available = {c.type: c for c in apps.read_namespaced_deployment("stuck", namespace).status.conditions}["Available"]
    assert (available.status, available.reason) == ("False", "MinimumReplicasUnavailable")
    assert rs.spec.replicas == 1


def test_status_and_events_of_a_rollout(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """Revision annotations, NewReplicaSetAvailable, ScalingReplicaSet and SuccessfulCreate events with their texts."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    until(lambda: rollout_complete(apps, namespace, "web"), timeout=60)
    d = apps.read_namespaced_deployment("web", namespace)
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.name == f"web-{rs.metadata.labels['pod-template-hash']}"
    assert rs.spec.selector.match_labels["pod-template-hash"] == rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "2"
    assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "3"
    assert rs.metadata.owner_references[0].kind == "Deployment"
    conditions = {c.type: c for c in d.status.conditions}
    assert conditions["Progressing"].reason == "NewReplicaSetAvailable"
    assert conditions["Progressing"].message == f'ReplicaSet "{rs.metadata.name}" has successfully progressed.'
    assert conditions["Available"].reason == "MinimumReplicasAvailable"
    assert d.status.observed_generation == d.metadata.generation
    pods = core.list_namespaced_pod(namespace).items
    assert all(p.metadata.name.startswith(f"{rs.metadata.name}-") for p in pods)
    assert all(len(p.metadata.name) == len(rs.metadata.name) + 6 for p in pods)
    messages = {(e.reason, e.message) for e in core.list_namespaced_event(namespace).items}
    assert ("ScalingReplicaSet", f"Scaled up replica set {rs.metadata.name} from 0 to 2") in messages
    assert all(("SuccessfulCreate", f"Created pod: {p.metadata.name}") in messages for p in pods)
