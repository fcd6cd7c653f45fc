"""What a lint finding is, and the table of rules (CONTRACT.md "Lint rule ids").

Severity: `error` when the manifest loses requests on its next rollout (or never becomes Ready);
`warning` when it loses them only when something else happens too (a drain, a slow start, an apply
during a scale-up, a shell of a given version), or protects less than it seems to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RULES", "SEVERITY_RANK", "Finding", "Rule", "Severity"]

Severity = Literal["error", "warning"]

SEVERITY_RANK: dict[str, int] = {"warning": 1, "error": 2}
"""Order of severities, for `--fail-on` and sorting (higher is worse)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One lint rule: its stable id, default severity and a one-line summary (SARIF's shortDescription)."""

    id: str
    severity: Severity
    summary: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One hazard found on one object.

    `index` is the position of the object in the list handed to `lint_objects`, so a caller that
    read the objects from files can attach file and line; `container` is None for findings about
    the workload or Service as a whole.
    """

    rule: str
    severity: Severity
    kind: str
    name: str
    namespace: str | None
    container: str | None
    message: str
    index: int

    def as_dict(self, *, file: str | None = None, line: int | None = None) -> dict[str, object]:
        """CONTRACT.md's JSON shape of one finding (`file`/`line` None for objects read from the API)."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "container": self.container,
            "file": file,
            "line": line,
            "message": self.message,
        }


_RULES: tuple[Rule, ...] = (
    Rule(
        "readiness-probe-missing",
        "error",
        "A serving container has no readinessProbe, so it gets traffic as soon as it starts.",
    ),
    Rule(
        "readiness-probe-port-mismatch",
        "error",
        "The readinessProbe names a port that the container does not declare, so the pod never becomes Ready.",
    ),
    Rule(
        "liveness-same-as-readiness",
        "warning",
        "livenessProbe and readinessProbe are identical, so a slow moment restarts the container.",
    ),
    Rule(
        "prestop-hook-missing",
        "warning",
        "A serving container has no preStop hook, so it gets SIGTERM while the data plane still routes to it.",
    ),
    Rule(
        "prestop-exceeds-grace-period",
        "error",
        "The preStop sleep is at least terminationGracePeriodSeconds, so the container is killed without a drain.",
    ),
    Rule(
        "grace-period-too-short",
        "warning",
        "terminationGracePeriodSeconds leaves less than 5 s after the preStop sleep for the app to drain.",
    ),
    Rule(
        "rolling-update-zero-surge-and-unavailable",
        "error",
        "maxSurge and maxUnavailable both resolve to 0, so Kubernetes takes a pod down before its replacement.",
    ),
    Rule(
        "rolling-update-all-unavailable",
        "error",
        "maxUnavailable resolves to every replica, so a rollout may take all pods down at once.",
    ),
    Rule(
        "recreate-strategy",
        "error",
        "Strategy Recreate stops every old pod before a new one starts: an outage on every rollout.",
    ),
    Rule(
        "single-replica",
        "warning",
        "One replica and no HorizontalPodAutoscaler: any eviction or crash leaves the Service without endpoints.",
    ),
    Rule(
        "pod-disruption-budget-missing",
        "warning",
        "No PodDisruptionBudget selects the pods, so a node drain may evict all of them at once.",
    ),
    Rule(
        "service-selector-mismatch",
        "error",
        "The Service selects none of the workloads' pods, so it has no endpoints.",
    ),
    Rule(
        "service-publishes-not-ready",
        "warning",
        "The Service publishes not-ready addresses, so readiness no longer gates its traffic.",
    ),
)

_RULES += (
    # Added with real-world manifests (issue 14); why each severity is what it is, in one line each.
    Rule(
        "pdb-no-policy",
        # warning: harmless in itself, but it allows every eviction while looking like protection.
        "warning",
        "A PodDisruptionBudget sets neither minAvailable nor maxUnavailable, so it allows every eviction.",
    ),
    Rule(
        "pdb-blocks-eviction",
        # warning: nothing fails until a drain, which then hangs (and is often forced, evicting everything).
        "warning",
        "A PodDisruptionBudget allows no disruption at all, so node drains block (and get forced).",
    ),
    Rule(
        "readiness-probe-protocol-mismatch",
        # error: like a port mismatch, the probe can never pass, so the pod never becomes Ready.
        "error",
        "The readinessProbe's port is declared as UDP/SCTP, but probes speak TCP, so the pod never becomes Ready.",
    ),
    Rule(
        "startup-probe-port-mismatch",
        # error: the startup probe errors on every try, so the kubelet restarts the container forever.
        "error",
        "The startupProbe names a port that the container does not declare, so the container is restarted forever.",
    ),
    Rule(
        "no-anti-affinity",
        # warning: the default scheduler already spreads softly; it takes a busy or small cluster to bite.
        "warning",
        "No pod anti-affinity or topology spread: every replica may land on one node, and one drain takes them all.",
    ),
    Rule(
        "hpa-with-replicas",
        # warning: it bites on an apply while the autoscaler holds more replicas than the manifest says.
        "warning",
        "An autoscaled workload also sets replicas, so every apply resets the count the autoscaler chose.",
    ),
    Rule(
        "daemonset-rolling-update",
        # warning: a node's pod is down while its replacement starts, but other nodes' pods keep serving.
        "warning",
        "A serving DaemonSet's rolling update stops each node's pod before its replacement is Ready.",
    ),
    Rule(
        "liveness-without-startup-probe",
        # warning: only a start slower than the liveness budget turns into a restart loop.
        "warning",
        "A livenessProbe without a startupProbe may kill a slow-starting container before it is up.",
    ),
    Rule(
        "shell-pid1-no-exec",
        # warning: whether the shell forwards SIGTERM depends on the shell and its version.
        "warning",
        "A shell script is the container's PID 1 and does not exec the server, so SIGTERM may never reach it.",
    ),
    Rule(
        "prestop-shorter-than-deregistration",
        # warning: only traffic through that load balancer is affected, and only for the delay's length.
        "warning",
        "The preStop sleep is shorter than the load balancer's deregistration delay the manifest declares.",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
"""Every rule by id, in CONTRACT.md's order."""
