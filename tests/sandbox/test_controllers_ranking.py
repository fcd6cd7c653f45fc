"""Scale-down victim order (K8S-SEMANTICS.md §2, `ActivePodsWithRanks.Less`) and RS/revision bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nonstop.sandbox.controllers.replicaset import pods_to_delete
from nonstop.sandbox.controllers.revisions import (
    REVISION,
    REVISION_HISTORY,
    copy_annotations,
    equal_ignore_hash,
    find_new_replica_set,
    set_new_rs_annotations,
    template_hash,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(
    name: str,
    *,
    node: str = "sandbox",
    phase: str = "Running",
    ready_for: float | None = 100.0,
    cost: int | None = None,
    restarts: int = 0,
    age: float = 1000.0,
) -> dict[str, Any]:
    conditions = []
    if ready_for is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": _ts(ready_for)})
    else:
        conditions.append({"type": "Ready", "status": "False", "lastTransitionTime": _ts(age)})
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "creationTimestamp": _ts(age)}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"name": "c", "restartCount": restarts}],
        },
    }


def _order(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods_to_delete(pods, pods, len(pods) - 1, NOW)]


def test_unscheduled_before_scheduled() -> None:
    """Rule 1: a pod without a node goes first."""
    assert _order([_pod("bound"), _pod("unbound", node=""), _pod("other")])[0] == "unbound"


def test_pending_before_unknown_before_running() -> None:
    """Rule 2: phase order Pending < Unknown < Running."""
    pods = [_pod("running"), _pod("unknown", phase="Unknown"), _pod("pending", phase="Pending")]
    assert _order(pods) == ["pending", "unknown"]


def test_not_ready_before_ready() -> None:
    """Rule 3: an unready pod goes before a ready one."""
    assert _order([_pod("ready"), _pod("unready", ready_for=None), _pod("ready2")])[0] == "unready"


def test_lower_deletion_cost_first() -> None:
    """Rule 4: pod-deletion-cost decides before readiness time, restarts and age."""
    pods = [_pod("expensive", cost=100, ready_for=1), _pod("cheap", cost=-5, ready_for=5000), _pod("plain")]
    assert _order(pods) == ["cheap", "plain"]


def test_more_siblings_on_the_node_first() -> None:
    """Rule 5: a pod on a node crowded with related pods goes first."""
    pods = [_pod("alone", node="n1"), _pod("crowded", node="n2")]
    related = [*pods, _pod("sib1", node="n2"), _pod("sib2", node="n2")]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, related, 1, NOW)] == ["crowded"]


def test_ready_for_a_shorter_time_first_on_a_log_scale() -> None:
    """Rule 6: the more recently ready pod goes first when the ages differ by a power of two or more."""
    pods = [_pod("old-ready", ready_for=4000), _pod("new-ready", ready_for=10), _pod("mid", ready_for=500)]
    assert _order(pods) == ["new-ready", "mid"]


def test_more_restarts_first() -> None:
    """Rule 7: with readiness times alike, the pod with more container restarts goes first."""
    pods = [_pod("calm", restarts=0), _pod("flappy", restarts=3), _pod("calm2", restarts=0)]
    assert _order(pods)[0] == "flappy"


def test_newer_pod_first() -> None:
    """Rule 8: otherwise the younger pod goes first."""
    pods = [
        _pod("old", age=5000, ready_for=None),
        _pod("young", age=20, ready_for=None),
        _pod("mid", age=600, ready_for=None),
    ]
    assert _order(pods) == ["young", "mid"]


def test_deleting_everything_keeps_the_given_order() -> None:
    """When every pod goes, no ranking is needed (Kubernetes skips the sort)."""
    pods = [_pod("a"), _pod("b")]
    assert pods_to_delete(pods, pods, 5, NOW) == pods


def _template(image: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web", **labels}}, "spec": {"containers": [{"name": "c", "image": image}]}}


def test_template_hash_is_stable_and_changes_with_template_and_collisions() -> None:
    """Same template → same `pod-template-hash`; another template or collisionCount → another."""
    first = template_hash(_template("a"), None)
    assert first == template_hash(_template("a"), None)
    assert first != template_hash(_template("b"), None)
    assert first != template_hash(_template("a"), 1)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_equal_ignore_hash_ignores_the_hash_label_and_go_zero_values() -> None:
    """kubectl undo sends the RS template without the hash and with `creationTimestamp: null`: still equal."""
    rs_template = _template("a", **{"pod-template-hash": "abc"})
    from_kubectl = _template("a")
    from_kubectl["metadata"]["creationTimestamp"] = None
    from_kubectl["spec"]["containers"][0]["resources"] = {}
    assert equal_ignore_hash(rs_template, from_kubectl)
    assert not equal_ignore_hash(rs_template, _template("b"))


def test_find_new_replica_set_takes_the_oldest_match() -> None:
    """Two RSs with the Deployment's template: the older one is the new RS."""
    deployment = {"spec": {"template": _template("a")}}
    rss = [
        {"metadata": {"name": "web-2", "creationTimestamp": _ts(10)}, "spec": {"template": _template("a")}},
        {"metadata": {"name": "web-1", "creationTimestamp": _ts(20)}, "spec": {"template": _template("a")}},
        {"metadata": {"name": "web-0", "creationTimestamp": _ts(30)}, "spec": {"template": _template("b")}},
    ]
    found = find_new_replica_set(deployment, rss)
    assert found is not None
    assert found["metadata"]["name"] == "web-1"


def test_rollback_renumbers_and_keeps_revision_history() -> None:
    """Re-using an old RS gives it max+1 and appends its old number to revision-history."""
    deployment = {
        "metadata": {
            "annotations": {"team": "a", REVISION: "3", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
        }
    }
    rs = {"metadata": {"annotations": {REVISION: "1"}}}
    assert set_new_rs_annotations(deployment, rs, 4, exists=True, desired=3, maximum=4)
    assert rs["metadata"]["annotations"] == {"team": "a", REVISION: "4", REVISION_HISTORY: "1"}
    set_new_rs_annotations(deployment, rs, 6, exists=True, desired=3, maximum=4)
    assert rs["metadata"]["annotations"][REVISION_HISTORY] == "1,4"
    assert not set_new_rs_annotations(deployment, rs, 6, exists=True, desired=3, maximum=4)


def test_new_rs_gets_replica_annotations_and_no_skipped_annotations() -> None:
    """A new RS gets desired/max-replicas; revision and last-applied are never copied from the Deployment."""
    deployment = {
        "metadata": {"annotations": {REVISION: "7", "kubectl.kubernetes.io/last-applied-configuration": "{}"}}
    }
    rs: dict[str, Any] = {"metadata": {}}
    set_new_rs_annotations(deployment, rs, 1, exists=False, desired=10, maximum=13)
    assert rs["metadata"]["annotations"] == {
        REVISION: "1",
        "deployment.kubernetes.io/desired-replicas": "10",
        "deployment.kubernetes.io/max-replicas": "13",
    }
    assert not copy_annotations(deployment, rs)
