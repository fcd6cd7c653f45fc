"""Views of the parsed objects the rules read: workloads with Kubernetes' defaults, and the cross-object context.

The rules read plain dicts (from YAML files or from the API), so every accessor here tolerates a
missing or mistyped field: a malformed manifest is the API server's business, not a crash of ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from checks.lint.model import RULES, Finding
from checks.lint.selectors import CONTROLLER_LABELS, matches_map

__all__ = [
    "POD_TEMPLATE_KINDS",
    "WORKLOAD_KINDS",
    "Autoscaler",
    "Context",
    "Obj",
    "PodLabels",
    "Workload",
    "as_int",
    "as_list",
    "as_map",
    "build_context",
    "containers",
    "is_map",
    "object_name",
    "object_namespace",
    "same_namespace",
]

Obj = Mapping[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout")
"""The kinds whose rollouts nonstop judges (Rollout is Argo Rollouts' `argoproj.io/v1alpha1`)."""

POD_TEMPLATE_KINDS = ("DaemonSet", "ReplicaSet", "ReplicationController", "Job")
"""Other kinds whose pods a Service may select: not linted, only counted for `service-selector-mismatch`."""

_EMPTY: Mapping[str, Any] = {}


def is_map(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A mapping; plain dicts (what YAML and JSON give) are checked first, the ABC check is slow."""
    return isinstance(value, (dict, Mapping))


def as_map(value: object) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if is_map(value) else _EMPTY


def as_list(value: object) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def as_int(value: object) -> int | None:
    """An integer field, or None when it is missing or not an integer (booleans are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def same_namespace(a: str | None, b: str | None) -> bool:
    """Objects without a namespace go wherever `kubectl apply -n` puts them, so they match any namespace."""
    return a is None or b is None or a == b


def object_namespace(obj: Obj) -> str | None:
    """metadata.namespace, or None when unset (then `kubectl apply -n` decides)."""
    namespace = as_map(obj.get("metadata")).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def object_name(obj: Obj) -> str:
    """metadata.name (or `generateName*`, or `<unnamed>`)."""
    name = as_map(obj.get("metadata")).get("name")
    if isinstance(name, str) and name:
        return name
    generate = as_map(obj.get("metadata")).get("generateName")
    return f"{generate}*" if isinstance(generate, str) and generate else "<unnamed>"


def _labels(template: Obj) -> dict[str, str]:
    labels = as_map(as_map(template.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def containers(pod: Obj) -> list[tuple[Mapping[str, Any], bool]]:
    """The pod's long-running containers as (container, is_sidecar).

    Native sidecars (init containers with `restartPolicy: Always`) run beside the app and their
    readiness gates the pod's Ready condition, so they count; ordinary init containers do not.
    """
    found = [(as_map(c), False) for c in as_list(pod.get("containers")) if is_map(c)]
    found += [(c, True) for c in as_list(pod.get("initContainers")) if is_map(c) and c.get("restartPolicy") == "Always"]
    return found


@dataclass(frozen=True, slots=True)
class PodLabels:
    """The pod labels of one pod template in the input, and where they come from."""

    kind: str
    name: str
    namespace: str | None
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Autoscaler:
    """A HorizontalPodAutoscaler (or KEDA ScaledObject, which manages one) and the workload it scales."""

    kind: str
    name: str
    namespace: str | None
    target_kind: str
    target_name: str
    min_replicas: int


@dataclass(slots=True)
class Workload:
    """A Deployment, StatefulSet or Rollout with the defaults Kubernetes (or Argo Rollouts) fills in."""

    index: int
    kind: str
    name: str
    namespace: str | None
    spec: Mapping[str, Any]
    pod: Mapping[str, Any]
    """The pod template's spec; empty when a Rollout's workloadRef points outside the input."""
    labels: Mapping[str, str]
    replicas: int
    """spec.replicas, or its default 1."""
    autoscaler: Autoscaler | None = None
    containers: list[tuple[Mapping[str, Any], bool]] = field(default_factory=list)
    """The pod's long-running containers as (container, is_sidecar); see `containers()`."""

    def finding(self, rule_id: str, message: str, *, container: str | None = None) -> Finding:
        """A finding of `rule_id` (default severity) on this workload."""
        return Finding(
            rule=rule_id,
            severity=RULES[rule_id].severity,
            kind=self.kind,
            name=self.name,
            namespace=self.namespace,
            container=container,
            message=message,
            index=self.index,
        )

    @property
    def ref(self) -> str:
        """`Kind/name`, as kubectl writes it."""
        return f"{self.kind}/{self.name}"


@dataclass(slots=True)
class Context:
    """Everything in the input the cross-object rules need, indexed so each lookup is cheap.

    The indices matter: a `helm template` of a platform can hold thousands of workloads and
    Services, and a rule that scanned every object per object would be quadratic.
    """

    objects: Sequence[Obj]
    require_pdb: bool = False
    workloads: list[Workload] = field(default_factory=list)
    services: list[tuple[int, Obj]] = field(default_factory=list)
    pdbs: list[tuple[int, Obj]] = field(default_factory=list)
    autoscalers: list[Autoscaler] = field(default_factory=list)
    pod_labels: list[PodLabels] = field(default_factory=list)
    _pods_by_label: dict[tuple[str, str], list[PodLabels]] = field(default_factory=dict)
    _pod_namespaces: set[str | None] = field(default_factory=set)
    _pdbs_by_namespace: dict[str | None, list[Obj]] = field(default_factory=dict)
    _autoscalers_by_target: dict[tuple[str, str], list[Autoscaler]] = field(default_factory=dict)

    def index(self) -> None:
        """Build the lookup tables once every object has been sorted in."""
        for pod in self.pod_labels:
            self._pod_namespaces.add(pod.namespace)
            for pair in pod.labels.items():
                self._pods_by_label.setdefault(pair, []).append(pod)
        for _index, pdb in self.pdbs:
            self._pdbs_by_namespace.setdefault(object_namespace(pdb), []).append(pdb)
        for scaler in self.autoscalers:
            self._autoscalers_by_target.setdefault((scaler.target_kind, scaler.target_name), []).append(scaler)
        for workload in self.workloads:
            workload.autoscaler = next(
                (
                    a
                    for a in self._autoscalers_by_target.get((workload.kind, workload.name), ())
                    if same_namespace(a.namespace, workload.namespace)
                ),
                None,
            )

    def has_pods_in(self, namespace: str | None) -> bool:
        """Whether any pod template of the input may live in `namespace`."""
        if namespace is None:
            return bool(self._pod_namespaces)
        return namespace in self._pod_namespaces or None in self._pod_namespaces

    def pods_in(self, namespace: str | None) -> list[PodLabels]:
        """The pod templates of the input that may live in `namespace`."""
        return [p for p in self.pod_labels if same_namespace(p.namespace, namespace)]

    def any_pods_match(self, selector: Mapping[str, Any], namespace: str | None) -> bool:
        """Whether a Service-style selector in `namespace` matches some pod template of the input."""
        pairs = [(str(k), str(v)) for k, v in selector.items() if k not in CONTROLLER_LABELS]
        if not pairs:
            return self.has_pods_in(namespace)
        return any(
            same_namespace(p.namespace, namespace) and matches_map(selector, p.labels)
            for p in self._pods_by_label.get(pairs[0], ())
        )

    def pdbs_in(self, namespace: str | None) -> list[Obj]:
        """The PodDisruptionBudgets of the input that may live in `namespace`."""
        if namespace is None:
            return [pdb for _index, pdb in self.pdbs]
        return self._pdbs_by_namespace.get(namespace, []) + self._pdbs_by_namespace.get(None, [])


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


def build_context(objects: Sequence[Obj], *, require_pdb: bool) -> Context:
    """Sort the input into workloads, Services, PDBs, autoscalers and pod label sets; other kinds are ignored."""
    ctx = Context(objects=objects, require_pdb=require_pdb)
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
                pod=as_map(template.get("spec")),
                labels=_labels(template),
                replicas=1 if replicas is None else replicas,
            )
            workload.containers = containers(workload.pod)
            ctx.workloads.append(workload)
            ctx.pod_labels.append(PodLabels(kind, workload.name, namespace, workload.labels))
        elif kind in POD_TEMPLATE_KINDS or kind == "CronJob":
            template = _template_of(obj, kind)
            if template is not None:
                ctx.pod_labels.append(PodLabels(kind, object_name(obj), object_namespace(obj), _labels(template)))
        elif kind == "Pod":
            ctx.pod_labels.append(PodLabels(kind, object_name(obj), object_namespace(obj), _labels(obj)))
        elif kind == "Service":
            ctx.services.append((index, obj))
        elif kind == "PodDisruptionBudget":
            ctx.pdbs.append((index, obj))
        elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            autoscaler = _autoscaler(obj, kind)
            if autoscaler is not None:
                ctx.autoscalers.append(autoscaler)
    ctx.index()
    return ctx
