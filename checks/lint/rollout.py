"""Rollout strategy rules: surge and unavailability as Kubernetes resolves them, Recreate, DaemonSet updates,
replica count, and autoscaled workloads that also set a count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from checks.lint.model import Finding
from checks.lint.objects import Context, Workload, as_int, as_list, as_map
from nonstop.toolkit.intstr import scaled_value

__all__ = ["check_daemonset", "check_replicas", "check_strategy", "resolve_int_or_percent"]

_DEFAULT_PERCENT = "25%"
_MONITORING_PORT = re.compile(r"metric|monitor|prom|health|probe|debug|profil", re.IGNORECASE)


def resolve_int_or_percent(value: object, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field as Kubernetes scales it (`intstr.GetScaledValueFromIntOrPercent`).

    A percentage becomes `value * total / 100`, rounded up or down; None when absent or a value the API would reject.
    """
    try:
        return None if value is None else scaled_value(value, total, round_up=round_up)
    except ValueError:
        return None


def _evaluated_replicas(workload: Workload) -> tuple[int, str]:
    """The replica count to judge the strategy at: an autoscaler's minimum when one manages the workload."""
    if workload.autoscaler is not None:
        scaler = workload.autoscaler
        return scaler.min_replicas, f"at the {scaler.kind} {scaler.name}'s minimum of {scaler.min_replicas}"
    return workload.replicas, f"with {workload.replicas} replica{'s' if workload.replicas != 1 else ''}"


def _shown(raw: object, resolved: int) -> str:
    return f"{resolved}" if raw == resolved else f"{raw!s} → {resolved}"


def _surge_rules(workload: Workload, surge_raw: object, unavailable_raw: object, owner: str) -> Iterator[Finding]:
    replicas, at = _evaluated_replicas(workload)
    if replicas <= 0:
        return
    surge = resolve_int_or_percent(surge_raw, replicas, round_up=True)
    unavailable = resolve_int_or_percent(unavailable_raw, replicas, round_up=False)
    if surge is None or unavailable is None:
        return
    if surge == 0 and unavailable == 0:
        literal = resolve_int_or_percent(surge_raw, 100, round_up=True) == 0 and (
            resolve_int_or_percent(unavailable_raw, 100, round_up=False) == 0
        )
        consequence = (
            'the API rejects literal zeros for both ("may not be 0 when maxSurge is 0"), so this manifest '
            "does not apply"
            if literal
            else "when both round to zero Kubernetes falls back to maxUnavailable 1 and takes an old pod down "
            "before its replacement is Ready"
            + (" — with one replica, an outage on every rollout" if replicas == 1 else "")
        )
        yield workload.finding(
            "rolling-update-zero-surge-and-unavailable",
            f"{owner} maxSurge ({_shown(surge_raw, surge)}) and maxUnavailable ({_shown(unavailable_raw, 0)}) "
            f"both resolve to 0 {at} (maxSurge rounds up, maxUnavailable down): {consequence}. "
            "Fix: maxSurge: 1 (or 25%) and maxUnavailable: 0, so a new pod is Ready before an old one goes.",
        )
    elif unavailable >= replicas:
        yield workload.finding(
            "rolling-update-all-unavailable",
            f"{owner} maxUnavailable ({_shown(unavailable_raw, unavailable)}) covers every replica {at}: the "
            "controller may stop all old pods before any new pod is Ready, leaving the Service with no "
            "endpoints. Fix: maxUnavailable: 0 with maxSurge: 1 (or a value below the replica count).",
        )


def _statefulset(workload: Workload) -> Iterator[Finding]:
    update = as_map(workload.spec.get("updateStrategy"))
    if update.get("type", "RollingUpdate") != "RollingUpdate":
        return  # OnDelete: nothing rolls until someone deletes pods
    replicas, at = _evaluated_replicas(workload)
    if replicas <= 0:
        return
    raw = as_map(update.get("rollingUpdate")).get("maxUnavailable", 1)
    unavailable = resolve_int_or_percent(raw, replicas, round_up=True)
    if unavailable is None:
        return
    unavailable = max(unavailable, 1)
    if unavailable >= replicas:
        gate = (
            ""
            if raw == 1
            else " (the field is honoured where the MaxUnavailableStatefulSet feature is on: by default from "
            "Kubernetes 1.35; before that, one pod at a time)"
        )
        yield workload.finding(
            "rolling-update-all-unavailable",
            f"StatefulSet updateStrategy maxUnavailable ({_shown(raw, unavailable)}) covers every replica "
            f"{at}{gate}: StatefulSets have no maxSurge — the controller deletes a pod and creates its "
            "replacement only after it is gone — so the rollout takes every pod down at once and the Service "
            "has no endpoints until the new pods are Ready. Fix: run at least 2 replicas (and keep "
            "maxUnavailable below the replica count), or use a Deployment if the app keeps no state.",
        )


