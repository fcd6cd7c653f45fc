"""What a DELETE's options ask (K8S-SEMANTICS.md §6): preconditions, propagation policy, the answer.

A `preconditions.uid` or `.resourceVersion` that does not match the object answers 409. The policy
is `propagationPolicy`, else the legacy `orphanDependents`, else Background; an object with
finalizers, or deleted in the foreground, is marked (deletionTimestamp, the policy's finalizer)
rather than removed. A DELETE that removed an object answers with the object for kinds that return
it, else a Success `Status`.
"""

from __future__ import annotations

from nonstop.sandbox.apierrors import ApiError, bad_request
from nonstop.sandbox.kinds import Kind
from nonstop.sandbox.store import Obj, now_rfc3339

__all__ = ["check_preconditions", "mark_deleting", "propagation_policy", "success"]


def check_preconditions(options: Obj, current: Obj) -> None:
    """409 Conflict when the options' preconditions do not hold for `current`."""
    preconditions = options.get("preconditions") or {}
    if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
        raise ApiError(
            409,
            "Conflict",
            f"Precondition failed: UID in precondition: {preconditions['uid']}, "
            f"UID in object meta: {current['metadata']['uid']}",
        )
    if (
        preconditions.get("resourceVersion")
        and preconditions["resourceVersion"] != current["metadata"]["resourceVersion"]
    ):
        raise ApiError(409, "Conflict", "Precondition failed: resourceVersion mismatch")


def propagation_policy(options: Obj) -> str:
    """Background, Foreground or Orphan; 400 for any other."""
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    policy = policy or "Background"
    if policy not in ("Background", "Foreground", "Orphan"):
        raise bad_request(f"propagationPolicy {policy!r} is not one of Background, Foreground, Orphan")
    return str(policy)


def mark_deleting(obj: Obj, policy: str) -> None:
    """Mark `obj` as being deleted, with the finalizer a Foreground or Orphan deletion waits on."""
    meta = obj["metadata"]
    meta.setdefault("deletionTimestamp", now_rfc3339())
    meta.setdefault("deletionGracePeriodSeconds", 0)
    if policy == "Foreground" and "foregroundDeletion" not in meta.get("finalizers", []):
        meta.setdefault("finalizers", []).append("foregroundDeletion")
    if policy == "Orphan" and "orphan" not in meta.get("finalizers", []):
        meta.setdefault("finalizers", []).append("orphan")


def success(kind: Kind, obj: Obj) -> Obj:
    """The Success `Status` a DELETE answers for kinds that do not return the deleted object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": obj["metadata"]["name"],
            **({"group": kind.group} if kind.group else {}),  # omitempty: none for core kinds
            "kind": kind.resource,
            "uid": obj["metadata"]["uid"],
        },
    }
