"""A workload's own word on its rollout: kubectl rollout status's rules, an Argo Rollout's phase, Argo CD tracking."""

from __future__ import annotations

from typing import Any

__all__ = ["argo_cd_tracked", "is_complete"]

Obj = dict[str, Any]


def argo_cd_tracked(workload: Obj) -> str | None:
    """The Argo CD Application tracking this object (tracking-id annotation or instance label), or None."""
    meta = workload.get("metadata", {})
    tracking = (meta.get("annotations") or {}).get("argocd.argoproj.io/tracking-id")
    if tracking:
        return str(tracking).split(":", 1)[0]
    instance = (meta.get("labels") or {}).get("app.kubernetes.io/instance")
    return str(instance) if instance and "argocd.argoproj.io/instance" in (meta.get("annotations") or {}) else None


def is_complete(workload: Obj, kind: str) -> tuple[bool, str | None]:
    """(complete, failure) — kubectl rollout status's rules for a Deployment; phase/hash for a Rollout."""
    spec = workload.get("spec", {})
    status = workload.get("status") or {}
    generation = workload.get("metadata", {}).get("generation", 0)
    if kind == "Deployment":
        if status.get("observedGeneration", 0) < generation:
            return False, None
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
                return False, f"the rollout exceeded its progress deadline: {condition.get('message', '')}"
        replicas = int(spec.get("replicas", 1))
        updated = int(status.get("updatedReplicas", 0))
        done = (
            updated >= replicas
            and int(status.get("replicas", 0)) <= updated
            and int(status.get("availableReplicas", 0)) >= updated
        )
        return done, None
    if status.get("abort"):
        return False, "the Rollout was aborted"
    healthy = status.get("phase") == "Healthy" and status.get("observedGeneration") in (
        None,
        str(generation),
        generation,
    )
    return bool(healthy and status.get("currentPodHash") == status.get("stableRS")), None
