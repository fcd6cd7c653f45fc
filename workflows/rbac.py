"""Least-privilege RBAC for the drill's ServiceAccount, with the verbs kept as data.

`DRILL_RULES` is every request `nonstop drill` makes against the cluster, derived from
CONTRACT.md and ARCHITECTURE.md (and `nonstop.kube`); a test compares it with the sandbox's
request log of a real drill, so a verb the drill stops using, or starts using, shows up there.
`WORKFLOW_RULES` is what the workflow around the drill needs: the Argo executor reports output
parameters through `workflowtaskresults`. SelfSubjectAccessReview needs no grant: every
authenticated user may create one.

The Role is namespaced: the drill, its workflow and its target share one namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.names import ROLE, SERVICE_ACCOUNT

__all__ = [
    "DRILL_RULES",
    "WORKFLOW_RULES",
    "Rule",
    "rbac_manifests",
    "role",
    "role_binding",
    "service_account",
]


@dataclass(frozen=True)
class Rule:
    """One PolicyRule: an API group, its resources (subresources as `pods/eviction`) and verbs."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"apiGroups": [self.api_group], "resources": list(self.resources), "verbs": list(self.verbs)}

    def grants(self) -> set[tuple[str, str, str]]:
        """Every (group, resource, verb) triple this rule allows."""
        return {(self.api_group, r, v) for r in self.resources for v in self.verbs}


READ = ("get", "list", "watch")

DRILL_RULES: tuple[Rule, ...] = (
    Rule("", ("pods",), READ, "watch the target's pods; workers find the Locust master's pod IP"),
    Rule("", ("pods/eviction",), ("create",), "chaos for canary/external: evict stable pods (PDBs hold)"),
    Rule("", ("services",), READ, "preflight: the Service exists and selects the pods; its ClusterIP is the load URL"),
    Rule("", ("events",), READ, "the namespace's events go into the timeline"),
    Rule("discovery.k8s.io", ("endpointslices",), READ, "endpoint ordering: the Service's EndpointSlices"),
    Rule(
        "apps",
        ("deployments",),
        ("get", "list", "watch", "create", "patch", "delete"),
        "restart/image/undo/pause/verified-revision patches; create and delete `<name>-canary`",
    ),
    Rule("apps", ("replicasets",), READ, "rollout progress and `kubectl rollout undo`'s revision lookup"),
    Rule("argoproj.io", ("rollouts",), ("get", "list", "watch", "patch"), "observe a Rollout; promote/abort patches"),
    Rule("argoproj.io", ("rollouts/status",), ("patch",), "the Argo Rollouts CLI's status patches (promote, abort)"),
    Rule("policy", ("poddisruptionbudgets",), ("list",), "lint of the live objects: PDBs selecting the pods"),
    Rule("autoscaling", ("horizontalpodautoscalers",), ("list",), "lint of the live objects: single-replica with HPA"),
    Rule("coordination.k8s.io", ("leases",), ("get", "create", "update"), "one drill per target: the drill's Lease"),
    Rule("argoproj.io", ("applications",), ("get",), "is the target tracked by an Argo CD Application"),
)
"""Every request `nonstop drill` makes, and nothing more."""

WORKFLOW_RULES: tuple[Rule, ...] = (
    Rule(
        "argoproj.io",
        ("workflowtaskresults",),
        ("create", "patch"),
        "the Argo executor reports each step's output parameters",
    ),
)
"""What the Argo Workflows executor needs in the pods of the drill's workflow."""


def _metadata(name: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": "nonstop"}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def service_account(*, namespace: str | None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(SERVICE_ACCOUNT, namespace)}


def role(*, namespace: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(ROLE, namespace),
        "rules": [rule.to_dict() for rule in (*DRILL_RULES, *WORKFLOW_RULES)],
    }


def role_binding(*, namespace: str | None) -> dict[str, Any]:
    subject: dict[str, Any] = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT}
    if namespace:
        subject["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(ROLE, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
        "subjects": [subject],
    }


def rbac_manifests(*, namespace: str | None) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding, in apply order."""
    return [service_account(namespace=namespace), role(namespace=namespace), role_binding(namespace=namespace)]
