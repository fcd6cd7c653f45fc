"""Where replicas land: without anti-affinity or a topology spread, one node may hold every replica."""

from __future__ import annotations

from collections.abc import Iterator

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_list, as_map

__all__ = ["check_placement"]


def check_placement(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """no-anti-affinity: a serving workload that runs 2 or more replicas (or is autoscaled) sets neither
    `podAntiAffinity` nor `topologySpreadConstraints`.

    The default scheduler does spread pods of one workload, but only as a soft score
    (ScheduleAnyway), so a busy or small cluster can put every replica on one node.
    """
    del ctx
    if not workload.replicated or not workload.serving:
        return
    replicas = max(workload.replicas, workload.autoscaler.min_replicas if workload.autoscaler else 0)
    if replicas < 2 and workload.autoscaler is None:
        return
    if as_map(as_map(workload.pod.get("affinity")).get("podAntiAffinity")) or as_list(
        workload.pod.get("topologySpreadConstraints")
    ):
        return
    count = f"{replicas} replicas" if workload.autoscaler is None else f"up to the {workload.autoscaler.kind}'s count"
    yield workload.finding(
        "no-anti-affinity",
        f"{workload.ref} runs {count} with no podAntiAffinity and no topologySpreadConstraints: the scheduler's "
        "default spreading is only a preference, so on a busy or small cluster every replica can land on one "
        "node, and one drain, upgrade or node failure takes all of them at once — the Service has no endpoints "
        "until replacements are Ready. Fix: add topologySpreadConstraints on kubernetes.io/hostname (maxSkew: 1), "
        "or a preferred podAntiAffinity on the pod labels with that topologyKey.",
    )
