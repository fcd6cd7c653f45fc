"""A Deployment's status, conditions and progress deadline (K8S-SEMANTICS.md §1.4, §1.5).

Pure functions, restated from Kubernetes' `sync.go` (`calculateStatus`), `progress.go`
(`syncRolloutStatus`, `requeueStuckDeployment`) and `deployment_util.go` (conditions, complete,
progressing, timed out). Counters that are 0 are left out, as the real API's `omitempty` does.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from nonstop.sandbox.controllers.fenceposts import max_unavailable
from nonstop.sandbox.store import Obj
from nonstop.toolkit.times import rfc3339, try_parse_time

__all__ = [
    "MAX_INT32",
    "calculate_status",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "get_condition",
    "has_progress_deadline",
    "new_condition",
    "remove_condition",
    "replicas_of",
    "rollout_status",
    "set_condition",
    "spec_replicas",
    "status_int",
]

MAX_INT32 = 2**31 - 1

# Condition reasons, as deployment_util.go names them
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"


def replicas_of(deployment: Obj) -> int:
    """`spec.replicas` of a Deployment (default 1)."""
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def spec_replicas(rs: Obj) -> int:
    """`spec.replicas` of a ReplicaSet (default 1)."""
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Obj, field: str) -> int:
    """An integer status field, 0 when absent."""
    return int((obj.get("status") or {}).get(field) or 0)


def has_progress_deadline(deployment: Obj) -> bool:
    """`HasProgressDeadline`: set and not MaxInt32."""
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != MAX_INT32


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    """`NewDeploymentCondition`: both times set to now."""
    stamp = rfc3339(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Obj, type_: str) -> Obj | None:
    """The condition of that type, if any."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == type_:
            found: Obj = condition
            return found
    return None


def remove_condition(status: Obj, type_: str) -> None:
    """`RemoveDeploymentCondition`."""
    kept = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def set_condition(status: Obj, condition: Obj) -> None:
    """`SetDeploymentCondition`: no-op for the same status and reason; keeps lastTransitionTime if status holds."""
    current = get_condition(status, condition["type"])
    if (
        current is not None
        and current.get("status") == condition["status"]
        and current.get("reason") == condition["reason"]
    ):
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    kept = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"] = [*kept, condition]


def calculate_status(all_rss: list[Obj], new_rs: Obj | None, deployment: Obj, now: datetime) -> Obj:
    """`calculateStatus`: counters summed over the RSs, observedGeneration, the Available condition."""
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    total_spec = sum(spec_replicas(rs) for rs in all_rss)
    old_status = deployment.get("status") or {}
    counters: dict[str, int] = {
        "observedGeneration": int(deployment["metadata"].get("generation", 1)),
        "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total_spec - available),
    }
    status: dict[str, Any] = {k: v for k, v in counters.items() if v}
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    if old_status.get("conditions"):
        status["conditions"] = copy.deepcopy(old_status["conditions"])
    if available >= replicas_of(deployment) - max_unavailable(deployment):
        condition = new_condition(
            "Available", "True", MIN_AVAILABLE_REASON, "Deployment has minimum availability.", now
        )
    else:
        condition = new_condition(
            "Available", "False", MIN_UNAVAILABLE_REASON, "Deployment does not have minimum availability.", now
        )
    set_condition(status, condition)
    return status


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    """`DeploymentComplete`: updated == replicas == available == spec.replicas, generation observed."""
    wanted = replicas_of(deployment)
    return (
        int(status.get("updatedReplicas") or 0) == wanted
        and int(status.get("replicas") or 0) == wanted
        and int(status.get("availableReplicas") or 0) == wanted
        and int(status.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation", 1))
    )


def deployment_progressing(deployment: Obj, status: Obj) -> bool:
    """`DeploymentProgressing`: updated up, old down, ready up or available up."""
    old = deployment.get("status") or {}

    def get(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(status, "replicas") - get(status, "updatedReplicas")
    return (
        get(status, "updatedReplicas") > get(old, "updatedReplicas")
        or new_old < old_old
        or get(status, "readyReplicas") > get(old, "readyReplicas")
        or get(status, "availableReplicas") > get(old, "availableReplicas")
    )


def deployment_timed_out(deployment: Obj, status: Obj, now: datetime) -> bool:
    """`DeploymentTimedOut`: lastUpdateTime + progressDeadlineSeconds is before now."""
    if not has_progress_deadline(deployment):
        return False
    condition = get_condition(status, "Progressing")
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    since = try_parse_time(condition.get("lastUpdateTime"))
    if since is None:
        return False
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return since + timedelta(seconds=deadline) < now


def _progress_subject(deployment: Obj, new_rs: Obj | None) -> str:
    if new_rs is not None:
        return f'ReplicaSet "{new_rs["metadata"]["name"]}"'
    return f'Deployment "{deployment["metadata"]["name"]}"'


def rollout_status(all_rss: list[Obj], new_rs: Obj | None, deployment: Obj, now: datetime) -> tuple[Obj, float | None]:
    """`syncRolloutStatus`: the new status and, when it is unchanged, when to look at the deadline again."""
    status = calculate_status(all_rss, new_rs, deployment, now)
    if not has_progress_deadline(deployment):
        remove_condition(status, "Progressing")
    old_status = deployment.get("status") or {}
    current = get_condition(old_status, "Progressing")
    complete_already = (
        int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE_REASON
    )
    subject = _progress_subject(deployment, new_rs)
    if has_progress_deadline(deployment) and not complete_already:
        if deployment_complete(deployment, status):
            set_condition(
                status,
                new_condition(
                    "Progressing", "True", NEW_RS_AVAILABLE_REASON, f"{subject} has successfully progressed.", now
                ),
            )
        elif deployment_progressing(deployment, status):
            condition = new_condition("Progressing", "True", RS_UPDATED_REASON, f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, "Progressing")
            set_condition(status, condition)
        elif deployment_timed_out(deployment, status, now):
            set_condition(
                status,
                new_condition("Progressing", "False", TIMED_OUT_REASON, f"{subject} has timed out progressing.", now),
            )
    failures = [
        c
        for rs in ([new_rs] if new_rs is not None else []) + [r for r in all_rss if r is not new_rs]
        for c in (rs.get("status") or {}).get("conditions") or []
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
    ]
    if failures:
        failure = failures[0]
        set_condition(
            status,
            new_condition("ReplicaFailure", "True", failure.get("reason", ""), failure.get("message", ""), now),
        )
    else:
        remove_condition(status, "ReplicaFailure")
    if status != old_status:
        return status, None
    return status, _requeue_after(deployment, status, now)


def _requeue_after(deployment: Obj, status: Obj, now: datetime) -> float | None:
    """`requeueStuckDeployment`: seconds until the progress deadline would pass (plus one)."""
    current = get_condition(deployment.get("status") or {}, "Progressing")
    if not has_progress_deadline(deployment) or current is None:
        return None
    if deployment_complete(deployment, status) or current.get("reason") == TIMED_OUT_REASON:
        return None
    since = try_parse_time(current.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    after = (since + timedelta(seconds=deadline) - now).total_seconds()
    return 1.0 if after < 1 else after + 1
