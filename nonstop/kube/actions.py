"""What a drill does to a workload: roll it out, and promote, roll back, pause or abort it.

Each action makes the same request the matching kubectl / Argo Rollouts CLI command makes
(K8S-SEMANTICS.md §1.7 and §7), so a cluster's audit log reads the same.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nonstop.errors import ClusterError, NotFoundError

if TYPE_CHECKING:  # only annotations: the strategies (and through them the spec) import this without the client
    from nonstop.kube.api import Kube

__all__ = [
    "CANARY_TRACK_LABEL",
    "RESTARTED_AT",
    "VERIFIED_REVISION",
    "annotate_verified",
    "canary_name",
    "create_canary",
    "delete_canary",
    "is_canary_pod",
    "pause",
    "promote_canary",
    "restart",
    "rollout_abort",
    "rollout_promote",
    "set_image",
    "undo",
]

Obj = dict[str, Any]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
VERIFIED_REVISION = "nonstop.dev/verified-revision"
REVISION = "deployment.kubernetes.io/revision"
CANARY_TRACK_LABEL = "nonstop.dev/track"
# Annotations `kubectl rollout undo` keeps from the Deployment instead of taking from the ReplicaSet.
_UNDO_SKIPPED = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)


def restart(kube: Kube, namespace: str, name: str) -> None:
    """`kubectl rollout restart`: a strategic-merge patch of the template's restartedAt annotation."""
    deployment = kube.get_deployment(namespace, name)
    if deployment.get("spec", {}).get("paused"):
        raise ClusterError(f"Deployment {namespace}/{name} is paused; resume it before a restart drill")
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    kube.patch_deployment(namespace, name, body)


def scale(kube: Kube, namespace: str, name: str, replicas: int) -> int:
    """`kubectl scale`: set the replica count through `/scale`; returns the count before."""
    before = int((kube.get_deployment(namespace, name).get("spec") or {}).get("replicas", 1))
    kube.scale_deployment(namespace, name, replicas)
    return before


def _containers_with_image(template: Obj, image: str, container: str | None, what: str) -> list[Obj]:
    containers = template.get("spec", {}).get("containers") or []
    names = [c["name"] for c in containers]
    if container is not None and container not in names:
        raise ClusterError(f"{what} has no container {container!r} (it has {', '.join(names) or 'none'})")
    return [{"name": n, "image": image} for n in names if container is None or n == container]


def set_image(kube: Kube, namespace: str, name: str, image: str, container: str | None) -> None:
    """`kubectl set image`: a strategic-merge patch of the containers' images (merged by name)."""
    deployment = kube.get_deployment(namespace, name)
    patch = _containers_with_image(deployment["spec"]["template"], image, container, f"Deployment {namespace}/{name}")
    kube.patch_deployment(namespace, name, {"spec": {"template": {"spec": {"containers": patch}}}})


def canary_name(name: str) -> str:
    return f"{name}-canary"


def is_canary_pod(labels: dict[str, str]) -> bool:
    """Does a pod with these labels belong to a `<name>-canary` Deployment (`create_canary`'s track label)?"""
    return labels.get(CANARY_TRACK_LABEL) == "canary"


def create_canary(kube: Kube, namespace: str, name: str, *, image: str, container: str | None, replicas: int) -> Obj:
    """A `<name>-canary` Deployment: the stable template with the new image and `nonstop.dev/track: canary`."""
    stable = kube.get_deployment(namespace, name)
    template = copy.deepcopy(stable["spec"]["template"])
    images = {c["name"]: c["image"] for c in _containers_with_image(template, image, container, f"Deployment {name}")}
    for c in template["spec"]["containers"]:
        c["image"] = images.get(c["name"], c["image"])
    labels = dict(template.get("metadata", {}).get("labels") or {})
    labels[CANARY_TRACK_LABEL] = "canary"
    template.setdefault("metadata", {})["labels"] = labels
    selector = copy.deepcopy(stable["spec"]["selector"])
    selector.setdefault("matchLabels", {})[CANARY_TRACK_LABEL] = "canary"
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary_name(name),
            "namespace": namespace,
            "labels": {**(stable["metadata"].get("labels") or {}), CANARY_TRACK_LABEL: "canary"},
            "annotations": {"nonstop.dev/canary-of": name},
        },
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": template,
            "strategy": stable["spec"].get("strategy", {"type": "RollingUpdate"}),
            "minReadySeconds": stable["spec"].get("minReadySeconds", 0),
        },
    }
    return kube.create_deployment(namespace, body)