def check_strategy(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """rolling-update-zero-surge-and-unavailable, rolling-update-all-unavailable, recreate-strategy."""
    del ctx
    if workload.kind == "DaemonSet":
        return
    if workload.kind == "StatefulSet":
        yield from _statefulset(workload)
        return
    strategy = as_map(workload.spec.get("strategy"))
    if workload.kind == "Rollout":
        canary = strategy.get("canary")
        # blueGreen brings the new ReplicaSet up in full before switching; with traffic routing, canary
        # scales by weight and ignores maxSurge/maxUnavailable (Argo Rollouts' docs).
        if isinstance(canary, Mapping) and "trafficRouting" not in canary:
            yield from _surge_rules(
                workload,
                canary.get("maxSurge", _DEFAULT_PERCENT),
                canary.get("maxUnavailable", _DEFAULT_PERCENT),
                "Rollout canary",
            )
        return
    kind = strategy.get("type") or "RollingUpdate"
    if kind == "Recreate":
        if workload.replicas != 0 or workload.autoscaler is not None:
            yield workload.finding(
                "recreate-strategy",
                "strategy Recreate stops every old pod before the first new pod starts, so the Service has no "
                "endpoints — every request fails — until a new pod is Ready. Fix: type RollingUpdate with "
                "maxSurge: 1 and maxUnavailable: 0 (if two versions must never run together, put that "
                "constraint in the app, or accept a maintenance window).",
            )
        return
    rolling = as_map(strategy.get("rollingUpdate"))
    surge_raw = rolling.get("maxSurge")
    unavailable_raw = rolling.get("maxUnavailable")
    yield from _surge_rules(
        workload,
        _DEFAULT_PERCENT if surge_raw is None else surge_raw,
        _DEFAULT_PERCENT if unavailable_raw is None else unavailable_raw,
        "RollingUpdate",
    )


def check_replicas(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """single-replica (judged at an autoscaler's minReplicas), hpa-with-replicas."""
    del ctx
    if not workload.replicated:
        return
    scaler = workload.autoscaler
    explicit = as_int(workload.spec.get("replicas"))
    if scaler is not None and explicit is not None:
        yield workload.finding(
            "hpa-with-replicas",
            f"{scaler.kind}/{scaler.name} scales {workload.ref}, which also sets replicas: {explicit}: every "
            "`kubectl apply` (or GitOps sync) of this manifest resets the count to that number, so while the "
            f"autoscaler holds more pods the apply deletes the extra ones at once — under the very load that made "
            "it scale up — until it scales up again. Fix: remove spec.replicas from the manifest (the autoscaler's "
            "minReplicas sets the floor); on Argo CD, or add it to ignoreDifferences.",
        )
    if scaler is not None:
        if scaler.min_replicas != 1:
            return
        yield workload.finding(
            "single-replica",
            f"{scaler.kind}/{scaler.name} scales {workload.ref} down to 1 replica (its minimum): at low load one "
            "pod carries all traffic, so a node drain, an eviction, a crash or an OOM kill leaves the Service "
            "without endpoints, and every rollout hinges on that one replacement. Fix: minReplicas: 2 or more "
            "(with a PodDisruptionBudget).",
        )
        return
    if workload.replicas != 1:
        return
    count = "replicas is 1" if explicit is not None else "replicas is unset (so 1)"
    yield workload.finding(
        "single-replica",
        f"{count} and no HorizontalPodAutoscaler targets {workload.ref}: one pod carries all traffic, so a "
        "node drain, an eviction, a crash or an OOM kill leaves the Service without endpoints, and every "
        "rollout hinges on that one replacement. Fix: replicas: 2 or more (with a PodDisruptionBudget), or an "
        "HPA with minReplicas ≥ 2.",
    )


def check_daemonset(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """daemonset-rolling-update: a serving DaemonSet whose rolling update stops a node's pod before its
    replacement is Ready (maxSurge 0, the default), or updates every node at once (maxUnavailable 100 %).

    Serving, for a DaemonSet, means a Service selects it or it declares a port that is not only for
    metrics or health checks (a CNI or log agent's metrics port carries no client traffic). With a
    hostPort or hostNetwork the surge pod cannot start beside the old one on the same node, so only
    the every-node-at-once case is reported there. OnDelete updates nothing by itself and is not judged.
    """
    del ctx
    if workload.kind != "DaemonSet" or not workload.serving:
        return
    if not workload.services and all(
        _MONITORING_PORT.search(str(port.get("name", "")))
        for container in workload.serving
        for port in as_list(container.get("ports"))
        if isinstance(port, Mapping)
    ):
        return
    update = as_map(workload.spec.get("updateStrategy"))
    if update.get("type", "RollingUpdate") != "RollingUpdate":
        return
    rolling = as_map(update.get("rollingUpdate"))
    unavailable_raw = rolling.get("maxUnavailable", 1)
    surge_raw = rolling.get("maxSurge", 0)
    host_port = workload.pod.get("hostNetwork") is True or any(
        isinstance(port, Mapping) and port.get("hostPort")
        for container, _sidecar in workload.containers
        for port in as_list(container.get("ports"))
    )
    if resolve_int_or_percent(unavailable_raw, 100, round_up=False) == 100 and isinstance(unavailable_raw, str):
        yield workload.finding(
            "daemonset-rolling-update",
            f"DaemonSet updateStrategy maxUnavailable ({unavailable_raw}) lets the update stop the pod on every "
            "node at once: the Service loses all its endpoints until the new pods are Ready. Fix: maxUnavailable: "
            "1 (or a small percentage)" + ("." if host_port else ", or maxSurge: 1 with maxUnavailable: 0."),
        )
        return
    surge = resolve_int_or_percent(surge_raw, 1, round_up=True)
    if host_port or surge != 0:
        return
    yield workload.finding(
        "daemonset-rolling-update",
        f"DaemonSet rolling update with maxSurge {surge_raw} (the default is 0) and maxUnavailable "
        f"{unavailable_raw}: on each node the old pod is stopped before its replacement is Ready, so traffic that "
        "stays on the node (externalTrafficPolicy: Local, internalTrafficPolicy: Local, a node-local agent) fails "
        "while it starts, and the Service runs short of endpoints on every update. Fix: maxSurge: 1 and "
        "maxUnavailable: 0 (Kubernetes ≥ 1.25), so the new pod is Ready before the old one goes.",
    )
