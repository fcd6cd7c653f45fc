"""Voluntary disruptions: a PodDisruptionBudget keeps a node drain from evicting every pod at once."""

from __future__ import annotations

from collections.abc import Iterator

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_map
from checks.lint.selectors import matches_label_selector

__all__ = ["check_disruption_budget"]


def check_disruption_budget(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """pod-disruption-budget-missing (only when the input has PDBs, or with `--require-pdb`)."""
    if not (ctx.pdbs or ctx.require_pdb) or (workload.replicas == 0 and workload.autoscaler is None):
        return
    for pdb in ctx.pdbs_in(workload.namespace):
        if matches_label_selector(as_map(pdb.get("spec")).get("selector"), workload.labels):
            return
    yield workload.finding(
        "pod-disruption-budget-missing",
        f"no PodDisruptionBudget in the input selects the pods of {workload.ref}: a node drain, cluster "
        "upgrade or autoscaler scale-down may evict all of them at once, and the Service has no endpoints until "
        "replacements are Ready. Fix: add a policy/v1 PodDisruptionBudget whose selector matches the pod "
        "labels, with maxUnavailable: 1 (or minAvailable below the replica count, so drains can proceed).",
    )
