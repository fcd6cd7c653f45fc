"""Deployment status and conditions as pure functions (K8S-SEMANTICS.md §1.4, §1.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nonstop.sandbox.controllers.progress import (
    calculate_status,
    deployment_complete,
    new_condition,
    rollout_status,
    set_condition,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _deployment(replicas: int = 3, generation: int = 2, status: dict[str, Any] | None = None, **spec: Any) -> Any:
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 600, **spec},
        "status": status or {},
    }


def _rs(name: str, spec: int, replicas: int, ready: int, available: int, terminating: int = 0) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {"replicas": spec},
        "status": {
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": available,
            "terminatingReplicas": terminating,
        },
    }


def test_status_sums_replica_sets_and_ignores_terminating_pods() -> None:
    """Counters come from RS status; unavailable = Σspec − available; terminating pods are counted apart."""
    old, new = _rs("old", 2, 2, 2, 2, terminating=1), _rs("new", 2, 2, 1, 0)
    one_down = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    status = calculate_status([old, new], new, _deployment(strategy=one_down), NOW)
    assert {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} == {
        "replicas": 4,
        "updatedReplicas": 2,
        "readyReplicas": 3,
        "availableReplicas": 2,
    }
    assert status["unavailableReplicas"] == 2
    assert "terminatingReplicas" not in status  # a v1.33+ field; the sandbox serves v1.32
    assert status["observedGeneration"] == 2
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")  # 2 ≥ 3 − 1
    # the default 25 % of 3 rounds down to 0 unavailable: 2 available is below the minimum
    status = calculate_status([old, new], new, _deployment(), NOW)
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")


def test_zero_counters_are_left_out() -> None:
    """The API's omitempty: a Deployment with nothing running shows no zero counters."""
    status = calculate_status([], None, _deployment(replicas=0), NOW)
    assert "replicas" not in status
    assert "availableReplicas" not in status


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    """Same status and reason: no change; same status, new reason: lastTransitionTime kept."""
    status: dict[str, Any] = {}
    set_condition(status, new_condition("Progressing", "True", "NewReplicaSetCreated", "a", NOW))
    later = NOW + timedelta(seconds=30)
    set_condition(status, new_condition("Progressing", "True", "NewReplicaSetCreated", "b", later))
    assert status["conditions"][0]["message"] == "a"
    set_condition(status, new_condition("Progressing", "True", "ReplicaSetUpdated", "c", later))
    assert status["conditions"][0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert status["conditions"][0]["lastUpdateTime"] == "2026-01-01T12:00:30Z"


def test_progress_deadline_times_out_and_requeues_before() -> None:
    """No progress for progressDeadlineSeconds: Progressing False ProgressDeadlineExceeded; before that, a re-check."""
    new = _rs("web-abc", 1, 1, 0, 0)
    progressing = new_condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW)
    base = {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}
    d = _deployment(replicas=1, status={**base, "conditions": [progressing]}, progressDeadlineSeconds=10)
    status, requeue = rollout_status([new], new, d, NOW + timedelta(seconds=5))
    cond = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert cond["reason"] == "ReplicaSetUpdated"
    d["status"] = status
    status, requeue = rollout_status([new], new, d, NOW + timedelta(seconds=5))
    assert requeue is not None
    assert 5 < requeue <= 6  # lastUpdateTime + 10 s − now, plus one second
    status, _ = rollout_status([new], new, d, NOW + timedelta(seconds=11))
    cond = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"] == 'ReplicaSet "web-abc" has timed out progressing.'


def test_complete_rollout_reports_new_replica_set_available() -> None:
    """updated == replicas == available == spec and generation observed → NewReplicaSetAvailable."""
    new = _rs("web-abc", 2, 2, 2, 2)
    d = _deployment(replicas=2, generation=3)
    status, _ = rollout_status([new], new, d, NOW)
    assert deployment_complete(d, status)
    cond = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (cond["reason"], cond["message"]) == (
        "NewReplicaSetAvailable",
        'ReplicaSet "web-abc" has successfully progressed.',
    )
    assert not deployment_complete(_deployment(replicas=2, generation=4), status)  # a newer generation