def delete_canary(kube: Kube, namespace: str, name: str) -> bool:
    """Delete `<name>-canary`; False when it was already gone."""
    try:
        kube.delete_deployment(namespace, canary_name(name))
    except NotFoundError:
        return False
    return True


def promote_canary(kube: Kube, namespace: str, name: str) -> None:
    """Roll the stable Deployment to the canary's template (minus the track label); the caller waits."""
    canary = kube.get_deployment(namespace, canary_name(name))
    template = copy.deepcopy(canary["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop(CANARY_TRACK_LABEL, None)
    kube.patch_deployment(
        namespace, name, [{"op": "replace", "path": "/spec/template", "value": template}], patch="json"
    )


def annotate_verified(kube: Kube, namespace: str, name: str) -> str:
    """Promote: mark the Deployment's current revision as verified; returns the revision."""
    deployment = kube.get_deployment(namespace, name)
    revision = str(deployment["metadata"].get("annotations", {}).get(REVISION, ""))
    kube.patch_deployment(namespace, name, {"metadata": {"annotations": {VERIFIED_REVISION: revision}}}, patch="merge")
    return revision


def pause(kube: Kube, namespace: str, name: str) -> None:
    """Abort for a human: `kubectl rollout pause`."""
    kube.patch_deployment(namespace, name, {"spec": {"paused": True}}, patch="merge")


def undo(kube: Kube, namespace: str, name: str, *, to_revision: int = 0) -> int | None:
    """`kubectl rollout undo`: JSON-patch the template and annotations back; the revision, or None if no-op."""
    deployment = kube.get_deployment(namespace, name)
    if deployment.get("spec", {}).get("paused"):
        raise ClusterError(f"Deployment {namespace}/{name} is paused; kubectl would refuse to undo it too")
    selector = ",".join(f"{k}={v}" for k, v in (deployment["spec"]["selector"].get("matchLabels") or {}).items())
    uid = deployment["metadata"]["uid"]
    owned = [
        rs
        for rs in kube.list_replicasets(namespace, selector)
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    ]

    def revision(rs: Obj) -> int:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)

    owned.sort(key=revision)
    current = int((deployment["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)
    if to_revision:
        candidates = [rs for rs in owned if revision(rs) == to_revision]
    else:
        candidates = [rs for rs in owned if revision(rs) < current][-1:]
    if not candidates:
        return None
    target = candidates[0]
    template = copy.deepcopy(target["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    if template == deployment["spec"]["template"]:
        return None
    annotations = {k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k in _UNDO_SKIPPED}
    annotations.update(
        (key, value) for key, value in (target["metadata"].get("annotations") or {}).items() if key not in _UNDO_SKIPPED
    )
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    kube.patch_deployment(namespace, name, patch, patch="json")
    return revision(target)


def rollout_promote(kube: Kube, namespace: str, name: str) -> list[str]:
    """The Argo Rollouts CLI's `promote` patches (K8S-SEMANTICS.md §7); returns what was patched."""
    rollout = kube.get_rollout(namespace, name)
    done: list[str] = []
    status = rollout.get("status") or {}
    if rollout.get("spec", {}).get("paused"):
        kube.patch_rollout(namespace, name, {"spec": {"paused": False}})
        done.append("spec.paused=false")
    if status.get("pauseConditions"):
        try:
            kube.patch_rollout(namespace, name, {"status": {"pauseConditions": None}}, status=True)
        except NotFoundError:
            kube.patch_rollout(namespace, name, {"spec": {"paused": False}, "status": {"pauseConditions": None}})
        done.append("status.pauseConditions=null")
    elif "canary" in (rollout.get("spec", {}).get("strategy") or {}):
        index = int(status.get("currentStepIndex") or 0)
        kube.patch_rollout(namespace, name, {"status": {"currentStepIndex": index + 1}}, status=True)
        done.append(f"status.currentStepIndex={index + 1}")
    return done


def rollout_abort(kube: Kube, namespace: str, name: str) -> None:
    """The Argo Rollouts CLI's `abort`: `{"status":{"abort":true}}` on /status, main resource on 404."""
    try:
        kube.patch_rollout(namespace, name, {"status": {"abort": True}}, status=True)
    except NotFoundError:
        kube.patch_rollout(namespace, name, {"status": {"abort": True}})
