"""Static zero-downtime rules over parsed Kubernetes objects (plain dicts): no I/O, no files, no cluster.

`lint_objects` takes what YAML or the API gives (each dict carries `kind`) and returns findings in
input order; `Finding.index` points back into the list, so a caller that knows where each object
came from can add file and line. The rule ids, severities and definitions are CONTRACT.md's "Lint
rule ids". Findings are on workloads (Deployment, StatefulSet, Argo Rollout, DaemonSet), Services
and PodDisruptionBudgets; autoscalers, Ingresses, GKE BackendConfigs and custom resources are read
for the cross-object rules; other kinds are ignored.

Objects read from the API must be in their wire form (camelCase keys, as the raw JSON or the
client's `ApiClient().sanitize_for_serialization(model)` gives them, not the models' snake_case
`to_dict()`), and items of a list response need their `kind` set: the API leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from checks.lint.disruption import check_disruption_budget, check_pdb
from checks.lint.entrypoint import check_entrypoint
from checks.lint.gather import build_context
from checks.lint.lifecycle import check_lifecycle, prestop_sleep_seconds
from checks.lint.loadbalancer import check_deregistration
from checks.lint.model import RULES, SEVERITY_RANK, Finding, Rule, Severity
from checks.lint.objects import WORKLOAD_KINDS, Context, Obj, Workload, object_name, object_namespace
from checks.lint.placement import check_placement
from checks.lint.probes import check_probes, is_serving, normalized_probe
from checks.lint.rollout import check_daemonset, check_replicas, check_strategy, resolve_int_or_percent
from checks.lint.service import check_service

__all__ = [
    "LINTED_KINDS",
    "RULES",
    "SEVERITY_RANK",
    "WORKLOAD_KINDS",
    "Finding",
    "Rule",
    "Severity",
    "is_serving",
    "lint_objects",
    "normalized_probe",
    "object_name",
    "object_namespace",
    "prestop_sleep_seconds",
    "resolve_int_or_percent",
]

LINTED_KINDS = (*WORKLOAD_KINDS, "Service", "PodDisruptionBudget")
"""The kinds findings are reported on (autoscalers, Ingresses and custom resources are only read for the
cross-object rules)."""

_WORKLOAD_CHECKS: tuple[Callable[[Workload, Context], Iterable[Finding]], ...] = (
    check_probes,
    check_lifecycle,
    check_deregistration,
    check_entrypoint,
    check_strategy,
    check_daemonset,
    check_replicas,
    check_placement,
    check_disruption_budget,
)

_RULE_ORDER = {rule_id: position for position, rule_id in enumerate(RULES)}


def lint_objects(objects: Sequence[Obj], *, require_pdb: bool = False, incomplete: Sequence[str] = ()) -> list[Finding]:
    """Every finding on `objects`, ordered by object, then by rule (CONTRACT.md's order), then container.

    `require_pdb` reports `pod-disruption-budget-missing` even when the input holds no PodDisruptionBudget.
    `incomplete` says why the input may not hold every pod (e.g. template files the caller skipped):
    `service-selector-mismatch` is then a warning that gives the first reason.
    """
    ctx = build_context(objects, require_pdb=require_pdb, incomplete=incomplete)
    findings: list[Finding] = []
    for workload in ctx.workloads:
        for check in _WORKLOAD_CHECKS:
            findings.extend(check(workload, ctx))
    for index, service in ctx.services:
        findings.extend(check_service(index, service, ctx))
    for index, pdb in ctx.pdbs:
        findings.extend(check_pdb(index, pdb, ctx))
    findings.sort(key=lambda f: (f.index, _RULE_ORDER[f.rule], f.container or ""))
    return findings
