"""Which pods belong to the target: its ReplicaSet's, and the ones a drain would evict from a node."""

from __future__ import annotations

from typing import Any

__all__ = ["controlled_by", "pods_on_node"]


def controlled_by(pod: dict[str, Any], owner: str) -> bool:
    """Is the pod's controller the ReplicaSet `<owner>-<hash>` of the workload named `owner`?

    A Deployment's pods carry the hash as `pod-template-hash`, an Argo Rollout's as
    `rollouts-pod-template-hash`; both controllers name the ReplicaSet `<owner>-<hash>`.
    """
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    template_hash = labels.get("pod-template-hash") or labels.get("rollouts-pod-template-hash")
    if not template_hash:
        return False
    return any(
        ref.get("controller") and ref.get("kind") == "ReplicaSet" and ref.get("name") == f"{owner}-{template_hash}"
        for ref in meta.get("ownerReferences") or []
    )


def pods_on_node(pods: list[dict[str, Any]], node: str, owner: str) -> tuple[list[str], list[str]]:
    """(the target's live pods on `node`, other live pods on it), by name; terminating and terminal ones left out."""
    mine: list[str] = []
    others: list[str] = []
    for pod in pods:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("nodeName") != node or meta.get("deletionTimestamp"):
            continue
        if status.get("phase") in ("Succeeded", "Failed"):
            continue
        (mine if controlled_by(pod, owner) else others).append(str(meta["name"]))
    return sorted(mine), sorted(others)
