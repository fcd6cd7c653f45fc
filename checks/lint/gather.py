"""The input sorted into a lint `Context`: workloads with their pod templates (a Rollout's `workloadRef`
resolved when the Deployment is in the input), Services, PodDisruptionBudgets, autoscalers, the pod
label sets a selector may match, and the signs that pods exist outside the input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks.lint.objects import (
    POD_TEMPLATE_KINDS,
    WORKLOAD_KINDS,
    Autoscaler,
    Context,
    Obj,
    PodLabels,
    Workload,
    api_group,
    as_int,
    as_map,
    containers,
    is_map,
    object_name,
    object_namespace,
    pod_creating_reason,
    same_namespace,
    template_labels,
)
from checks.lint.selectors import matches_label_selector

__all__ = ["build_context"]

_EMPTY: Mapping[str, Any] = {}


def _template_of(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    spec = as_map(obj.get("spec"))
    if kind == "CronJob":
        spec = as_map(as_map(spec.get("jobTemplate")).get("spec"))
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def _autoscaler(obj: Obj, kind: str) -> Autoscaler | None:
    spec = as_map(obj.get("spec"))
    ref = as_map(spec.get("scaleTargetRef"))
    target_name = ref.get("name")
    if not isinstance(target_name, str):
        return None
    if kind == "HorizontalPodAutoscaler":
        target_kind = ref.get("kind")
        minimum = as_int(spec.get("minReplicas"))
        default_min = 1
    else:  # KEDA ScaledObject: kind defaults to Deployment, minReplicaCount to 0
        target_kind = ref.get("kind") or "Deployment"
        minimum = as_int(spec.get("minReplicaCount"))
        default_min = 0
    return Autoscaler(
        kind=kind,
        name=object_name(obj),
        namespace=object_namespace(obj),
        target_kind=str(target_kind),
        target_name=target_name,
        min_replicas=default_min if minimum is None else minimum,
    )


def _resolve_workload_ref(obj: Obj, namespace: str | None, objects: Sequence[Obj]) -> Mapping[str, Any] | None:
    """A Rollout's `workloadRef` template, when the Deployment it names is in the input."""
    ref = as_map(as_map(obj.get("spec")).get("workloadRef"))
    for other in objects:
        if (
            isinstance(other, Mapping)
            and other.get("kind") == ref.get("kind", "Deployment")
            and object_name(other) == ref.get("name")
            and same_namespace(object_namespace(other), namespace)
        ):
            return _template_of(other, "Deployment")
    return None


def _outside_references(obj: Obj, kind: str, objects: Sequence[Obj]) -> str | None:
    """A reference from `obj` to a workload that is not in the input, as a reason; else None."""
    spec = as_map(obj.get("spec"))
    ref: Mapping[str, Any] = _EMPTY
    if kind in ("HorizontalPodAutoscaler", "VerticalPodAutoscaler", "ScaledObject"):
        ref = as_map(spec.get("scaleTargetRef") or spec.get("targetRef"))
    elif kind == "Rollout" and "workloadRef" in spec:
        ref = as_map(spec.get("workloadRef"))
    elif kind == "Canary":
        ref = as_map(spec.get("targetRef"))
    name = ref.get("name")
    if not isinstance(name, str):
        return None
    target_kind = str(ref.get("kind") or "Deployment")
    namespace = object_namespace(obj)
    for other in objects:
        if (
            is_map(other)
            and other.get("kind") == target_kind
            and object_name(other) == name
            and same_namespace(object_namespace(other), namespace)
        ):
            return None
    return f"{kind}/{object_name(obj)} refers to {target_kind}/{name}, which is not in the input"


def build_context(objects: Sequence[Obj], *, require_pdb: bool, incomplete: Sequence[str] = ()) -> Context:  # noqa: C901, PLR0912 — one branch per kind the input may hold, in one pass
    """Sort the input into workloads, Services, PDBs, autoscalers and pod label sets; other kinds are ignored.

    `incomplete` are reasons, known to the caller, why the input may lack pods (files it skipped).
    """
    ctx = Context(objects=objects, require_pdb=require_pdb)
    ctx.outside_pods.extend((None, reason) for reason in incomplete)
    for index, obj in enumerate(objects):
        if not is_map(obj):
            continue
        kind = obj.get("kind")
        if kind in WORKLOAD_KINDS:
            namespace = object_namespace(obj)
            template = _template_of(obj, kind)
            if template is None and kind == "Rollout":
                template = _resolve_workload_ref(obj, namespace, objects)
            template = template or _EMPTY
            replicas = as_int(as_map(obj.get("spec")).get("replicas"))
            workload = Workload(
                index=index,
                kind=kind,
                name=object_name(obj),
                namespace=namespace,
                spec=as_map(obj.get("spec")),
                template=template,
                pod=as_map(template.get("spec")),
                labels=template_labels(template),
                replicas=1 if replicas is None else replicas,
            )
            workload.containers = containers(workload.pod)
            ctx.add_workload(workload)
            if kind == "Rollout" and not template:
                reason = _outside_references(obj, kind, objects)
                if reason:
                    ctx.outside_pods.append((namespace, reason))
        elif kind in POD_TEMPLATE_KINDS or kind == "CronJob":
            template = _template_of(obj, kind)
            if template is not None:
                ctx.pod_labels.append(
                    PodLabels(kind, object_name(obj), object_namespace(obj), template_labels(template))
                )
        elif kind == "Pod":
            ctx.pod_labels.append(PodLabels(kind, object_name(obj), object_namespace(obj), template_labels(obj)))
        elif kind == "Service" and not api_group(obj):  # not a Knative Service (serving.knative.dev)
            ctx.services.append((index, obj))
        elif kind == "PodDisruptionBudget":
            ctx.pdbs.append((index, obj))
        elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            autoscaler = _autoscaler(obj, kind)
            if autoscaler is not None:
                ctx.autoscalers.append(autoscaler)
        elif kind == "Ingress":
            ctx.ingresses.append(obj)
        elif kind == "BackendConfig":
            ctx.backend_configs.append(obj)
        if not isinstance(kind, str) or kind in WORKLOAD_KINDS:
            continue
        reason = pod_creating_reason(obj)
        if reason is None and kind in ("HorizontalPodAutoscaler", "VerticalPodAutoscaler", "ScaledObject", "Canary"):
            reason = _outside_references(obj, kind, objects)
        if reason is not None:
            ctx.outside_pods.append((object_namespace(obj), reason))
    ctx.index()
    _pdb_outside_pods(ctx)
    return ctx


def _pdb_outside_pods(ctx: Context) -> None:
    """A PodDisruptionBudget that selects none of the input's pods protects pods from elsewhere."""
    for _index, pdb in ctx.pdbs:
        selector = as_map(pdb.get("spec")).get("selector")
        namespace = object_namespace(pdb)
        if is_map(selector) and not any(
            same_namespace(p.namespace, namespace) and matches_label_selector(selector, p.labels)
            for p in ctx.pod_labels
        ):
            ctx.outside_pods.append(
                (namespace, f"PodDisruptionBudget/{object_name(pdb)} selects pods none of the input's workloads has")
            )
