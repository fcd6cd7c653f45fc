"""Service rules: a selector that matches the workloads' pods, and readiness left in charge of traffic."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from checks.lint.model import Finding
from checks.lint.objects import Context, Obj, as_map, object_finding, object_namespace

__all__ = ["check_service"]


def _labels_text(labels: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "no labels"


def check_service(index: int, obj: Obj, ctx: Context) -> Iterator[Finding]:
    """service-selector-mismatch, service-publishes-not-ready.

    `service-selector-mismatch` is an error only when the input holds everything that could create
    the pods; when it shows signs of pods it does not hold (a custom resource whose operator creates
    pods, an autoscaler, PDB or workloadRef naming a workload that is not in it) it is a warning that
    says why: a Prometheus operator's or an Argo Experiment's pods are not in the manifests.
    """
    spec = as_map(obj.get("spec"))
    namespace = object_namespace(obj)
    selector = as_map(spec.get("selector"))
    judged = selector and spec.get("type") != "ExternalName" and ctx.has_pods_in(namespace)
    if judged and not ctx.any_pods_match(selector, namespace):
        candidates = ctx.pods_in(namespace)
        shown = "; ".join(f"{p.kind}/{p.name} has {_labels_text(p.labels)}" for p in candidates[:3])
        more = f" and {len(candidates) - 3} more" if len(candidates) > 3 else ""
        reasons = ctx.outside_reasons(namespace)
        partial = (
            f" This is a warning, not an error, because the input does not hold every pod: {reasons[0]}"
            + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else "")
            + "; if those pods carry the selector's labels, all is well."
            if reasons
            else ""
        )
        yield object_finding(
            index,
            obj,
            "service-selector-mismatch",
            f"the selector {_labels_text(selector)} matches the pods of none of the workloads in the input "
            f"({shown}{more}): the Service gets no endpoints and every request through it fails. Fix: make "
            f"spec.selector a subset of the pod template's labels.{partial}",
            severity="warning" if reasons else None,
        )
    if spec.get("publishNotReadyAddresses") is True:
        yield object_finding(
            index,
            obj,
            "service-publishes-not-ready",
            "publishNotReadyAddresses: true makes every pod an endpoint whether it is Ready or not, so starting "
            "pods get traffic before they listen and terminating pods keep getting it: readiness probes no "
            "longer protect this Service. Fix: remove it; it is meant for headless Services used for peer "
            "discovery (e.g. a StatefulSet's), not for client traffic.",
        )
