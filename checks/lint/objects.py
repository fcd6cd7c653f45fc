"""Views of the parsed objects the rules read: workloads with Kubernetes' defaults, and the cross-object context.

The rules read plain dicts (from YAML files or from the API), so every accessor here tolerates a
missing or mistyped field: a malformed manifest is the API server's business, not a crash of ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from checks.lint.model import RULES, Finding, Severity
from checks.lint.selectors import CONTROLLER_LABELS, matches_label_selector, matches_map

__all__ = [
    "BUILTIN_GROUPS",
    "POD_TEMPLATE_KINDS",
    "REPLICATED_KINDS",
    "WORKLOAD_KINDS",
    "Autoscaler",
    "Context",
    "Obj",
    "PodLabels",
    "Workload",
    "api_group",
    "as_int",
    "as_list",
    "as_map",
    "containers",
    "is_map",
    "object_name",
    "object_namespace",
    "pod_creating_reason",
    "same_namespace",
    "serving_containers",
    "template_labels",
]

Obj = Mapping[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout", "DaemonSet")
"""The kinds whose pods and rollouts nonstop judges (Rollout is Argo Rollouts' `argoproj.io/v1alpha1`).

A DaemonSet gets the container rules (probes, preStop, grace period, PID 1) and
`daemonset-rolling-update`; the replica, surge, spread and PDB rules do not apply to it (one pod
per node, and drains skip DaemonSet pods)."""

REPLICATED_KINDS = ("Deployment", "StatefulSet", "Rollout")
"""Workloads with a replica count: the ones the replica, strategy, spread and PDB rules judge."""

POD_TEMPLATE_KINDS = ("ReplicaSet", "ReplicationController", "Job")
"""Other kinds whose pods a Service may select: not linted, only counted for `service-selector-mismatch`."""

BUILTIN_GROUPS = frozenset(
    {
        "",
        "v1",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "node.k8s.io",
        "discovery.k8s.io",
        "certificates.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "apiregistration.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "internal.apiserver.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "extensions",
        "kustomize.config.k8s.io",
    }
)
"""API groups whose kinds this linter knows (Kubernetes' own, kustomize's): none creates pods unseen (a
Gateway API `Gateway` may: Istio and Envoy Gateway run a Deployment for it). Objects of any other group are custom
resources; see `pod_creating_reason`."""

_POD_CREATING_KINDS = frozenset(
    {
        "Prometheus",
        "Alertmanager",
        "ThanosRuler",
        "PrometheusAgent",  # monitoring.coreos.com
        "Experiment",
        "AnalysisRun",
        "Workflow",
        "CronWorkflow",  # argoproj.io
        "Canary",  # Flagger: creates <target>-primary
        "Service",  # Knative Serving (serving.knative.dev)
        "Gateway",  # gateway.networking.k8s.io: Istio, Envoy Gateway and others deploy a proxy per Gateway
        "CloneSet",
        "Advanced StatefulSet",  # OpenKruise
        "ScaledJob",
        "SparkApplication",
        "Notebook",
        "InferenceService",
        "Elasticsearch",
        "Kibana",
        "Kafka",
        "Postgresql",
        "PostgresCluster",
        "Cluster",
        "RedisFailover",
        "MongoDBCommunity",
    }
)
"""Custom resource kinds known to run pods their operator creates (matched by kind, for a group not in
BUILTIN_GROUPS). A custom resource of another kind counts when its spec holds `containers`."""

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


def template_labels(template: Obj) -> dict[str, str]:
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


def api_group(obj: Obj) -> str:
    """The API group of `apiVersion` (`apps/v1` → `apps`; `v1` → ``)."""
    version = obj.get("apiVersion")
    if not isinstance(version, str) or "/" not in version:
        return ""
    return version.split("/", 1)[0]


def _holds_containers(value: object, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if is_map(value):
        if isinstance(value.get("containers"), list):
            return True
        return any(_holds_containers(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_holds_containers(v, depth + 1) for v in value)
    return False


def pod_creating_reason(obj: Obj) -> str | None:
    """Why this custom resource may create pods the input does not show, or None when it may not."""
    group = api_group(obj)
    if group in BUILTIN_GROUPS:
        return None
    kind = str(obj.get("kind"))
    if kind in _POD_CREATING_KINDS or _holds_containers(obj.get("spec")):
        return f"{kind}/{object_name(obj)} ({group}) is a custom resource whose operator creates pods"
    return None


@dataclass(slots=True)
class Workload:
    """A Deployment, StatefulSet or Rollout with the defaults Kubernetes (or Argo Rollouts) fills in."""

    index: int
    kind: str
    name: str
    namespace: str | None
    spec: Mapping[str, Any]
    template: Mapping[str, Any]
    """The pod template (metadata and spec); empty when a Rollout's workloadRef points outside the input."""
    pod: Mapping[str, Any]
    """The pod template's spec; empty when a Rollout's workloadRef points outside the input."""
    labels: Mapping[str, str]
    replicas: int
    """spec.replicas, or its default 1."""
    autoscaler: Autoscaler | None = None
    containers: list[tuple[Mapping[str, Any], bool]] = field(default_factory=list)
    """The pod's long-running containers as (container, is_sidecar); see `containers()`."""
    services: list[Obj] = field(default_factory=list)
    """The Services of the input whose selector selects this workload's pods."""
    serving: list[Mapping[str, Any]] = field(default_factory=list)
    """The serving containers (see `serving_containers`)."""

    @property
    def replicated(self) -> bool:
        """Whether the workload has a replica count (not a DaemonSet)."""
        return self.kind in REPLICATED_KINDS

    def is_serving(self, container: Mapping[str, Any]) -> bool:
        """Whether `container` is one of the serving containers."""
        return any(c is container for c in self.serving)

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
    ingresses: list[Obj] = field(default_factory=list)
    backend_configs: list[Obj] = field(default_factory=list)
    outside_pods: list[tuple[str | None, str]] = field(default_factory=list)
    """(namespace, reason) for each sign that pods exist outside the input: a custom resource whose
    operator creates pods, or a reference (autoscaler, PDB, workloadRef) to a workload the input lacks."""
    _pods_by_label: dict[tuple[str, str], list[PodLabels]] = field(default_factory=dict)
    _workload_of: dict[int, Workload] = field(default_factory=dict)
    """id() of a workload's PodLabels → the workload."""
    _pod_namespaces: set[str | None] = field(default_factory=set)
    _pdbs_by_namespace: dict[str | None, list[Obj]] = field(default_factory=dict)
    _autoscalers_by_target: dict[tuple[str, str], list[Autoscaler]] = field(default_factory=dict)

    def add_workload(self, workload: Workload) -> None:
        """Sort in a workload and its pod template's labels."""
        self.workloads.append(workload)
        pods = PodLabels(workload.kind, workload.name, workload.namespace, workload.labels)
        self.pod_labels.append(pods)
        self._workload_of[id(pods)] = workload

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
        services = [(obj, as_map(as_map(obj.get("spec")).get("selector"))) for _i, obj in self.services]
        services = [
            (obj, sel) for obj, sel in services if sel and as_map(obj.get("spec")).get("type") != "ExternalName"
        ]
        for obj, selector in services:  # through the label index: linear in the input, not services × workloads
            namespace = object_namespace(obj)
            for pods in self.label_candidates(selector):
                workload = self._workload_of.get(id(pods))
                if (
                    workload is not None
                    and same_namespace(pods.namespace, namespace)
                    and matches_map(selector, pods.labels)
                ):
                    workload.services.append(obj)
        for workload in self.workloads:
            workload.serving = serving_containers(workload)
            workload.autoscaler = next(
                (
                    a
                    for a in self._autoscalers_by_target.get((workload.kind, workload.name), ())
                    if same_namespace(a.namespace, workload.namespace)
                ),
                None,
            )

    def label_candidates(self, match_labels: Mapping[str, Any]) -> Sequence[PodLabels]:
        """The pod templates that may match a selector with these labels (all of them for no labels)."""
        pairs = [(str(k), str(v)) for k, v in match_labels.items() if k not in CONTROLLER_LABELS]
        return self._pods_by_label.get(pairs[0], ()) if pairs else self.pod_labels

    def workloads_selected_by(self, selector: object, namespace: str | None) -> list[Workload]:
        """The workloads whose pods a `metav1.LabelSelector` in `namespace` selects (through the label index)."""
        if not is_map(selector):
            return []
        found = []
        for pods in self.label_candidates(as_map(selector.get("matchLabels"))):
            workload = self._workload_of.get(id(pods))
            if (
                workload is not None
                and same_namespace(pods.namespace, namespace)
                and matches_label_selector(selector, pods.labels)
            ):
                found.append(workload)
        return found

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

    def outside_reasons(self, namespace: str | None) -> list[str]:
        """Why pods outside the input may exist in `namespace` (see `outside_pods`)."""
        return [reason for ns, reason in self.outside_pods if same_namespace(ns, namespace)]

    def pdbs_in(self, namespace: str | None) -> list[Obj]:
        """The PodDisruptionBudgets of the input that may live in `namespace`."""
        if namespace is None:
            return [pdb for _index, pdb in self.pdbs]
        return self._pdbs_by_namespace.get(namespace, []) + self._pdbs_by_namespace.get(None, [])


def object_finding(index: int, obj: Obj, rule_id: str, message: str, *, severity: Severity | None = None) -> Finding:
    """A finding of `rule_id` on a non-workload object (a Service, a PodDisruptionBudget)."""
    return Finding(
        rule=rule_id,
        severity=severity or RULES[rule_id].severity,
        kind=str(obj.get("kind")),
        name=object_name(obj),
        namespace=object_namespace(obj),
        container=None,
        message=message,
        index=index,
    )


def serving_containers(workload: Workload) -> list[Mapping[str, Any]]:
    """The containers that serve traffic (CONTRACT.md: one that declares a containerPort, or whose pod a
    Service in the input selects).

    A port need not be declared to be served (a Service's numeric targetPort reaches it anyway), so a
    pod a Service selects is serving even when no container declares a port. In a pod with several
    containers the Service reaches the ones that declare ports; when none does, the pod's default
    container (the `kubectl.kubernetes.io/default-container` annotation, else the first) is taken as
    the serving one, so a port-less helper (a log shipper) is not flagged for what the app lacks.
    """
    declared = [c for c, _sidecar in workload.containers if isinstance(c.get("ports"), list) and c.get("ports")]
    if declared or not workload.services:
        return declared
    regular = [c for c, sidecar in workload.containers if not sidecar]
    if not regular:
        return []
    annotations = as_map(as_map(workload.template.get("metadata")).get("annotations"))
    default = annotations.get("kubectl.kubernetes.io/default-container")
    return [next((c for c in regular if c.get("name") == default), regular[0])]
