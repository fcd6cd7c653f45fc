"""Least-privilege RBAC for the drill's ServiceAccount, with the verbs kept as data.

`DRILL_RULES` is every request `nonstop drill` makes against the cluster: the union of each
strategy's `permissions` (the one list the drill's preflight checks) over every drill shape the
spec allows, but the strategies in `NOT_GRANTED`. A sandbox test compares it with the request log of a real drill
workflow, so a request the list forgot shows up there.
`WORKFLOW_RULES` is what the workflow around the drill needs: the Argo executor reports output
parameters through `workflowtaskresults`. SelfSubjectAccessReview needs no grant: every
authenticated user may create one.

The Role is namespaced: the drill, its workflow and its target share one namespace.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from nonstop.permissions import Permission
from nonstop.strategies import STRATEGIES, Strategy
from nonstop.strategies.drain import Drain
from nonstop.strategies.scale import Scale
from workflows.names import ROLE, SERVICE_ACCOUNT

__all__ = [
    "DRILL_RULES",
    "WORKFLOW_RULES",
    "Rule",
    "drill_permissions",
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


_VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")

_WHY = {
    ("", "pods"): "watch the target's pods; Locust workers find the master's pod IP",
    ("", "pods/eviction"): "chaos for canary/external: evict stable pods (PDBs hold)",
    ("", "services"): "preflight: the Service exists and selects the pods; its ClusterIP is the load URL",
    ("", "events"): "the namespace's events go into the timeline",
    ("discovery.k8s.io", "endpointslices"): "endpoint ordering: the Service's EndpointSlices",
    ("apps", "deployments"): "restart/image/undo/pause/verified-revision patches; the `<name>-canary` Deployment",
    ("apps", "replicasets"): "rollout progress and `kubectl rollout undo`'s revision lookup",
    ("argoproj.io", "rollouts"): "observe a Rollout; the Argo Rollouts CLI's promote patch",
    ("argoproj.io", "rollouts/status"): "the Argo Rollouts CLI's status patches (promote, abort)",
    ("policy", "poddisruptionbudgets"): "lint of the live objects: PDBs selecting the pods",
    ("autoscaling", "horizontalpodautoscalers"): "lint of the live objects: single-replica with an HPA",
    ("coordination.k8s.io", "leases"): "one drill per target: the drill's Lease",
}


NOT_GRANTED: tuple[type[Strategy], ...] = (Scale, Drain)
"""Strategies the Role does not cover yet (they came after it: deployments/scale, nodes get/patch).

The drill's preflight access review refuses them in a workflow.
"""


def drill_permissions() -> set[Permission]:
    """Every permission any drill shape uses.

    Each strategy's permissions over every kind, decision and chaos setting the spec allows
    (strategies in NOT_GRANTED left out).
    """
    shapes = [("Deployment", s) for s in STRATEGIES.values() if s not in NOT_GRANTED]
    shapes += [("Rollout", s) for s in STRATEGIES.values() if s.on_rollout]
    needed: set[Permission] = set()
    for (kind, strategy), on_pass, on_fail, terminate in itertools.product(
        shapes, ("promote", "none"), ("rollback", "abort", "none"), (True, False)
    ):
        needed.update(strategy.permissions(kind=kind, on_pass=on_pass, on_fail=on_fail, terminate_old_pods=terminate))
    return needed


def _verb_rank(verb: str) -> tuple[int, str]:
    return (_VERB_ORDER.index(verb) if verb in _VERB_ORDER else len(_VERB_ORDER), verb)


def _rules(permissions: set[Permission]) -> tuple[Rule, ...]:
    """One Rule per (group, resource[/subresource]), verbs in kubectl's usual order."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for p in permissions:
        resource = f"{p.resource}/{p.subresource}" if p.subresource else p.resource
        verbs.setdefault((p.group, resource), set()).add(p.verb)
    return tuple(
        Rule(
            group,
            (resource,),
            tuple(sorted(found, key=_verb_rank)),
            _WHY.get((group, resource), "nonstop drill"),
        )
        for (group, resource), found in sorted(verbs.items())
    )


DRILL_RULES: tuple[Rule, ...] = _rules(drill_permissions())
"""Every request `nonstop drill` makes, and nothing more: derived from `nonstop.permissions`, the
list the drill's preflight checks with SelfSubjectAccessReviews."""

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
