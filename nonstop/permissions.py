"""The API permissions a drill needs — one list, used by preflight and by the rendered RBAC Role.

Each entry is a verb on a resource (and subresource). The drill checks every entry it will use
with a SelfSubjectAccessReview before it changes anything; `workflows.rbac` grants exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Permission", "required_permissions"]


@dataclass(frozen=True, order=True)
class Permission:
    group: str
    resource: str
    verb: str
    subresource: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        group = f".{self.group}" if self.group else ""
        return f"{self.verb} {resource}{group}"


def _observe(kind: str) -> list[Permission]:
    workload = (
        [Permission("apps", "deployments", v) for v in ("get", "list", "watch")]
        + [Permission("apps", "replicasets", v) for v in ("get", "list")]
        if kind == "Deployment"
        else [Permission("argoproj.io", "rollouts", v) for v in ("get", "list", "watch")]
    )
    return [
        *workload,
        *[Permission("", "pods", v) for v in ("get", "list", "watch")],
        Permission("", "services", "get"),
        Permission("", "services", "list"),
        *[Permission("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")],
        *[Permission("", "events", v) for v in ("list", "watch")],
        Permission("policy", "poddisruptionbudgets", "list"),
        Permission("autoscaling", "horizontalpodautoscalers", "list"),
    ]


def required_permissions(
    *, kind: str, strategy: str, on_pass: str, on_fail: str, terminate_old_pods: bool
) -> list[Permission]:
    """Every permission a drill of this shape uses, sorted and without duplicates."""
    needed = set(_observe(kind))
    # The drill's Lease (one drill per target at a time): read, take, renew, release.
    needed |= {Permission("coordination.k8s.io", "leases", v) for v in ("get", "create", "update", "delete")}
    deployments = "apps", "deployments"
    if kind == "Deployment":
        if strategy in ("restart", "image"):
            needed.add(Permission(*deployments, "patch"))
        if strategy == "scale":  # the scale itself, and scaling back on rollback or abort
            needed.add(Permission(*deployments, "patch", "scale"))
        if strategy == "canary":
            needed |= {Permission(*deployments, "create"), Permission(*deployments, "delete")}
        if on_pass == "promote":
            needed.add(Permission(*deployments, "patch"))
        if on_fail in ("rollback", "abort") and strategy not in ("restart", "scale"):
            needed.add(Permission(*deployments, "patch"))
            if strategy == "canary":
                needed.add(Permission(*deployments, "delete"))
    else:
        if on_pass == "promote":
            needed |= {
                Permission("argoproj.io", "rollouts", "patch"),
                Permission("argoproj.io", "rollouts", "patch", "status"),
            }
        if on_fail in ("rollback", "abort"):
            needed.add(Permission("argoproj.io", "rollouts", "patch", "status"))
    if terminate_old_pods and strategy in ("canary", "external"):
        needed.add(Permission("", "pods", "create", "eviction"))
    return sorted(needed)
