"""Voluntary disruptions: a PodDisruptionBudget keeps a node drain from evicting every pod at once, and must
let a drain proceed at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from checks.lint.model import Finding
from checks.lint.objects import Context, Obj, Workload, as_map, object_finding, object_namespace
from checks.lint.rollout import resolve_int_or_percent
from checks.lint.selectors import matches_label_selector

__all__ = ["check_disruption_budget", "check_pdb"]


def check_disruption_budget(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """pod-disruption-budget-missing (only when the input has PDBs, or with `--require-pdb`)."""
    if not workload.replicated:
        return  # a drain skips DaemonSet pods
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


def check_pdb(index: int, pdb: Obj, ctx: Context) -> Iterator[Finding]:
    """pdb-no-policy, pdb-blocks-eviction (judged at the replicas of the input's workloads it selects, or their
    autoscalers' minimums: the disruption controller counts the pods that exist, and at the minimum there are
    that many).
    """
    spec = as_map(pdb.get("spec"))
    namespace = object_namespace(pdb)
    selected = [w for w in ctx.workloads_selected_by(spec.get("selector"), namespace) if w.replicated]
    refs = ", ".join(w.ref for w in selected[:3]) + (f" and {len(selected) - 3} more" if len(selected) > 3 else "")
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is None and max_unavailable is None:
        yield object_finding(
            index,
            pdb,
            "pdb-no-policy",
            "the PodDisruptionBudget sets neither minAvailable nor maxUnavailable"
            + (f" (it selects {refs})" if selected else "")
            + ": the disruption controller then expects 0 healthy pods and allows every eviction, so a drain may "
            "still evict all the pods at once while the budget looks like protection. Fix: set maxUnavailable: 1 "
            "(or minAvailable below the replica count).",
        )
        return
    total = sum(w.autoscaler.min_replicas if w.autoscaler else w.replicas for w in selected)
    at = (
        f"{total} pod{'s' if total != 1 else ''} of {refs}"
        + (" at the autoscaler's minimum" if any(w.autoscaler for w in selected) else "")
        if selected
        else "any number of pods"
    )
    blocking = None
    if max_unavailable is not None:
        if resolve_int_or_percent(max_unavailable, max(total, 1), round_up=True) == 0:
            blocking = f"maxUnavailable: {max_unavailable} allows no pod to be evicted"
    elif isinstance(min_available, str) and resolve_int_or_percent(min_available, 100, round_up=True) == 100:
        blocking = f"minAvailable: {min_available} requires every pod"
    elif selected and total > 0:
        required = resolve_int_or_percent(min_available, total, round_up=True)
        if required is not None and required >= total:
            blocking = f"minAvailable: {min_available} requires {required} of the {at}"
    if blocking is None:
        return
    yield object_finding(
        index,
        pdb,
        "pdb-blocks-eviction",
        f"{blocking}" + ("" if "of the" in blocking or not selected else f" ({at})") + ": no voluntary disruption "
        "is ever allowed, so `kubectl drain`, node upgrades and the cluster autoscaler block on these pods until "
        "someone forces them (GKE gives up on the budget after an hour; people delete the pods or the PDB), "
        "which then takes the pods down without the budget's protection. Fix: maxUnavailable: 1, or minAvailable "
        "below the replica count (and below the autoscaler's minReplicas).",
    )
