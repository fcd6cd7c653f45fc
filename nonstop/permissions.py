"""The API permissions a drill needs: the `Permission` type and the part no rollout strategy decides.

Each entry is a verb on a resource (and subresource). `nonstop.strategies.required_permissions`
adds each strategy's own to these; the drill checks every entry it will use with a
SelfSubjectAccessReview before it changes anything, and `workflows.rbac` grants exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLUSTER_SCOPED", "Permission", "decision_permissions", "observe_permissions"]

CLUSTER_SCOPED = frozenset({"nodes"})
"""Resources without a namespace: their access is checked cluster-wide (a namespaced Role cannot grant them)."""


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


def observe_permissions(kind: str) -> set[Permission]:
    """What any drill of a `kind` target reads and watches, and its Lease (one drill per target)."""
    workload = (
        [Permission("apps", "deployments", v) for v in ("get", "list", "watch")]
        + [Permission("apps", "replicasets", v) for v in ("get", "list")]
        if kind == "Deployment"
        else [Permission("argoproj.io", "rollouts", v) for v in ("get", "list", "watch")]
    )
    return {
        *workload,
        *[Permission("", "pods", v) for v in ("get", "list", "watch")],
        Permission("", "services", "get"),
        Permission("", "services", "list"),
        *[Permission("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")],
        *[Permission("", "events", v) for v in ("list", "watch")],
        Permission("policy", "poddisruptionbudgets", "list"),
        Permission("autoscaling", "horizontalpodautoscalers", "list"),
        # The drill's Lease (one drill per target at a time): read, take, renew, release.
        *[Permission("coordination.k8s.io", "leases", v) for v in ("get", "create", "update", "delete")],
    }


def decision_permissions(kind: str, *, on_pass: str, on_fail: str) -> set[Permission]:
    """What promoting or aborting an Argo `Rollout` takes: the Argo Rollouts CLI's patches.

    (A Deployment's decisions depend on its strategy: `nonstop.strategies`.)
    """
    needed: set[Permission] = set()
    if kind != "Rollout":
        return needed
    if on_pass == "promote":
        needed |= {
            Permission("argoproj.io", "rollouts", "patch"),
            Permission("argoproj.io", "rollouts", "patch", "status"),
        }
    if on_fail in ("rollback", "abort"):
        needed.add(Permission("argoproj.io", "rollouts", "patch", "status"))
    return needed
